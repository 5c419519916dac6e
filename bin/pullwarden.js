#!/usr/bin/env node
// Runs the CLI from its TypeScript sources; Node 24 strips the types on load. The compile cache keeps
// the stripped and compiled modules between runs (shared/runtime/compile-cache.ts), so it is turned on
// before the CLI's modules load.
import { enableUserCompileCache } from '../shared/runtime/compile-cache.ts';

enableUserCompileCache();
const { runCli } = await import('../cmd/pullwarden/main.ts');
await runCli(process.argv.slice(2));
