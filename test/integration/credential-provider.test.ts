import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { type Emulators, startEmulators } from '#shared/local/emulators.ts';
import { provision } from '#shared/local/provision.ts';
import { buildArtifacts, listArtifacts } from '../../scripts/build.ts';
import { type FakeEcr, startFakeEcr } from '../support/fake-ecr.ts';
import { runProcess } from '../support/process.ts';

// The credential provider as the kubelet runs it: the built pullwarden-node bundle, one process per
// exec, a CredentialProviderRequest on stdin, against a loopback stand-in for the ECR API.

const root = fileURLToPath(new URL('../..', import.meta.url));
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const V1 = 'credentialprovider.kubelet.k8s.io/v1';

let scratch: string;
let binary: string;
let ecr: FakeEcr;
let cacheDirectory: string;
let configFile: string;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-credential-provider-'));
  const [artifact] = (await listArtifacts(root, join(scratch, 'dist'))).filter(
    (candidate) => candidate.name === 'pullwarden-node',
  );
  assert.ok(artifact);
  await buildArtifacts([artifact], root);
  binary = join(scratch, 'dist', 'pullwarden-node', 'pullwarden-node.mjs');
  ecr = await startFakeEcr();
  emulators = await startEmulators();
  const provisioned = await provision(
    join(root, 'infra/cloudformation/credentials-resources.yml'),
    { 'self:service': 'pullwarden', 'sls:stage': 'test' },
    emulators,
  );
  credentialsTable = provisioned.tables.CredentialsTable as string;
});
after(async () => {
  await emulators.stop();
  await ecr.stop();
  await rm(scratch, { recursive: true, force: true });
});

let emulators: Emulators;
let credentialsTable: string;

let run = 0;
beforeEach(async () => {
  run++;
  cacheDirectory = join(scratch, `cache-${run}`);
  configFile = join(scratch, `node-${run}.yaml`);
  ecr.calls.length = 0;
  ecr.stsCalls.length = 0;
  ecr.stsMode = 'ok';
  ecr.mode = 'ok';
  ecr.lifetimeSeconds = 12 * 3600;
  ecr.delayMs = 0;
  await writeConfig();
});

async function writeConfig(extra = '', serviceAccount = '') {
  await writeFile(
    configFile,
    [
      'apiVersion: pullwarden.dev/v1',
      'kind: NodeConfig',
      'credentialProvider:',
      `  cacheDirectory: ${cacheDirectory}`,
      '  requestTimeout: 5s',
      extra,
      '  registries:',
      '    - source: ecr',
      `      endpoint: ${ecr.endpoint}`,
      `      stsEndpoint: ${ecr.endpoint}`,
      serviceAccount,
      '    - source: brokered',
      '      hosts: [ghcr.io, quay.io]',
      `      table: ${credentialsTable}`,
      '      region: eu-west-1',
      `      endpoint: ${emulators.dynamoEndpoint}`,
      '    - source: docker-config',
      '      hosts: ["127.0.0.1:5000"]',
      `      path: ${join(scratch, 'docker-config.json')}`,
      '',
    ].join('\n'),
  );
}

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(
  request: unknown,
  args: string[] = ['credential-provider', '--config', configFile],
): Promise<Exec> {
  return runProcess(process.execPath, [binary, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_ACCESS_KEY_ID: 'AKIDNODE',
      AWS_SECRET_ACCESS_KEY: 'node-secret',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    stdin:
      typeof request === 'string'
        ? request
        : `${JSON.stringify(request)}
`,
  });
}

const request = (image: string, apiVersion = V1) => ({
  kind: 'CredentialProviderRequest',
  apiVersion,
  image,
});

function response(result: Exec) {
  assert.equal(result.code, 0, result.stderr);
  const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
  // The kubelet decodes strictly: exactly these fields.
  assert.deepEqual(Object.keys(parsed), [
    'kind',
    'apiVersion',
    'cacheKeyType',
    'cacheDuration',
    'auth',
  ]);
  for (const credential of Object.values(parsed.auth as Record<string, object>)) {
    assert.deepEqual(Object.keys(credential), ['username', 'password']);
  }
  return parsed as {
    apiVersion: string;
    cacheKeyType: string;
    cacheDuration: string;
    auth: Record<string, { username: string; password: string }>;
  };
}

