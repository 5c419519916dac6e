import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type ApiRequest, HttpNodeApi, NodeApiError } from '#shared/node/api-client.ts';
import { NODE_REPORT_SCHEMA, type NodeReport } from '#shared/prepull/node-report.ts';
import { WARM_SET_SCHEMA } from '#shared/prepull/warm-set-http.ts';

// HttpNodeApi against a real HTTP server on the loopback: conditional GETs, the report POST, the
// authoriser's headers, and errors that say what went wrong.

const DIGEST = `sha256:${'a1'.repeat(32)}`;

const DOCUMENT = {
  schema: WARM_SET_SCHEMA,
  nodeGroup: 'general',
  images: [
    {
      image: `registry.example.com/team/api:1.4.0@${DIGEST}`,
      registry: 'registry.example.com',
      repository: 'team/api',
      tag: '1.4.0',
      digest: DIGEST,
    },
  ],
};

const REPORT: NodeReport = {
  schema: NODE_REPORT_SCHEMA,
  nodeGroup: 'general',
  node: 'ip-10-0-1-23.eu-west-1.compute.internal',
  sequence: 1_772_359_200_000,
  reportedAt: '2026-03-01T10:00:00.000Z',
  warmSetEtag: '"v1"',
  agent: { version: '0.1.0', runtime: 'containerd 1.7.27' },
  images: [{ image: DOCUMENT.images[0]?.image as string, digest: DIGEST, state: 'present' }],
};

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (request: Received, response: ServerResponse) => void;

let server: Server;
let base: string;
let received: Received[];
let handler: Handler;

before(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(entry);
      handler(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  handler = (_, response) => {
    response.writeHead(500).end();
  };
});

