#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=1024
// The `adnotify` executable: everything else is in main.ts, which tests call directly.
//
// The V8 flags above bound the heap of a daemon that streams the directory. By default V8 sizes
// the young generation and the growth of the old one for throughput, and lets a baseline's
// short-lived objects (a few MB live, hundreds of MB allocated for 20,000 users) reach 90 MB
// of heap and 270 MB of RSS; with a 4 MB semi-space the peak RSS of a 20,000-user baseline is
// about 130 MB and of a 2,000-change incremental cycle about 140 MB, at no cost in speed (8 MB:
// 135 and 160 MB; 16 MB: 175 MB; npm run bench, README "Performance"). 1 GB is a ceiling
// against runaway growth, far above
// the 50 MB the heap peaks at. npm's Windows shim and the WinSW file pass the same flags;
// `bench/run.ts` reads them from here.
//
// The Node version is checked before main.js (and with it better-sqlite3's native code) is
// loaded: static imports would load it first, so main.js is imported dynamically.
import { nodeTooOld } from './nodeVersion.js';

const tooOld = nodeTooOld(process.versions.node);
if (tooOld !== null) {
  process.stderr.write(`${tooOld}\n`);
  process.exit(78); // EX_CONFIG: systemd's unit does not restart on it
}
const { main } = await import('./main.js');

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
