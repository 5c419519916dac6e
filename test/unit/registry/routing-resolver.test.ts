import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { type Config, configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import { createRegistryResolver } from '#shared/registry/create-resolver.ts';
import type { DigestResolver } from '#shared/registry/digest-resolver.ts';
import type { BatchGetImageInput } from '#shared/registry/ecr-resolver.ts';
import { RoutingResolver } from '#shared/registry/routing-resolver.ts';

// Which resolver answers for a host: private ECR goes to the ECR API unless registries.endpoints gives
// the host a URL; everything else, ECR Public included, speaks the Distribution API. And the composed
// resolver: routing behind the cache.

const ECR_HOST = '111122223333.dkr.ecr.eu-west-1.amazonaws.com';
const digest = (hexDigit: string) => `sha256:${hexDigit.repeat(64)}`;

function config(endpoints: unknown[] = [], cacheSeconds?: number): Config {
  return configSchema.parse({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'Config',
    registries: { endpoints, ...(cacheSeconds === undefined ? {} : { cacheSeconds }) },
  });
}

function recording(name: string, seen: string[]): DigestResolver {
  return {
    async resolve(registry) {
      seen.push(`${name} ${registry}`);
      return { digest: digest('a'), mediaType: undefined };
    },
  };
}

describe('RoutingResolver', () => {
  const vectors: [string, string, unknown[], 'http' | 'ecr'][] = [
    ['a private ECR host', ECR_HOST, [], 'ecr'],
    ['a private ECR host with :443', `${ECR_HOST}:443`, [], 'ecr'],
    ['a FIPS ECR host', '111122223333.dkr.ecr-fips.us-east-1.amazonaws.com', [], 'ecr'],
    ['a dual-stack ECR host', '111122223333.dkr-ecr.eu-west-1.on.aws', [], 'ecr'],
    [
      'a private ECR host with a configured URL',
      ECR_HOST,
      [{ host: ECR_HOST, url: 'http://127.0.0.1:5000' }],
      'http',
    ],
    [
      'a configured URL matches the host case-insensitively',
      ECR_HOST,
      [{ host: ECR_HOST.toUpperCase(), url: 'http://127.0.0.1:5000' }],
      'http',
    ],
    [
      'a private ECR host configured with credentials only',
      ECR_HOST,
      [{ host: ECR_HOST, username: 'AWS', password: { env: 'P' } }],
      'ecr',
    ],
    ['ECR Public', 'public.ecr.aws', [], 'http'],
    ['Docker Hub', 'docker.io', [], 'http'],
    [
      'a look-alike of an ECR host',
      '111122223333.dkr.ecr.eu-west-1.amazonaws.com.evil.example',
      [],
      'http',
    ],
    ['an ECR host on another port', `${ECR_HOST}:5000`, [], 'http'],
  ];
  for (const [name, host, endpoints, route] of vectors) {
    test(name, async () => {
      const seen: string[] = [];
      const routing = new RoutingResolver(config(endpoints), {
        http: recording('http', seen),
        ecr: recording('ecr', seen),
      });
      assert.equal(routing.routeOf(host), route);
      await routing.resolve(host, 'team/api', 'v1');
      assert.deepEqual(seen, [`${route} ${host}`]);
    });
  }
});

describe('createRegistryResolver', () => {
  test('ECR hosts go to the region port, others over HTTP with children read, both cached', async () => {
    const index = JSON.stringify({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ digest: digest('b'), platform: { os: 'linux', architecture: 'amd64' } }],
    });
    const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
    const httpRequests: string[] = [];
    const server = createServer((request, response) => {
      httpRequests.push(`${request.method} ${request.url}`);
      response.writeHead(200, {
        'content-type': 'application/vnd.oci.image.index.v1+json',
        'docker-content-digest': indexDigest,
      });
      response.end(request.method === 'HEAD' ? undefined : index);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ecrCalls: [string, BatchGetImageInput][] = [];
      let now = Date.parse('2026-11-23T10:00:00Z');
      const resolver = createRegistryResolver(config([{ host, url: `http://${host}` }], 60), {
        secrets: environmentSecretResolver({}),
        ecr: (region) => async (input) => {
          ecrCalls.push([region, input]);
          return {
            images: [
              {
                imageId: { imageDigest: digest('c'), imageTag: 'v1' },
                imageManifest: '{"schemaVersion":2}',
                imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
              },
            ],
          };
        },
        now: () => new Date(now),
      });
      for (let round = 0; round < 2; round++) {
        assert.deepEqual(await resolver.resolve(ECR_HOST, 'team/api', 'v1'), {
          digest: digest('c'),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
        });
        assert.deepEqual(await resolver.resolve(host, 'team/api', 'v1'), {
          digest: indexDigest,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [{ digest: digest('b'), platform: { os: 'linux', architecture: 'amd64' } }],
        });
      }
      assert.equal(ecrCalls.length, 1);
      assert.equal(ecrCalls[0]?.[0], 'eu-west-1');
      assert.deepEqual(httpRequests, [
        'HEAD /v2/team/api/manifests/v1',
        `GET /v2/team/api/manifests/${indexDigest}`,
      ]);
      now += 60_000;
      await resolver.resolve(ECR_HOST, 'team/api', 'v1');
      assert.equal(ecrCalls.length, 2, 'asked again once registries.cacheSeconds passed');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