function json(response: ServerResponse, status: number, body: unknown, headers = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

const noAuth = async () => ({});

describe('HttpNodeApi.warmSet', () => {
  test('reads the warm set with its ETag, then sends If-None-Match and reads a 304', async () => {
    handler = (request, response) => {
      if (request.headers['if-none-match'] === '"v1"') {
        response.writeHead(304, { etag: '"v1"' }).end();
      } else {
        json(response, 200, DOCUMENT, { etag: '"v1"' });
      }
    };
    const api = new HttpNodeApi(base, 'general', noAuth);
    assert.deepEqual(await api.warmSet(undefined), {
      changed: true,
      etag: '"v1"',
      document: DOCUMENT,
    });
    assert.deepEqual(await api.warmSet('"v1"'), { changed: false });

    assert.equal(received.length, 2);
    const [first, second] = received as [Received, Received];
    assert.equal(first.method, 'GET');
    assert.equal(first.url, '/v1/nodegroups/general/warmset');
    assert.equal(first.headers['if-none-match'], undefined);
    assert.equal(first.headers.accept, 'application/json');
    assert.equal(second.url, '/v1/nodegroups/general/warmset');
    assert.equal(second.headers['if-none-match'], '"v1"');
  });

  test('no ETag in the answer is an undefined etag', async () => {
    handler = (_, response) => json(response, 200, DOCUMENT);
    const answer = await new HttpNodeApi(base, 'general', noAuth).warmSet(undefined);
    assert.equal(answer.changed, true);
    assert.equal(answer.changed && answer.etag, undefined);
  });

  test('a server with a path keeps it, with or without a trailing slash', async () => {
    handler = (_, response) => json(response, 200, DOCUMENT);
    await new HttpNodeApi(`${base}/prod`, 'general', noAuth).warmSet(undefined);
    await new HttpNodeApi(`${base}/prod/`, 'general', noAuth).warmSet(undefined);
    assert.deepEqual(
      received.map((request) => request.url),
      ['/prod/v1/nodegroups/general/warmset', '/prod/v1/nodegroups/general/warmset'],
    );
  });

  test('the authoriser sees the request and its headers are sent', async () => {
    handler = (_, response) => json(response, 200, DOCUMENT);
    const seen: ApiRequest[] = [];
    const api = new HttpNodeApi(base, 'general', async (request) => {
      seen.push(structuredClone({ ...request, url: request.url.href }) as unknown as ApiRequest);
      return { authorization: 'Bearer node-group-token', 'x-amz-date': '20260301T100000Z' };
    });
    await api.warmSet('"v0"');
    assert.deepEqual(seen, [
      {
        method: 'GET',
        url: `${base}/v1/nodegroups/general/warmset`,
        headers: { accept: 'application/json', 'if-none-match': '"v0"' },
      },
    ]);
    assert.equal(received[0]?.headers.authorization, 'Bearer node-group-token');
    assert.equal(received[0]?.headers['x-amz-date'], '20260301T100000Z');
  });

  test('a malformed warm set is refused with the field that is wrong', async () => {
    const { digest: _digest, ...withoutDigest } = DOCUMENT.images[0] as Record<string, string>;
    handler = (_, response) => json(response, 200, { ...DOCUMENT, images: [withoutDigest] });
    await assert.rejects(
      new HttpNodeApi(base, 'general', noAuth).warmSet(undefined),
      (error: Error) => {
        assert.ok(error instanceof NodeApiError);
        assert.match(error.message, new RegExp(`not a ${WARM_SET_SCHEMA} document`));
        assert.match(error.message, /images\.0\.digest/);
        return true;
      },
    );
  });

  test('a document of another schema is refused naming the schema field', async () => {
    handler = (_, response) =>
      json(response, 200, { ...DOCUMENT, schema: 'pullwarden.warmset/v0' });
    await assert.rejects(new HttpNodeApi(base, 'general', noAuth).warmSet(undefined), /\(schema: /);
  });

  test('an answer that is not JSON is refused, not thrown as a SyntaxError', async () => {
    handler = (_, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    };
    await assert.rejects(new HttpNodeApi(base, 'general', noAuth).warmSet(undefined), NodeApiError);
  });

  test('401 is a NodeApiError with the status, the server message and a hint', async () => {
    handler = (_, response) => json(response, 401, { message: 'token expired' });
    await assert.rejects(
      new HttpNodeApi(base, 'general', noAuth).warmSet(undefined),
      (error: Error) => {
        assert.ok(error instanceof NodeApiError);
        assert.equal(error.status, 401);
        assert.equal(
          error.message,
          'the warm set answered 401: token expired (check the agent token or the node role)',
        );
        return true;
      },
    );
  });

  test('403 gets the hint too; 404 and 500 do not', async () => {
    for (const [status, hinted] of [
      [403, true],
      [404, false],
      [500, false],
    ] as const) {
      handler = (_, response) => response.writeHead(status).end('not json');
      await assert.rejects(
        new HttpNodeApi(base, 'general', noAuth).warmSet(undefined),
        (error: Error) => {
          assert.ok(error instanceof NodeApiError);
          assert.equal(error.status, status);
          assert.equal(error.message.includes('check the agent token'), hinted, error.message);
          assert.ok(error.message.startsWith(`the warm set answered ${status}`), error.message);
          return true;
        },
      );
    }
  });

  test('an unreachable server is a NodeApiError naming the origin, without a status', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(
      new HttpNodeApi(`http://127.0.0.1:${port}`, 'general', noAuth).warmSet(undefined),
      (error: Error) => {
        assert.ok(error instanceof NodeApiError);
        assert.equal(error.status, undefined);
        assert.match(
          error.message,
          new RegExp(`^GET http://127\\.0\\.0\\.1:${port}/v1/nodegroups/general/warmset failed: `),
        );
        return true;
      },
    );
  });
});

describe('HttpNodeApi.report', () => {
  test('POSTs the report as JSON to the node route, names URL-encoded', async () => {
    handler = (_, response) => response.writeHead(204).end();
    const authorised: ApiRequest[] = [];
    const api = new HttpNodeApi(base, 'ng/blue', async (request) => {
      authorised.push(request);
      return { authorization: 'Bearer t' };
    });
    const report = { ...REPORT, node: 'node a/b' };
    await api.report(report);

    assert.equal(received.length, 1);
    const request = received[0] as Received;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/v1/nodegroups/ng%2Fblue/nodes/node%20a%2Fb/report');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers.authorization, 'Bearer t');
    assert.deepEqual(JSON.parse(request.body), report);
    // The authoriser signs the exact body that is sent.
    assert.equal(authorised[0]?.body, request.body);
  });

  test('a refused report is a NodeApiError with the status and the server error', async () => {
    handler = (_, response) =>
      json(response, 409, { error: { code: 'conflict', message: 'sequence not newer' } });
    await assert.rejects(
      new HttpNodeApi(base, 'general', noAuth).report(REPORT),
      (error: Error) => {
        assert.ok(error instanceof NodeApiError);
        assert.equal(error.status, 409);
        assert.equal(error.message, 'the node report answered 409: sequence not newer');
        return true;
      },
    );
  });
});
