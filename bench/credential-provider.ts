// npm run bench:credential-provider — exec latency of `pullwarden-node credential-provider` as the kubelet
// sees it (spawn to exit, stdin request, stdout response), for a cache hit and for a miss against a
// loopback stand-in for the ECR API, for the standalone binary (SEA) and for `node <bundle>`, plus the
// binary's size. Options: --runs N (default 200).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { arch, availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildArtifacts, listArtifacts } from '../scripts/build.ts';
import { buildNodeBinaries, NODE_BINARY_TARGETS } from '../scripts/build-node-binary.ts';
import { startFakeEcr } from '../test/support/fake-ecr.ts';
import { runProcess } from '../test/support/process.ts';
import { percentile } from './stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '200' } } });
const runs = Number(values.runs);
const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = await mkdtemp(join(tmpdir(), 'pullwarden-bench-cp-'));
const REQUEST = `${JSON.stringify({
  kind: 'CredentialProviderRequest',
  apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api',
})}\n`;

async function execOnce(command: string[], configFile: string): Promise<number> {
  const started = performance.now();
  const run = await runProcess(
    command[0] as string,
    [...command.slice(1), 'credential-provider', '--config', configFile],
    {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_ACCESS_KEY_ID: 'AKIDBENCH',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      stdin: REQUEST,
    },
  );
  const elapsed = performance.now() - started;
  if (run.code !== 0 || !run.stdout.includes('"auth":{"*.dkr.ecr.eu-west-1.amazonaws.com"')) {
    throw new Error(`exec failed (${run.code}): ${run.stdout}${run.stderr}`);
  }
  return elapsed;
}

function spawnOnly(command: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command[0] as string, command.slice(1), { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve(performance.now() - started));
  });
}

console.log(
  `pullwarden-node credential-provider benchmark: ${runs} execs each, ${availableParallelism()} CPUs, node ${process.version}`,
);
const ecr = await startFakeEcr();
try {
  const [artifact] = (await listArtifacts(root, join(scratch, 'dist'))).filter(
    (a) => a.name === 'pullwarden-node',
  );
  if (artifact === undefined) throw new Error('no pullwarden-node artifact');
  const [bundle] = await buildArtifacts([artifact], root);
  const target = NODE_BINARY_TARGETS.find((candidate) => candidate.arch === arch());
  if (target === undefined) throw new Error(`no node binary target for ${arch()}`);
  const [sea] = await buildNodeBinaries({ root, outdir: join(scratch, 'sea'), targets: [target] });
  if (sea === undefined || bundle === undefined) throw new Error('the build produced nothing');
  console.log(
    `binary: ${sea.file.split('/').pop()} ${(sea.bytes / 1024 / 1024).toFixed(1)} MiB; bundle ${(bundle.bytes / 1024).toFixed(0)} KiB`,
  );
  console.log('');
  console.log(`${''.padEnd(44)}    p50        p99       mean`);
  const variants: [string, string[]][] = [
    ['standalone binary', [sea.file]],
    ['node <bundle>', [process.execPath, join(bundle.outdir, 'pullwarden-node.mjs')]],
  ];
  // The node config as infra/kubelet/node.json ships it (JSON); one series with the same config in
  // YAML shows what the YAML parser adds.
  const nodeConfig = (cacheDirectory: string, yaml: boolean) =>
    yaml
      ? `apiVersion: pullwarden.dev/v1\nkind: NodeConfig\ncredentialProvider:\n  cacheDirectory: ${cacheDirectory}\n  registries:\n    - source: ecr\n      endpoint: ${ecr.endpoint}\n`
      : `${JSON.stringify({
          apiVersion: 'pullwarden.dev/v1',
          kind: 'NodeConfig',
          credentialProvider: {
            cacheDirectory,
            registries: [{ source: 'ecr', endpoint: ecr.endpoint }],
          },
        })}\n`;
  const series: [string, string[], 'hit' | 'miss', boolean][] = [
    ...variants.flatMap(([name, command]): [string, string[], 'hit' | 'miss', boolean][] => [
      [name, command, 'hit', false],
      [name, command, 'miss', false],
    ]),
    ['standalone binary', [sea.file], 'hit', true],
  ];
  for (const [name, command, kind, yaml] of series) {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      // A miss gets a cache directory of its own every time; hits share a warm one.
      const cacheDirectory = join(scratch, kind === 'hit' ? `cache-${name}` : `miss-${name}-${i}`);
      const configFile = join(scratch, `${kind}-${i % 2}.${yaml ? 'yaml' : 'json'}`);
      await writeFile(configFile, nodeConfig(cacheDirectory, yaml));
      if (kind === 'hit' && i === 0) await execOnce(command, configFile);
      samples.push(await execOnce(command, configFile));
    }
    samples.sort((a, b) => a - b);
    const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
    const label = `${name}, cache ${kind}${yaml ? ', YAML config' : ''}`;
    console.log(
      `${label.padEnd(44)} ${percentile(samples, 0.5).toFixed(1).padStart(6)} ms ${percentile(samples, 0.99).toFixed(1).padStart(7)} ms ${mean.toFixed(1).padStart(8)} ms`,
    );
  }
  // The floor: what spawning a process that does nothing costs from here.
  const floor: number[] = [];
  for (let i = 0; i < runs; i++) floor.push(await spawnOnly([sea.file, 'version']));
  floor.sort((a, b) => a - b);
  console.log(
    `${'standalone binary, `version` only'.padEnd(44)} ${percentile(floor, 0.5).toFixed(1).padStart(6)} ms ${percentile(floor, 0.99).toFixed(1).padStart(7)} ms`,
  );
  console.log('');
  console.log(
    `ECR calls: ${ecr.calls.length} (one per miss, one to warm each hit series); target: cache-hit p50 ≤ 50 ms`,
  );
  await stat(sea.file);
} finally {
  await ecr.stop();
  await rm(scratch, { recursive: true, force: true });
}
