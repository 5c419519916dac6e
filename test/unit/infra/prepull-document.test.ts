import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseConfig } from '#shared/config/load.ts';
import { parseNodeConfig } from '#shared/credentials/node-config.ts';
import { parseImageReference } from '#shared/image/reference.ts';
import { parseCloudFormationYaml } from '#shared/local/cloudformation-yaml.ts';
import { pinnedReference } from '#shared/prepull/message.ts';

// infra/cloudformation/prepull-document.yml, the Run Command document of `executor: ssm` node groups:
// its parameter admits digest-pinned references and nothing a shell would read as more than a word,
// it runs the binary and node config where install.sh puts them, one pull at a time per instance
// (flock, where there is one), and its step timeout covers the wait for the lock and every attempt.

const root = fileURLToPath(new URL('../../..', import.meta.url));

interface DocumentResource {
  Type: string;
  Properties: {
    Name: string;
    DocumentType: string;
    UpdateMethod?: string;
    Content: {
      schemaVersion: string;
      parameters: Record<
        string,
        { type: string; allowedPattern?: string; interpolationType?: string }
      >;
      mainSteps: {
        action: string;
        inputs: { runCommand: string[]; timeoutSeconds?: string };
      }[];
    };
  };
}

const template = parseCloudFormationYaml(
  await readFile(`${root}/infra/cloudformation/prepull-document.yml`, 'utf8'),
  'prepull-document.yml',
) as { Resources: Record<string, DocumentResource> };
const document = template.Resources.PrepullDocument as DocumentResource;
const parameter = document.Properties.Content.parameters.image;
const pattern = new RegExp(parameter?.allowedPattern ?? '(?!)');

const HEX64 = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';

const ACCEPTED = [
  `docker.io/library/nginx@sha256:${HEX64}`,
  `123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api@sha256:${HEX64}`,
  `registry.internal:5000/platform/base/images/python@sha256:${HEX64}`,
  `localhost:5000/app@sha256:${HEX64}`,
  `[::1]:5000/app@sha256:${HEX64}`,
  `ghcr.io/acme/my_app__worker/x.y-z--w@sha256:${HEX64}`,
  `Registry.Example.COM/app@sha256:${HEX64}`,
  `registry.example.com/app@sha512:${HEX64}${HEX64}`,
];

const REJECTED = [
  `registry.example.com/app@sha256:${HEX64};reboot`,
  `registry.example.com/app@sha256:${HEX64}$(reboot)`,
  `registry.example.com/$(reboot)/app@sha256:${HEX64}`,
  `registry.example.com/\`reboot\`@sha256:${HEX64}`,
  `registry.example.com/app@sha256:${HEX64} --pin`,
  `registry.example.com/app@sha256:${HEX64}\nreboot`,
  `registry.example.com/app@sha256:${HEX64}\n`,
  `registry.example.com/app'@sha256:${HEX64}`,
  `registry.example.com/app"@sha256:${HEX64}`,
  `registry.example.com/app|sh@sha256:${HEX64}`,
  `registry.example.com/app&@sha256:${HEX64}`,
  `registry.example.com/app>x@sha256:${HEX64}`,
  `registry.example.com/app\\@sha256:${HEX64}`,
  `registry.example.com/app*@sha256:${HEX64}`,
  `-registry.example.com/app@sha256:${HEX64}`,
  `--config=/tmp/x/app@sha256:${HEX64}`,
  // Tags, with or without a digest, and short or upper-case digests.
  'registry.example.com/app:1.0',
  'registry.example.com/app',
  `registry.example.com/app:1.0@sha256:${HEX64}`,
  `registry.example.com/app@sha256:${HEX64.slice(1)}`,
  `registry.example.com/app@sha256:${HEX64.toUpperCase()}`,
  `registry.example.com/app@md5:${HEX64}`,
  // Docker Hub short forms and upper-case repositories are not what dispatch sends.
  `nginx@sha256:${HEX64}`,
  `registry.example.com/App@sha256:${HEX64}`,
  '',
];

