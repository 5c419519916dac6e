import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CriImageRuntime } from '#shared/cri/client.ts';
import { ContainerdImages } from '#shared/cri/containerd-images.ts';
import { type RunningContainerd, startContainerd } from '../support/containerd.ts';
import { runProcess } from '../support/process.ts';
import { pushOciImage, type RunningRegistry, startRegistry } from '../support/registry.ts';
import { type RunningRegistryProxy, startRegistryProxy } from '../support/registry-proxy.ts';

// `pullwarden-node pull` against real peers: Debian's docker-registry with htpasswd auth and Debian's
// containerd serving the CRI from its own root, state and socket. Credentials come from the node
// config's docker-config source; what the runtime holds is checked through the CRI (ImageStatus).

const root = fileURLToPath(new URL('../..', import.meta.url));
const USER = 'node-puller';
const PASSWORD = 'node-pull-password-1';

let scratch: string;
let registry: RunningRegistry;
let flaky: RunningRegistryProxy;
let slow: RunningRegistryProxy;
let containerd: RunningContainerd;
let cri: CriImageRuntime;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-node-pull-'));
  registry = await startRegistry({ username: USER, password: PASSWORD });
  flaky = await startRegistryProxy({ target: registry.url, failPulls: 2 });
  slow = await startRegistryProxy({ target: registry.url, holdMs: 300 });
  containerd = await startContainerd({
    cri: true,
    plainHttpRegistries: [registry.host, flaky.host, slow.host],
  });
  cri = new CriImageRuntime(containerd.endpoint);
});
after(async () => {
  cri?.close();
  await containerd?.stop();
  await flaky?.stop();
  await slow?.stop();
  await registry?.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function push(repository: string, tag: string) {
  const { digest } = await pushOciImage({
    registryHost: registry.host,
    repository,
    tag,
    username: USER,
    password: PASSWORD,
  });
  return digest;
}

let configs = 0;
async function nodeConfig(
  options: { password?: string; prePull?: Record<string, unknown>; sizeCheckUrl?: string } = {},
) {
  configs += 1;
  const dockerConfig = join(scratch, `docker-config-${configs}.json`);
  const hosts = [registry.host, flaky.host, slow.host];
  const auth = Buffer.from(`${USER}:${options.password ?? PASSWORD}`).toString('base64');
  await writeFile(
    dockerConfig,
    JSON.stringify({ auths: Object.fromEntries(hosts.map((host) => [host, { auth }])) }),
  );
  const file = join(scratch, `node-${configs}.json`);
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'pullwarden.dev/v1',
      kind: 'NodeConfig',
      credentialProvider: {
        cacheDirectory: join(scratch, `cache-${configs}`),
        registries: [{ source: 'docker-config', hosts, path: dockerConfig }],
      },
      prePull: {
        runtimeEndpoint: containerd.endpoint,
        backoff: '600ms',
        registryEndpoints: [
          { host: registry.host, url: options.sizeCheckUrl ?? registry.url },
          { host: flaky.host, url: flaky.url },
          { host: slow.host, url: slow.url },
        ],
        ...options.prePull,
      },
    }),
  );
  return file;
}

interface PullLine {
  image: string;
  digest?: string;
  outcome: string;
  bytes?: number;
  attempts: number;
  pinned?: boolean;
  cause?: string;
  reason?: string;
}

async function pull(config: string, images: string[], extra: string[] = []) {
  const result = await runProcess(process.execPath, [
    join(root, 'cmd/pullwarden-node/main.ts'),
    'pull',
    '--config',
    config,
    ...extra,
    ...images,
  ]);
  const lines = result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as PullLine);
  return { code: result.code, lines, stderr: result.stderr };
}

test('pulls by digest with the node credentials; the runtime holds it; a second pull finds it present', async () => {
  const digest = await push('team/api', '1.0.0');
  const image = `${registry.host}/team/api@${digest}`;
  assert.equal(await cri.imageStatus(image), undefined);
  const first = await pull(await nodeConfig(), [image]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.lines.length, 1);
  const [line] = first.lines;
  assert.equal(line?.outcome, 'pulled');
  assert.equal(line?.digest, digest);
  assert.equal(line?.attempts, 1);
  assert.ok((line?.bytes ?? 0) > 0, 'the manifest sizes are reported');
  const held = await cri.imageStatus(image);
  assert.ok(held?.repoDigests.includes(image), JSON.stringify(held));
  assert.doesNotMatch(first.stderr + JSON.stringify(first.lines), new RegExp(PASSWORD));

  const second = await pull(await nodeConfig(), [image]);
  assert.equal(second.code, 0);
  assert.equal(second.lines[0]?.outcome, 'present');
  assert.equal(second.lines[0]?.attempts, 0);
});

test('wrong credentials: a clear authentication failure, not retried, exit 1', async () => {
  const digest = await push('team/private', '2.0.0');
  const image = `${registry.host}/team/private@${digest}`;
  const result = await pull(await nodeConfig({ password: 'not-the-password' }), [image]);
  assert.equal(result.code, 1);
  const [line] = result.lines;
  assert.equal(line?.outcome, 'failed');
  assert.equal(line?.cause, 'authentication');
  assert.equal(line?.attempts, 1);
  assert.match(line?.reason ?? '', /401|unauthori[sz]ed|refused access/i);
  assert.doesNotMatch(JSON.stringify(line) + result.stderr, /not-the-password/);
  assert.equal(await cri.imageStatus(image), undefined);
});

