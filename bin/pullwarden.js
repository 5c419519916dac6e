#!/usr/bin/env node
// Runs the CLI from its TypeScript sources; Node 24 strips the types on load.
import { runCli } from '../cmd/pullwarden/main.ts';

await runCli(process.argv.slice(2));
