import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configSchema, type WebhookSourceSettings } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import { HttpError } from '#shared/http/errors.ts';
import type { NormalizedEvent } from '#shared/intake/model.ts';
import { normalizeEcrEvent } from '#shared/intake/sources/ecr.ts';
import { SOURCE_ADAPTERS } from '#shared/intake/sources/index.ts';
import {
  DIGEST_A,
  DIGEST_B,
  distributionEnvelope,
  githubSignature,
  webhookRequest,
} from '../../support/webhooks.ts';

type Case = {
  name: string;
  source: keyof typeof SOURCE_ADAPTERS;
  body: unknown;
  settings?: WebhookSourceSettings;
  contentType?: string;
  headers?: Record<string, string>;
  expect: Partial<NormalizedEvent>[];
};

const pushed = (fields: Record<string, unknown>) => ({ kind: 'pushed' as const, ...fields });

const CASES: Case[] = [
  {
    name: 'distribution v2: manifest push by tag; blob push, pull and mount ignored; delete recorded',
    source: 'distribution',
    contentType: 'application/vnd.docker.distribution.events.v2+json',
    body: distributionEnvelope([
      { action: 'push', tag: '1.4.2', digest: DIGEST_A },
      {
        action: 'push',
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: DIGEST_B,
      },
      { action: 'pull', tag: '1.4.2', digest: DIGEST_A },
      { action: 'mount', digest: DIGEST_B },
      { action: 'delete', digest: DIGEST_B },
    ]),
    expect: [
      pushed({
        registry: 'registry.example.com',
        repository: 'team/api',
        tag: '1.4.2',
        digest: DIGEST_A,
        deliveryId: 'evt-0',
        at: '2026-03-01T10:15:30.123Z',
      }),
      { kind: 'ignored' },
      { kind: 'ignored' },
      { kind: 'ignored' },
      {
        kind: 'deleted',
        registry: 'registry.example.com',
        repository: 'team/api',
        digest: DIGEST_B,
      },
    ],
  },
  {
    name: 'distribution: loopback host with port, registryHost overrides',
    source: 'distribution',
    settings: { registryHost: 'registry.internal:5000' },
    body: distributionEnvelope([{ action: 'push', tag: 'v1', digest: DIGEST_A }], '127.0.0.1:5000'),
    expect: [pushed({ registry: 'registry.internal:5000', repository: 'team/api', tag: 'v1' })],
  },
  {
    name: 'harbor default format: first tag, repository full name, host from resource_url',
    source: 'harbor',
    body: {
      type: 'PUSH_ARTIFACT',
      occur_at: 1740823530,
      operator: 'robot$ci',
      event_data: {
        resources: [
          { digest: DIGEST_A, tag: '2.1.6', resource_url: 'harbor.example.com/team/api:2.1.6' },
        ],
        repository: {
          name: 'api',
          namespace: 'team',
          repo_full_name: 'team/api',
          repo_type: 'private',
        },
      },
    },
    expect: [
      pushed({
        registry: 'harbor.example.com',
        repository: 'team/api',
        tag: '2.1.6',
        digest: DIGEST_A,
        at: '2025-03-01T10:05:30.000Z',
      }),
    ],
  },
  {
    name: 'harbor: an untagged artifact reports its digest as the tag',
    source: 'harbor',
    body: {
      type: 'PUSH_ARTIFACT',
      occur_at: 1740823530,
      event_data: {
        resources: [
          {
            digest: DIGEST_A,
            tag: DIGEST_A,
            resource_url: `harbor.example.com/team/api@${DIGEST_A}`,
          },
        ],
        repository: { repo_full_name: 'team/api' },
      },
    },
    expect: [
      pushed({
        registry: 'harbor.example.com',
        repository: 'team/api',
        tag: undefined,
        digest: DIGEST_A,
      }),
    ],
  },
  {
    name: 'harbor CloudEvents: pushed; the CloudEvent id is the delivery id',
    source: 'harbor',
    contentType: 'application/cloudevents+json',
    body: {
      specversion: '1.0',
      id: '4b2f89a6',
      source: '/projects/3/webhook/policies/7',
      type: 'harbor.artifact.pushed',
      time: '2026-03-01T10:16:02Z',
      data: {
        resources: [
          { digest: DIGEST_A, tag: '2.1.6', resource_url: 'harbor.example.com/team/api:2.1.6' },
        ],
        repository: { repo_full_name: 'team/api' },
      },
    },
    expect: [pushed({ tag: '2.1.6', deliveryId: '4b2f89a6:0', at: '2026-03-01T10:16:02.000Z' })],
  },
  {
    name: 'harbor: scan events are ignored',
    source: 'harbor',
    contentType: 'application/cloudevents+json',
    body: { specversion: '1.0', id: 'x', type: 'harbor.scan.completed', data: { resources: [] } },
    expect: [{ kind: 'ignored' }],
  },
  {
    name: 'dockerhub: no digest, Docker Hub names',
    source: 'dockerhub',
    body: {
      callback_url:
        'https://registry.hub.docker.com/u/acme/api/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/',
      push_data: { pushed_at: 1740823530, pusher: 'acmeci', tag: 'latest' },
      repository: { repo_name: 'acme/api', name: 'api', namespace: 'acme', is_private: true },
    },
    expect: [
      pushed({ registry: 'docker.io', repository: 'acme/api', tag: 'latest', digest: undefined }),
    ],
  },
  {
    name: 'quay: one event per updated tag, object form too',
    source: 'quay',
    body: {
      repository: 'acme/api',
      namespace: 'acme',
      name: 'api',
      docker_url: 'quay.io/acme/api',
      updated_tags: { '1.4.2': 'abc', latest: 'abc' },
    },
    expect: [
      pushed({ registry: 'quay.io', repository: 'acme/api', tag: '1.4.2', digest: undefined }),
      pushed({ registry: 'quay.io', repository: 'acme/api', tag: 'latest' }),
    ],
  },
  {
    name: 'github package: lower-cased name, tag digest, delivery header',
    source: 'github',
    headers: { 'X-GitHub-Event': 'package', 'X-GitHub-Delivery': 'guid-1' },
    body: {
      action: 'published',
      package: {
        name: 'API',
        package_type: 'CONTAINER',
        owner: { login: 'Acme' },
        package_version: {
          name: DIGEST_A,
          version: DIGEST_A,
          container_metadata: {
            tag: { name: '1.4.2', digest: DIGEST_A },
            manifest: { digest: DIGEST_A, media_type: 'application/vnd.oci.image.index.v1+json' },
          },
          package_url: 'ghcr.io/Acme/API:1.4.2',
        },
        registry: { type: 'CONTAINER', url: 'https://ghcr.io/acme' },
      },
    },
    expect: [
      pushed({
        registry: 'ghcr.io',
        repository: 'acme/api',
        tag: '1.4.2',
        digest: DIGEST_A,
        deliveryId: 'guid-1',
        mediaType: 'application/vnd.oci.image.index.v1+json',
      }),
    ],
  },
  {
    name: 'github registry_package with an empty tag: a digest-only push',
    source: 'github',
    headers: { 'X-GitHub-Event': 'registry_package', 'X-GitHub-Delivery': 'guid-2' },
    body: {
      action: 'published',
      registry_package: {
        name: 'api',
        package_type: 'container',
        owner: { login: 'acme' },
        package_version: {
          version: DIGEST_B,
          container_metadata: { tag: { name: '', digest: '' } },
        },
      },
    },
    expect: [
      pushed({ registry: 'ghcr.io', repository: 'acme/api', tag: undefined, digest: DIGEST_B }),
    ],
  },
  {
    name: 'github ping is acknowledged and ignored',
    source: 'github',
    headers: { 'X-GitHub-Event': 'ping' },
    body: { zen: 'Keep it logically awesome.' },
    expect: [{ kind: 'ignored' }],
  },
  {
    name: 'github: npm packages are not images',
    source: 'github',
    headers: { 'X-GitHub-Event': 'package', 'X-GitHub-Delivery': 'guid-3' },
    body: {
      action: 'published',
      package: {
        name: 'lib',
        package_type: 'npm',
        owner: { login: 'acme' },
        package_version: { version: '1.0.0' },
      },
    },
    expect: [{ kind: 'ignored' }],
  },
  {
    name: 'acr: chart pushes are ignored',
    source: 'acr',
    body: {
      id: 'c1',
      timestamp: '2026-03-01T10:15:30Z',
      action: 'chart_push',
      target: {
        mediaType: 'application/vnd.acr.helm.chart',
        repository: 'charts/api',
        tag: '1.0.0',
      },
      request: { host: 'acme.azurecr.io' },
    },
    expect: [{ kind: 'ignored' }],
  },
  {
    name: 'artifactory: path layout, bare checksum becomes a digest, list manifest media type',
    source: 'artifactory',
    body: {
      domain: 'docker',
      event_type: 'pushed',
      data: {
        repo_key: 'docker-local',
        event_type: 'pushed',
        path: 'team/api/1.4.2/list.manifest.json',
        name: 'list.manifest.json',
        sha256: 'A'.repeat(64),
        size: 1206,
        image_name: 'team/api',
        tag: '1.4.2',
      },
      subscription_key: 'drift-receiver',
      jpd_origin: 'https://acme.jfrog.io',
    },
    expect: [
      pushed({
        registry: 'acme.jfrog.io',
        repository: 'docker-local/team/api',
        tag: '1.4.2',
        digest: DIGEST_A,
        mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      }),
    ],
  },
  {
    name: 'artifactory: subdomain layout',
    source: 'artifactory',
    settings: { repositoryLayout: 'subdomain' },
    body: {
      domain: 'docker',
      event_type: 'pushed',
      data: {
        repo_key: 'docker-local',
        image_name: 'team/api',
        tag: '1',
        sha256: 'a'.repeat(64),
        name: 'manifest.json',
      },
      jpd_origin: 'https://acme.jfrog.io',
    },
    expect: [pushed({ registry: 'docker-local.acme.jfrog.io', repository: 'team/api' })],
  },
  {
    name: 'acr: request.host + target.repository',
    source: 'acr',
    body: {
      id: 'cb8c3971',
      timestamp: '2026-03-01T10:15:30.343145347Z',
      action: 'push',
      target: {
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        size: 524,
        digest: DIGEST_A,
        repository: 'team/api',
        tag: '1.4.2',
      },
      request: { id: '3cbb6949', host: 'acme.azurecr.io', method: 'PUT' },
    },
    expect: [
      pushed({
        registry: 'acme.azurecr.io',
        repository: 'team/api',
        tag: '1.4.2',
        digest: DIGEST_A,
        deliveryId: 'cb8c3971',
        at: '2026-03-01T10:15:30.343Z',
      }),
    ],
  },
  {
    name: 'gar wrapped: full references in digest and tag',
    source: 'gar',
    body: {
      message: {
        data: Buffer.from(
          JSON.stringify({
            action: 'INSERT',
            digest: `europe-docker.pkg.dev/acme-prod/team/api@${DIGEST_A}`,
            tag: 'europe-docker.pkg.dev/acme-prod/team/api:1.4.2',
          }),
        ).toString('base64'),
        messageId: '1234567890',
        publishTime: '2026-03-01T10:15:31Z',
      },
      subscription: 'projects/acme-prod/subscriptions/drift-receiver',
    },
    expect: [
      pushed({
        registry: 'europe-docker.pkg.dev',
        repository: 'acme-prod/team/api',
        tag: '1.4.2',
        digest: DIGEST_A,
        deliveryId: '1234567890',
      }),
    ],
  },
  {
    name: 'gar unwrapped tag-only delete',
    source: 'gar',
    body: { action: 'DELETE', tag: 'europe-docker.pkg.dev/acme-prod/team/api:old' },
    expect: [
      {
        kind: 'deleted',
        registry: 'europe-docker.pkg.dev',
        repository: 'acme-prod/team/api',
        tag: 'old',
      },
    ],
  },
];

