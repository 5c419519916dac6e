import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  type HttpApiRoute,
  HttpApiRouter,
  httpApiListener,
  httpApiResponse,
  MAX_REQUEST_BYTES,
} from '#shared/local/http-api.ts';

// The API Gateway HTTP API stand-in: route selection, the 2.0 event, and response mapping.

const route = (method: string, path: string, target = `${method} ${path}`): HttpApiRoute => ({
  method,
  path,
  target,
  invoke: async () => ({ statusCode: 204 }),
});

describe('route selection', () => {
  const router = new HttpApiRouter([
    route('POST', '/webhooks/{source}'),
    route('POST', '/webhooks/{source}/{token}'),
    route('POST', '/webhooks/github'),
    route('GET', '/v1/nodegroups/{nodeGroup}/warmset'),
    route('ANY', '/files/{proxy+}'),
    route('GET', '/healthz'),
  ]);
  const cases: [string, string, string | undefined, Record<string, string>?][] = [
    ['POST', '/webhooks/dockerhub', 'POST /webhooks/{source}', { source: 'dockerhub' }],
    ['POST', '/webhooks/github', 'POST /webhooks/github', {}],
    [
      'POST',
      '/webhooks/quay/s3cret',
      'POST /webhooks/{source}/{token}',
      { source: 'quay', token: 's3cret' },
    ],
    [
      'POST',
      '/webhooks/quay/a%2Fb',
      'POST /webhooks/{source}/{token}',
      { source: 'quay', token: 'a/b' },
    ],
    [
      'GET',
      '/v1/nodegroups/gpu/warmset',
      'GET /v1/nodegroups/{nodeGroup}/warmset',
      { nodeGroup: 'gpu' },
    ],
    ['DELETE', '/files/a/b/c', 'ANY /files/{proxy+}', { proxy: 'a/b/c' }],
    ['GET', '/healthz', 'GET /healthz', {}],
    ['GET', '/healthz/', undefined],
    ['POST', '/webhooks', undefined],
    ['POST', '/webhooks/a/b/c', undefined],
    ['GET', '/nothing', undefined],
  ];
  for (const [method, path, expected, parameters] of cases) {
    test(`${method} ${path} → ${expected ?? 'no route'}`, () => {
      const match = router.match(method, path);
      if (expected === undefined) {
        assert.equal(match, undefined);
        return;
      }
      assert.ok(match !== undefined && match !== 'method-not-allowed');
      assert.equal(match.route.target, expected);
      assert.deepEqual(match.pathParameters, parameters);
    });
  }
  test('a path that exists for another method is told apart', () => {
    assert.equal(router.match('GET', '/webhooks/dockerhub'), 'method-not-allowed');
  });
});

describe('response mapping', () => {
  test('a structured result keeps status, headers, cookies and base64 bodies', () => {
    const mapped = httpApiResponse({
      statusCode: 202,
      headers: { 'Content-Type': 'application/json', ETag: '"x"' },
      cookies: ['a=1'],
      body: Buffer.from('{"ok":true}').toString('base64'),
      isBase64Encoded: true,
    });
    assert.equal(mapped.statusCode, 202);
    assert.deepEqual(mapped.headers, {
      'content-type': 'application/json',
      etag: '"x"',
      'set-cookie': ['a=1'],
    });
    assert.equal(mapped.body.toString(), '{"ok":true}');
  });
  test('anything else is a 200 JSON body, as API Gateway infers for payload 2.0', () => {
    const mapped = httpApiResponse({ items: [1] });
    assert.equal(mapped.statusCode, 200);
    assert.equal(mapped.headers['content-type'], 'application/json');
    assert.equal(mapped.body.toString(), '{"items":[1]}');
    assert.equal(httpApiResponse('plain').body.toString(), 'plain');
  });
});

