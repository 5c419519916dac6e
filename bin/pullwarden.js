#!/usr/bin/env node
// Runs the CLI from its TypeScript sources; Node 24 strips the types on load. The compile cache
// (in the system's temporary directory) keeps the stripped and compiled modules between runs, which
// halves the time before a command starts its work; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
import { enableCompileCache } from 'node:module';

enableCompileCache();
const { runCli } = await import('../cmd/pullwarden/main.ts');
await runCli(process.argv.slice(2));