test('refuses an image that would leave less free space than the reserve, and pulls nothing', async () => {
  const digest = await push('team/big', '3.0.0');
  const image = `${registry.host}/team/big@${digest}`;
  const config = await nodeConfig({ prePull: { disk: { minFreeBytes: '900Ti' } } });
  const result = await pull(config, [image]);
  assert.equal(result.code, 1);
  const [line] = result.lines;
  assert.equal(line?.outcome, 'failed');
  assert.equal(line?.cause, 'disk-space');
  assert.match(line?.reason ?? '', /free/);
  assert.match(line?.reason ?? '', /900\.0 TiB|must keep/);
  assert.equal(await cri.imageStatus(image), undefined);
});

test('retries a registry that fails twice, then succeeds', async () => {
  const digest = await push('team/flaky', '4.0.0');
  const image = `${flaky.host}/team/flaky@${digest}`;
  const result = await pull(await nodeConfig(), [image]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(flaky.failed, 2);
  assert.equal(result.lines[0]?.outcome, 'pulled');
  assert.equal(result.lines[0]?.attempts, 3);
  assert.match(result.stderr, /retrying/);
  assert.ok(await cri.imageStatus(image));
});

test('never more pulls in flight than the concurrency limit', async () => {
  const images: string[] = [];
  for (let index = 0; index < 5; index += 1) {
    const digest = await push(`team/many-${index}`, '1.0.0');
    images.push(`${slow.host}/team/many-${index}@${digest}`);
  }
  const result = await pull(await nodeConfig(), images, ['--concurrency', '2']);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    result.lines.map((line) => line.outcome),
    images.map(() => 'pulled'),
  );
  assert.deepEqual(
    result.lines.map((line) => line.image),
    images,
    'results come in the order asked',
  );
  assert.ok(slow.manifestRequests >= images.length);
  assert.ok(slow.maxInFlight <= 2, `at most 2 runtime pulls at once, saw ${slow.maxInFlight}`);
});

test('--pin labels the image for containerd; unpin removes only that label', async () => {
  const digest = await push('team/pinned', '5.0.0');
  const image = `${registry.host}/team/pinned@${digest}`;
  const config = await nodeConfig();
  const result = await pull(config, [image], ['--pin']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.lines[0]?.pinned, true);
  const pins = new ContainerdImages(containerd.endpoint);
  try {
    assert.equal(await pins.isPinned(image), true);
    const listed = await containerd.ctr(['-n', 'k8s.io', 'images', 'ls']);
    assert.match(listed.stdout, /io\.cri-containerd\.pinned=pinned/);
    const unpin = await runProcess(process.execPath, [
      join(root, 'cmd/pullwarden-node/main.ts'),
      'unpin',
      '--config',
      config,
      image,
    ]);
    assert.equal(unpin.code, 0, unpin.stderr);
    assert.equal(await pins.isPinned(image), false);
    assert.ok(await cri.imageStatus(image), 'unpinning keeps the image');
    // Releasing selects the owner's pins by label and the kept images by name, as containerd
    // itself filters them.
    await pins.pin(image);
    assert.deepEqual(await pins.releaseExcept(new Set([image])), []);
    assert.equal(await pins.isPinned(image), true);
    const released = await pins.releaseExcept(new Set());
    assert.ok(released.includes(image), JSON.stringify(released));
    assert.equal(await pins.isPinned(image), false);
  } finally {
    pins.close();
  }
});

test('a manifest the node cannot read: pulled without the disk check, or refused when told to', async () => {
  const digest = await push('team/mirrored', '6.0.0');
  const image = `${registry.host}/team/mirrored@${digest}`;
  // Nothing listens there: the size check fails, the runtime still reaches the registry.
  const unreachable = 'http://127.0.0.1:9';
  const refused = await pull(
    await nodeConfig({
      sizeCheckUrl: unreachable,
      prePull: { disk: { onUnknownSize: 'refuse' }, attempts: 1 },
    }),
    [image],
  );
  assert.equal(refused.code, 1);
  assert.equal(refused.lines[0]?.cause, 'network');
  assert.equal(await cri.imageStatus(image), undefined);

  const pulled = await pull(await nodeConfig({ sizeCheckUrl: unreachable }), [image]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.lines[0]?.outcome, 'pulled');
  assert.equal(pulled.lines[0]?.bytes, undefined, 'no size without the manifest');
  assert.match(pulled.stderr, /size unknown .*pulling without the disk check/);
  assert.ok(await cri.imageStatus(image));
});

test('a bad image reference is a usage error and pulls nothing', async () => {
  const digest = await push('team/usage', '1.0.0');
  const good = `${registry.host}/team/usage@${digest}`;
  const result = await pull(await nodeConfig(), [good, 'UPPER/Case:bad tag']);
  assert.equal(result.code, 2);
  assert.deepEqual(result.lines, []);
  assert.equal(await cri.imageStatus(good), undefined);
});
