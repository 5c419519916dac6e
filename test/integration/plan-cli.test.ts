import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '#cmd/pullwarden/main.ts';
import { type CliRun, runInProcess } from '../support/in-process-cli.ts';

// `pullwarden plan` in-process: the same planner the intake pipeline runs, on a given image.

const root = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE_CONFIG = join(root, 'examples/pullwarden.yaml');
const DIGEST = `sha256:${'ab'.repeat(32)}`;

function plan(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runInProcess(main, ['plan', ...args], { env });
}

interface JsonTarget {
  nodeGroup: string;
  selectedBy: string;
  priority: number;
  why: string;
  executor: { type: string; targetTag?: { key: string; value: string }; document?: string };
}

interface JsonPlan {
  image: string;
  registry: string;
  repository: string;
  tag: string | null;
  digest?: string;
  inventory: string;
  targets: JsonTarget[];
  note?: string;
}

async function planJson(args: readonly string[]): Promise<JsonPlan> {
  const run = await plan([...args, '--format', 'json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as JsonPlan;
}

/** The table rows of the text output, split on the column gaps. */
function rows(stdout: string): string[][] {
  const lines = stdout.split('\n');
  const header = lines.findIndex((line) => line.startsWith('NODE GROUP'));
  assert.notEqual(header, -1, stdout);
  const body: string[][] = [];
  for (const line of lines.slice(header + 1)) {
    if (line === '') break;
    body.push(line.split(/ {2,}/));
  }
  return body;
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-plan-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** What examples/pullwarden.yaml's team-releases rule plans for a release tag. */
const TEAM_RELEASES_ROWS = [
  ['general', 'team-releases', '10', 'agent', 'rule team-releases (priority 10, semver >=1.0.0)'],
  [
    'gpu',
    'team-releases',
    '10',
    'ssm (eks:nodegroup-name=gpu)',
    'rule team-releases (priority 10, semver >=1.0.0)',
  ],
];
describe('pullwarden plan with examples/pullwarden.yaml', () => {
  const config = ['--config', EXAMPLE_CONFIG];

  test('a release of team/api goes to general (agent) and gpu (ssm) by team-releases', async () => {
    const run = await plan(['--image', 'registry.example.com/team/api:1.4.0', ...config]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^Image: +registry\.example\.com\/team\/api:1\.4\.0$/m);
    assert.match(run.stdout, /^Tag: +1\.4\.0$/m);
    assert.match(
      run.stdout,
      /^Digest: +resolved from the registry at push time; nodes pull registry\.example\.com\/team\/api@<digest>$/m,
    );
    assert.match(run.stdout, /^Inventory: +not consulted \(no --inventory file\)$/m);
    assert.deepEqual(rows(run.stdout), TEAM_RELEASES_ROWS);
    assert.match(run.stdout, /^2 node groups would receive a pre-pull request\.$/m);
  });

  test('a tag outside the semver range plans nothing and says which rule missed it', async () => {
    const run = await plan(['--image', 'registry.example.com/team/api:dev', ...config]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes('NODE GROUP'), run.stdout);
    assert.match(
      run.stdout,
      /^Nothing planned: no pre-pull rule selects registry\.example\.com\/team\/api:dev; rule team-releases takes registry\.example\.com\/team\/api but not tag dev \(semver >=1\.0\.0\); inventory-following was not consulted \(no --inventory file\)\.$/m,
    );
    const json = await planJson(['--image', 'registry.example.com/team/api:dev', ...config]);
    assert.deepEqual(json.targets, []);
    assert.match(
      json.note ?? '',
      /^no pre-pull rule selects registry\.example\.com\/team\/api:dev;/,
    );
  });

  test('a nightly of an ml image goes to gpu only, by ml-nightlies', async () => {
    const run = await plan(['--image', 'registry.example.com/ml/trainer:nightly-2026', ...config]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(rows(run.stdout), [
      [
        'gpu',
        'ml-nightlies',
        '0',
        'ssm (eks:nodegroup-name=gpu)',
        'rule ml-nightlies (priority 0, tag glob nightly-*)',
      ],
    ]);
    assert.match(run.stdout, /^1 node group would receive a pre-pull request\.$/m);
  });

  test('a digest in the reference is the pinned digest nodes pull', async () => {
    const image = `registry.example.com/team/api:1.4.0@${DIGEST}`;
    const run = await plan(['--image', image, ...config]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(
      run.stdout.includes(
        `Digest:     ${DIGEST} (pinned: nodes pull registry.example.com/team/api@${DIGEST})`,
      ),
      run.stdout,
    );
    assert.deepEqual(
      rows(run.stdout).map((row) => row[0]),
      ['general', 'gpu'],
    );
    const json = await planJson(['--image', image, ...config]);
    assert.equal(json.digest, DIGEST);
    assert.equal(json.tag, '1.4.0');
    assert.equal(json.image, image);
  });

  test('a push by digest alone is not planned, with the planner’s reason', async () => {
    const json = await planJson(['--image', `registry.example.com/team/api@${DIGEST}`, ...config]);
    assert.equal(json.tag, null);
    assert.equal(json.digest, DIGEST);
    assert.deepEqual(json.targets, []);
    assert.match(json.note ?? '', /^pushed without a tag/);
  });

  test('a reference without tag or digest is a push of latest', async () => {
    const json = await planJson(['--image', 'registry.example.com/ml/trainer', ...config]);
    assert.equal(json.tag, 'latest');
    assert.equal(json.image, 'registry.example.com/ml/trainer:latest');
    assert.equal(json.digest, undefined);
    assert.deepEqual(json.targets, []);
  });

  test('JSON output is one stable object with executor details', async () => {
    const json = await planJson(['--image', 'registry.example.com/team/api:1.4.0', ...config]);
    assert.deepEqual(json, {
      image: 'registry.example.com/team/api:1.4.0',
      registry: 'registry.example.com',
      repository: 'team/api',
      tag: '1.4.0',
      inventory: 'not-consulted',
      targets: [
        {
          nodeGroup: 'general',
          selectedBy: 'team-releases',
          priority: 10,
          why: 'rule team-releases (priority 10, semver >=1.0.0)',
          executor: { type: 'agent', configured: true },
        },
        {
          nodeGroup: 'gpu',
          selectedBy: 'team-releases',
          priority: 10,
          why: 'rule team-releases (priority 10, semver >=1.0.0)',
          executor: {
            type: 'ssm',
            targetTag: { key: 'eks:nodegroup-name', value: 'gpu' },
            document: 'pullwarden-prepull',
          },
        },
      ],
    });
    assert.deepEqual(Object.keys(json), [
      'image',
      'registry',
      'repository',
      'tag',
      'inventory',
      'targets',
    ]);
  });

  test('$PULLWARDEN_CONFIG names the configuration when --config is not given', async () => {
    const run = await plan(['--image', 'registry.example.com/ml/trainer:nightly-2026'], {
      PULLWARDEN_CONFIG: EXAMPLE_CONFIG,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      rows(run.stdout).map((row) => row.slice(0, 2)),
      [['gpu', 'ml-nightlies']],
    );
  });
});

/** Plans registry.example.com/team/api:1.4.0 with the example config and an inventory file. */
async function planWithInventory(name: string, content: string) {
  const inventory = join(scratch, name);
  await writeFile(inventory, content);
  const run = await plan([
    '--image',
    'registry.example.com/team/api:1.4.0',
    '--config',
    EXAMPLE_CONFIG,
    '--inventory',
    inventory,
  ]);
  return { run, inventory };
}

describe('pullwarden plan with an inventory', () => {
  test('a YAML inventory adds the node groups running the repository, below the rules', async () => {
    const { run, inventory } = await planWithInventory(
      'inventory.yaml',
      'registry.example.com/team/api: [batch, gpu]\nregistry.example.com/other/app: [edge]\n',
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^Inventory: +consulted \\(${inventory}\\)$`, 'm'));
    // gpu stays with its rule: rules outrank the inventory; batch has no settings, so agent.
    assert.deepEqual(rows(run.stdout), [
      ...TEAM_RELEASES_ROWS,
      ['batch', 'inventory', '-1', 'agent (default)', 'runs workloads that use this repository'],
    ]);
  });

  test('a JSON inventory alone plans a tag no rule takes', async () => {
    const inventory = join(scratch, 'inventory.json');
    await writeFile(inventory, JSON.stringify({ 'registry.example.com/team/api': ['batch'] }));
    const json = await planJson([
      '--image',
      'registry.example.com/team/api:dev',
      '--config',
      EXAMPLE_CONFIG,
      '--inventory',
      inventory,
    ]);
    assert.equal(json.inventory, 'consulted');
    assert.equal(json.note, undefined);
    assert.deepEqual(json.targets, [
      {
        nodeGroup: 'batch',
        selectedBy: 'inventory',
        priority: -1,
        why: 'runs workloads that use this repository',
        executor: { type: 'agent', configured: false },
      },
    ]);
  });

  test('an inventory that does not list the repository explains the empty plan', async () => {
    const inventory = join(scratch, 'other.json');
    await writeFile(inventory, '{"registry.example.com/other/app": ["edge"]}');
    const json = await planJson([
      '--image',
      'registry.example.com/team/api:dev',
      '--config',
      EXAMPLE_CONFIG,
      '--inventory',
      inventory,
    ]);
    assert.deepEqual(json.targets, []);
    assert.match(
      json.note ?? '',
      /; no node group in the inventory runs registry\.example\.com\/team\/api$/,
    );
  });

  test('with prePull.followInventory false the inventory is ignored', async () => {
    const config = join(scratch, 'no-inventory.yaml');
    await writeFile(
      config,
      [
        'apiVersion: pullwarden.dev/v1',
        'kind: Config',
        'prePull:',
        '  followInventory: false',
        '  rules: []',
        '',
      ].join('\n'),
    );
    const inventory = join(scratch, 'ignored.yaml');
    await writeFile(inventory, 'registry.example.com/team/api: [batch]\n');
    const args = [
      '--image',
      'registry.example.com/team/api:1.4.0',
      '--config',
      config,
      '--inventory',
      inventory,
    ];
    const json = await planJson(args);
    assert.equal(json.inventory, 'disabled');
    assert.deepEqual(json.targets, []);
    assert.equal(
      json.note,
      'no pre-pull rules are configured; inventory-following is off (prePull.followInventory: false)',
    );
    const text = await plan(args);
    assert.match(
      text.stdout,
      /^Inventory: +not followed \(prePull\.followInventory: false\); .*ignored\.yaml ignored$/m,
    );
  });

  test('a bad inventory file is an input error naming the key and line, exit 2', async () => {
    const { run, inventory } = await planWithInventory(
      'bad.yaml',
      'registry.example.com/team/api: [batch]\nnginx: [general]\nregistry.example.com/ml/trainer: gpu\n',
    );
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.ok(run.stderr.startsWith(`pullwarden: invalid inventory ${inventory}:\n`), run.stderr);
    assert.match(
      run.stderr,
      /line 3: registry\.example\.com\/ml\/trainer: must be a list of node group names/,
    );
    assert.match(
      run.stderr,
      /line 2: nginx: must be "registry\/repository" without tag or digest: "docker\.io\/library\/nginx"/,
    );
  });

  test('unparsable and missing inventory files exit 2', async () => {
    const broken = join(scratch, 'broken.json');
    await writeFile(broken, '{"registry.example.com/team/api": [batch');
    const base = ['--image', 'registry.example.com/team/api:1.4.0', '--config', EXAMPLE_CONFIG];
    const parse = await plan([...base, '--inventory', broken]);
    assert.equal(parse.code, 2);
    assert.match(parse.stderr, /invalid inventory .*broken\.json:\n {2}line 1: /);
    const missing = await plan([...base, '--inventory', join(scratch, 'absent.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /invalid inventory .*absent\.yaml:\n {2}file not found\n/);
  });
});

describe('pullwarden plan rule priorities', () => {
  test('when rules overlap on a node group the highest priority selects it', async () => {
    const config = join(scratch, 'overlap.yaml');
    await writeFile(
      config,
      [
        'apiVersion: pullwarden.dev/v1',
        'kind: Config',
        'nodeGroups:',
        '  groups:',
        '    gpu:',
        '      executor: ssm',
        '      ssm: { targetTag: { key: "eks:nodegroup-name", value: gpu-a10 } }',
        'prePull:',
        '  rules:',
        '    - name: everything-team',
        '      images: ["registry.example.com/team/**"]',
        '      nodeGroups: [general, gpu]',
        '      priority: 5',
        '    - name: gpu-releases',
        '      images: ["registry.example.com/team/*"]',
        '      tags: { semver: ">=1.0.0" }',
        '      nodeGroups: [gpu]',
        '      priority: 20',
        '    - name: low-catch-all',
        '      images: ["registry.example.com/**"]',
        '      nodeGroups: [general]',
        '      priority: 1',
        '',
      ].join('\n'),
    );
    const run = await plan(['--image', 'registry.example.com/team/api:2.0.0', '-c', config]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(rows(run.stdout), [
      [
        'gpu',
        'gpu-releases',
        '20',
        'ssm (eks:nodegroup-name=gpu-a10)',
        'rule gpu-releases (priority 20, semver >=1.0.0)',
      ],
      [
        'general',
        'everything-team',
        '5',
        'agent (default)',
        'rule everything-team (priority 5, any tag)',
      ],
    ]);
    // A tag gpu-releases does not take falls back to the lower rule on gpu.
    const dev = await planJson([
      '--image',
      'registry.example.com/team/api:dev',
      '--config',
      config,
    ]);
    assert.deepEqual(
      dev.targets.map((target) => [target.nodeGroup, target.selectedBy, target.priority]),
      [
        ['general', 'everything-team', 5],
        ['gpu', 'everything-team', 5],
      ],
    );
  });
});

describe('pullwarden plan usage', () => {
  test('an invalid image reference exits 2 with the parser’s message', async () => {
    const run = await plan([
      '--image',
      'registry.example.com/Team/API:1.0',
      '--config',
      EXAMPLE_CONFIG,
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'pullwarden plan: invalid image reference "registry.example.com/Team/API:1.0": repository name must be lowercase at offset 21\n' +
        "Run 'pullwarden plan --help' for usage.\n",
    );
  });

  test('a missing --image, an unknown format and a stray argument exit 2', async () => {
    const missing = await plan(['--config', EXAMPLE_CONFIG]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^pullwarden plan: --image is required\n/);
    const format = await plan(['--image', 'nginx:1.27', '--format', 'sarif']);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /--format must be one of text, json \(got "sarif"\)/);
    const stray = await plan(['--image', 'nginx:1.27', 'extra']);
    assert.equal(stray.code, 2);
  });

  test('an invalid configuration exits 2 and names the field', async () => {
    const config = join(scratch, 'invalid.yaml');
    await writeFile(
      config,
      'apiVersion: pullwarden.dev/v1\nkind: Config\nprePull:\n  followInventory: maybe\n',
    );
    const run = await plan(['--image', 'nginx:1.27', '--config', config]);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /invalid configuration .*invalid\.yaml:\n {2}line 4: prePull\.followInventory: /,
    );
  });

  test('--help prints the usage and the program help lists plan', async () => {
    const help = await plan(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: pullwarden plan --image <ref> \[options\]/);
    assert.match(help.stdout, /--inventory <file>/);
    const { code, stdout } = await runInProcess(main, ['help']);
    assert.equal(code, 0);
    assert.match(
      stdout,
      /^ {2}plan +show which node groups would pre-pull a pushed image, and why$/m,
    );
  });
});
