import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Config, configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import {
  DigestResolutionError,
  HttpDigestResolver,
  type HttpDigestResolverOptions,
  parseChallenge,
} from '#shared/registry/digest-resolver.ts';
import { rejection } from '../../support/async.ts';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  digestOf,
  OCI_INDEX,
  OCI_MANIFEST,
  stubRegistry,
} from '../../support/registry-stub.ts';

// HttpDigestResolver against loopback servers that play a registry: challenges, missing headers,
// refused HEADs, indexes and the ways a registry says no.

const PASSWORD = 'hunter2-registry-secret';
const secrets = environmentSecretResolver({ REG_PASSWORD: PASSWORD });
const BASIC = `Basic ${Buffer.from(`robot:${PASSWORD}`).toString('base64')}`;

const AMD64 = digestOf('amd64 manifest');
const ARM64 = digestOf('arm64 manifest');

const IMAGE = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] });
const INDEX = JSON.stringify({
  schemaVersion: 2,
  mediaType: OCI_INDEX,
  manifests: [
    {
      mediaType: OCI_MANIFEST,
      digest: AMD64,
      size: 100,
      platform: { architecture: 'amd64', os: 'linux' },
    },
    {
      mediaType: OCI_MANIFEST,
      digest: ARM64,
      size: 100,
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    },
    // An attestation: no platform that a node could run.
    { mediaType: OCI_MANIFEST, digest: digestOf('attestation'), size: 10 },
  ],
});

/** Serves `body` for GET (its headers for HEAD too), as a registry serves a manifest. */
function serveManifest(
  response: ServerResponse,
  method: string,
  body: string,
  headers: Record<string, string>,
) {
  response.writeHead(200, { 'content-length': String(Buffer.byteLength(body)), ...headers });
  response.end(method === 'HEAD' ? undefined : body);
}

function configFor(url: string, host: string, credentials = true, extra = {}): Config {
  return configSchema.parse({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'Config',
    registries: {
      endpoints: [
        {
          host,
          url,
          ...(credentials ? { username: 'robot', password: { env: 'REG_PASSWORD' } } : {}),
          ...extra,
        },
      ],
    },
  });
}

function resolutionFailure(promise: Promise<unknown>): Promise<DigestResolutionError> {
  return rejection(promise, DigestResolutionError, 'the lookup succeeded');
}

