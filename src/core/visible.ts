/**
 * Characters a reader cannot see, made visible: a value from the directory is shown in mail
 * and on the terminal exactly enough to tell two values apart, and never rearranges or hides
 * the text around it.
 *
 * - C0 and C1 controls, and the Unicode line and paragraph separators (\n, \r and \t as such);
 * - bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069) and marks
 *   (U+200E, U+200F, U+061C), which can make "evil.exe" read as "exe.live";
 * - zero-width space, word joiner and invisible operators, and the BOM (U+200B, U+2060-2064,
 *   U+FEFF), which make "admin" and "ad\u200bmin" look the same.
 *
 * The zero-width non-joiner and joiner (U+200C, U+200D) are left alone: Persian, Indic scripts
 * and emoji need them.
 */
const INVISIBLE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b\u200e\u200f\u061c\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

export function escapeInvisible(value: string): string {
  return value.replace(INVISIBLE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
