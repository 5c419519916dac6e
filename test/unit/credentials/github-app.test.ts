import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { GitHubAppError, gitHubAppSource } from '#shared/credentials/sources/github-app.ts';

// The app JWT GitHub expects, from either PEM form of an RSA key; keys GitHub cannot use are refused with
// a message that names where the key came from and nothing of the key.

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const NOW = new Date('2026-11-23T10:00:00Z');

function sourceWith(pem: string, answer: Response | Error) {
  const requests: { url: string; init: RequestInit }[] = [];
  const source = gitHubAppSource(
    'ghcr.io',
    {
      appId: 'Iv23liExampleClient',
      installationId: 7,
      apiUrl: 'https://github.example.com/api/v3/',
      permissions: { packages: 'read' },
      username: 'x-access-token',
    },
    {
      privateKey: async () => pem,
      privateKeySource: 'Secrets Manager secret gh',
      fetch: async (url, init) => {
        requests.push({ url: String(url), init: init ?? {} });
        if (answer instanceof Error) throw answer;
        return answer.clone();
      },
      now: () => NOW,
      requestTimeoutMs: 1000,
    },
  );
  return { source, requests };
}

const created = () =>
  new Response(JSON.stringify({ token: 'ghs_x', expires_at: '2026-11-23T11:00:00Z' }), {
    status: 201,
  });

describe('GitHub App installation tokens', () => {
  for (const type of ['pkcs1', 'pkcs8'] as const) {
    test(`signs the app JWT with a ${type} key: RS256, issuer, issued a minute back, nine minutes`, async () => {
      const pem = rsa.privateKey.export({ format: 'pem', type }).toString();
      const { source, requests } = sourceWith(pem, created());
      const minted = await source.mint();
      assert.deepEqual(minted, {
        username: 'x-access-token',
        password: 'ghs_x',
        expiresAt: new Date('2026-11-23T11:00:00Z'),
      });
      assert.equal(
        requests[0]?.url,
        'https://github.example.com/api/v3/app/installations/7/access_tokens',
      );
      const headers = requests[0]?.init.headers as Record<string, string>;
      const jwt = headers.authorization?.replace(/^Bearer /, '') ?? '';
      assert.deepEqual(decodeProtectedHeader(jwt), { alg: 'RS256', typ: 'JWT' });
      const issuedAt = NOW.getTime() / 1000 - 60;
      assert.deepEqual(decodeJwt(jwt), {
        iss: 'Iv23liExampleClient',
        iat: issuedAt,
        exp: issuedAt + 600,
      });
      await jwtVerify(jwt, rsa.publicKey, { currentDate: NOW, algorithms: ['RS256'] });
      assert.deepEqual(JSON.parse(String(requests[0]?.init.body)), {
        permissions: { packages: 'read' },
      });
    });
  }

  const badKeys: [string, string, RegExp][] = [
    ['text', 'hunter2-not-a-key', /from Secrets Manager secret gh is not a PEM private key$/],
    [
      'an EC key',
      generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
      /from Secrets Manager secret gh is a ec key; GitHub Apps sign with RSA$/,
    ],
  ];
  for (const [name, pem, expected] of badKeys) {
    test(`refuses ${name} as the key, without sending anything or echoing it`, async () => {
      const { source, requests } = sourceWith(pem, created());
      const error = await source.mint().then(
        () => assert.fail('minted with a bad key'),
        (failure: unknown) => failure as Error,
      );
      assert.ok(error instanceof GitHubAppError);
      assert.match(error.message, expected);
      assert.doesNotMatch(error.message, /hunter2|BEGIN/);
      assert.equal(source.retryable(error), false);
      assert.equal(requests.length, 0);
    });
  }

  const answers: [string, Response | Error, RegExp, boolean][] = [
    [
      '401',
      new Response('{"message":"Bad credentials"}', { status: 401 }),
      /answered 401 for installation 7: Bad credentials/,
      false,
    ],
    ['404', new Response('{"message":"Not Found"}', { status: 404 }), /answered 404/, false],
    ['422', new Response('{"message":"permissions"}', { status: 422 }), /answered 422/, false],
    [
      '500',
      new Response('oops', { status: 500, statusText: 'Internal' }),
      /answered 500 for installation 7: Internal/,
      true,
    ],
    ['429', new Response('{}', { status: 429 }), /answered 429/, true],
    [
      '403 rate limit',
      new Response('{"message":"secondary"}', { status: 403, headers: { 'retry-after': '3' } }),
      /answered 403/,
      true,
    ],
    [
      '403 forbidden',
      new Response('{"message":"Resource not accessible"}', { status: 403 }),
      /Resource not accessible/,
      false,
    ],
    ['a network failure', new TypeError('fetch failed'), /failed: fetch failed/, true],
    [
      'a 201 without a token',
      new Response('{"expires_at":"2026-11-23T11:00:00Z"}', { status: 201 }),
      /carried no token or expiry/,
      false,
    ],
  ];
  for (const [name, answer, expected, retryable] of answers) {
    test(`${name} is ${retryable ? 'retryable' : 'final'}`, async () => {
      const pem = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
      const { source } = sourceWith(pem, answer);
      const error = await source.mint().then(
        () => assert.fail('minted'),
        (failure: unknown) => failure,
      );
      assert.match((error as Error).message, expected);
      assert.equal(source.retryable(error), retryable);
    });
  }
});
