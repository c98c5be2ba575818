#!/usr/bin/env node
// Entry point installed as `slackserve`: runs the compiled CLI (npm run build writes dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(compiled)) {
  console.error('slackserve: dist/ is missing; run `npm run build` (or `make build`) first.');
  process.exit(1);
}
const { main } = await import(compiled);
await main(process.argv);
