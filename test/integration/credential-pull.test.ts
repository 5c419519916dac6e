import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type RunningContainerd, startContainerd } from '../support/containerd.ts';
import { pushOciImage, type RunningRegistry, run, startRegistry } from '../support/registry.ts';

// A real pull with the credentials the plugin returns: Debian's docker-registry with htpasswd auth,
// pullwarden-node credential-provider configured with a docker config for it, and Debian's containerd
// (its own root, state and socket) pulling the image. Without the credentials the pull is refused.

const root = fileURLToPath(new URL('../..', import.meta.url));
const USER = 'puller';
const PASSWORD = 'pull-password-1';

let scratch: string;
let registry: RunningRegistry;
let containerd: RunningContainerd;
let digest: string;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-credential-pull-'));
  registry = await startRegistry({ username: USER, password: PASSWORD });
  ({ digest } = await pushOciImage({
    registryHost: registry.host,
    repository: 'team/api',
    tag: '1.4.0',
    username: USER,
    password: PASSWORD,
  }));
  containerd = await startContainerd();
});
after(async () => {
  await containerd?.stop();
  await registry?.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function credentialProvider(image: string, configFile: string): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [join(root, 'cmd/pullwarden-node/main.ts'), 'credential-provider', '--config', configFile],
    {
      input: JSON.stringify({
        kind: 'CredentialProviderRequest',
        apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
        image,
      }),
    },
  );
  return stdout;
}

test('containerd pulls the image with the credentials the plugin returned, and not without', async () => {
  const dockerConfig = join(scratch, 'docker-config.json');
  await writeFile(
    dockerConfig,
    JSON.stringify({
      auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } },
    }),
  );
  const nodeConfig = join(scratch, 'node.json');
  await writeFile(
    nodeConfig,
    JSON.stringify({
      apiVersion: 'pullwarden.dev/v1',
      kind: 'NodeConfig',
      credentialProvider: {
        cacheDirectory: join(scratch, 'cache'),
        registries: [{ source: 'docker-config', hosts: [registry.host], path: dockerConfig }],
      },
    }),
  );
  const reference = `${registry.host}/team/api:1.4.0`;
  const anonymous = containerd.ctr([
    'images',
    'pull',
    '--plain-http',
    '--snapshotter',
    'native',
    reference,
  ]);
  await assert.rejects(anonymous, /401|unauthorized|authorization/i);

  const response = JSON.parse(
    await credentialProvider(`${registry.host}/team/api`, nodeConfig),
  ) as {
    auth: Record<string, { username: string; password: string }>;
  };
  const credential = response.auth[registry.host];
  assert.ok(credential, JSON.stringify(Object.keys(response.auth)));
  // The test's own throwaway credentials; ctr takes them only as an argument.
  await containerd.ctr([
    'images',
    'pull',
    '--plain-http',
    '--snapshotter',
    'native',
    '--user',
    `${credential.username}:${credential.password}`,
    reference,
  ]);
  const { stdout } = await containerd.ctr(['images', 'ls']);
  const line = stdout.split('\n').find((row) => row.startsWith(reference));
  assert.ok(line, stdout);
  assert.ok(line.includes(digest), `${line} should name ${digest}`);
});
