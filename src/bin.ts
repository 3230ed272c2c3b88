#!/usr/bin/env node
// The `adnotify` executable: everything else is in main.ts, which tests call directly.
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
