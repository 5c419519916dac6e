// npm run bench:drift — evaluates a generated 150,000-pod cluster dump end to end through the CLI and
// prints throughput, time and peak memory. Options: --pods N, --formats kubectl-json,compact-json,
// --threads 0,2 (0 = main thread only; default: the CLI's default), --runs N, --keep, and
// --cli bundle,source: the CLI as `npm run build` bundles it (built afresh into .bench/dist), and as
// `npx pullwarden` runs it from the TypeScript sources.
import { spawnSync } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildArtifacts, listArtifacts } from '../scripts/build.ts';
import { writeClusterDump } from './generate-cluster.ts';
import { percentile } from './stats.ts';

type DumpFormat = Parameters<typeof writeClusterDump>[0]['format'];

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '150000' },
    formats: { type: 'string', default: 'kubectl-json,compact-json' },
    threads: { type: 'string', default: '' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    cli: { type: 'string', default: 'bundle,source' },
  },
});
const CLI_FORMS = ['bundle', 'source'] as const;
type CliForm = (typeof CLI_FORMS)[number];
const forms = values.cli.split(',').map((form) => {
  if (!(CLI_FORMS as readonly string[]).includes(form))
    throw new Error(`--cli takes ${CLI_FORMS.join(', ')}; got ${JSON.stringify(form)}`);
  return form as CliForm;
});
const pods = Number(values.pods);
const runs = Number(values.runs);
const root = fileURLToPath(new URL('..', import.meta.url));
const directory = join(root, '.bench');
await mkdir(directory, { recursive: true });

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** The module each form of the CLI runs the drift command from. */
const cliModules: Record<CliForm, string> = {
  source: join(root, 'cmd/pullwarden/main.ts'),
  bundle: join(directory, 'dist/pullwarden/cli.mjs'),
};
if (forms.includes('bundle')) {
  const artifacts = await listArtifacts(root, join(directory, 'dist'));
  await buildArtifacts(
    artifacts.filter((artifact) => artifact.name === 'pullwarden'),
    root,
  );
}

console.log(
  `pullwarden drift benchmark: ${pods} pods, ${availableParallelism()} CPUs, node ${process.version}`,
);
for (const format of values.formats.split(',') as DumpFormat[]) {
  const file = join(
    directory,
    `cluster-${pods}-${format}.${format === 'kubectl-yaml' ? 'yaml' : 'json'}`,
  );
  const exists = await stat(file).then(
    () => true,
    () => false,
  );
  let objects: number | undefined;
  if (!exists) {
    const started = performance.now();
    const written = await writeClusterDump({ pods, out: file, format, seed: 1 });
    objects = written.objects;
    console.log(
      `generated ${file}: ${mib(written.bytes)}, ${written.objects} objects in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const size = (await stat(file)).size;
  const threadCounts = values.threads === '' ? [undefined] : values.threads.split(',');
  for (const [form, threads] of forms.flatMap((form) =>
    threadCounts.map((threads) => [form, threads] as const),
  )) {
    // A run's time is its whole process, start-up included, as a user waits for it; the drift command
    // alone (after the CLI's modules load) and the CPU time of all the process's threads are shown
    // beside it.
    const seconds: number[] = [];
    const driftSeconds: number[] = [];
    const cpuSeconds: number[] = [];
    let peak = 0;
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      const child = spawnSync(
        process.execPath,
        [
          join(root, 'bench/drift-run.js'),
          '--cli',
          cliModules[form],
          ...(threads === undefined ? [] : ['--threads', threads]),
          file,
        ],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        },
      );
      seconds.push((performance.now() - started) / 1000);
      if (child.status !== 0) throw new Error(`benchmark run failed: ${child.stderr}`);
      const result = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
        seconds: number;
        cpuSeconds: number;
        maxRssBytes: number;
      };
      driftSeconds.push(result.seconds);
      cpuSeconds.push(result.cpuSeconds);
      peak = Math.max(peak, result.maxRssBytes);
    }
    seconds.sort((a, b) => a - b);
    driftSeconds.sort((a, b) => a - b);
    cpuSeconds.sort((a, b) => a - b);
    const median = percentile(seconds, 0.5);
    console.log(
      [
        `${format}, ${form}${threads === undefined ? '' : `, threads=${threads}`}:`,
        `${mib(size)} (${Math.round(size / pods)} B/pod)`,
        `time p50 ${median.toFixed(2)} s, best ${seconds[0]?.toFixed(2)} s, worst ${seconds.at(-1)?.toFixed(2)} s over ${runs} runs`,
        `(drift command p50 ${percentile(driftSeconds, 0.5).toFixed(2)} s, CPU p50 ${percentile(cpuSeconds, 0.5).toFixed(1)} s)`,
        `${Math.round(pods / median).toLocaleString('en-US')} pods/s, ${(size / 1024 / 1024 / median).toFixed(0)} MiB/s`,
        `peak RSS ${mib(peak)}`,
        objects === undefined ? '' : `${objects} objects`,
      ]
        .filter((part) => part !== '')
        .join('  '),
    );
  }
  if (!values.keep) await rm(file);
}
