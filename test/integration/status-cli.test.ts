import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { main } from '#cmd/pullwarden/main.ts';
import { shortDigest, shortImage } from '#cmd/pullwarden/status.ts';
import { DEFAULT_CONFIG } from '#shared/config/schema.ts';
import type { NodeGroupStatus } from '#shared/prepull/node-report.ts';
import { handleNodeGroupStatusRequest } from '#shared/prepull/node-report-http.ts';
import { type CliRun, runInProcess } from '../support/in-process-cli.ts';
import {
  API,
  held,
  MemoryNodeReports,
  nodeReport,
  OLD_API,
  PAUSE,
  WARM_SET,
  WORKER,
} from '../support/node-reports.ts';

// `pullwarden status` in-process against a loopback server that answers GET …/status with the
// function's own handler over an in-memory store: what it asks for, how it renders the answer, and its
// exit codes.

const NOW = new Date('2026-03-01T10:30:00.000Z');

interface Received {
  url: string;
  headers: IncomingMessage['headers'];
}

type Answer = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

let server: Server;
let base: string;
let store: MemoryNodeReports;
let answer: Answer;
let received: Received[];
let scratch: string;

/** What the deployed route answers: the status handler, its path parameter taken from the URL. */
const handler: Answer = async (request, response) => {
  const nodeGroup = /^\/v1\/nodegroups\/([^/]+)\/status$/.exec(
    new URL(request.url ?? '/', base).pathname,
  )?.[1];
  const result = await handleNodeGroupStatusRequest(
    { pathParameters: { nodeGroup: decodeURIComponent(nodeGroup ?? '') } },
    {
      loadConfig: async () => DEFAULT_CONFIG,
      store,
      logger: { error() {} },
      now: () => NOW,
    },
  );
  response.writeHead(result.statusCode, result.headers);
  response.end(result.body);
};

function json(status: number, body: unknown): Answer {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
}

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-status-'));
  server = createServer((request, response) => {
    received.push({ url: request.url ?? '', headers: request.headers });
    void answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(scratch, { recursive: true, force: true });
});

/** Reports received a minute before NOW (fresh), or an hour before (stale). */
async function report(node: string, images: Parameters<typeof nodeReport>[1], stale = false) {
  const at = new Date(NOW.getTime() - (stale ? 3600_000 : 60_000));
  await store.putNodeReport(nodeReport(node, images), at, 24 * 3600);
}

beforeEach(async () => {
  store = new MemoryNodeReports();
  store.warmSets.set('general', WARM_SET);
  answer = handler;
  received = [];
  await report('node-a', [
    held(API, 'present', { pinned: true, durationMs: 1200 }),
    held(WORKER, 'failed', { cause: 'authentication', reason: 'pull access denied', attempts: 3 }),
    held(OLD_API, 'present'),
  ]);
  await report('node-b', [
    held(API, 'pulling'),
    held(WORKER, 'failed', { cause: 'authentication', reason: 'pull access denied' }),
    held(PAUSE, 'failed', { cause: 'disk-space', reason: 'needs 2 GiB, 1 GiB free' }),
  ]);
  await report('node-c', [held(API, 'present')], true);
});

function status(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runInProcess(main, ['status', ...args], { env });
}