describe('pullwarden-node credential-provider', () => {
  test('20 concurrent execs mint exactly one token and all answer it', async () => {
    ecr.delayMs = 300;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => exec(request(`${REGISTRY}/team/api`))),
    );
    assert.equal(ecr.calls.length, 1);
    const passwords = new Set(
      results.map((result) => response(result).auth[`*.dkr.ecr.eu-west-1.amazonaws.com`]?.password),
    );
    assert.deepEqual([...passwords], [ecr.password(1)]);
    assert.match(
      ecr.calls[0]?.authorization ?? '',
      /Credential=AKIDNODE\/\d{8}\/eu-west-1\/ecr\/aws4_request/,
    );
  });

  test('a cached token is answered without a call; every API version is echoed', async () => {
    const first = response(await exec(request(`${REGISTRY}/team/api`)));
    assert.equal(first.cacheDuration, '6h0m0s');
    assert.equal(first.cacheKeyType, 'Registry');
    for (const version of ['v1', 'v1beta1', 'v1alpha1']) {
      const apiVersion = `credentialprovider.kubelet.k8s.io/${version}`;
      const again = response(
        await exec(request(`999999999999.dkr.ecr.eu-west-1.amazonaws.com/other`, apiVersion)),
      );
      assert.equal(again.apiVersion, apiVersion);
      assert.deepEqual(Object.keys(again.auth), ['*.dkr.ecr.eu-west-1.amazonaws.com']);
    }
    assert.equal(ecr.calls.length, 1, 'one token serves every account of the region');
  });

  test('when ECR throttles or fails, the still-valid cached token is served and stderr says so', async () => {
    const first = response(await exec(request(`${REGISTRY}/team/api`)));
    const password = first.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password;
    // Age the cached token: minted 11.5 hours ago, 30 minutes left, inside refreshBefore (1h), so every
    // exec now tries to refresh it.
    const [file] = (await readdir(cacheDirectory)).filter((name) => name.endsWith('.json'));
    const path = join(cacheDirectory, file as string);
    const cached = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    cached.mintedAt = new Date(Date.now() - 11.5 * 3600_000).toISOString();
    cached.expiresAt = new Date(Date.now() + 1800_000).toISOString();
    await writeFile(path, JSON.stringify(cached));
    for (const mode of ['throttle', 'error'] as const) {
      ecr.mode = mode;
      const result = await exec(request(`${REGISTRY}/team/api`));
      const answer = response(result);
      assert.equal(answer.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password, password);
      assert.match(result.stderr, /serving the cached token, valid until /);
      assert.doesNotMatch(result.stderr, new RegExp(password ?? 'x'));
      assert.match(answer.cacheDuration, /^2[0-5]m\d+s$/);
    }
  });

  test('a refusal with no usable token fails the exec with one line and no secret', async () => {
    ecr.mode = 'deny';
    const result = await exec(request(`${REGISTRY}/team/api`));
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(
      result.stderr,
      /ECR eu-west-1 \(node credentials\): AccessDeniedException \(HTTP 400\): not authorized/,
    );
    assert.doesNotMatch(result.stderr, /node-secret/);
  });

  test('a corrupted cache file is replaced; an expired token is refreshed', async () => {
    response(await exec(request(`${REGISTRY}/team/api`)));
    const [file] = (await readdir(cacheDirectory)).filter((name) => name.endsWith('.json'));
    assert.ok(file);
    await writeFile(join(cacheDirectory, file), '{"version":1,"key":');
    const recovered = await exec(request(`${REGISTRY}/team/api`));
    assert.equal(
      response(recovered).auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password,
      ecr.password(2),
    );
    assert.match(recovered.stderr, /was unreadable; replacing it/);
    // A one-second token in a fresh cache: minted, then expired and minted again.
    ecr.lifetimeSeconds = 1;
    cacheDirectory = join(scratch, `cache-${run}-short`);
    await writeConfig('  safetyMargin: 0s\n  refreshBefore: 0s');
    response(await exec(request(`${REGISTRY}/team/api`)));
    const minted = ecr.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    response(await exec(request(`${REGISTRY}/team/api`)));
    assert.equal(ecr.calls.length, minted + 1, 'the expired token was replaced');
  });

  test('foreign and spoofed hosts get no credentials and 0s, without calling ECR', async () => {
    for (const image of [
      'docker.io/library/nginx',
      `${REGISTRY}.evil.example/team/api`,
      `evil.example/${REGISTRY}/team/api`,
      `${REGISTRY}:5000/team/api`,
    ]) {
      const answer = response(await exec(request(image)));
      assert.deepEqual(answer.auth, {}, image);
      assert.equal(answer.cacheDuration, '0s');
    }
    assert.equal(ecr.calls.length, 0);
  });

  test('a docker config answers with the key the kubelet would match', async () => {
    await writeFile(
      join(scratch, 'docker-config.json'),
      JSON.stringify({
        auths: {
          'https://127.0.0.1:5000/v2/': { auth: Buffer.from('robot:s3cret').toString('base64') },
          '127.0.0.1:5000/team': { username: 'team-robot', password: 'team-pass' },
        },
      }),
    );
    const team = response(await exec(request('127.0.0.1:5000/team/api')));
    assert.deepEqual(team.auth, {
      '127.0.0.1:5000/team': { username: 'team-robot', password: 'team-pass' },
    });
    const other = response(await exec(request('127.0.0.1:5000/other/app')));
    assert.deepEqual(other.auth, { '127.0.0.1:5000': { username: 'robot', password: 's3cret' } });
  });

  test('bad stdin and a bad config fail with a specific message', async () => {
    const cases: [unknown, RegExp][] = [
      ['not json', /stdin is not JSON/],
      [{ kind: 'Pod' }, /kind must be CredentialProviderRequest/],
      [request(`${REGISTRY}/x`, 'credentialprovider.kubelet.k8s.io/v9'), /is not supported/],
      [{ kind: 'CredentialProviderRequest', apiVersion: V1 }, /image is missing/],
    ];
    for (const [input, message] of cases) {
      const result = await exec(input);
      assert.equal(result.code, 1);
      assert.match(result.stderr, message);
    }
    await writeFile(
      configFile,
      'apiVersion: pullwarden.dev/v1\nkind: NodeConfig\ncredentialProvider:\n  registries: []\n',
    );
    const bad = await exec(request(`${REGISTRY}/x`));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /credentialProvider\.registries: /);
  });
});