function subset(actual: NormalizedEvent, expected: Partial<NormalizedEvent>) {
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(
      (actual as unknown as Record<string, unknown>)[key],
      value,
      `${key} of ${JSON.stringify(actual)}`,
    );
  }
}

describe('webhook source normalizers', () => {
  for (const entry of CASES) {
    test(entry.name, () => {
      const adapter = SOURCE_ADAPTERS[entry.source];
      const request = webhookRequest(entry.source, entry.body, {
        ...(entry.contentType === undefined ? {} : { contentType: entry.contentType }),
        ...(entry.headers === undefined ? {} : { headers: entry.headers }),
      });
      assert.ok(adapter.contentTypes.includes(request.contentType ?? ''));
      const events = adapter.normalize(request, entry.settings ?? {});
      assert.equal(events.length, entry.expect.length);
      for (const [index, expected] of entry.expect.entries()) {
        subset(events[index] as NormalizedEvent, expected);
      }
    });
  }

  test('a redelivered body keeps its derived delivery id', () => {
    const body = { push_data: { pushed_at: 1, tag: 'v1' }, repository: { repo_name: 'acme/api' } };
    const [first] = SOURCE_ADAPTERS.dockerhub.normalize(webhookRequest('dockerhub', body), {});
    const [second] = SOURCE_ADAPTERS.dockerhub.normalize(webhookRequest('dockerhub', body), {});
    assert.equal(
      (first as { deliveryId: string }).deliveryId,
      (second as { deliveryId: string }).deliveryId,
    );
  });

  const unprocessable: [string, keyof typeof SOURCE_ADAPTERS, unknown, number][] = [
    ['distribution without events', 'distribution', { event: [] }, 422],
    ['harbor without event_data', 'harbor', { type: 'PUSH_ARTIFACT', occur_at: 1 }, 422],
    [
      'quay with an upper-case repository',
      'quay',
      { repository: 'Acme/API', docker_url: 'quay.io/Acme/API', updated_tags: ['v1'] },
      422,
    ],
    [
      'acr with a bad digest',
      'acr',
      {
        id: '1',
        timestamp: '2026-03-01T10:15:30Z',
        action: 'push',
        target: { repository: 'a/b', tag: 'v1', digest: 'sha256:xyz' },
        request: { host: 'acme.azurecr.io' },
      },
      422,
    ],
    ['gar with data that is not base64 JSON', 'gar', { message: { data: '!!!' } }, 400],
    ['broken JSON', 'harbor', '{"type": ', 400],
  ];
  for (const [name, source, body, status] of unprocessable) {
    test(`${name} → ${status}`, () => {
      assert.throws(
        () => SOURCE_ADAPTERS[source].normalize(webhookRequest(source, body), {}),
        (error) => error instanceof HttpError && error.statusCode === status,
      );
    });
  }
});