describe('pullwarden status: formats', () => {
  test('text: one row per image, failures by cause, stale nodes; exit 1 for failed pulls', async () => {
    const run = await status(['--node-group', 'general', '--endpoint', base]);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stderr, '');
    assert.equal(
      run.stdout,
      [
        `Node group general: 2 nodes reporting, 1 stale; 3 images in the warm set (at ${NOW.toISOString()})`,
        '',
        'IMAGE                                   DIGEST        PRESENT  PULLING  FAILED  MISSING  PINNED',
        'registry.example.com/team/api:1.4.0     a1a1a1a1a1a1  1/2      1        0       0        1',
        'registry.example.com/team/worker:2.0.0  b2b2b2b2b2b2  0/2      0        2       0        0',
        'registry.k8s.io/pause                   c3c3c3c3c3c3  0/2      0        1       1        0',
        'registry.example.com/team/api:1.3.0 *   d4d4d4d4d4d4  1/2      0        0       -        0',
        '* no longer in the warm set; nodes still report it',
        '',
        'Failed pulls by cause:',
        '  authentication (2 pulls):',
        '    node-a  registry.example.com/team/worker:2.0.0  pull access denied (3 attempts)',
        '    node-b  registry.example.com/team/worker:2.0.0  pull access denied',
        '  disk-space (1 pull):',
        '    node-b  registry.k8s.io/pause  needs 2 GiB, 1 GiB free',
        '',
        'Stale nodes (no report in the last 900s; not counted above):',
        '  node-c  last report received 2026-03-01T09:30:00.000Z',
        '',
      ].join('\n'),
    );
  });

  test('json: the API document with the fields this version knows, written with -o', async () => {
    const file = join(scratch, 'status.json');
    const run = await status(['-g', 'general', '--endpoint', base, '-f', 'json', '-o', file]);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    const document = JSON.parse(await readFile(file, 'utf8')) as NodeGroupStatus;
    assert.equal(document.schema, 'pullwarden.nodegroupstatus/v1');
    assert.deepEqual(
      document.nodes.map((node) => node.node),
      ['node-a', 'node-b'],
    );
    assert.deepEqual(document.images[0]?.pullDurationMs, { median: 1200, max: 1200, samples: 1 });
  });

  test('an empty node group says so and exits 0', async () => {
    const run = await status(['-g', 'spot', '--endpoint', base]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /^Node group spot: 0 nodes reporting, 0 stale; 0 images in the warm set/,
    );
    assert.match(run.stdout, /The warm set is empty and no node reports an image\./);
  });

  test('images are shortened to fit: the digest has its own column, long paths lose the middle', () => {
    assert.equal(shortImage(API), 'registry.example.com/team/api:1.4.0');
    assert.equal(
      shortImage(
        'registry.example.com/platform/observability/collectors/otel-collector:0.121.0@sha256:00',
      ),
      'registry.example.com/…/otel-collector:0.121.0',
    );
    const long = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/platform/${'x'.repeat(60)}:1.0`;
    assert.equal(shortImage(long), `…${long.slice(-59)}`);
    assert.equal(shortDigest(`sha256:${'0123456789abcdef'.repeat(4)}`), '0123456789ab');
  });
});

describe('pullwarden status: exit codes and requests', () => {
  test('0 when only an image that left the warm set failed', async () => {
    store = new MemoryNodeReports();
    store.warmSets.set('general', WARM_SET);
    await report('node-a', [held(API, 'present'), held(OLD_API, 'failed')]);
    const run = await status(['-g', 'general', '--endpoint', base]);
    assert.equal(run.code, 0, run.stderr);
  });

  test('asks for the node group under a stage path, from $PULLWARDEN_URL or --url', async () => {
    answer = json(200, { schema: 'pullwarden.nodegroupstatus/v1' });
    await status(['-g', 'gpu.v2'], { PULLWARDEN_URL: `${base}/prod/` });
    await status(['-g', 'gpu.v2', '--url', `${base}/stage`]);
    assert.deepEqual(
      received.map((request) => request.url),
      ['/prod/v1/nodegroups/gpu.v2/status', '/stage/v1/nodegroups/gpu.v2/status'],
    );
    assert.equal(received[0]?.headers.authorization, undefined, 'loopback requests are not signed');
    assert.match(received[0]?.headers['user-agent'] ?? '', /^pullwarden\/\d+\.\d+\.\d+/);
  });

  test('sends --token or $PULLWARDEN_TOKEN as a bearer token, and never shows it', async () => {
    await status(['-g', 'general', '--endpoint', base, '--token', 'cli-token-1']);
    await status(['-g', 'general', '--endpoint', base], { PULLWARDEN_TOKEN: 'cli-token-2' });
    assert.deepEqual(
      received.map((request) => request.headers.authorization),
      ['Bearer cli-token-1', 'Bearer cli-token-2'],
    );
    answer = json(401, { error: { code: 'unauthorized', message: 'no' } });
    const denied = await status(['-g', 'general', '--endpoint', base, '--token', 'cli-token-3']);
    assert.equal(denied.code, 2);
    assert.ok(!(denied.stdout + denied.stderr).includes('cli-token-3'));
  });

  const usage: [string, string[], Record<string, string>, RegExp][] = [
    ['no node group', ['--endpoint', 'http://x'], {}, /--node-group is required/],
    [
      'a node group name no node group can have',
      ['-g', 'a/b', '--endpoint', 'http://x'],
      {},
      /--node-group must be a node group name/,
    ],
    ['no endpoint', ['-g', 'general'], {}, /--endpoint <url> or \$PULLWARDEN_URL/],
    [
      'both --endpoint and --url',
      ['-g', 'general', '--endpoint', 'http://x', '--url', 'http://y'],
      {},
      /--endpoint or --url, not both/,
    ],
    ['a bad format', ['-g', 'general', '--endpoint', 'http://x', '-f', 'sarif'], {}, /--format/],
    [
      'a token and --sigv4',
      ['-g', 'general', '--endpoint', 'http://x', '--token', 't', '--sigv4'],
      {},
      /--token and --sigv4/,
    ],
    [
      'a bad timeout',
      ['-g', 'general', '--endpoint', 'http://x', '--timeout', 'soon'],
      {},
      /--timeout/,
    ],
  ];
  for (const [title, args, env, reason] of usage) {
    test(`2 for ${title}, without a request`, async () => {
      const run = await status(args, env);
      assert.equal(run.code, 2);
      assert.match(run.stderr, reason);
      assert.match(run.stderr, /Run 'pullwarden status --help' for usage/);
      assert.deepEqual(received, []);
    });
  }

  test('2 for an error answer, with the service reason, and for a document of another kind', async () => {
    answer = json(404, { error: { code: 'not-found', message: 'no such node group' } });
    const missing = await status(['-g', 'general', '--endpoint', base]);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr,
      `pullwarden status: GET ${base}/v1/nodegroups/general/status answered 404 Not Found: no such node group\n`,
    );
    answer = json(200, { schema: 'pullwarden.warmset/v1', images: [] });
    const other = await status(['-g', 'general', '--endpoint', base]);
    assert.equal(other.code, 2);
    assert.match(
      other.stderr,
      /answered 200 OK with no pullwarden\.nodegroupstatus\/v1 \(schema: /,
    );
  });
});
