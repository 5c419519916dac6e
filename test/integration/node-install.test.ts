import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ProcessRun, runProcess } from '../support/process.ts';

// infra/node/install.sh on a scratch root: what lands where, with which modes, and that a kubelet
// config failing `doctor kubelet-config` or a binary failing its checksum installs nothing.

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'infra/node/install.sh');
let scratch: string;
let release: string;
const binaryName = `pullwarden-node-linux-${arch() === 'arm64' ? 'arm64' : 'x64'}`;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-install-'));
  release = join(scratch, 'release');
  await mkdir(release);
  // A stand-in for the built executable: the same commands, run from this checkout.
  const binary = join(release, binaryName);
  await writeFile(
    binary,
    `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'cmd/pullwarden-node/main.ts')}" "$@"\n`,
  );
  await chmod(binary, 0o755);
  const digest = createHash('sha256')
    .update(await readFile(binary))
    .digest('hex');
  await writeFile(join(release, 'SHA256SUMS'), `${digest}  ${binaryName}\n`);
});
after(() => rm(scratch, { recursive: true, force: true }));

function install(args: string[]): Promise<ProcessRun> {
  return runProcess('bash', [script, ...args]);
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

test('installs the binary, both configs and the cache directory with their modes', async () => {
  const target = join(scratch, 'root-ok');
  const run = await install(['--binary', release, '--root', target]);
  assert.equal(run.code, 0, run.stderr);
  const bin = join(target, 'etc/eks/image-credential-provider');
  assert.equal(await mode(join(bin, 'pullwarden-node')), 0o755);
  assert.equal(await mode(join(bin, 'config.yaml')), 0o644);
  assert.equal(await mode(join(target, 'etc/pullwarden/node.json')), 0o644);
  assert.equal(await mode(join(target, 'var/lib/pullwarden/credentials')), 0o700);
  assert.equal(
    await readFile(join(bin, 'config.yaml'), 'utf8'),
    await readFile(join(root, 'infra/kubelet/credential-provider-config.yaml'), 'utf8'),
  );
  assert.match(run.stdout, /0 errors, 0 warnings/);
  assert.match(
    run.stdout,
    /--image-credential-provider-bin-dir=\/etc\/eks\/image-credential-provider --image-credential-provider-config=\/etc\/eks\/image-credential-provider\/config\.yaml/,
  );
});

test('a kubelet config with errors installs nothing', async () => {
  const target = join(scratch, 'root-bad-config');
  const bad = join(scratch, 'bad.yaml');
  await writeFile(
    bad,
    'apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: pullwarden-node\n    matchImages: []\n',
  );
  const run = await install(['--binary', release, '--root', target, '--kubelet-config', bad]);
  assert.notEqual(run.code, 0);
  assert.match(run.stdout, /^error: /m);
  await assert.rejects(stat(join(target, 'etc/eks/image-credential-provider/pullwarden-node')));
});

test('a binary that does not match SHA256SUMS is refused', async () => {
  const tampered = join(scratch, 'tampered');
  await mkdir(tampered);
  await writeFile(join(tampered, binaryName), '#!/bin/sh\necho tampered\n');
  await writeFile(join(tampered, 'SHA256SUMS'), await readFile(join(release, 'SHA256SUMS')));
  const run = await install(['--binary', tampered, '--root', join(scratch, 'root-tampered')]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /does not match SHA256SUMS/);
});
