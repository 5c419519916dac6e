import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';

// A loopback stand-in for the one GitHub API call credential-refresh makes:
// POST /app/installations/{id}/access_tokens with an app JWT. It verifies the JWT as GitHub does
// (RS256 with the app's public key, issuer, at most ten minutes of life) and hands out numbered tokens.

export type FakeGitHubMode = 'ok' | 'error' | 'rate-limited' | 'not-found';

export interface GitHubTokenCall {
  installationId: number;
  issuer: string;
  lifetimeSeconds: number;
  body: { permissions?: Record<string, string>; repositories?: string[] };
  userAgent: string;
  apiVersion: string;
}

export interface FakeGitHub {
  /** The API base URL (what `apiUrl` is set to). */
  url: string;
  appId: string;
  /** The app's private key, PKCS#1 PEM as GitHub hands it out. */
  privateKeyPem: string;
  calls: GitHubTokenCall[];
  /** Requests refused for a bad JWT. */
  rejected: string[];
  mode: FakeGitHubMode;
  lifetimeSeconds: number;
  /** GitHub's clock, for tokens' expiry and the JWT's checks. */
  clock(): Date;
  token(n: number): string;
  stop(): Promise<void>;
}

export async function startFakeGitHub(appId = '424242'): Promise<FakeGitHub> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const verifyKey: KeyObject = createPublicKey(publicKey.export({ format: 'pem', type: 'spki' }));
  const fake: FakeGitHub = {
    url: '',
    appId,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
    calls: [],
    rejected: [],
    mode: 'ok',
    lifetimeSeconds: 3600,
    clock: () => new Date(),
    token: (n) => `ghs_fake${n}token`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const reply = (response: ServerResponse, status: number, body: unknown, headers = {}) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };
  const server: Server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const route = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(request.url ?? '');
    if (request.method !== 'POST' || route === null) {
      reply(response, 404, { message: 'Not Found' });
      return;
    }
    const jwt = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1] ?? '';
    let claims: { iss?: unknown; iat?: number; exp?: number };
    try {
      ({ payload: claims } = await jwtVerify(jwt, verifyKey, {
        algorithms: ['RS256'],
        currentDate: fake.clock(),
      }));
    } catch (error) {
      fake.rejected.push((error as Error).message);
      reply(response, 401, { message: 'A JSON web token could not be decoded' });
      return;
    }
    const lifetime = (claims.exp ?? 0) - (claims.iat ?? 0);
    if (claims.iss !== fake.appId || lifetime > 600) {
      fake.rejected.push(`issuer ${String(claims.iss)}, lifetime ${lifetime}`);
      reply(response, 401, { message: "'Expiration time' claim ('exp') is too far in the future" });
      return;
    }
    fake.calls.push({
      installationId: Number(route[1]),
      issuer: String(claims.iss),
      lifetimeSeconds: lifetime,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'),
      userAgent: String(request.headers['user-agent'] ?? ''),
      apiVersion: String(request.headers['x-github-api-version'] ?? ''),
    });
    if (fake.mode === 'error') {
      reply(response, 502, { message: 'Server Error' });
      return;
    }
    if (fake.mode === 'rate-limited') {
      reply(
        response,
        403,
        { message: 'You have exceeded a secondary rate limit.' },
        { 'retry-after': '1', 'x-ratelimit-remaining': '0' },
      );
      return;
    }
    if (fake.mode === 'not-found') {
      reply(response, 404, { message: 'Not Found' });
      return;
    }
    const expiresAt = new Date(fake.clock().getTime() + fake.lifetimeSeconds * 1000);
    reply(response, 201, {
      token: fake.token(fake.calls.length),
      expires_at: expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      permissions: fake.calls.at(-1)?.body.permissions ?? {},
      repository_selection: 'selected',
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