describe('HttpDigestResolver', () => {
  const registry = stubRegistry();
  const { stub } = registry;
  before(() => registry.start());
  after(() => registry.stop());
  beforeEach(() => {
    stub.seen.length = 0;
  });

  const resolver = (options: HttpDigestResolverOptions = {}, credentials = true) =>
    new HttpDigestResolver(configFor(stub.url, stub.host, credentials), secrets, options);
  const trail = () => stub.seen.map((s) => `${s.method} ${s.path} ${s.authorization}`);

  test('a Bearer challenge is answered with a token fetched with the configured credentials', async () => {
    stub.handle = (request, response, seen) => {
      if (seen.path.startsWith('/token')) {
        if (seen.authorization !== BASIC) return response.writeHead(401).end();
        return response
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"token":"t0k"}');
      }
      if (seen.authorization !== 'Bearer t0k') {
        return response
          .writeHead(401, {
            'www-authenticate': `Bearer realm="${stub.url}/token",service="reg",scope="repository:team/api:pull"`,
          })
          .end();
      }
      serveManifest(response, request.method ?? '', IMAGE, {
        'docker-content-digest': digestOf(IMAGE),
        'content-type': OCI_MANIFEST,
      });
    };
    const resolved = await resolver({ readIndexChildren: true }).resolve(
      stub.host,
      'team/api',
      'v1',
    );
    assert.deepEqual(resolved, { digest: digestOf(IMAGE), mediaType: OCI_MANIFEST });
    assert.deepEqual(trail(), [
      'HEAD /v2/team/api/manifests/v1 -',
      `GET /token?service=reg&scope=repository%3Ateam%2Fapi%3Apull ${BASIC}`,
      'HEAD /v2/team/api/manifests/v1 Bearer t0k',
    ]);
  });

  test('an anonymous token service is asked without credentials, for pull on the repository', async () => {
    stub.handle = (request, response, seen) => {
      if (seen.path.startsWith('/token')) {
        return response.writeHead(200).end('{"access_token":"anon"}');
      }
      if (seen.authorization !== 'Bearer anon') {
        return response
          .writeHead(401, { 'www-authenticate': `Bearer realm="${stub.url}/token"` })
          .end();
      }
      serveManifest(response, request.method ?? '', IMAGE, {
        'docker-content-digest': digestOf(IMAGE),
        'content-type': OCI_MANIFEST,
      });
    };
    const resolved = await resolver({}, false).resolve(stub.host, 'library/nginx', '1.27');
    assert.equal(resolved.digest, digestOf(IMAGE));
    assert.equal(stub.seen[1]?.path, '/token?scope=repository%3Alibrary%2Fnginx%3Apull');
    assert.equal(stub.seen[1]?.authorization, '-');
  });

  test('a Basic challenge is answered with the configured credentials', async () => {
    stub.handle = (request, response, seen) => {
      if (seen.authorization !== BASIC) {
        return response.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
      }
      serveManifest(response, request.method ?? '', IMAGE, {
        'docker-content-digest': digestOf(IMAGE),
        'content-type': OCI_MANIFEST,
      });
    };
    assert.equal((await resolver().resolve(stub.host, 'team/api', 'v1')).digest, digestOf(IMAGE));
    assert.deepEqual(trail(), [
      'HEAD /v2/team/api/manifests/v1 -',
      `HEAD /v2/team/api/manifests/v1 ${BASIC}`,
    ]);
  });

  test('a HEAD without Docker-Content-Digest is followed by a GET whose bytes give the digest', async () => {
    stub.handle = (request, response) =>
      serveManifest(response, request.method ?? '', IMAGE, { 'content-type': DOCKER_MANIFEST });
    const resolved = await resolver().resolve(stub.host, 'team/api', 'v1');
    assert.deepEqual(resolved, { digest: digestOf(IMAGE), mediaType: DOCKER_MANIFEST });
    assert.deepEqual(trail(), [
      'HEAD /v2/team/api/manifests/v1 -',
      'GET /v2/team/api/manifests/v1 -',
    ]);
  });

  test('a registry refusing HEAD (405) is asked with GET', async () => {
    stub.handle = (request, response) => {
      if (request.method === 'HEAD') return response.writeHead(405).end();
      serveManifest(response, 'GET', INDEX, {
        'content-type': OCI_INDEX,
        'docker-content-digest': digestOf(INDEX),
      });
    };
    const resolved = await resolver().resolve(stub.host, 'team/api', 'v1');
    assert.equal(resolved.digest, digestOf(INDEX));
    assert.equal(resolved.manifests?.length, 3, 'a body fetched anyway is read');
  });

  test('an index named by HEAD is fetched by digest and its children listed with their platforms', async () => {
    stub.handle = (request, response, seen) => {
      if (request.method === 'GET' && seen.path !== `/v2/team/api/manifests/${digestOf(INDEX)}`) {
        return response.writeHead(400).end();
      }
      serveManifest(response, request.method ?? '', INDEX, {
        'content-type': OCI_INDEX,
        'docker-content-digest': digestOf(INDEX),
      });
    };
    const resolved = await resolver({ readIndexChildren: true }).resolve(
      stub.host,
      'team/api',
      'v1',
    );
    assert.deepEqual(resolved, {
      digest: digestOf(INDEX),
      mediaType: OCI_INDEX,
      manifests: [
        {
          digest: AMD64,
          mediaType: OCI_MANIFEST,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          digest: ARM64,
          mediaType: OCI_MANIFEST,
          platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        },
        { digest: digestOf('attestation'), mediaType: OCI_MANIFEST },
      ],
    });
    assert.deepEqual(
      stub.seen.map((s) => s.method),
      ['HEAD', 'GET'],
    );
  });

  test('without readIndexChildren an index named by HEAD costs no GET', async () => {
    stub.handle = (request, response) =>
      serveManifest(response, request.method ?? '', INDEX, {
        'content-type': OCI_INDEX,
        'docker-content-digest': digestOf(INDEX),
      });
    const resolved = await resolver().resolve(stub.host, 'team/api', 'v1');
    assert.deepEqual(resolved, { digest: digestOf(INDEX), mediaType: OCI_INDEX });
    assert.equal(stub.seen.length, 1);
  });

  test('a Docker manifest list served as application/json is recognised by its body', async () => {
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        {
          mediaType: DOCKER_MANIFEST,
          digest: AMD64,
          size: 1,
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    });
    stub.handle = (request, response) =>
      serveManifest(response, request.method ?? '', list, {
        'content-type': 'application/json; charset=utf-8',
        'docker-content-digest': digestOf(list),
      });
    const resolved = await resolver({ readIndexChildren: true }).resolve(
      stub.host,
      'team/api',
      'v1',
    );
    assert.deepEqual(resolved, {
      digest: digestOf(list),
      mediaType: DOCKER_LIST,
      manifests: [
        {
          digest: AMD64,
          mediaType: DOCKER_MANIFEST,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
  });

  test('an index whose bytes do not hash to the digest the registry named is refused', async () => {
    const tampered = INDEX.replace(AMD64, digestOf('other'));
    stub.handle = (request, response) =>
      serveManifest(response, request.method ?? '', request.method === 'HEAD' ? INDEX : tampered, {
        'content-type': OCI_INDEX,
        'docker-content-digest': digestOf(INDEX),
      });
    const error = await resolutionFailure(
      resolver({ readIndexChildren: true }).resolve(stub.host, 'team/api', 'v1'),
    );
    assert.equal(error.reason, 'registry');
    assert.match(error.message, /does not hash to sha256:/);
  });

  test('a GET whose own Docker-Content-Digest disagrees with its body is refused', async () => {
    stub.handle = (request, response) =>
      serveManifest(response, request.method ?? '', IMAGE, {
        'content-type': OCI_MANIFEST,
        ...(request.method === 'GET'
          ? { 'docker-content-digest': digestOf('something else') }
          : {}),
      });
    const error = await resolutionFailure(resolver().resolve(stub.host, 'team/api', 'v1'));
    assert.equal(error.reason, 'registry');
  });

  test('a manifest larger than the cap is refused, whether or not its length is declared', async () => {
    const huge = JSON.stringify({ mediaType: OCI_INDEX, manifests: [], pad: 'x'.repeat(4096) });
    for (const declared of [true, false]) {
      stub.handle = (request, response) => {
        if (request.method === 'HEAD') return response.writeHead(405).end();
        response.writeHead(200, {
          'content-type': OCI_INDEX,
          ...(declared ? { 'content-length': String(huge.length) } : {}),
        });
        // Written in pieces so an undeclared length arrives chunked.
        for (let at = 0; at < huge.length; at += 512) response.write(huge.slice(at, at + 512));
        response.end();
      };
      const error = await resolutionFailure(
        resolver({ maxManifestBytes: 1024 }).resolve(stub.host, 'team/api', 'v1'),
      );
      assert.equal(error.reason, 'registry');
      assert.match(error.message, /larger than 1024 bytes/);
    }
  });

  test('a body that is not JSON is refused', async () => {
    stub.handle = (request, response) =>
      serveManifest(response, request.method ?? '', '<html>proxy error</html>', {
        'content-type': 'text/html',
      });
    const error = await resolutionFailure(resolver().resolve(stub.host, 'team/api', 'v1'));
    assert.equal(error.reason, 'registry');
    assert.match(error.message, /not JSON/);
  });

  describe('failure reasons', () => {
    const errorBody = (code: string) => JSON.stringify({ errors: [{ code, message: 'm' }] });
    const vectors: [
      string,
      (request: IncomingMessage, response: ServerResponse) => void,
      DigestResolutionError['reason'],
      RegExp,
    ][] = [
      ['HEAD 404', (_q, r) => r.writeHead(404).end(), 'not-found', /does not exist/],
      [
        'GET 404 NAME_UNKNOWN',
        (q, r) =>
          q.method === 'HEAD'
            ? r.writeHead(405).end()
            : r.writeHead(404).end(errorBody('NAME_UNKNOWN')),
        'not-found',
        /team\/api:v1 does not exist in the registry/,
      ],
      [
        'GET 400 MANIFEST_UNKNOWN',
        (q, r) =>
          q.method === 'HEAD'
            ? r.writeHead(405).end()
            : r.writeHead(400).end(errorBody('MANIFEST_UNKNOWN')),
        'not-found',
        /does not exist/,
      ],
      [
        '401 again after the credentials were sent',
        (_q, r) => r.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(),
        'authentication',
        /refused access .*HTTP 401/,
      ],
      [
        '401 without a challenge',
        (_q, r) => r.writeHead(401).end(),
        'authentication',
        /sent no challenge/,
      ],
      [
        'an unknown challenge scheme',
        (_q, r) => r.writeHead(401, { 'www-authenticate': 'Negotiate abc' }).end(),
        'authentication',
        /does not speak/,
      ],
      ['HEAD 403', (_q, r) => r.writeHead(403).end(), 'authentication', /HTTP 403/],
      [
        'GET 403 DENIED',
        (q, r) =>
          q.method === 'HEAD' ? r.writeHead(405).end() : r.writeHead(403).end(errorBody('DENIED')),
        'authentication',
        /HTTP 403, DENIED/,
      ],
      [
        'HEAD 429 with Retry-After',
        (_q, r) => r.writeHead(429, { 'retry-after': '60' }).end(),
        'rate-limited',
        /rate-limiting .*retry after 60 s/,
      ],
      [
        'GET 503 TOOMANYREQUESTS',
        (q, r) =>
          q.method === 'HEAD'
            ? r.writeHead(405).end()
            : r.writeHead(503).end(errorBody('TOOMANYREQUESTS')),
        'rate-limited',
        /TOOMANYREQUESTS/,
      ],
      ['HEAD 500', (_q, r) => r.writeHead(500).end(), 'registry', /answered 500/],
      [
        'GET 502 with an HTML body',
        (q, r) => (q.method === 'HEAD' ? r.writeHead(405).end() : r.writeHead(502).end('<html/>')),
        'registry',
        /answered 502 for/,
      ],
    ];
    for (const [name, handle, reason, message] of vectors) {
      test(name, async () => {
        stub.handle = handle;
        const error = await resolutionFailure(resolver().resolve(stub.host, 'team/api', 'v1'));
        assert.equal(error.reason, reason);
        assert.match(error.message, message);
      });
    }

    test('a Basic challenge without configured credentials', async () => {
      stub.handle = (_q, r) => r.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      const error = await resolutionFailure(
        resolver({}, false).resolve(stub.host, 'team/api', 'v1'),
      );
      assert.equal(error.reason, 'authentication');
      assert.match(error.message, /requires credentials: configure registries.endpoints/);
    });

    test('a refusal with no credentials configured says where they go', async () => {
      stub.handle = (_q, r, seen) =>
        seen.path.startsWith('/token')
          ? r.writeHead(200).end('{"token":"anonymous"}')
          : r.writeHead(401, { 'www-authenticate': `Bearer realm="${stub.url}/token"` }).end();
      const error = await resolutionFailure(
        resolver({}, false).resolve(stub.host, 'team/private', 'v1'),
      );
      assert.equal(error.reason, 'authentication');
      assert.match(
        error.message,
        /refused access to .*team\/private:v1 \(HTTP 401\): no credentials for .* are configured in registries.endpoints/,
      );
    });

    const tokenVectors: [number, DigestResolutionError['reason']][] = [
      [401, 'authentication'],
      [403, 'authentication'],
      [429, 'rate-limited'],
      [500, 'registry'],
    ];
    for (const [status, reason] of tokenVectors) {
      test(`the token service answering ${status}`, async () => {
        stub.handle = (_q, r, seen) =>
          seen.path.startsWith('/token')
            ? r.writeHead(status).end()
            : r.writeHead(401, { 'www-authenticate': `Bearer realm="${stub.url}/token"` }).end();
        const error = await resolutionFailure(resolver().resolve(stub.host, 'team/api', 'v1'));
        assert.equal(error.reason, reason);
        assert.match(error.message, new RegExp(`token service of ${stub.host} answered ${status}`));
      });
    }

    test('a token service that returns no token', async () => {
      stub.handle = (_q, r, seen) =>
        seen.path.startsWith('/token')
          ? r.writeHead(200).end('{"expires_in":60}')
          : r.writeHead(401, { 'www-authenticate': `Bearer realm="${stub.url}/token"` }).end();
      const error = await resolutionFailure(resolver().resolve(stub.host, 'team/api', 'v1'));
      assert.equal(error.reason, 'registry');
    });

    test('an unreachable token service', async () => {
      const closed = stubRegistry();
      await closed.start();
      const realm = `${closed.stub.url}/token`;
      await closed.stop();
      stub.handle = (_q, r) =>
        r.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}"` }).end();
      const error = await resolutionFailure(resolver().resolve(stub.host, 'team/api', 'v1'));
      assert.equal(error.reason, 'network');
      assert.match(error.message, /cannot reach the token service/);
    });

    test('a registry nobody listens on', async () => {
      const closed = stubRegistry();
      await closed.start();
      await closed.stop();
      const error = await resolutionFailure(
        new HttpDigestResolver(configFor(closed.stub.url, closed.stub.host), secrets).resolve(
          closed.stub.host,
          'team/api',
          'v1',
        ),
      );
      assert.equal(error.reason, 'network');
      assert.match(error.message, new RegExp(`cannot reach ${closed.stub.host}: .*ECONNREFUSED`));
    });

    test('a registry that never answers', async () => {
      stub.handle = () => {};
      const error = await resolutionFailure(
        resolver({ timeoutMs: 200 }).resolve(stub.host, 'team/api', 'v1'),
      );
      assert.equal(error.reason, 'network');
    });

    test('a host name that does not resolve', async () => {
      const host = 'registry.invalid';
      const error = await resolutionFailure(
        new HttpDigestResolver(configFor(`http://${host}`, host), secrets).resolve(
          host,
          'a/b',
          'v1',
        ),
      );
      assert.equal(error.reason, 'network');
      assert.match(error.message, /cannot reach registry\.invalid/);
    });
  });

  test('no message carries the password, its Basic encoding, or credentials in a configured URL', async () => {
    stub.handle = (_q, r) => r.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    const refused = await resolutionFailure(resolver().resolve(stub.host, 'team/api', 'v1'));
    const withUserInfo = new HttpDigestResolver(
      configFor(`http://robot:${PASSWORD}@${stub.host}`, stub.host),
      secrets,
    );
    const unusable = await resolutionFailure(withUserInfo.resolve(stub.host, 'team/api', 'v1'));
    for (const error of [refused, unusable]) {
      assert.doesNotMatch(error.message, new RegExp(PASSWORD));
      assert.doesNotMatch(error.message, new RegExp(BASIC.slice(6)));
    }
  });
});

describe('parseChallenge', () => {
  test('quoted, unquoted and escaped parameters; the scheme in lower case', () => {
    assert.deepEqual(
      parseChallenge('Bearer realm="https://auth.example/token",service=registry,scope="a\\"b"'),
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry', scope: 'a"b' },
      },
    );
    assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), {
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    });
  });
});
