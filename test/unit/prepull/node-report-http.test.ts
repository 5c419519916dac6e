import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import type { HttpResponse } from '#shared/http/errors.ts';
import type { HttpRequest } from '#shared/http/request.ts';
import {
  handleNodeGroupApiRequest,
  type NodeGroupApiDependencies,
} from '#shared/prepull/node-group-api.ts';
import type { NodeReport } from '#shared/prepull/node-report.ts';
import { MAX_NODE_REPORT_BYTES } from '#shared/prepull/node-report-http.ts';
import { NodeReportTooLargeError } from '#shared/state/store.ts';
import {
  API,
  held,
  MemoryNodeReports,
  nodeReport,
  WARM_SET,
  WORKER,
} from '../../support/node-reports.ts';

// The node-group routes as the Lambda sees them: reports in (validated, authorised, ordered by
// sequence) and the status out, over the in-memory store.

const TOKEN = 'agent-token-that-must-not-leak';
const NOW = new Date('2026-03-01T10:30:00.000Z');
const REPORT_ROUTE = 'POST /v1/nodegroups/{nodeGroup}/nodes/{node}/report';
const STATUS_ROUTE = 'GET /v1/nodegroups/{nodeGroup}/status';

const config = configSchema.parse({
  apiVersion: 'pullwarden.dev/v1',
  kind: 'Config',
  nodeGroups: {
    groups: { general: { token: { env: 'NG_TOKEN' } } },
    reports: { staleAfterSeconds: 600, expireAfterHours: 2 },
  },
});

let store: MemoryNodeReports;
let logged: string[];

function deps(authentication: 'token' | 'iam' = 'token'): NodeGroupApiDependencies {
  const log =
    (level: string) =>
    (message: string, ...extra: Record<string, unknown>[]) =>
      logged.push(`${level} ${message} ${JSON.stringify(extra)}`);
  return {
    loadConfig: async () => config,
    store,
    secrets: environmentSecretResolver({ NG_TOKEN: TOKEN }),
    authentication,
    logger: { info: log('info'), error: log('error') },
    now: () => NOW,
  };
}

beforeEach(() => {
  store = new MemoryNodeReports();
  store.warmSets.set('general', WARM_SET);
  logged = [];
});

