/**
 * The JSON Schema of the config file, generated from the zod schema so editors can
 * validate and autocomplete adnotify.yaml. Written to config/adnotify.schema.json.
 */
import { z } from 'zod';

import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
  return {
    ...schema,
    $id: 'https://github.com/adnotify/adnotify/config/adnotify.schema.json',
    title: 'adnotify configuration',
    description: 'adnotify.yaml: see config/adnotify.example.yaml for every key with its default.',
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
