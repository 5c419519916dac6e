import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoCredentialsTable } from '#shared/aws/credentials-table.ts';
import { type BrokeredRegistry, configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import {
  type BrokeredCredentialStore,
  mintSourceFor,
  type RefreshDependencies,
  refreshBrokeredCredentials,
  refreshMetrics,
} from '#shared/credentials/refresh.ts';
import { brokeredSource } from '#shared/credentials/sources/brokered.ts';
import { type Emulators, LOCAL_REGION, startEmulators } from '#shared/local/emulators.ts';
import { provision } from '#shared/local/provision.ts';
import { type FakeEcr, startFakeEcr } from '../support/fake-ecr.ts';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github.ts';

// credential-refresh against the DynamoDB emulator, with loopback stand-ins for STS, ECR and the GitHub
// API, on a clock the test moves.

const root = fileURLToPath(new URL('../..', import.meta.url));
const ECR_A = '444455556666.dkr.ecr.us-west-2.amazonaws.com';
const ECR_B = '777788889999.dkr.ecr.us-west-2.amazonaws.com';
const ROLE = 'arn:aws:iam::444455556666:role/pullwarden-registry-pull';
const MINUTE = 60_000;

let emulators: Emulators;
let ecr: FakeEcr;
let github: FakeGitHub;
let tables = 0;
let table: string;
let store: DynamoCredentialsTable;
let now: Date;
let privateKey: string;

before(async () => {
  // What the function's own role would be: STS is called with it, ECR with the assumed role.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIDREFRESH',
    AWS_SECRET_ACCESS_KEY: 'refresh-secret',
    AWS_REGION: LOCAL_REGION,
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  [emulators, ecr, github] = await Promise.all([
    startEmulators(),
    startFakeEcr(),
    startFakeGitHub(),
  ]);
  github.clock = () => now;
  privateKey = github.privateKeyPem;
});
after(async () => {
  await Promise.all([emulators.stop(), ecr.stop(), github.stop()]);
});
beforeEach(async () => {
  tables += 1;
  const provisioned = await provision(
    `${root}infra/cloudformation/credentials-resources.yml`,
    { 'self:service': 'pullwarden', 'sls:stage': `refresh${tables}` },
    emulators,
  );
  table = provisioned.tables.CredentialsTable as string;
  store = new DynamoCredentialsTable(emulators.dynamo, table);
  // GitHub states expiry in whole seconds.
  now = new Date(Math.floor(Date.now() / 1000) * 1000);
  ecr.mode = 'ok';
  ecr.stsMode = 'ok';
  ecr.calls.length = 0;
  ecr.stsCalls.length = 0;
  github.mode = 'ok';
  github.calls.length = 0;
  github.rejected.length = 0;
  privateKey = github.privateKeyPem;
});

function registries(extra: Record<string, unknown> = {}): BrokeredRegistry[] {
  return configSchema.parse({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'Config',
    credentials: {
      brokered: [
        { source: 'ecr', registry: ECR_A, roleArn: ROLE, externalId: 'pullwarden-test' },
        { source: 'ecr', registry: ECR_B, roleArn: ROLE, externalId: 'pullwarden-test' },
        {
          source: 'github-app',
          appId: Number(github.appId),
          installationId: 99,
          privateKey: { env: 'GITHUB_APP_KEY' },
          apiUrl: github.url,
          repositories: ['app'],
          ...extra,
        },
      ],
    },
  }).credentials.brokered;
}

function dependencies(): RefreshDependencies {
  return {
    store,
    sourceFor: (entry) =>
      mintSourceFor(entry, {
        secrets: environmentSecretResolver({ GITHUB_APP_KEY: privateKey }),
        fetch,
        now: () => now,
        requestTimeoutMs: 5000,
        ecrEndpoint: ecr.endpoint,
        stsEndpoint: ecr.endpoint,
      }),
    now: () => now,
    random: () => 0.5,
    sleep: async () => {},
    deadlineMs: 20_000,
    maxAttempts: 3,
  };
}

async function items(): Promise<Record<string, Record<string, string>>> {
  const scan = await emulators.dynamo.send(new ScanCommand({ TableName: table }));
  return Object.fromEntries(
    (scan.Items ?? []).map((item) => [
      item.pk?.S as string,
      Object.fromEntries(
        Object.entries(item).map(([key, value]) => [key, (value.S ?? value.N) as string]),
      ),
    ]),
  );
}

const run = (entries = registries()) => refreshBrokeredCredentials(entries, dependencies());
const outcomeOf = (outcomes: Awaited<ReturnType<typeof run>>, registry: string) =>
  outcomes.find((outcome) => outcome.registry === registry);

describe('credential-refresh', () => {
  test('mints once per identity and writes every registry, in the shape nodes read', async () => {
    const outcomes = await run();
    assert.deepEqual(
      outcomes.map(({ registry, outcome, reason }) => [registry, outcome, reason]),
      [
        [ECR_A, 'minted', 'no credential yet'],
        [ECR_B, 'minted', 'no credential yet'],
        ['ghcr.io', 'minted', 'no credential yet'],
      ],
    );
    assert.deepEqual(
      ecr.stsCalls.map(({ action, roleArn, roleSessionName, externalId }) => ({
        action,
        roleArn,
        roleSessionName,
        externalId,
      })),
      [
        {
          action: 'AssumeRole',
          roleArn: ROLE,
          roleSessionName: 'pullwarden-credential-refresh',
          externalId: 'pullwarden-test',
        },
      ],
      'one role in one region: one AssumeRole for both registries',
    );
    assert.equal(ecr.calls.length, 1);
    assert.match(
      ecr.calls[0]?.authorization ?? '',
      /Credential=ASIA1ROLE\//,
      'ECR is asked as the role',
    );
    assert.equal(github.calls.length, 1);
    assert.deepEqual(github.calls[0], {
      installationId: 99,
      issuer: github.appId,
      lifetimeSeconds: 600,
      body: { permissions: { packages: 'read' }, repositories: ['app'] },
      userAgent: 'pullwarden-credential-refresh',
      apiVersion: '2022-11-28',
    });

    const stored = await items();
    const ecrItem = stored[`registry#${ECR_A}`];
    assert.ok(ecrItem !== undefined);
    const expiresAt = Date.parse(ecrItem.expiresAt as string);
    assert.ok(Math.abs(expiresAt - (Date.now() + 12 * 3600_000)) < 60_000, 'ECR tokens live 12 h');
    assert.deepEqual(
      { ...ecrItem, mintedBy: ecrItem.mintedBy?.length },
      {
        pk: `registry#${ECR_A}`,
        username: 'AWS',
        password: 'ecr-password-1',
        expiresAt: ecrItem.expiresAt,
        expiresAtEpoch: String(Math.ceil(expiresAt / 1000)),
        mintedAt: now.toISOString(),
        mintedAtMs: String(now.getTime()),
        mintedBy: 16,
        source: 'ecr',
      },
    );
    assert.equal(
      stored[`registry#${ECR_B}`]?.password,
      'ecr-password-1',
      'the same token serves both',
    );
    assert.deepEqual(
      {
        username: stored['registry#ghcr.io']?.username,
        password: stored['registry#ghcr.io']?.password,
        expiresAt: stored['registry#ghcr.io']?.expiresAt,
        source: stored['registry#ghcr.io']?.source,
      },
      {
        username: 'x-access-token',
        password: 'ghs_fake1token',
        expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
        source: 'github-app',
      },
    );
    assert.deepEqual(stored['refresh#ghcr.io'], {
      pk: 'refresh#ghcr.io',
      registry: 'ghcr.io',
      lastAttemptAt: now.toISOString(),
      lastSuccessAt: now.toISOString(),
      consecutiveFailures: '0',
    });
    for (const [key, item] of Object.entries(stored)) {
      if (key.startsWith('refresh#'))
        assert.equal(item.password, undefined, 'status holds no secret');
    }

    // What a node with `source: brokered` reads from the same table.
    const node = await brokeredSource(
      {
        source: 'brokered',
        hosts: ['ghcr.io'],
        table,
        region: LOCAL_REGION,
        endpoint: emulators.dynamoEndpoint,
      },
      'ghcr.io',
      'ghcr.io',
      5000,
    ).mint();
    assert.deepEqual(
      { username: node.username, password: node.password },
      { username: 'x-access-token', password: 'ghs_fake1token' },
    );
  });

  test('rotates each credential at half its lifetime, and not before', async () => {
    await run();
    now = new Date(now.getTime() + 29 * MINUTE);
    const early = await run();
    assert.deepEqual(
      early.map((outcome) => outcome.outcome),
      ['fresh', 'fresh', 'fresh'],
    );
    assert.equal(outcomeOf(early, 'ghcr.io')?.minutesToExpiry, 31);
    assert.equal(github.calls.length, 1);

    now = new Date(now.getTime() + 2 * MINUTE);
    const github31 = await run();
    assert.equal(outcomeOf(github31, 'ghcr.io')?.outcome, 'minted');
    assert.match(outcomeOf(github31, 'ghcr.io')?.reason ?? '', /^29 min left, refreshing at 30$/);
    assert.equal(outcomeOf(github31, ECR_A)?.outcome, 'fresh', 'a 12-hour token is not due yet');
    assert.equal((await items())['registry#ghcr.io']?.password, 'ghs_fake2token');

    now = new Date(Date.now() + 6 * 3600_000 + MINUTE);
    const ecr6h = await run();
    assert.deepEqual(
      ecr6h.map((outcome) => outcome.outcome),
      ['minted', 'minted', 'minted'],
    );
    const stored = await items();
    assert.equal(stored[`registry#${ECR_A}`]?.password, 'ecr-password-2');
    assert.equal(stored[`registry#${ECR_B}`]?.password, 'ecr-password-2');
    assert.equal(ecr.stsCalls.length, 2);
  });

  test('one registry failing leaves the others refreshed and records why', async () => {
    github.mode = 'error';
    const outcomes = await run();
    assert.deepEqual(
      outcomes.map((outcome) => [outcome.registry, outcome.outcome, outcome.atRisk]),
      [
        [ECR_A, 'minted', false],
        [ECR_B, 'minted', false],
        ['ghcr.io', 'failed', true],
      ],
    );
    assert.equal(github.calls.length, 3, 'a 502 is retried, within the bounds');
    const failure = outcomeOf(outcomes, 'ghcr.io')?.error ?? '';
    assert.match(
      failure,
      /GitHubAppError \(HTTP 502\)|GitHub answered 502 for installation 99: Server Error/,
    );
    const stored = await items();
    assert.equal(stored['registry#ghcr.io'], undefined, 'nothing is written for a failed mint');
    assert.equal(stored['refresh#ghcr.io']?.consecutiveFailures, '1');
    assert.equal(stored['refresh#ghcr.io']?.lastError, failure);
    assert.deepEqual(
      refreshMetrics(outcomes).filter(
        (metric) => metric.value !== 0 || metric.dimensions === undefined,
      ),
      [
        { name: 'MinutesToExpiry', unit: 'None', value: 720, dimensions: { Registry: ECR_A } },
        { name: 'MinutesToExpiry', unit: 'None', value: 720, dimensions: { Registry: ECR_B } },
        {
          name: 'CredentialRefreshFailed',
          unit: 'Count',
          value: 1,
          dimensions: { Registry: 'ghcr.io' },
        },
        { name: 'CredentialsAtRisk', unit: 'Count', value: 1 },
      ],
    );

    github.mode = 'ok';
    const recovered = await run();
    assert.deepEqual(
      recovered.map((outcome) => outcome.outcome),
      ['fresh', 'fresh', 'minted'],
    );
    const after = await items();
    assert.equal(after['refresh#ghcr.io']?.consecutiveFailures, '0');
    assert.equal(after['refresh#ghcr.io']?.lastError, undefined);
    assert.equal(ecr.calls.length, 1, 'the ECR registries were not minted again');
  });

  test('a credential counts as at risk only once it is close to expiry and refreshing fails', async () => {
    await run();
    github.mode = 'rate-limited';
    now = new Date(now.getTime() + 31 * MINUTE);
    const due = await run();
    assert.deepEqual(
      [outcomeOf(due, 'ghcr.io')?.outcome, outcomeOf(due, 'ghcr.io')?.atRisk],
      ['failed', false],
      '29 minutes left: failing, but not yet within the last quarter of its life',
    );
    assert.equal(github.calls.length, 4, 'a secondary rate limit is retried');
    now = new Date(now.getTime() + 20 * MINUTE);
    const close = await run();
    assert.deepEqual(
      [outcomeOf(close, 'ghcr.io')?.outcome, outcomeOf(close, 'ghcr.io')?.atRisk],
      ['failed', true],
    );
    assert.equal((await items())['refresh#ghcr.io']?.consecutiveFailures, '2');
    assert.equal(
      (await items())['registry#ghcr.io']?.password,
      'ghs_fake1token',
      'the still-valid credential stays for nodes',
    );

    github.mode = 'not-found';
    const calls = github.calls.length;
    const refused = await run();
    assert.equal(github.calls.length, calls + 1, 'a refusal is not retried');
    assert.match(
      outcomeOf(refused, 'ghcr.io')?.error ?? '',
      /GitHub answered 404 for installation 99: Not Found/,
    );
  });

  test('settings that change the identity mint anew; explicit timings override half-life', async () => {
    await run();
    const changed = await run(registries({ permissions: { packages: 'read', metadata: 'read' } }));
    assert.deepEqual(
      [outcomeOf(changed, 'ghcr.io')?.outcome, outcomeOf(changed, 'ghcr.io')?.reason],
      ['minted', 'settings changed since it was minted'],
    );
    assert.deepEqual(github.calls[1]?.body.permissions, { packages: 'read', metadata: 'read' });

    now = new Date(now.getTime() + 10 * MINUTE);
    const eager = await run(
      registries({ permissions: { packages: 'read', metadata: 'read' }, refreshBeforeMinutes: 55 }),
    );
    assert.equal(
      outcomeOf(eager, 'ghcr.io')?.outcome,
      'minted',
      '50 minutes left, refreshing at 55',
    );
  });

  test('a bad private key fails its registry with a message that holds no key material', async () => {
    privateKey = 'not-a-key-but-secret-looking-AAAA';
    const outcomes = await run();
    const failed = outcomeOf(outcomes, 'ghcr.io');
    assert.equal(failed?.outcome, 'failed');
    assert.match(
      failed?.error ?? '',
      /the GitHub App private key from environment variable GITHUB_APP_KEY is not a PEM private key/,
    );
    assert.doesNotMatch(JSON.stringify(await items()), /secret-looking/);
    assert.equal(github.calls.length, 0, 'nothing is sent without a key');
    assert.equal(outcomeOf(outcomes, ECR_A)?.outcome, 'minted');
  });

  test('an assumed role that is refused fails both of its registries and nothing else', async () => {
    ecr.stsMode = 'deny';
    const outcomes = await run();
    assert.deepEqual(
      outcomes.map((outcome) => outcome.outcome),
      ['failed', 'failed', 'minted'],
    );
    assert.equal(ecr.stsCalls.length, 1, 'AccessDenied is not retried');
    assert.match(
      outcomeOf(outcomes, ECR_B)?.error ?? '',
      new RegExp(`assuming ${ROLE} failed: AccessDenied`),
    );
    assert.equal(ecr.calls.length, 0);
  });

  test('an item written without a mint time (by hand) is replaced', async () => {
    await emulators.dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          pk: { S: 'registry#ghcr.io' },
          username: { S: 'x-access-token' },
          password: { S: 'hand-written' },
          expiresAt: { S: new Date(now.getTime() + 3600_000).toISOString() },
        },
      }),
    );
    const outcomes = await run();
    assert.equal(outcomeOf(outcomes, 'ghcr.io')?.outcome, 'minted');
    assert.equal((await items())['registry#ghcr.io']?.password, 'ghs_fake1token');
  });

  test('a table error for one registry leaves the others of its identity written', async () => {
    const failing: BrokeredCredentialStore = {
      read: (registry) => store.read(registry),
      recordSuccess: (registry, at) => store.recordSuccess(registry, at),
      recordFailure: (registry, at, error) => store.recordFailure(registry, at, error),
      async write(record) {
        if (record.registry === ECR_B) {
          throw Object.assign(new Error('throttled'), {
            name: 'ProvisionedThroughputExceededException',
          });
        }
        return store.write(record);
      },
    };
    const outcomes = await refreshBrokeredCredentials(registries(), {
      ...dependencies(),
      store: failing,
    });
    assert.deepEqual(
      outcomes.map((outcome) => [outcome.registry, outcome.outcome, outcome.atRisk]),
      [
        [ECR_A, 'minted', false],
        [ECR_B, 'failed', true],
        ['ghcr.io', 'minted', false],
      ],
      'no credential for B yet and its refresh failed: at risk; A and GHCR are fine',
    );
    assert.match(
      outcomeOf(outcomes, ECR_B)?.error ?? '',
      /storing the credential failed: ProvisionedThroughputExceededException: throttled/,
    );
    assert.equal((await items())[`registry#${ECR_A}`]?.password, 'ecr-password-1');
  });

  test('an earlier mint never replaces a later one', async () => {
    const later = new Date(now.getTime() + MINUTE);
    const record = (password: string, mintedAt: Date) => ({
      registry: 'quay.io',
      source: 'github-app' as const,
      credential: { username: 'u', password, expiresAt: new Date(mintedAt.getTime() + 3600_000) },
      mintedAt,
      mintedBy: 'x',
    });
    assert.equal(await store.write(record('later', later)), 'written');
    assert.equal(await store.write(record('earlier', now)), 'superseded');
    assert.equal((await items())['registry#quay.io']?.password, 'later');
    assert.equal(await store.write(record('latest', new Date(later.getTime() + 1))), 'written');
    assert.equal((await items())['registry#quay.io']?.password, 'latest');
  });
});
