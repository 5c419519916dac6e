// Runs one `pullwarden drift` through the CLI's entry point in this process and prints what it cost
// as one JSON line: the parent (bench/drift.ts) starts a fresh process per run so peak RSS is its own.
// The CLI is the source tree's (cmd/pullwarden/main.ts) or a bundle's (cli.mjs beside the launcher).
// JavaScript, like bin/pullwarden.js, so that a run loads nothing through Node's type stripper that
// the CLI's own launcher would not.
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { enableUserCompileCache } from '../shared/runtime/compile-cache.js';

const { values, positionals } = parseArgs({
  options: {
    cli: {
      type: 'string',
      default: fileURLToPath(new URL('../cmd/pullwarden/main.ts', import.meta.url)),
    },
    threads: { type: 'string' },
    format: { type: 'string', default: 'json' },
  },
  allowPositionals: true,
});
const [file] = positionals;
if (file === undefined)
  throw new Error('usage: drift-run.js [--cli <module>] [--threads N] [--format F] <dump>');

// As bin/pullwarden.js starts the CLI: with the compile cache on before the CLI's modules load.
enableUserCompileCache();
/** @type {typeof import('../cmd/pullwarden/main.ts')} */
const { main } = await import(pathToFileURL(values.cli).href);

let outputBytes = 0;
const sink = new Writable({
  /** @param {Buffer} chunk */
  write(chunk, _encoding, done) {
    outputBytes += chunk.length;
    done();
  },
});
const started = performance.now();
const code = await main(
  [
    'drift',
    file,
    '--format',
    values.format,
    '--fail-on',
    'never',
    '--no-progress',
    ...(values.threads === undefined ? [] : ['--threads', values.threads]),
  ],
  { stdout: sink, stderr: process.stderr, stdoutIsTTY: false, stderrIsTTY: false, env: {} },
);
const seconds = (performance.now() - started) / 1000;
// CPU of every thread of the process, start-up included, user and kernel.
const usage = process.resourceUsage();
const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
process.stdout.write(
  `${JSON.stringify({ code, seconds, cpuSeconds, maxRssBytes: usage.maxRSS * 1024, outputBytes })}\n`,
);
