import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  access,
  appendFile,
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseNodeConfig } from '#shared/credentials/node-config.ts';
import { type ProcessRun, runProcess } from '../support/process.ts';

// infra/node/install.sh on a scratch root: what lands where, with which modes, and that a kubelet
// config failing `doctor kubelet-config` or a binary failing its checksum installs nothing. With
// --agent: the systemd units of the node agent, their ordering around containerd and the kubelet, the
// warm-up's once-per-boot marker, their confinement, and the node label that keeps the DaemonSet away.

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'infra/node/install.sh');
let scratch: string;
let release: string;
/** A directory ahead of PATH whose `systemctl` only records how it was called. */
let fakeBin: string;
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
  fakeBin = join(scratch, 'fake-bin');
  await mkdir(fakeBin);
  await writeFile(
    join(fakeBin, 'systemctl'),
    `#!/bin/sh\necho "$*" >> "${join(scratch, 'systemctl.log')}"\n`,
  );
  await chmod(join(fakeBin, 'systemctl'), 0o755);
});
after(() => rm(scratch, { recursive: true, force: true }));

function install(args: string[]): Promise<ProcessRun> {
  return runProcess('bash', [script, ...args], {
    env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ''}` },
  });
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
  // The node agent is opt-in.
  await assert.rejects(stat(join(target, 'etc/systemd/system')));
  await assert.rejects(stat(join(target, 'etc/pullwarden/agent.env')));
  assert.doesNotMatch(run.stdout, /pullwarden\.dev\/agent/);
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

// --- the node agent (--agent) ---

const UNITS = ['pullwarden-node-warm.service', 'pullwarden-node-agent.service'] as const;

/** Section → key → every value assigned, in order (systemd allows a key more than once). */
type UnitFile = Map<string, Map<string, string[]>>;

function parseUnit(text: string): UnitFile {
  const sections: UnitFile = new Map();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header !== null) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const equals = line.indexOf('=');
    assert.ok(current !== undefined && equals > 0, `not a unit file line: ${line}`);
    const key = line.slice(0, equals);
    current.set(key, [...(current.get(key) ?? []), line.slice(equals + 1)]);
  }
  return sections;
}

/** The words of a list setting across all its assignments (After=a b plus After=c). */
function words(unit: UnitFile, section: string, key: string): string[] {
  return (unit.get(section)?.get(key) ?? []).flatMap((value) => value.split(/\s+/).filter(Boolean));
}

function single(unit: UnitFile, section: string, key: string): string {
  const values = unit.get(section)?.get(key) ?? [];
  assert.equal(values.length, 1, `[${section}] ${key}= set once`);
  return values[0] as string;
}

function timespanSeconds(text: string): number {
  const match = /^(\d+)(s|min)$/.exec(text);
  assert.ok(match !== null, `a bounded time span: ${text}`);
  return Number(match[1]) * (match[2] === 'min' ? 60 : 1);
}

async function installedUnit(target: string, name: string): Promise<UnitFile> {
  return parseUnit(await readFile(join(target, 'etc/systemd/system', name), 'utf8'));
}

test('--agent installs both units and an env file naming the node group, and enables nothing off /', async () => {
  const target = join(scratch, 'root-agent');
  const run = await install(['--binary', release, '--root', target, '--agent', 'general']);
  assert.equal(run.code, 0, run.stderr);
  for (const unit of UNITS) {
    const installed = join(target, 'etc/systemd/system', unit);
    assert.equal(await mode(installed), 0o644);
    // The default bin dir is the one the units name.
    assert.equal(
      await readFile(installed, 'utf8'),
      await readFile(join(root, 'infra/node', unit), 'utf8'),
    );
  }
  const envFile = join(target, 'etc/pullwarden/agent.env');
  assert.equal(await mode(envFile), 0o600, 'it may hold the node group token');
  const settings = (await readFile(envFile, 'utf8'))
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'));
  assert.deepEqual(settings, ['PULLWARDEN_NODE_GROUP=general']);
  // systemctl runs only when installing into the running system.
  await assert.rejects(access(join(scratch, 'systemctl.log')));
  assert.match(run.stdout, new RegExp(`systemctl --root=${target} enable ${UNITS.join(' ')}`));
  // The label that keeps the node agent DaemonSet off the node (infra/kubernetes/agent/node-agent.yaml).
  assert.match(
    run.stdout,
    /^register the node with the kubelet label pullwarden\.dev\/agent=systemd .*--node-labels=pullwarden\.dev\/agent=systemd /m,
  );
});

/** The marker that makes the warm-up run at most once per boot (/run is emptied at boot). */
const WARMED = '/run/pullwarden/warmed';

test('the warm-up runs before the kubelet, bounded, and can neither block nor fail its start', async () => {
  const target = join(scratch, 'root-agent');
  const warm = await installedUnit(target, 'pullwarden-node-warm.service');
  // Wants=, not Requires=: an explicit containerd restart (and the kubelet's, on AL2) leaves it alone.
  assert.ok(words(warm, 'Unit', 'Wants').includes('containerd.service'));
  assert.deepEqual(words(warm, 'Unit', 'Requires'), []);
  assert.deepEqual(words(warm, 'Unit', 'Requisite'), []);
  assert.ok(words(warm, 'Unit', 'After').includes('containerd.service'));
  assert.ok(words(warm, 'Unit', 'Before').includes('kubelet.service'));
  assert.equal(single(warm, 'Service', 'Type'), 'oneshot');
  assert.equal(single(warm, 'Service', 'RemainAfterExit'), 'yes');
  // "-": a failed warm-up still counts as done, so nothing waiting on it sees a failure.
  assert.equal(
    single(warm, 'Service', 'ExecStart'),
    `-/etc/eks/image-credential-provider/pullwarden-node agent --once --node-group \${PULLWARDEN_NODE_GROUP}`,
  );
  const timeout = timespanSeconds(single(warm, 'Service', 'TimeoutStartSec'));
  assert.ok(timeout > 0 && timeout <= 10 * 60, `TimeoutStartSec ${timeout}s`);
  // Started with the kubelet only, never on its own at boot (its Wants= would start containerd before
  // nodeadm or bootstrap.sh wrote containerd's config), and the kubelet never requires it.
  assert.deepEqual(words(warm, 'Install', 'WantedBy'), ['kubelet.service']);
  for (const key of ['RequiredBy', 'UpheldBy']) assert.deepEqual(words(warm, 'Install', key), []);
  for (const key of ['BindsTo', 'PartOf', 'Upholds', 'OnFailure', 'FailureAction'])
    assert.deepEqual(
      [...words(warm, 'Unit', key), ...words(warm, 'Service', key)],
      [],
      `${key}= would tie the boot to the warm-up`,
    );
});

test('the warm-up runs at most once per boot, marked done before it starts', async () => {
  const target = join(scratch, 'root-agent');
  const warm = await installedUnit(target, 'pullwarden-node-warm.service');
  // A later start in the same boot (a kubelet restart after a warm-up that failed or timed out, so the
  // unit is no longer active) is skipped at once instead of holding the kubelet back again.
  assert.equal(single(warm, 'Unit', 'ConditionPathExists'), `!${WARMED}`);
  // Written by ExecStartPre=, before ExecStart= can fail or be stopped at TimeoutStartSec, and with "+",
  // outside the sandbox: ProtectSystem=strict leaves /run read-only to the unit's other commands.
  const pre = single(warm, 'Service', 'ExecStartPre');
  assert.equal(pre, `+/usr/bin/install -D -m 0644 /dev/null ${WARMED}`);
  assert.equal(single(warm, 'Service', 'ProtectSystem'), 'strict');
  assert.ok(!words(warm, 'Service', 'ReadWritePaths').some((dir) => WARMED.startsWith(`${dir}/`)));
  // The command makes the marker, and /run/pullwarden with it.
  const runDir = join(scratch, 'run-marker');
  const [command, ...args] = pre.slice(1).replaceAll('/run/', `${runDir}/`).split(' ');
  const made = spawnSync(command as string, args, { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  assert.equal((await stat(join(runDir, 'pullwarden/warmed'))).size, 0);
  // Over a marker already there, it succeeds as well.
  assert.equal(spawnSync(command as string, args).status, 0);
});

test('the agent starts after the warm-up whatever its outcome and restarts on failure', async () => {
  const target = join(scratch, 'root-agent');
  const agent = await installedUnit(target, 'pullwarden-node-agent.service');
  assert.ok(words(agent, 'Unit', 'After').includes('pullwarden-node-warm.service'));
  assert.ok(!words(agent, 'Unit', 'Requires').includes('pullwarden-node-warm.service'));
  // Wants=, not Requires=, containerd: a containerd restart neither stops nor restarts the agent.
  assert.ok(words(agent, 'Unit', 'Wants').includes('containerd.service'));
  assert.ok(words(agent, 'Unit', 'After').includes('containerd.service'));
  assert.deepEqual(words(agent, 'Unit', 'Requires'), []);
  assert.deepEqual(words(agent, 'Unit', 'BindsTo'), []);
  assert.equal(
    single(agent, 'Service', 'ExecStart'),
    `/etc/eks/image-credential-provider/pullwarden-node agent --node-group \${PULLWARDEN_NODE_GROUP}`,
  );
  assert.equal(single(agent, 'Service', 'Restart'), 'on-failure');
  assert.deepEqual(words(agent, 'Service', 'RestartPreventExitStatus'), ['2']);
  // Started with the kubelet as well: wanted by multi-user.target, its Wants= would start containerd at
  // boot before nodeadm or bootstrap.sh wrote containerd's config.
  assert.deepEqual(words(agent, 'Install', 'WantedBy'), ['kubelet.service']);
});

test('both units read agent.env and the node config, run confined, and may write only the state directory', async () => {
  const target = join(scratch, 'root-agent');
  const nodeConfig = await parseNodeConfig(
    await readFile(join(target, 'etc/pullwarden/node.json'), 'utf8'),
    'node.json',
  );
  for (const name of UNITS) {
    const unit = await installedUnit(target, name);
    assert.equal(single(unit, 'Service', 'EnvironmentFile'), '/etc/pullwarden/agent.env', name);
    assert.deepEqual(
      unit.get('Service')?.get('Environment'),
      ['PULLWARDEN_NODE_CONFIG=/etc/pullwarden/node.json'],
      name,
    );
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['NoNewPrivileges', 'yes'],
      ['PrivateTmp', 'yes'],
      ['PrivateDevices', 'yes'],
      ['ProtectHome', 'yes'],
      ['ProtectKernelModules', 'yes'],
      ['ProtectKernelTunables', 'yes'],
      ['ProtectControlGroups', 'yes'],
      ['RestrictSUIDSGID', 'yes'],
      ['CapabilityBoundingSet', ''],
    ] as const)
      assert.equal(single(unit, 'Service', key), value, `${name} ${key}`);
    assert.ok(words(unit, 'Service', 'RestrictAddressFamilies').includes('AF_UNIX'), name);
    // V8 needs writable-then-executable memory.
    assert.equal(unit.get('Service')?.get('MemoryDenyWriteExecute'), undefined, name);
    const writable = words(unit, 'Service', 'ReadWritePaths');
    assert.deepEqual(writable, ['/var/lib/pullwarden'], name);
    for (const path of [
      nodeConfig.credentialProvider.cacheDirectory,
      nodeConfig.prePull.agent.stateFile,
    ])
      assert.ok(
        writable.some((dir) => path.startsWith(`${dir}/`)),
        `${name} may write ${path}`,
      );
  }
});

async function systemUnitDirectory(): Promise<string | undefined> {
  for (const dir of ['/usr/lib/systemd/system', '/lib/systemd/system']) {
    try {
      await access(join(dir, 'sysinit.target'));
      return dir;
    } catch {}
  }
  return undefined;
}

const systemdAnalyze = await runProcess('systemd-analyze', ['--version']).then(
  (run) => run.code === 0,
  () => false,
);
const systemUnits = await systemUnitDirectory();

test('systemd-analyze verify accepts both units on a root with containerd and the kubelet', {
  skip: systemdAnalyze && systemUnits !== undefined ? false : 'no systemd-analyze here',
}, async () => {
  const target = join(scratch, 'root-verify');
  const run = await install(['--binary', release, '--root', target, '--agent', 'general']);
  assert.equal(run.code, 0, run.stderr);
  // The units a node brings: systemd's own, and stand-ins for containerd and the kubelet; and the
  // coreutils install(1) the warm unit's ExecStartPre= runs.
  await cp(systemUnits as string, join(target, 'usr/lib/systemd/system'), { recursive: true });
  await cp('/usr/bin/install', join(target, 'usr/bin/install'));
  for (const name of ['containerd', 'kubelet'])
    await writeFile(
      join(target, `etc/systemd/system/${name}.service`),
      `[Unit]\nDescription=${name}\n\n[Service]\nExecStart=/etc/eks/image-credential-provider/pullwarden-node version\n`,
    );
  const verify = await runProcess('systemd-analyze', [
    'verify',
    '--man=no',
    `--root=${target}`,
    ...UNITS.map((unit) => join(target, 'etc/systemd/system', unit)),
  ]);
  // Unknown or misspelt settings are only warnings: none may appear.
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(verify.stderr, '');
});

test('--bin-dir moves the binary the units run', async () => {
  const target = join(scratch, 'root-bin-dir');
  const run = await install([
    '--binary',
    release,
    '--root',
    target,
    '--bin-dir',
    '/opt/pullwarden/bin',
    '--agent',
    'general',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await mode(join(target, 'opt/pullwarden/bin/pullwarden-node')), 0o755);
  for (const name of UNITS) {
    const [command] = single(await installedUnit(target, name), 'Service', 'ExecStart').split(' ');
    assert.equal(command?.replace(/^-/, ''), '/opt/pullwarden/bin/pullwarden-node', name);
  }
});

test('a second --agent changes the node group and keeps settings added by hand', async () => {
  const target = join(scratch, 'root-agent-again');
  assert.equal(
    (await install(['--binary', release, '--root', target, '--agent', 'general'])).code,
    0,
  );
  const envFile = join(target, 'etc/pullwarden/agent.env');
  await appendFile(envFile, 'NODE_NAME=ip-10-0-0-1.eu-west-1.compute.internal\n');
  const run = await install(['--binary', release, '--root', target, '--agent', 'gpu']);
  assert.equal(run.code, 0, run.stderr);
  const settings = (await readFile(envFile, 'utf8'))
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'));
  assert.deepEqual(settings, [
    'NODE_NAME=ip-10-0-0-1.eu-west-1.compute.internal',
    'PULLWARDEN_NODE_GROUP=gpu',
  ]);
  assert.equal(await mode(envFile), 0o600);
});

test('--agent with something other than a node group name installs nothing', async () => {
  const target = join(scratch, 'root-agent-bad');
  for (const name of ['general; reboot', 'general\nPULLWARDEN_AGENT_TOKEN=x', '-general', '']) {
    const run = await install(['--binary', release, '--root', target, '--agent', name]);
    assert.equal(run.code, 2, JSON.stringify(name));
  }
  const run = await install(['--binary', release, '--root', target, '--agent', 'general; reboot']);
  assert.match(run.stderr, /is not a node group name/);
  await assert.rejects(stat(target));
});