/** A service account token as the kubelet passes it: a JWT whose subject names the account. */
function serviceAccountToken(namespace: string, name: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ sub: `system:serviceaccount:${namespace}:${name}`, aud: ['sts.amazonaws.com'] })}.signature`;
}

const ROLE = 'arn:aws:iam::123456789012:role/team-pull';

function saRequest(namespace: string, name: string) {
  return {
    ...request(`${REGISTRY}/team/api`),
    serviceAccountToken: serviceAccountToken(namespace, name),
    serviceAccountAnnotations: { 'eks.amazonaws.com/ecr-role-arn': ROLE },
  };
}

describe('service account tokens (KEP-4412)', () => {
  test('the annotated role is assumed with the pod token, and tokens are cached per service account', async () => {
    const first = response(await exec(saRequest('team-a', 'api')));
    assert.deepEqual(ecr.stsCalls, [
      {
        action: 'AssumeRoleWithWebIdentity',
        roleArn: ROLE,
        roleSessionName: 'pullwarden.team-a.api',
        webIdentityToken: serviceAccountToken('team-a', 'api'),
        externalId: '',
      },
    ]);
    assert.match(
      ecr.calls[0]?.authorization ?? '',
      /Credential=ASIA1ROLE\//,
      'ECR is called as the role',
    );
    response(await exec(saRequest('team-a', 'api')));
    assert.equal(ecr.stsCalls.length, 1, 'the same service account reuses its token');
    const other = response(await exec(saRequest('team-b', 'api')));
    assert.equal(ecr.stsCalls.length, 2, "another service account never gets team-a's token");
    assert.notEqual(
      other.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password,
      first.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password,
    );
    const node = response(await exec(request(`${REGISTRY}/team/api`)));
    assert.equal(ecr.stsCalls.length, 2, 'no token, no role: node credentials');
    assert.match(ecr.calls.at(-1)?.authorization ?? '', /Credential=AKIDNODE\//);
    assert.ok(node.auth['*.dkr.ecr.eu-west-1.amazonaws.com']);
  });

  test('a refused role fails closed by default, or falls back to the node when configured', async () => {
    ecr.stsMode = 'deny';
    const closed = await exec(saRequest('team-a', 'api'));
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, new RegExp(`assuming ${ROLE} failed: AccessDenied`));
    assert.equal(ecr.calls.length, 0);
    await writeConfig('', '      serviceAccount: { onFailure: node }');
    const open = await exec(saRequest('team-a', 'api'));
    assert.equal(response(open).cacheKeyType, 'Registry');
    assert.match(open.stderr, /using the node's own credentials/);
    assert.match(ecr.calls.at(-1)?.authorization ?? '', /Credential=AKIDNODE\//);
  });
});

describe('brokered credentials', () => {
  async function broker(registry: string, password: string, expiresAt: Date) {
    await emulators.dynamo.send(
      new PutItemCommand({
        TableName: credentialsTable,
        Item: {
          pk: { S: `registry#${registry}` },
          username: { S: 'x-access-token' },
          password: { S: password },
          expiresAt: { S: expiresAt.toISOString() },
          expiresAtEpoch: { N: String(Math.floor(expiresAt.getTime() / 1000)) },
          mintedAt: { S: new Date().toISOString() },
          source: { S: 'github-app' },
        },
      }),
    );
  }

  test('a node answers from the credentials table and caches what it read', async () => {
    await broker('ghcr.io', 'ghs_brokered1', new Date(Date.now() + 3600_000));
    const answer = response(await exec(request('ghcr.io/acme/app')));
    assert.deepEqual(answer.auth, {
      'ghcr.io': { username: 'x-access-token', password: 'ghs_brokered1' },
    });
    assert.match(
      answer.cacheDuration,
      /^5[45]m\d+s$/,
      'one hour left minus the five-minute margin',
    );
    await broker('ghcr.io', 'ghs_brokered2', new Date(Date.now() + 3600_000));
    const cached = response(await exec(request('ghcr.io/acme/other')));
    assert.equal(
      cached.auth['ghcr.io']?.password,
      'ghs_brokered1',
      'read from the node cache, not the table',
    );
  });

  test('a registry nothing was brokered for, or an expired item, fails with the reason', async () => {
    const missing = await exec(request('quay.io/acme/app'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no credential for quay\.io has been brokered yet/);
    await broker('quay.io', 'stale', new Date(Date.now() - 60_000));
    const expired = await exec(request('quay.io/acme/app'));
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /expired at .*; is credential-refresh running\?/);
    assert.doesNotMatch(expired.stderr, /stale/);
  });
});

