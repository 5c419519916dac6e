import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import manifest from '../../package.json' with { type: 'json' };
import {
  type BuiltNodeBinary,
  buildNodeBinaries,
  nodeBinaryName,
  SEA_FUSE,
  SEA_RESOURCE,
} from '../../scripts/build-node-binary.ts';
import { startContainerd } from '../support/containerd.ts';
import { startFakeEcr } from '../support/fake-ecr.ts';
import { runProcess } from '../support/process.ts';
import { pushOciImage, startRegistry } from '../support/registry.ts';

// The single executables as a node gets them: built once (~10 s with cached Node.js tarballs), the
// one for this machine's CPU is run, and every one is checked by its ELF header and SEA fuse.

const run = promisify(execFile);
// ELF e_machine: EM_X86_64, EM_AARCH64
const MACHINE = { x64: 0x3e, arm64: 0xb7 } as const;

describe('pullwarden-node single executables', () => {
  let scratch: string;
  let built: BuiltNodeBinary[];
  let native: BuiltNodeBinary;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'pullwarden-node-binary-'));
    built = await buildNodeBinaries({ outdir: join(scratch, 'dist') });
    const match = built.find((binary) => binary.target.arch === process.arch);
    assert.ok(
      process.platform === 'linux' && match !== undefined,
      `no pullwarden-node executable for ${process.platform}/${process.arch}; run this test on linux x64 or arm64`,
    );
    native = match;
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('builds one executable per target and a SHA256SUMS that matches them', async () => {
    assert.deepEqual(
      built.map((binary) => basename(binary.file)),
      ['pullwarden-node-linux-x64', 'pullwarden-node-linux-arm64'],
    );
    const sums = await readFile(join(scratch, 'dist/SHA256SUMS'), 'utf8');
    const listed = sums
      .trimEnd()
      .split('\n')
      .map((line) => {
        const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
        assert.ok(match !== null, `SHA256SUMS line is not in sha256sum format: ${line}`);
        return [match[2], match[1]];
      });
    const actual = await Promise.all(
      built.map(async (binary) => [
        basename(binary.file),
        createHash('sha256')
          .update(await readFile(binary.file))
          .digest('hex'),
      ]),
    );
    assert.deepEqual(listed, actual);
  });

  test("answers version with the pinned Node.js and this machine's platform", async () => {
    const { stdout, stderr } = await run(native.file, ['version']);
    assert.equal(
      stdout,
      `pullwarden-node ${manifest.version} (node v${manifest.devDependencies.node}, linux/${process.arch})\n`,
    );
    // no "single executable application is experimental" warning
    assert.equal(stderr, '');
  });

  test('rejects an unknown command with exit 2', async () => {
    await assert.rejects(
      run(native.file, ['no-such-command']),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 2);
        assert.match(error.stderr, /^pullwarden-node: unknown command "no-such-command"/);
        return true;
      },
    );
  });

  test('runs from PATH through a symlink, with no Node.js and no environment', async () => {
    // Node leaves a bare name from PATH in argv[1]; the executable must still find its entry point.
    const bin = join(scratch, 'bin');
    await mkdir(bin);
    await symlink(native.file, join(bin, 'pullwarden-node'));
    const { stdout } = await run('pullwarden-node', ['version'], {
      cwd: scratch,
      env: { PATH: bin },
    });
    assert.match(
      stdout,
      /^pullwarden-node \d+\.\d+\.\d+\S* \(node v\d+\.\d+\.\d+, linux\/\w+\)\n$/,
    );
  });

  test('20 concurrent credential-provider execs of the executable mint one token, then answer from the cache', async () => {
    const ecr = await startFakeEcr();
    try {
      ecr.delayMs = 300;
      const config = join(scratch, 'node.json');
      await writeFile(
        config,
        JSON.stringify({
          apiVersion: 'pullwarden.dev/v1',
          kind: 'NodeConfig',
          credentialProvider: {
            cacheDirectory: join(scratch, 'cache'),
            registries: [{ source: 'ecr', endpoint: ecr.endpoint }],
          },
        }),
      );
      const exec = () =>
        runProcess(native.file, ['credential-provider', '--config', config], {
          env: { AWS_ACCESS_KEY_ID: 'AKIDSEA', AWS_SECRET_ACCESS_KEY: 'sea' },
          stdin: `${JSON.stringify({
            kind: 'CredentialProviderRequest',
            apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
            image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api',
          })}\n`,
        });
      const answers = await Promise.all(Array.from({ length: 20 }, exec));
      assert.equal(ecr.calls.length, 1);
      const expected = {
        kind: 'CredentialProviderResponse',
        apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
        cacheKeyType: 'Registry',
        auth: {
          '*.dkr.ecr.eu-west-1.amazonaws.com': { username: 'AWS', password: ecr.password(1) },
        },
      };
      for (const answer of [...answers, await exec()]) {
        assert.equal(answer.code, 0, answer.stderr);
        // One line, written straight to the pipe.
        assert.match(answer.stdout, /^\{[^\n]*\}\n$/);
        const { cacheDuration, ...rest } = JSON.parse(answer.stdout) as Record<string, unknown>;
        assert.deepEqual(rest, expected);
        assert.match(String(cacheDuration), /^[56]h\d+m\d+s$/);
      }
      assert.equal(ecr.calls.length, 1, 'the 21st exec answered from the cache');
    } finally {
      await ecr.stop();
    }
  });

  test('pulls an image into a real containerd through the CRI, as the SSM document runs it', async () => {
    const registry = await startRegistry({ username: 'sea', password: 'sea-password-1' });
    const containerd = await startContainerd({ cri: true, plainHttpRegistries: [registry.host] });
    try {
      const { digest } = await pushOciImage({
        registryHost: registry.host,
        repository: 'team/sea',
        tag: '1.0.0',
        username: 'sea',
        password: 'sea-password-1',
      });
      const dockerConfig = join(scratch, 'sea-docker-config.json');
      await writeFile(
        dockerConfig,
        JSON.stringify({
          auths: {
            [registry.host]: { auth: Buffer.from('sea:sea-password-1').toString('base64') },
          },
        }),
      );
      const config = join(scratch, 'sea-node.json');
      await writeFile(
        config,
        JSON.stringify({
          apiVersion: 'pullwarden.dev/v1',
          kind: 'NodeConfig',
          credentialProvider: {
            cacheDirectory: join(scratch, 'sea-cache'),
            registries: [{ source: 'docker-config', hosts: [registry.host], path: dockerConfig }],
          },
          prePull: {
            runtimeEndpoint: containerd.endpoint,
            registryEndpoints: [{ host: registry.host, url: registry.url }],
          },
        }),
      );
      const image = `${registry.host}/team/sea@${digest}`;
      const result = await runProcess(native.file, ['pull', '--config', config, image], {
        env: {},
      });
      assert.equal(result.code, 0, result.stderr);
      const line = JSON.parse(result.stdout) as { outcome: string; digest: string };
      assert.equal(line.outcome, 'pulled');
      assert.equal(line.digest, digest);
      const listed = await containerd.ctr(['-n', 'k8s.io', 'images', 'ls', '-q']);
      assert.ok(listed.stdout.split('\n').includes(image), listed.stdout);
    } finally {
      await containerd.stop();
      await registry.stop();
    }
  });

  test('every target is a 64-bit ELF for its CPU with the application injected', async () => {
    for (const binary of built) {
      const name = nodeBinaryName(binary.target);
      const bytes = await readFile(binary.file);
      assert.equal(bytes.subarray(0, 4).toString('latin1'), '\x7fELF', `${name}: ELF magic`);
      assert.equal(bytes[4], 2, `${name}: ELFCLASS64`);
      assert.equal(bytes[5], 1, `${name}: little-endian`);
      assert.equal(
        bytes.readUInt16LE(18),
        MACHINE[binary.target.arch],
        `${name}: e_machine for ${binary.target.arch}`,
      );
      // postject flips the fuse that tells Node to look for the blob, and adds the blob as a note
      assert.ok(bytes.includes(`${SEA_FUSE}:1`), `${name}: SEA fuse is not set`);
      assert.ok(!bytes.includes(`${SEA_FUSE}:0`), `${name}: unset SEA fuse left behind`);
      assert.ok(bytes.includes(SEA_RESOURCE), `${name}: no ${SEA_RESOURCE} resource`);
      assert.ok(
        bytes.includes('process.argv[1] = process.execPath;'),
        `${name}: the pullwarden-node main script is not embedded`,
      );
    }
  });
});
