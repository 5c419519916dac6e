import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '#shared/config/schema.ts';
import {
  type DriftRequest,
  type DriftRequestSideEffects,
  evaluateDriftRequest,
  MAX_BODY_BYTES,
} from '#shared/drift/http.ts';

// POST /v1/drift as the Lambda sees it, with the configuration and logger passed in.

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx
`;

interface Logged {
  level: 'info' | 'error';
  message: string;
  extra: unknown[];
}

function effects(
  loadConfig = async () => DEFAULT_CONFIG,
): DriftRequestSideEffects & { logged: Logged[] } {
  const logged: Logged[] = [];
  return {
    logged,
    loadConfig,
    logger: {
      info: (message, ...extra) => logged.push({ level: 'info', message, extra }),
      error: (message, ...extra) => logged.push({ level: 'error', message, extra }),
    },
  };
}

function request(
  body: string,
  contentType: string | undefined,
  query: Record<string, string> = {},
): DriftRequest {
  return {
    body,
    isBase64Encoded: false,
    headers: contentType === undefined ? {} : { 'Content-Type': contentType },
    queryStringParameters: query,
  };
}

function errorOf(body: string): { code: string; message: string } {
  return (JSON.parse(body) as { error: { code: string; message: string } }).error;
}

describe('POST /v1/drift', () => {
  test('answers a YAML manifest with the JSON report', async () => {
    const sink = effects();
    const response = await evaluateDriftRequest(
      request(MANIFEST, 'application/yaml; charset=utf-8'),
      sink,
    );
    assert.equal(response.statusCode, 200);
    assert.match(response.headers['content-type'] ?? '', /^application\/json/);
    const report = JSON.parse(response.body) as {
      findings: { ruleId: string; workload: { name: string } }[];
    };
    assert.deepEqual(
      report.findings.map((finding) => [finding.ruleId, finding.workload.name]),
      [['PW001', 'web']],
    );
    assert.equal(sink.logged[0]?.message, 'drift report');
  });

  test('reads base64 bodies and JSON input, and renders SARIF and Markdown on request', async () => {
    const json = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: 'app:1.0@sha256:'.concat('a'.repeat(64)) }] },
    });
    const encoded: DriftRequest = {
      ...request(Buffer.from(json).toString('base64'), 'application/json', { format: 'sarif' }),
      isBase64Encoded: true,
    };
    const sarif = await evaluateDriftRequest(encoded, effects());
    assert.equal(sarif.statusCode, 200);
    assert.match(sarif.headers['content-type'] ?? '', /^application\/sarif\+json/);
    const log = JSON.parse(sarif.body) as {
      version: string;
      runs: { results: { ruleId: string }[] }[];
    };
    assert.equal(log.version, '2.1.0');
    assert.deepEqual(
      log.runs[0]?.results.map((result) => result.ruleId),
      ['PW007'],
    );

    const markdown = await evaluateDriftRequest(
      request(MANIFEST, 'text/yaml', { format: 'markdown' }),
      effects(),
    );
    assert.equal(markdown.statusCode, 200);
    assert.match(markdown.body, /PW001/);
  });

  const rejections: [string, DriftRequest, number, string, RegExp][] = [
    [
      'a missing content type',
      request(MANIFEST, undefined),
      415,
      'unsupported-media-type',
      /\(none\)/,
    ],
    [
      'an unsupported content type',
      request(MANIFEST, 'text/plain'),
      415,
      'unsupported-media-type',
      /"text\/plain"/,
    ],
    [
      'an unknown output format',
      request(MANIFEST, 'application/yaml', { format: 'html' }),
      400,
      'bad-request',
      /format must be one of json, sarif, markdown/,
    ],
    [
      'a prototype key as output format',
      request(MANIFEST, 'application/yaml', { format: 'toString' }),
      400,
      'bad-request',
      /format/,
    ],
    ['an empty body', request('', 'application/yaml'), 400, 'bad-request', /empty/],
    [
      'a body over the limit',
      request(`# ${'x'.repeat(MAX_BODY_BYTES)}`, 'application/yaml'),
      413,
      'payload-too-large',
      /exceeds/,
    ],
    [
      'unparsable JSON',
      request('{"kind": ', 'application/json'),
      400,
      'bad-request',
      /could not be parsed/,
    ],
    [
      'YAML that holds no object',
      request('just a string\n', 'application/yaml'),
      422,
      'unprocessable',
      /no Kubernetes object/,
    ],
  ];
  for (const [name, input, status, code, message] of rejections) {
    test(`refuses ${name} with ${status}`, async () => {
      let loaded = false;
      const response = await evaluateDriftRequest(
        input,
        effects(async () => {
          loaded = true;
          return DEFAULT_CONFIG;
        }),
      );
      assert.equal(response.statusCode, status);
      const error = errorOf(response.body);
      assert.equal(error.code, code);
      assert.match(error.message, message);
      assert.doesNotMatch(response.body, /at .*\.ts:\d+/, 'no stack trace');
      if (status === 415 || status === 413) assert.equal(loaded, false, 'refused before any work');
    });
  }

  test('hides internal failures behind a 500 and logs them without the request body', async () => {
    const sink = effects(async () => {
      throw new Error('parameter store unavailable');
    });
    const response = await evaluateDriftRequest(request(MANIFEST, 'application/yaml'), sink);
    assert.equal(response.statusCode, 500);
    assert.deepEqual(errorOf(response.body), { code: 'internal', message: 'internal error' });
    assert.equal(sink.logged.length, 1);
    assert.equal(sink.logged[0]?.level, 'error');
    assert.doesNotMatch(JSON.stringify(sink.logged), /nginx/);
  });
});
