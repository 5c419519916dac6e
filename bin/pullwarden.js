#!/usr/bin/env node
// Runs the CLI from its TypeScript sources; Node 24 strips the types on load. The compile cache keeps
// the stripped and compiled modules between runs (shared/runtime/compile-cache.js), so it is turned on
// before the CLI's modules load. `npm run build` bundles this same file as dist/pullwarden/pullwarden.mjs,
// with the CLI beside it as cli.mjs.
import { enableUserCompileCache } from '../shared/runtime/compile-cache.js';

enableUserCompileCache();
const { runCli } = await import('../cmd/pullwarden/main.ts');
await runCli(process.argv.slice(2));