describe('webhook verification', () => {
  const secrets = environmentSecretResolver({ TOKEN: 's3cret-token', HMAC: 'hmac-key' });
  const token = { env: 'TOKEN' };
  const rejects = async (promise: Promise<void>, pattern: RegExp) =>
    assert.rejects(
      promise,
      (error) =>
        error instanceof HttpError &&
        error.statusCode === 401 &&
        pattern.test(error.message) &&
        !error.message.includes('s3cret'),
    );

  test('shared header: accepted, missing, wrong', async () => {
    const settings = { token, header: 'Authorization' };
    const ok = webhookRequest('distribution', {}, { headers: { Authorization: 's3cret-token' } });
    await SOURCE_ADAPTERS.distribution.verify(ok, settings, secrets);
    await rejects(
      SOURCE_ADAPTERS.distribution.verify(webhookRequest('distribution', {}), settings, secrets),
      /missing/,
    );
    const wrong = webhookRequest('harbor', {}, { headers: { authorization: 's3cret-tokeN' } });
    await rejects(SOURCE_ADAPTERS.harbor.verify(wrong, { token }, secrets), /does not match/);
    const custom = webhookRequest('acr', {}, { headers: { 'X-Registry-Token': 's3cret-token' } });
    await SOURCE_ADAPTERS.acr.verify(custom, { token, header: 'X-Registry-Token' }, secrets);
  });

  test('URL token: path segment or query, missing or wrong', async () => {
    await SOURCE_ADAPTERS.dockerhub.verify(
      webhookRequest('dockerhub', {}, { pathToken: 's3cret-token' }),
      { token },
      secrets,
    );
    await SOURCE_ADAPTERS.quay.verify(
      webhookRequest('quay', {}, { query: { token: 's3cret-token' } }),
      { token },
      secrets,
    );
    await rejects(
      SOURCE_ADAPTERS.quay.verify(webhookRequest('quay', {}), { token }, secrets),
      /URL/,
    );
    await rejects(
      SOURCE_ADAPTERS.dockerhub.verify(
        webhookRequest('dockerhub', {}, { pathToken: 'guess' }),
        { token },
        secrets,
      ),
      /does not match/,
    );
  });

  test('GitHub HMAC over the raw body; a changed body fails', async () => {
    const body = JSON.stringify({ action: 'published' });
    const signature = githubSignature('hmac-key', body);
    const settings = { secret: { env: 'HMAC' } };
    await SOURCE_ADAPTERS.github.verify(
      webhookRequest('github', body, { headers: { 'X-Hub-Signature-256': signature } }),
      settings,
      secrets,
    );
    await rejects(
      SOURCE_ADAPTERS.github.verify(
        webhookRequest('github', `${body} `, { headers: { 'X-Hub-Signature-256': signature } }),
        settings,
        secrets,
      ),
      /does not match/,
    );
    await rejects(
      SOURCE_ADAPTERS.github.verify(webhookRequest('github', body), settings, secrets),
      /missing/,
    );
  });

  test('Artifactory: HMAC (any hex case) or the plain secret', async () => {
    const body = JSON.stringify({ domain: 'docker' });
    const hmac = githubSignature('hmac-key', body).slice('sha256='.length).toUpperCase();
    const secret = { env: 'HMAC' };
    await SOURCE_ADAPTERS.artifactory.verify(
      webhookRequest('artifactory', body, { headers: { 'X-JFrog-Event-Auth': hmac } }),
      { secret },
      secrets,
    );
    await rejects(
      SOURCE_ADAPTERS.artifactory.verify(
        webhookRequest('artifactory', body, { headers: { 'X-JFrog-Event-Auth': 'hmac-key' } }),
        { secret },
        secrets,
      ),
      /HMAC/,
    );
    await SOURCE_ADAPTERS.artifactory.verify(
      webhookRequest('artifactory', body, { headers: { 'X-JFrog-Event-Auth': 'hmac-key' } }),
      { secret, signing: 'plain' },
      secrets,
    );
  });

  test('GAR OIDC: signature, audience, issuer, expiry (a replayed old token fails)', async () => {
    const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
    const oidc = configSchema.parse({
      apiVersion: 'pullwarden.dev/v1',
      kind: 'Config',
      webhooks: {
        sources: {
          gar: {
            oidc: {
              audience: 'https://hooks.example.com',
              jwks: { keys: [jwk] },
              email: 'push@acme.iam.gserviceaccount.com',
            },
          },
        },
      },
    }).webhooks.sources.gar as WebhookSourceSettings;
    const sign = (claims: Record<string, unknown>, expires: string | number) =>
      new SignJWT({ email: 'push@acme.iam.gserviceaccount.com', email_verified: true, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer('https://accounts.google.com')
        .setAudience('https://hooks.example.com')
        .setIssuedAt(Math.floor(new Date('2026-03-01T10:10:00Z').getTime() / 1000))
        .setExpirationTime(expires)
        .sign(privateKey);
    const at = (token: string) =>
      webhookRequest('gar', {}, { headers: { Authorization: `Bearer ${token}` } });
    const valid = await sign({}, Math.floor(new Date('2026-03-01T11:00:00Z').getTime() / 1000));
    await SOURCE_ADAPTERS.gar.verify(at(valid), oidc, secrets);
    const expired = await sign({}, Math.floor(new Date('2026-03-01T10:11:00Z').getTime() / 1000));
    await rejects(SOURCE_ADAPTERS.gar.verify(at(expired), oidc, secrets), /expired/);
    const otherSender = await sign(
      { email: 'someone@else.com' },
      Math.floor(new Date('2026-03-01T11:00:00Z').getTime() / 1000),
    );
    await rejects(SOURCE_ADAPTERS.gar.verify(at(otherSender), oidc, secrets), /sender/);
    await rejects(SOURCE_ADAPTERS.gar.verify(webhookRequest('gar', {}), oidc, secrets), /bearer/);
  });
});

describe('ECR EventBridge events', () => {
  const event = (detail: Record<string, unknown>, region = 'eu-west-1') => ({
    version: '0',
    id: '13cde686-328b-6117-af20-0e5566167482',
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: '123456789012',
    time: '2026-03-01T10:15:31Z',
    region,
    resources: [],
    detail: { result: 'SUCCESS', 'action-type': 'PUSH', 'repository-name': 'team/api', ...detail },
  });

  test('push with tag and digest; China partition host', () => {
    assert.deepEqual(
      normalizeEcrEvent(
        event({
          'image-digest': DIGEST_A,
          'image-tag': '1.4.2',
          'manifest-media-type': 'application/vnd.oci.image.index.v1+json',
        }),
      ),
      {
        kind: 'pushed',
        registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        repository: 'team/api',
        tag: '1.4.2',
        digest: DIGEST_A,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        at: '2026-03-01T10:15:31.000Z',
        source: 'ecr',
        deliveryId: '13cde686-328b-6117-af20-0e5566167482',
      },
    );
    const china = normalizeEcrEvent(event({ 'image-digest': DIGEST_A }, 'cn-north-1'));
    assert.equal(
      (china as { registry: string }).registry,
      '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn',
    );
  });

  test('tolerates a missing tag or digest; failures and other detail types are ignored', () => {
    assert.equal(
      (normalizeEcrEvent(event({ 'image-digest': DIGEST_A })) as { tag?: string }).tag,
      undefined,
    );
    assert.equal(
      normalizeEcrEvent(event({ 'action-type': 'DELETE', 'image-tag': 'old' })).kind,
      'deleted',
    );
    assert.equal(normalizeEcrEvent(event({ result: 'FAILURE' })).kind, 'ignored');
    assert.equal(
      normalizeEcrEvent({ ...event({}), 'detail-type': 'ECR Image Scan' }).kind,
      'ignored',
    );
    assert.throws(
      () => normalizeEcrEvent({ detail: {} }),
      (error) => error instanceof HttpError && error.statusCode === 422,
    );
  });
});
