#!/usr/bin/env node
/**
 * `reg4pru` executable (package.json "bin" -> dist/cli/main.js; from the repo: `npx tsx src/cli/main.ts`
 * or `npm run reg4pru -- <args>`). All logic is in ./program.ts.
 */
import { main } from './program.js';

process.exitCode = await main(process.argv);
