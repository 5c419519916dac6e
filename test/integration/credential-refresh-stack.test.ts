import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { RefreshSummary } from '#shared/credentials/refresh.ts';
import { type LocalStack, startLocalStack } from '#shared/local/stack.ts';
import { type FakeEcr, startFakeEcr } from '../support/fake-ecr.ts';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github.ts';

// credential-refresh as deployed: serverless.yml's scheduled function in the local stack, the credentials
// table provisioned from infra/, STS and ECR reached through the SDK's endpoint variables, GitHub through
// the configured apiUrl, the app key from the environment.

const root = fileURLToPath(new URL('../..', import.meta.url));
const ECR_HOST = '444455556666.dkr.ecr.us-west-2.amazonaws.com';

let stack: LocalStack;
let scratch: string;
let ecr: FakeEcr;
let github: FakeGitHub;

before(async () => {
  [ecr, github] = await Promise.all([startFakeEcr(), startFakeGitHub()]);
  Object.assign(process.env, {
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    AWS_ENDPOINT_URL_ECR: ecr.endpoint,
    AWS_ENDPOINT_URL_STS: ecr.endpoint,
    STACK_GITHUB_APP_KEY: github.privateKeyPem,
  });
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-refresh-stack-'));
  await writeFile(
    join(scratch, 'pullwarden.yaml'),
    [
      'apiVersion: pullwarden.dev/v1',
      'kind: Config',
      'credentials:',
      '  brokered:',
      `    - { source: ecr, registry: ${ECR_HOST}, roleArn: "arn:aws:iam::444455556666:role/pullwarden-registry-pull" }`,
      `    - { source: github-app, appId: ${github.appId}, installationId: 5, privateKey: { env: STACK_GITHUB_APP_KEY }, apiUrl: "${github.url}" }`,
      '',
    ].join('\n'),
  );
  stack = await startLocalStack({
    root,
    configFile: join(scratch, 'pullwarden.yaml'),
    port: 0,
    dataDirectory: join(scratch, 'data'),
    log: { info: () => {}, error: () => {} },
  });
});
after(async () => {
  await stack.stop();
  await Promise.all([ecr.stop(), github.stop()]);
  await rm(scratch, { recursive: true, force: true });
});

test('the scheduled function fills the credentials table, then leaves fresh credentials alone', async () => {
  const schedule = stack.functions.find((fn) => fn.name === 'credentialRefresh')?.schedules;
  assert.deepEqual(schedule, ['rate(5 minutes)']);

  const first = (await stack.runSchedule('credentialRefresh')) as RefreshSummary;
  assert.deepEqual(
    { minted: first.minted, fresh: first.fresh, failed: first.failed, atRisk: first.atRisk },
    { minted: 2, fresh: 0, failed: 0, atRisk: 0 },
  );
  assert.equal(ecr.stsCalls[0]?.action, 'AssumeRole');
  assert.equal(github.calls.length, 1);

  const dynamo = new DynamoDBClient({});
  try {
    const scan = await dynamo.send(
      new ScanCommand({ TableName: stack.tables.CredentialsTable as string }),
    );
    const byKey = new Map((scan.Items ?? []).map((item) => [item.pk?.S, item]));
    assert.deepEqual([...byKey.keys()].sort(), [
      `refresh#${ECR_HOST}`,
      'refresh#ghcr.io',
      `registry#${ECR_HOST}`,
      'registry#ghcr.io',
    ]);
    assert.equal(byKey.get('registry#ghcr.io')?.password?.S, 'ghs_fake1token');
    assert.equal(byKey.get(`registry#${ECR_HOST}`)?.password?.S, 'ecr-password-1');
  } finally {
    dynamo.destroy();
  }

  const second = (await stack.runSchedule('credentialRefresh')) as RefreshSummary;
  assert.deepEqual([second.minted, second.fresh], [0, 2]);
  assert.equal(github.calls.length, 1);
  assert.equal(ecr.calls.length, 1);

  await assert.rejects(
    stack.runSchedule('registryWebhook'),
    /registryWebhook is not a scheduled function/,
  );
});
