// npm run schema: regenerates config/adnotify.schema.json from the zod schema.
import { writeFileSync } from 'node:fs';

import { configJsonSchemaText } from '../src/config/jsonSchema.js';

writeFileSync(new URL('../config/adnotify.schema.json', import.meta.url), configJsonSchemaText());
process.stdout.write('wrote config/adnotify.schema.json\n');
