// Runs one `pullwarden drift` through the CLI's entry point in this process and prints what it cost
// as one JSON line: the parent (bench/drift.ts) starts a fresh process per run so peak RSS is its own.
import { Writable } from 'node:stream';
import { enableUserCompileCache } from '../shared/runtime/compile-cache.ts';

// As bin/pullwarden.js starts the CLI: with the compile cache on before the CLI's modules load.
enableUserCompileCache();
const { main } = await import('../cmd/pullwarden/main.ts');

const [file, threads, format] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: drift-run.ts <dump> [threads] [format]');

let outputBytes = 0;
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
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
    format ?? 'json',
    '--fail-on',
    'never',
    '--no-progress',
    ...(threads === undefined ? [] : ['--threads', threads]),
  ],
  { stdout: sink, stderr: process.stderr, stdoutIsTTY: false, stderrIsTTY: false, env: {} },
);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ code, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, outputBytes })}\n`,
);