function post(
  body: unknown,
  options: {
    nodeGroup?: string;
    node?: string;
    headers?: Record<string, string>;
    authentication?: 'token' | 'iam';
  } = {},
): Promise<HttpResponse> {
  const request: HttpRequest & { routeKey: string } = {
    routeKey: REPORT_ROUTE,
    pathParameters: { nodeGroup: options.nodeGroup ?? 'general', node: options.node ?? 'node-a' },
    headers: options.headers ?? {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  };
  return handleNodeGroupApiRequest(request, deps(options.authentication));
}

function status(nodeGroup = 'general', query?: Record<string, string>): Promise<HttpResponse> {
  return handleNodeGroupApiRequest(
    {
      routeKey: STATUS_ROUTE,
      pathParameters: { nodeGroup },
      ...(query === undefined ? {} : { queryStringParameters: query }),
    },
    deps(),
  );
}

const errorOf = (response: HttpResponse) =>
  (JSON.parse(response.body) as { error: { code: string; message: string; details?: unknown } })
    .error;

const REPORT = nodeReport('node-a', [held(API, 'present'), held(WORKER, 'pulling')]);

describe('POST …/nodes/{node}/report', () => {
  test('stores a report and answers that it was accepted', async () => {
    const response = await post(REPORT);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(JSON.parse(response.body), {
      accepted: true,
      nodeGroup: 'general',
      node: 'node-a',
      sequence: REPORT.sequence,
    });
    const [stored] = await store.nodeReports('general', NOW);
    assert.deepEqual(stored?.report, REPORT);
    assert.equal(stored?.receivedAt, NOW.toISOString());
    // nodeGroups.reports.expireAfterHours: 2
    assert.equal(stored?.expiresAt, '2026-03-01T12:30:00.000Z');
  });

  test('an equal or older sequence changes nothing; a newer one replaces the report', async () => {
    await post(REPORT);
    const failedReport = { ...REPORT, images: [held(API, 'failed')] };
    for (const sequence of [REPORT.sequence, REPORT.sequence - 1]) {
      const response = await post({ ...failedReport, sequence });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(JSON.parse(response.body), {
        accepted: false,
        nodeGroup: 'general',
        node: 'node-a',
        sequence,
        reason: 'a report with the same or a higher sequence is stored already',
      });
      assert.deepEqual((await store.nodeReports('general', NOW))[0]?.report, REPORT);
    }
    const newer = { ...failedReport, sequence: REPORT.sequence + 1 };
    assert.equal(JSON.parse((await post(newer)).body).accepted, true);
    assert.deepEqual((await store.nodeReports('general', NOW))[0]?.report, newer);
  });

  const badReports: [string, unknown, RegExp, string][] = [
    ['a body that is not JSON', '{"schema":', /^the request body is not JSON/, ''],
    [
      'another schema',
      { ...REPORT, schema: 'pullwarden.nodereport/v2' },
      /^the body is not a pullwarden\.nodereport\/v1 report: schema: /,
      'schema',
    ],
    [
      'an unknown image state',
      { ...REPORT, images: [{ ...held(API, 'present'), state: 'gone' }] },
      /: images\[0\]\.state: /,
      'images[0].state',
    ],
    [
      'an unknown failure cause',
      { ...REPORT, images: [held(API, 'failed', { cause: 'cosmic-rays' as never })] },
      /: images\[0\]\.cause: /,
      'images[0].cause',
    ],
    ['a negative sequence', { ...REPORT, sequence: -1 }, /: sequence: Too small/, 'sequence'],
    ['no sequence', { ...REPORT, sequence: undefined }, /: sequence: Invalid input/, 'sequence'],
    [
      'a node name Kubernetes would refuse',
      { ...REPORT, node: 'Node_A!' },
      /: node: must be a Kubernetes node name/,
      'node',
    ],
    [
      'a field the contract does not have',
      { ...REPORT, uptime: 5 },
      /: \(the report\): Unrecognized key: "uptime"/,
      '(the report)',
    ],
    ['an array', [REPORT], /: \(the report\): Invalid input: expected object/, '(the report)'],
  ];
  for (const [title, body, message, path] of badReports) {
    test(`400 for ${title}, naming the field, and nothing stored`, async () => {
      const response = await post(body);
      assert.equal(response.statusCode, 400, response.body);
      const error = errorOf(response);
      assert.equal(error.code, 'bad-request');
      assert.match(error.message, message);
      if (path !== '') {
        assert.equal((error.details as { path: string }[])[0]?.path, path);
      }
      assert.equal(store.puts, 0);
      assert.deepEqual(await store.nodeReports('general', NOW), []);
    });
  }

  const mismatches: [string, Partial<NodeReport>, { nodeGroup?: string; node?: string }, RegExp][] =
    [
      [
        'a report for another node group',
        { nodeGroup: 'gpu' },
        {},
        /^nodeGroup: the report is for node group "gpu" but was posted for "general"$/,
      ],
      [
        'a report from another node',
        { node: 'node-b' },
        {},
        /^node: the report is from node "node-b" but was posted for "node-a"$/,
      ],
      [
        'a path node that is no node name',
        {},
        { node: 'node a' },
        /^node: the report is from node "node-a" but was posted for "node a"$/,
      ],
    ];
  for (const [title, change, path, message] of mismatches) {
    test(`400 for ${title}, and nothing stored`, async () => {
      const response = await post({ ...REPORT, ...change }, path);
      assert.equal(response.statusCode, 400);
      assert.match(errorOf(response).message, message);
      assert.equal(store.puts, 0);
    });
  }

  test('400 for an empty body, 413 for one over the limit, 415 for another media type', async () => {
    assert.equal((await post('')).statusCode, 400);
    const huge = await post({ ...REPORT, agent: { version: 'x'.repeat(MAX_NODE_REPORT_BYTES) } });
    assert.equal(huge.statusCode, 413);
    const yaml = await post(REPORT, {
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
    });
    assert.equal(yaml.statusCode, 415);
    // Without a content type the body is still read as JSON.
    assert.equal(
      (await post(REPORT, { headers: { authorization: `Bearer ${TOKEN}` } })).statusCode,
      200,
    );
    assert.equal(store.puts, 1);
  });

  test('401 without the node group token, with a wrong one, or for a node group without one', async () => {
    const refusals = [
      await post(REPORT, { headers: { 'content-type': 'application/json' } }),
      await post(REPORT, { headers: { authorization: 'Bearer wrong' } }),
      await post(REPORT, { headers: { authorization: TOKEN } }),
      await post(
        { ...REPORT, nodeGroup: 'spot' },
        { nodeGroup: 'spot', headers: { authorization: `Bearer ${TOKEN}` } },
      ),
    ];
    assert.deepEqual(
      refusals.map((response) => response.statusCode),
      [401, 401, 401, 401],
    );
    assert.match(errorOf(refusals[3] as HttpResponse).message, /node group spot has no token/);
    assert.equal(store.puts, 0);
    for (const response of refusals) assert.ok(!response.body.includes(TOKEN));
  });

  test('authorises before reading the body: a bad body without a token is a 401', async () => {
    assert.equal((await post('{', { headers: {} })).statusCode, 401);
  });

  test('404 for a node group name no node group can have', async () => {
    const response = await post(REPORT, { nodeGroup: '../general' });
    assert.equal(response.statusCode, 404);
    assert.equal(store.puts, 0);
  });

  test('with IAM the gateway has authorised the caller: no token, any node group', async () => {
    const response = await post(
      { ...REPORT, nodeGroup: 'spot' },
      { nodeGroup: 'spot', headers: {}, authentication: 'iam' },
    );
    assert.equal(response.statusCode, 200);
    assert.equal((await store.nodeReports('spot', NOW)).length, 1);
  });

  test('413 for a report the store cannot hold; a store failure is a 500 that says nothing', async () => {
    const tooLarge = Object.assign(new MemoryNodeReports(), {
      putNodeReport: async () => {
        throw new NodeReportTooLargeError('the report takes 400000 bytes compressed');
      },
    });
    store = tooLarge;
    const large = await post(REPORT);
    assert.equal(large.statusCode, 413);
    assert.match(errorOf(large).message, /400000 bytes compressed/);

    store = Object.assign(new MemoryNodeReports(), {
      putNodeReport: async () => {
        throw new Error('ProvisionedThroughputExceededException');
      },
    });
    const failed = await post(REPORT);
    assert.equal(failed.statusCode, 500);
    assert.deepEqual(errorOf(failed), { code: 'internal', message: 'internal error' });
    assert.ok(logged.some((line) => line.startsWith('error node report failed')));
  });

  test('logs failed pulls and ignored reports, not routine ones, and never the token', async () => {
    await post(REPORT);
    assert.equal(logged.length, 0, 'a routine report is not logged');
    await post({ ...REPORT, sequence: REPORT.sequence + 1, images: [held(API, 'failed')] });
    await post(REPORT);
    assert.deepEqual(
      logged.map((line) => line.split(' [')[0]),
      ['info node report with failed pulls', 'info node report ignored: not newer'],
    );
    assert.ok(!logged.join('\n').includes(TOKEN));
  });
});

describe('GET …/status', () => {
  test('counts the stored reports against the warm set', async () => {
    await post(REPORT);
    await post(
      nodeReport('node-b', [
        held(API, 'failed', { cause: 'rate-limited', reason: 'toomanyrequests' }),
      ]),
      { node: 'node-b' },
    );
    const response = await status();
    assert.equal(response.statusCode, 200);
    const document = JSON.parse(response.body);
    assert.equal(document.schema, 'pullwarden.nodegroupstatus/v1');
    assert.equal(document.staleAfterSeconds, 600);
    assert.deepEqual(
      document.nodes.map((node: { node: string }) => node.node),
      ['node-a', 'node-b'],
    );
    const api = document.images[0];
    assert.equal(api.image, API);
    assert.deepEqual(api.present, ['node-a']);
    assert.deepEqual(api.failed, [
      {
        node: 'node-b',
        cause: 'rate-limited',
        reason: 'toomanyrequests',
        at: '2026-03-01T10:20:00.000Z',
      },
    ]);
    assert.deepEqual(document.images[1].missing, ['node-b']);
  });

  test('is an operators’ route: no node group token asked for', async () => {
    assert.equal((await status('spot')).statusCode, 200);
  });

  test('400 for a query parameter, 404 for an impossible node group', async () => {
    const query = await status('general', { node: 'node-a' });
    assert.equal(query.statusCode, 400);
    assert.match(errorOf(query).message, /unknown query parameter "node"/);
    assert.equal((await status('a/b')).statusCode, 404);
  });
});

test('a route key the function does not serve is a 404', async () => {
  const response = await handleNodeGroupApiRequest(
    { routeKey: 'DELETE /v1/nodegroups/{nodeGroup}/status', pathParameters: { nodeGroup: 'g' } },
    deps(),
  );
  assert.equal(response.statusCode, 404);
});