describe('the pullwarden-prepull SSM document', () => {
  test('is a schema 2.2 Command document with the name the ssm executor uses by default', () => {
    assert.equal(document.Type, 'AWS::SSM::Document');
    assert.equal(document.Properties.DocumentType, 'Command');
    assert.equal(document.Properties.Content.schemaVersion, '2.2');
    // A named document cannot be replaced in place by CloudFormation.
    assert.equal(document.Properties.UpdateMethod, 'NewVersion');
    const config = parseConfig(
      'apiVersion: pullwarden.dev/v1\nkind: Config\nnodeGroups:\n  groups:\n    gpu:\n      executor: ssm\n      ssm:\n        targetTag: {key: "eks:nodegroup-name", value: gpu}\n',
      'pullwarden.yaml',
    );
    assert.equal(document.Properties.Name, config.nodeGroups.groups.gpu?.ssm?.document);
  });

  test('takes one String parameter, image, as SendCommand sends it', () => {
    assert.deepEqual(Object.keys(document.Properties.Content.parameters), ['image']);
    assert.equal(parameter?.type, 'String');
    assert.equal(parameter?.interpolationType, 'ENV_VAR');
    assert.match(parameter?.allowedPattern ?? '', /^\^.*\$$/, 'anchored at both ends');
  });

  test('admits digest-pinned references, with ports, IPv6 hosts and nested paths', () => {
    for (const reference of ACCEPTED) assert.match(reference, pattern);
  });

  test('refuses shell metacharacters, whitespace, options, tags and short digests', () => {
    for (const reference of REJECTED)
      assert.doesNotMatch(reference, pattern, JSON.stringify(reference));
  });

  const hostComponent = fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,10}[A-Za-z0-9])?$/);
  const pathComponent = fc.stringMatching(
    /^[a-z0-9]{1,6}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,6}){0,2}$/,
  );
  const reference = fc
    .record({
      host: fc.array(hostComponent, { minLength: 2, maxLength: 4 }).map((parts) => parts.join('.')),
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      path: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
      hex: fc.stringMatching(/^[a-f0-9]{64}$/),
    })
    .map(({ host, port, path, hex }) =>
      pinnedReference({
        image: {
          registry: port === undefined ? host : `${host}:${port}`,
          repository: path.join('/'),
          digest: `sha256:${hex}`,
        },
      }),
    );

  test('admits every reference dispatch builds for a digest, each a canonical reference', () => {
    fc.assert(
      fc.property(reference, (text) => {
        assert.match(text, pattern);
        const parsed = parseImageReference(text);
        assert.equal(parsed.canonical, text);
        assert.ok(parsed.digest !== undefined && parsed.tag === undefined);
      }),
    );
  });

  test('refuses such a reference with any character outside the grammar put anywhere in it', () => {
    const outside = fc.constantFrom(...' \t\n\r;&|$`\'"\\(){}<>*?!#~=%,^'.split(''));
    fc.assert(
      fc.property(reference, outside, fc.nat(), (text, character, at) => {
        const position = at % (text.length + 1);
        assert.doesNotMatch(text.slice(0, position) + character + text.slice(position), pattern);
      }),
    );
  });

  test('runs pullwarden-node pull with the node config, the image quoted, where install.sh puts them', async () => {
    const [step] = document.Properties.Content.mainSteps;
    assert.equal(step?.action, 'aws:runShellScript');
    const script = step?.inputs.runCommand.join('\n') ?? '';
    const install = await readFile(`${root}/infra/node/install.sh`, 'utf8');
    const binDir = /^bin_dir=(\S+)$/m.exec(install)?.[1];
    assert.equal(binDir, '/etc/eks/image-credential-provider');
    const pull =
      '/etc/eks/image-credential-provider/pullwarden-node pull --config /etc/pullwarden/node.json "$SSM_image"';
    // Under the lock where flock is, else on its own: the same command either way.
    assert.ok(script.split('\n').includes(`exec ${pull}`));
    assert.equal(lockedPull(script).command, pull);
    assert.match(install, /\$target_etc\/node\.json/);
    assert.match(
      install,
      /\$\{root%\/\}\/var\/lib\/pullwarden\//,
      'install.sh makes /var/lib/pullwarden',
    );
    // Older SSM agents substitute {{ image }} into the script text: only ever inside single quotes.
    for (const use of script.matchAll(/.?\{\{\s*image\s*\}\}.?/g))
      assert.match(use[0], /^'\{\{\s*image\s*\}\}'$/);
    assert.doesNotMatch(parameter?.allowedPattern ?? '', /'/);
  });

  test("the step's timeout covers the wait for the lock, every attempt of the pull and the backoff", async () => {
    const [step] = document.Properties.Content.mainSteps;
    const script = step?.inputs.runCommand.join('\n') ?? '';
    const defaults = await parseNodeConfig(
      '{"apiVersion":"pullwarden.dev/v1","kind":"NodeConfig","credentialProvider":{"registries":[{"source":"ecr"}]}}',
      'defaults',
    );
    const { lockWait } = lockedPull(script);
    assert.ok(lockWait > 0, 'the wait for the lock is bounded');
    // Backoff: full jitter, doubling, at most 60 s before each retry.
    const backoff = (defaults.prePull.attempts - 1) * 60;
    const worstCase = lockWait + defaults.prePull.attempts * defaults.prePull.pullTimeout + backoff;
    const timeout = Number(step?.inputs.timeoutSeconds);
    assert.ok(timeout >= worstCase, `timeoutSeconds ${timeout} < ${worstCase}`);
    // aws:runShellScript allows at most 48 hours.
    assert.ok(timeout <= 172800);
    // The message names the wait that ran out.
    assert.match(script, new RegExp(`held for ${lockWait} s`));
  });

  describe('run as aws:runShellScript runs it (sh -c)', () => {
    const [step] = document.Properties.Content.mainSteps;
    const original = step?.inputs.runCommand.join('\n') ?? '';
    const flock = spawnSync('flock', ['--version']).status === 0;
    let scratch: string;
    let log: string;
    before(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'pullwarden-ssm-document-'));
      log = join(scratch, 'calls.log');
      // A stand-in for pullwarden-node: logs its start and end, and exits with $FAKE_EXIT.
      await writeFile(
        join(scratch, 'pullwarden-node'),
        `#!/bin/sh\necho "start $*" >>"${log}"\n[ -z "$FAKE_SLEEP" ] || sleep "$FAKE_SLEEP"\necho "end $*" >>"${log}"\nexit "\${FAKE_EXIT:-0}"\n`,
      );
      await chmod(join(scratch, 'pullwarden-node'), 0o755);
    });
    after(() => rm(scratch, { recursive: true, force: true }));

    /** The document's script with the binary and the state directory moved into the scratch directory. */
    function script(stateDir: string, lockWait?: number): string {
      const { lockWait: wait } = lockedPull(original);
      let text = original
        .replaceAll(
          '/etc/eks/image-credential-provider/pullwarden-node',
          join(scratch, 'pullwarden-node'),
        )
        .replaceAll('/var/lib/pullwarden', stateDir);
      if (lockWait !== undefined) text = text.replaceAll(String(wait), String(lockWait));
      return text;
    }

    /** sh -c, with no stdin (as the SSM Agent runs it): exit status and stderr. */
    function runScript(
      text: string,
      env: NodeJS.ProcessEnv = {},
    ): Promise<{ code: number | null; stderr: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn('/bin/sh', ['-c', text], {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
        });
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stderr }));
      });
    }

    async function calls(): Promise<string[]> {
      const text = await readFile(log, 'utf8').catch(() => '');
      await rm(log, { force: true });
      return text.split('\n').filter(Boolean);
    }

    const image = (n: number) => `registry.example.com/app${n}@sha256:${HEX64}`;

    test("runs one pull at a time on an instance, with the pull's exit status", {
      skip: flock ? false : 'no flock here',
    }, async () => {
      const state = join(scratch, 'state-serial');
      await mkdir(state);
      const text = script(state);
      const runs = await Promise.all(
        [1, 2, 3].map((n) => runScript(text, { SSM_image: image(n), FAKE_SLEEP: '0.3' })),
      );
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      const lines = await calls();
      assert.equal(lines.length, 6);
      // Each start is followed by its own end: no two pulls overlapped.
      for (let i = 0; i < lines.length; i += 2)
        assert.equal(lines[i + 1], lines[i]?.replace(/^start /, 'end '), lines.join('\n'));
      assert.deepEqual(
        lines.filter((line) => line.startsWith('start ')).sort(),
        [1, 2, 3].map((n) => `start pull --config /etc/pullwarden/node.json ${image(n)}`),
      );
      const failed = await runScript(text, { SSM_image: image(4), FAKE_EXIT: '1' });
      assert.equal(failed.code, 1, 'a failed pull fails the command');
      await calls();
    });

    test('gives up with exit 75 when the lock stays held for the whole wait', {
      skip: flock ? false : 'no flock here',
    }, async () => {
      const state = join(scratch, 'state-held');
      await mkdir(state);
      // In a process group of its own, so that flock and its sleep end together.
      const holder = spawn('flock', [join(state, 'ssm-pull.lock'), 'sleep', '30'], {
        stdio: 'ignore',
        detached: true,
      });
      try {
        // flock creates the file once it holds the lock.
        while (
          !(await stat(join(state, 'ssm-pull.lock')).then(
            () => true,
            () => false,
          ))
        )
          await new Promise((resolve) => setTimeout(resolve, 20));
        const run = await runScript(script(state, 1), { SSM_image: image(5) });
        assert.equal(run.code, 75);
        assert.match(
          run.stderr,
          /ssm-pull\.lock stayed held for 1 s; .*app5@sha256:.* was not pulled/,
        );
        assert.deepEqual(await calls(), [], 'nothing was pulled');
      } finally {
        process.kill(-(holder.pid as number));
      }
    });

    test('pulls without the lock where flock or /var/lib/pullwarden is missing', async () => {
      // A PATH with printenv and sleep but no flock.
      const bin = join(scratch, 'bin-without-flock');
      await mkdir(bin, { recursive: true });
      for (const tool of ['printenv', 'sleep']) {
        const found = spawnSync('sh', ['-c', `command -v ${tool}`], {
          encoding: 'utf8',
        }).stdout.trim();
        await symlink(found, join(bin, tool)).catch(() => {});
      }
      const state = join(scratch, 'state-no-flock');
      await mkdir(state);
      const run = await runScript(script(state), { PATH: bin, SSM_image: image(6) });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(await calls(), [
        `start pull --config /etc/pullwarden/node.json ${image(6)}`,
        `end pull --config /etc/pullwarden/node.json ${image(6)}`,
      ]);
      await assert.rejects(stat(join(state, 'ssm-pull.lock')));
      const missing = await runScript(script(join(scratch, 'no-such-dir')), {
        SSM_image: image(7),
      });
      assert.equal(missing.code, 0, missing.stderr);
      assert.equal((await calls()).length, 2);
    });

    test('older SSM agents: the image substituted into the script text', async () => {
      const state = join(scratch, 'state-substituted');
      await mkdir(state);
      const text = script(state).replaceAll(/\{\{\s*image\s*\}\}/g, image(8));
      const run = await runScript(text);
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await calls())[0], `start pull --config /etc/pullwarden/node.json ${image(8)}`);
    });
  });
});

/** The flock line of the document's script: the wait for the lock and the command run under it. */
function lockedPull(script: string): { lockWait: number; command: string } {
  const match =
    /^\s*flock -w (\d+) -E 75 \/var\/lib\/pullwarden\/ssm-pull\.lock (\/\S+ pull .*)$/m.exec(
      script,
    );
  assert.ok(match !== null, 'the pull runs under flock on /var/lib/pullwarden/ssm-pull.lock');
  return { lockWait: Number(match[1]), command: match[2] as string };
}
