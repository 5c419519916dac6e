// npm run bench:webhook — drives the local stack (`pullwarden serve`, in its own process) with
// concurrent registry push deliveries for a fixed time and prints deliveries/s, p50/p99 latency, SQS
// send calls per push, the server's peak memory, and the minified bundle size of every function.
// Options: --duration S (default 20), --warmup S (default 3), --concurrency N (default 16),
// --node-groups N selected per push (default 3), --profile (CPU profile of the server in .bench/profile).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildArtifacts, listArtifacts } from '../scripts/build.ts';
import { percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    'node-groups': { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
  },
});
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const concurrency = Number(values.concurrency);
const nodeGroups = Number(values['node-groups']);
const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLE_LIMIT = 1024 * 1024;
const TOKEN = `Bearer ${randomBytes(16).toString('hex')}`;

function startStack(configFile: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      ...(values.profile
        ? ['--cpu-prof', `--cpu-prof-dir=${join(root, '.bench', 'profile')}`]
        : []),
      'cmd/pullwarden/main.ts',
      'serve',
      '--ephemeral',
      '--quiet',
      '--port',
      '0',
      '--config',
      configFile,
    ],
    {
      cwd: root,
      env: { ...process.env, BENCH_NOTIFY_TOKEN: TOKEN, POWERTOOLS_LOG_LEVEL: 'WARN' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const url = /local stack on (http:\/\/\S+)/.exec(output)?.[1];
      if (url !== undefined && output.includes('Ctrl-C stops.')) resolve({ child, url });
    });
    child.on('exit', (code) =>
      reject(new Error(`pullwarden serve exited with ${code}:\n${output}`)),
    );
  });
}

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return kib / 1024;
}

let sequence = 0;
function delivery(): string {
  sequence++;
  const digest = `sha256:${randomBytes(32).toString('hex')}`;
  return JSON.stringify({
    events: [
      {
        id: `bench-${process.pid}-${sequence}`,
        timestamp: new Date().toISOString(),
        action: 'push',
        target: {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: 1234,
          length: 1234,
          repository: `team/service-${sequence % 50}`,
          url: `https://registry.example.com/v2/team/service-${sequence % 50}/manifests/${digest}`,
          tag: `1.${Math.floor(sequence / 50)}.${sequence % 50}`,
        },
        request: {
          id: `r${sequence}`,
          addr: '10.0.0.7',
          host: 'registry.example.com',
          method: 'PUT',
          useragent: 'bench',
        },
        actor: { name: 'bench' },
        source: { addr: 'registry-0:5000', instanceID: 'bench' },
      },
    ],
  });
}

const scratch = await mkdtemp(join(tmpdir(), 'pullwarden-bench-'));
const groups = Array.from({ length: nodeGroups }, (_, index) => `ng-${index + 1}`);
const configFile = join(scratch, 'pullwarden.yaml');
await writeFile(
  configFile,
  [
    'apiVersion: pullwarden.dev/v1',
    'kind: Config',
    'webhooks:',
    '  sources:',
    '    distribution: { token: { env: BENCH_NOTIFY_TOKEN } }',
    'prePull:',
    '  rules:',
    '    - name: team',
    '      images: ["registry.example.com/team/**"]',
    `      nodeGroups: [${groups.join(', ')}]`,
    '',
  ].join('\n'),
);

console.log(
  `pullwarden webhook benchmark: ${concurrency} concurrent senders, ${values.duration} s (+${values.warmup} s warm-up), ${nodeGroups} node groups per push, ${availableParallelism()} CPUs, node ${process.version}`,
);
const { child, url } = await startStack(configFile);
try {
  const endpoint = `${url}/webhooks/distribution`;
  const latencies: number[] = [];
  let accepted = 0;
  let failed = 0;
  let sendCalls = 0;
  let queued = 0;
  const statuses = new Map<number, number>();
  const started = performance.now();
  const measureFrom = started + warmupMs;
  const end = measureFrom + durationMs;
  const sender = async () => {
    while (performance.now() < end) {
      const body = delivery();
      const sent = performance.now();
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/vnd.docker.distribution.events.v1+json',
          authorization: TOKEN,
        },
        body,
      });
      const summary = (await response.json()) as { sendCalls?: number; queued?: number };
      const done = performance.now();
      if (sent < measureFrom) continue;
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (response.status !== 202) {
        failed++;
        continue;
      }
      accepted++;
      latencies.push(done - sent);
      sendCalls += summary.sendCalls ?? 0;
      queued += summary.queued ?? 0;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  const seconds = durationMs / 1000;
  latencies.sort((a, b) => a - b);
  const statusLine = [...statuses].map(([status, count]) => `${status}×${count}`).join(', ');
  console.log('');
  console.log(`deliveries        ${accepted} accepted, ${failed} not (${statusLine})`);
  console.log(`throughput        ${(accepted / seconds).toFixed(0)} deliveries/s (target ≥ 500)`);
  console.log(
    `latency           p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms (target ≤ 50), max ${(latencies.at(-1) ?? 0).toFixed(1)} ms`,
  );
  console.log(
    `SQS               ${(sendCalls / Math.max(1, accepted)).toFixed(2)} SendMessageBatch calls per push (⌈${nodeGroups}/10⌉ = ${Math.ceil(nodeGroups / 10)}), ${queued} messages queued`,
  );
  console.log(`server peak RSS   ${(await peakRssMiB(child.pid as number)).toFixed(0)} MiB`);
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

const outdir = join(root, '.bench', 'dist');
await mkdir(outdir, { recursive: true });
const functions = (await listArtifacts(root, outdir)).filter((artifact) =>
  artifact.name.startsWith('functions/'),
);
console.log('');
console.log('function bundles (minified, AWS SDK provided by the runtime), limit 1024 KiB:');
for (const artifact of await buildArtifacts(functions, root)) {
  const kib = artifact.bytes / 1024;
  console.log(
    `  ${artifact.name.padEnd(28)} ${kib.toFixed(0).padStart(5)} KiB  ${artifact.bytes <= BUNDLE_LIMIT ? 'ok' : 'OVER'}`,
  );
}
await rm(scratch, { recursive: true, force: true });