describe('the listener', () => {
  let server: Server;
  let base: string;
  const seen: APIGatewayProxyEventV2[] = [];
  const lines: string[] = [];
  before(async () => {
    const router = new HttpApiRouter([
      {
        method: 'POST',
        path: '/echo/{name}',
        target: 'echo',
        invoke: async (event) => {
          seen.push(event);
          return { statusCode: 201, body: event.body ?? '' };
        },
      },
      {
        method: 'GET',
        path: '/boom',
        target: 'boom',
        invoke: async () => {
          throw new Error('secret-bearing internal detail');
        },
      },
    ]);
    server = createServer(
      httpApiListener(router, {
        request: (line) => lines.push(`${line.method} ${line.path} ${line.status}`),
        error: (message) => lines.push(`error ${message}`),
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('builds the 2.0 event: headers, joined query values, cookies, path parameters, text body', async () => {
    const response = await fetch(`${base}/echo/a%20b?x=1&x=2&y=`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: 'c1=v1; c2=v2', 'x-custom': 'yes' },
      body: '{"hello":"world"}',
    });
    assert.equal(response.status, 201);
    assert.equal(await response.text(), '{"hello":"world"}');
    const event = seen.at(-1) as APIGatewayProxyEventV2;
    assert.equal(event.version, '2.0');
    assert.equal(event.routeKey, 'POST /echo/{name}');
    assert.equal(event.rawPath, '/echo/a%20b');
    assert.equal(event.rawQueryString, 'x=1&x=2&y=');
    assert.deepEqual(event.queryStringParameters, { x: '1,2', y: '' });
    assert.deepEqual(event.pathParameters, { name: 'a b' });
    assert.deepEqual(event.cookies, ['c1=v1', 'c2=v2']);
    assert.equal(event.headers['x-custom'], 'yes');
    assert.equal(event.headers.cookie, undefined);
    assert.equal(event.isBase64Encoded, false);
    assert.equal(event.requestContext.http.method, 'POST');
    assert.equal(event.requestContext.http.sourceIp, '127.0.0.1');
  });

  test('binary bodies arrive base64-encoded', async () => {
    const bytes = Buffer.from([0, 159, 146, 150, 255]);
    await fetch(`${base}/echo/bin`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    const event = seen.at(-1) as APIGatewayProxyEventV2;
    assert.equal(event.isBase64Encoded, true);
    assert.deepEqual(Buffer.from(event.body as string, 'base64'), bytes);
  });

  test('unknown routes and wrong methods are 404, as on HTTP APIs', async () => {
    assert.equal((await fetch(`${base}/nowhere`)).status, 404);
    assert.equal((await fetch(`${base}/echo/x`)).status, 404);
  });

  test('a failing function answers 500 without its error', async () => {
    const response = await fetch(`${base}/boom`);
    assert.equal(response.status, 500);
    const text = await response.text();
    assert.doesNotMatch(text, /secret-bearing/);
    assert.deepEqual(JSON.parse(text), { message: 'Internal Server Error' });
    assert.ok(lines.includes('error boom failed'));
  });

  test(`a body over ${MAX_REQUEST_BYTES} bytes is refused with 413 before the function runs`, async () => {
    const before = seen.length;
    const response = await fetch(`${base}/echo/big`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(MAX_REQUEST_BYTES + 1, 32),
    }).catch((error: unknown) => error);
    // The server closes the connection after answering; either the 413 or a reset reaches fetch.
    if (response instanceof Response) assert.equal(response.status, 413);
    assert.equal(seen.length, before);
    assert.ok(lines.includes('POST /echo/big 413'));
  });
});

describe('the listener survives bad clients', () => {
  let server: Server;
  let port: number;
  before(async () => {
    const router = new HttpApiRouter([
      {
        method: 'GET',
        path: '/items/{id}',
        target: 'items',
        invoke: async () => ({ statusCode: 200 }),
      },
      {
        method: 'POST',
        path: '/items',
        target: 'items',
        invoke: async () => ({ statusCode: 202 }),
      },
    ]);
    server = createServer(httpApiListener(router, { request() {}, error() {} }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a broken percent-encoding in a path parameter is a 400', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/items/%E0%A4%A`);
    assert.equal(response.status, 400);
  });

  test('a client that hangs up mid-body leaves the server answering others', async () => {
    const { connect } = await import('node:net');
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end('POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc');
        socket.destroy();
        resolve();
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await fetch(`http://127.0.0.1:${port}/items/1`)).status, 200);
  });

  test('query names that exist on Object.prototype are plain names', async () => {
    const router = new HttpApiRouter([
      { method: 'GET', path: '/q', target: 'q', invoke: async () => ({}) },
    ]);
    const match = router.match('GET', '/q');
    assert.ok(match !== undefined && match !== 'method-not-allowed');
    const { httpApiEvent } = await import('#shared/local/http-api.ts');
    const request = {
      url: '/q?constructor=x&toString=y',
      headers: {},
      method: 'GET',
      httpVersion: '1.1',
      socket: {},
    };
    const event = httpApiEvent(request as never, Buffer.alloc(0), match);
    assert.deepEqual(event.queryStringParameters, { constructor: 'x', toString: 'y' });
  });
});