describe('doctor credentials', () => {
  test('reports the source, the cache before and after, and the answer without the secret', async () => {
    const doctor = (image: string) =>
      exec('', ['doctor', 'credentials', '--config', configFile, image]);
    const first = await doctor(`${REGISTRY}/team/api:1.4.0`);
    // The stand-in's first password, ecr-password-1, has 14 characters.
    assert.equal(ecr.password(1).length, 14);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const lines = first.stdout.trim().split('\n');
    assert.equal(
      lines[0],
      `image: ${REGISTRY}/team/api:1.4.0 (the kubelet asks for ${REGISTRY}/team/api)`,
    );
    assert.equal(lines[1], 'source: ECR eu-west-1 (node credentials)');
    assert.equal(lines[2], 'cache before: empty: the next exec mints');
    assert.match(
      first.stdout,
      /^answer: auth key \*\.dkr\.ecr\.eu-west-1\.amazonaws\.com, username AWS, password of 14 characters \(not shown\)$/m,
    );
    assert.match(first.stdout, /^cache after: valid for 720 more minutes /m);
    assert.doesNotMatch(first.stdout, new RegExp(ecr.password(1)));
    assert.equal(ecr.calls.length, 1);
    const none = await doctor('nginx:1.27');
    assert.equal(none.code, 1);
    assert.match(none.stdout, /source: none; no registry in .* serves docker\.io\/library\/nginx/);
    ecr.mode = 'deny';
    const denied = await doctor(`999999999999.dkr.ecr.us-east-1.amazonaws.com/x`);
    assert.equal(denied.code, 1);
    assert.match(
      denied.stdout,
      /^failed: ECR us-east-1 \(node credentials\): AccessDeniedException/m,
    );
  });
});

describe('the shipped node files', () => {
  test('infra/kubelet passes doctor and its node config loads', async () => {
    const { main } = await import('#cmd/pullwarden-node/main.ts');
    const { runInProcess } = await import('../support/in-process-cli.ts');
    for (const file of [
      'credential-provider-config.yaml',
      'credential-provider-config-node-identity.yaml',
    ]) {
      const checked = await runInProcess(main, [
        'doctor',
        'kubelet-config',
        join(root, 'infra/kubelet', file),
      ]);
      assert.equal(checked.code, 0, checked.stdout);
      assert.match(checked.stdout, /0 errors, 0 warnings/, file);
      const matched = await runInProcess(main, [
        'doctor',
        'match',
        join(root, 'infra/kubelet', file),
        'ghcr.io/acme/app:1.0',
      ]);
      assert.match(matched.stdout, /pullwarden-node/, `${file} sends GHCR pulls to the plugin`);
    }
    const { loadNodeConfig } = await import('#shared/credentials/node-config.ts');
    const config = await loadNodeConfig(join(root, 'infra/kubelet/node.json'));
    assert.deepEqual(
      config.credentialProvider.registries.map((registry) => registry.source),
      ['ecr', 'brokered', 'docker-config'],
    );
  });
});
