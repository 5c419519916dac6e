import assert from 'node:assert/strict';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { main } from '#cmd/pullwarden/main.ts';
import { type FindingList, findingList } from '#shared/findings/http.ts';
import type { StoredFinding } from '#shared/findings/model.ts';
import { type FindingParts, storedFinding } from '../support/findings.ts';
import { type CliRun, runInProcess } from '../support/in-process-cli.ts';
import { validateSarif } from '../support/sarif-validator.ts';

// `pullwarden findings` in-process against a loopback stand-in for GET /v1/findings: what it asks for,
// how it renders the answer, its exit codes, and its SigV4 signature.

/** Findings whose image, message and fix name their workload, as the CLI shows them. */
function stored(parts: FindingParts): StoredFinding {
  return storedFinding({
    image: `registry.example.com/${parts.workload.name}:1.4.0`,
    message: `${parts.workload.name} runs a mutable tag with IfNotPresent`,
    remediation: 'Pin the digest, or set imagePullPolicy: Always.',
    ...parts,
  });
}

const API = { kind: 'Deployment', namespace: 'prod', name: 'api' };
const WORKER = { kind: 'Deployment', namespace: 'prod', name: 'worker' };
const WEB = { kind: 'Deployment', namespace: 'shop', name: 'web' };

const FINDINGS: StoredFinding[] = [
  stored({ ruleId: 'PW003', workload: WEB }),
  stored({
    ruleId: 'PW001',
    workload: API,
    severity: 'error',
    message: 'api:latest is pulled with IfNotPresent',
  }),
  stored({ ruleId: 'PW006', workload: WORKER, severity: 'info' }),
  stored({
    ruleId: 'PW009',
    workload: API,
    origin: 'push',
    status: 'closed',
    closedAt: '2026-11-21T09:30:00.000Z',
    message: 'api:1.4.0 was pushed again while nodes hold the old image',
  }),
];
const ALL = findingList(FINDINGS);

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

type Answer = (request: IncomingMessage, response: ServerResponse) => void;

function json(status: number, body: unknown): Answer {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
}

let server: Server;
let base: string;
let answer: Answer;
let received: Received[];
let scratch: string;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-findings-'));
  server = createServer((request, response) => {
    received.push({
      method: request.method ?? '',
      url: request.url ?? '',
      headers: request.headers,
    });
    answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(scratch, { recursive: true, force: true });
});
beforeEach(() => {
  answer = json(200, ALL);
  received = [];
});

function findings(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runInProcess(main, ['findings', ...args], { env });
}

/** The one request the run made, its query decoded. */
function onlyRequest(): { path: string; query: Record<string, string>; received: Received } {
  assert.equal(received.length, 1);
  const [request] = received as [Received];
  const url = new URL(request.url, base);
  return { path: url.pathname, query: Object.fromEntries(url.searchParams), received: request };
}

describe('pullwarden findings: formats', () => {
  test('text groups the findings by workload, with a summary line, and exits 1', async () => {
    const run = await findings(['--url', base, '--status', 'all']);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stderr, '');
    assert.deepEqual(onlyRequest().query, { status: 'all' });
    const lines = run.stdout.split('\n');
    const api = lines.indexOf('Deployment prod/api');
    assert.notEqual(api, -1, run.stdout);
    assert.match(
      lines[api + 1] ?? '',
      /^ {2}error {4}PW001 {2}app {2}registry\.example\.com\/api:1\.4\.0 — /,
    );
    assert.match(run.stdout, /PW009 .*\(closed 2026-11-21T09:30:00\.000Z\)/);
    assert.match(run.stdout, /^4 findings \(1 error, 2 warnings, 1 info\) in 3 workloads$/m);
    assert.ok(!run.stdout.includes('\u001b['), 'no colour when not on a terminal');
  });

  test('text with --verbose shows when each finding was seen, and what raised it', async () => {
    const run = await findings(['--url', base, '-v', '--color']);
    assert.ok(run.stdout.includes('\u001b['), '--color forces colour');
    assert.match(
      run.stdout,
      /First seen 2026-11-01T08:00:00\.000Z; last raised by a registry push at 2026-11-20T08:00:00\.000Z\./,
    );
  });

  test('json is the FindingList with every stored field, findings in report order', async () => {
    const run = await findings(['--url', base, '--format', 'json', '--status', 'all']);
    assert.equal(run.code, 1, run.stderr);
    const list = JSON.parse(run.stdout) as FindingList;
    assert.deepEqual(list, ALL);
    assert.deepEqual(
      list.findings.map((finding) => `${finding.ruleId} ${finding.status} ${finding.origin}`),
      ['PW001 open sweep', 'PW009 closed push', 'PW003 open sweep', 'PW006 open sweep'],
    );
    const [first] = list.findings;
    assert.equal(first?.firstSeenAt, '2026-11-01T08:00:00.000Z');
    assert.equal(first?.lastSeenAt, '2026-11-20T08:00:00.000Z');
  });

  test('markdown is a table of the findings', async () => {
    const run = await findings(['--url', base, '-f', 'markdown']);
    assert.match(run.stdout, /^## pullwarden: 4 findings/m);
    assert.match(run.stdout, /^\| 🔴 error \| PW001 \| Deployment prod\/api \| app \|/m);
  });

  test('sarif written with -o passes the SARIF validator with GitHub ingestion rules', async () => {
    const file = join(scratch, 'findings.sarif');
    const run = await findings(['--url', base, '-f', 'sarif', '-o', file]);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    const log = JSON.parse(await readFile(file, 'utf8')) as {
      version: string;
      runs: { results: { ruleId: string; level: string }[] }[];
    };
    assert.equal(log.version, '2.1.0');
    assert.deepEqual(
      log.runs[0]?.results.map((result) => `${result.ruleId} ${result.level}`),
      ['PW001 error', 'PW009 warning', 'PW003 warning', 'PW006 note'],
    );
    const results = await validateSarif([file], join(scratch, 'validation.sarif'));
    assert.deepEqual(
      results
        .filter((result) => result.level === 'error')
        .map((result) => `${result.ruleId}: ${result.message.id}`),
      [],
    );
  });
});

describe('pullwarden findings: what it asks for', () => {
  test('sends every filter in the query, encoded as SigV4 would canonicalise it', async () => {
    const run = await findings([
      '--url',
      base,
      '-n',
      'prod',
      '--namespace',
      'shop,prod',
      '--rule',
      'pw001,PW003',
      '--rule',
      'PW009',
      '--severity',
      'warning',
      '--workload',
      'Deployment/api-*',
      '--status',
      'all',
      '--fail-on',
      'never',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const { path, query, received: request } = onlyRequest();
    assert.equal(path, '/v1/findings');
    assert.deepEqual(query, {
      namespace: 'prod,shop',
      rule: 'PW001,PW003,PW009',
      severity: 'warning',
      workload: 'Deployment/api-*',
      status: 'all',
    });
    assert.match(request.url, /workload=Deployment%2Fapi-%2A/);
    assert.equal(request.method, 'GET');
    assert.equal(request.headers.accept, 'application/json');
    assert.match(request.headers['user-agent'] ?? '', /^pullwarden\/\d+\.\d+\.\d+/);
    assert.equal(request.headers.authorization, undefined, 'loopback requests are not signed');
  });

  test('takes $PULLWARDEN_URL, keeps a stage path and drops a trailing slash', async () => {
    const run = await findings(['-f', 'json'], { PULLWARDEN_URL: `${base}/prod/` });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(onlyRequest().path, '/prod/v1/findings');
    assert.deepEqual(onlyRequest().query, {});
  });

  test('--url wins over $PULLWARDEN_URL', async () => {
    await findings(['--url', `${base}/stage`, '-f', 'json'], {
      PULLWARDEN_URL: 'http://127.0.0.1:1',
    });
    assert.equal(onlyRequest().path, '/stage/v1/findings');
  });
});

describe('pullwarden findings: exit codes', () => {
  test('0 when no open finding reaches --fail-on; closed findings never count', async () => {
    answer = json(
      200,
      findingList([
        stored({ ruleId: 'PW006', workload: WORKER, severity: 'info' }),
        stored({ ruleId: 'PW001', workload: API, severity: 'error', status: 'closed' }),
      ]),
    );
    assert.equal((await findings(['--url', base, '--status', 'all'])).code, 0);
    assert.equal((await findings(['--url', base, '--fail-on', 'error'])).code, 0);
    assert.equal((await findings(['--url', base, '--fail-on', 'info'])).code, 1);
    assert.equal((await findings(['--url', base, '--fail-on', 'never'])).code, 0);
  });

  test('0 and a summary for an empty list', async () => {
    answer = json(200, findingList([]));
    const run = await findings(['--url', base]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^No findings/m);
  });

  const usage: [string, string[], Record<string, string>, RegExp][] = [
    ['no URL at all', [], {}, /give the pullwarden API with --url <url> or \$PULLWARDEN_URL/],
    ['a URL that is not http', ['--url', 'ftp://example.com'], {}, /--url must be an http/],
    ['a URL that does not parse', ['--url', 'not a url'], {}, /--url must be an http/],
    ['an unknown status', ['--url', 'http://x', '--status', 'gone'], {}, /--status must be one of/],
    ['an unknown rule', ['--url', 'http://x', '--rule', 'PW1'], {}, /--rule must be one of/],
    ['a bad severity', ['--url', 'http://x', '--severity', 'high'], {}, /--severity must be/],
    ['a bad format', ['--url', 'http://x', '-f', 'xml'], {}, /--format must be one of/],
    ['a bad timeout', ['--url', 'http://x', '--timeout', '0'], {}, /--timeout must be/],
    ['a positional argument', ['--url', 'http://x', 'prod'], {}, /prod/],
    [
      'signing with no region to sign for',
      ['--url', 'http://x.example', '--sigv4'],
      { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'secret' },
      /cannot tell which AWS region x\.example is in: set AWS_REGION/,
    ],
  ];
  for (const [title, args, env, reason] of usage) {
    test(`2 for ${title}, without a request`, async () => {
      const run = await findings(args, env);
      assert.equal(run.code, 2);
      assert.match(run.stderr, reason);
      assert.match(run.stderr, /Run 'pullwarden findings --help' for usage/);
      assert.equal(run.stdout, '');
      assert.deepEqual(received, []);
    });
  }

  test('2 for an unreachable URL, naming it', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const run = await findings(['--url', `http://127.0.0.1:${port}`, '--rule', 'PW001']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      `pullwarden findings: GET http://127.0.0.1:${port}/v1/findings?rule=PW001 failed: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });

  test('2 for a 400 answer, with the service reason on one line', async () => {
    answer = json(400, {
      error: {
        code: 'bad-request',
        message: 'namespace "Prod" is not a Kubernetes namespace name',
      },
    });
    const run = await findings(['--url', base, '-n', 'Prod']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      `pullwarden findings: GET ${base}/v1/findings?namespace=Prod answered 400 Bad Request: ` +
        'namespace "Prod" is not a Kubernetes namespace name\n',
    );
  });

  test('2 for a 5xx answer, and for an answer that is not a FindingList', async () => {
    answer = (_request, response) => {
      response.writeHead(502, { 'content-type': 'text/html' });
      response.end('<html>\n<body>Bad gateway</body>\n</html>');
    };
    const failed = await findings(['--url', base]);
    assert.equal(failed.code, 2);
    assert.equal(
      failed.stderr,
      `pullwarden findings: GET ${base}/v1/findings answered 502 Bad Gateway: <html> <body>Bad gateway</body> </html>\n`,
    );
    answer = json(200, { kind: 'DriftReport', findings: [] });
    const other = await findings(['--url', base]);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /answered 200 OK with no FindingList \(apiVersion: /);
    answer = (_request, response) => response.end('{"apiVersion":');
    assert.match((await findings(['--url', base])).stderr, /with a body that is not JSON\n$/);
  });

  test('2 when the service does not answer within --timeout', async () => {
    answer = () => {};
    const run = await findings(['--url', base, '--timeout', '0.2']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, `pullwarden findings: GET ${base}/v1/findings timed out after 0.2s\n`);
  });

  test('never shows credentials: not from the environment, not from the URL', async () => {
    answer = json(403, { message: 'Forbidden' });
    const secrets = {
      AWS_ACCESS_KEY_ID: 'AKIDLEAKCHECK',
      AWS_SECRET_ACCESS_KEY: 'secret-that-must-not-leak',
      AWS_SESSION_TOKEN: 'token-that-must-not-leak',
      AWS_REGION: 'eu-west-1',
    };
    const denied = await findings(['--url', base, '--sigv4'], secrets);
    assert.equal(denied.code, 2);
    assert.equal(
      denied.stderr,
      `pullwarden findings: GET ${base}/v1/findings answered 403 Forbidden: Forbidden\n`,
    );
    const url = new URL(base);
    url.username = 'operator';
    url.password = 'hunter2';
    const withPassword = await findings(['--url', url.href], secrets);
    assert.equal(withPassword.code, 2);
    assert.match(withPassword.stderr, /--url must not carry a user name or password/);
    for (const secret of ['hunter2', secrets.AWS_SECRET_ACCESS_KEY, secrets.AWS_SESSION_TOKEN]) {
      assert.ok(!(denied.stderr + withPassword.stderr).includes(secret), secret);
    }
    assert.equal(received.length, 1, 'the URL with a password is not requested');
  });
});

const CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'AKIDPULLWARDENTEST',
  AWS_SECRET_ACCESS_KEY: 'pullwarden/test/secret+key',
  AWS_REGION: 'eu-central-1',
};

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

interface Verified {
  valid: boolean;
  accessKeyId: string;
  scope: string;
  signedHeaders: string[];
}

/**
 * Checks an AWS4-HMAC-SHA256 Authorization header the way the gateway does, from the request as it
 * arrived: canonical request, string to sign, derived key, signature.
 */
function verifySignature(request: Received, secretAccessKey: string): Verified {
  const authorization = request.headers.authorization ?? '';
  const parsed =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8}\/[^/]+\/[^/]+\/aws4_request), SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  assert.ok(parsed, `not a SigV4 Authorization header: ${authorization}`);
  const [, accessKeyId = '', scope = '', signedHeaderList = '', signature = ''] = parsed;
  const [date = '', region = '', service = ''] = scope.split('/');
  const amzDate = String(request.headers['x-amz-date']);
  assert.ok(amzDate.startsWith(date), 'x-amz-date is on the day of the scope');
  const signedHeaders = signedHeaderList.split(';');
  const [rawPath = '', rawQuery = ''] = request.url.split('?');
  const canonicalPath = rawPath
    .split('/')
    .map((segment) => rfc3986(rfc3986(decodeURIComponent(segment))))
    .join('/');
  const canonicalQuery = rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => pair.split('=').map((part) => rfc3986(decodeURIComponent(part ?? ''))))
    .sort(([a = '', x = ''], [b = '', y = '']) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([name, value = '']) => `${name}=${value}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map(
      (name) =>
        `${name}:${String(request.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonicalRequest = [
    request.method,
    canonicalPath,
    canonicalQuery,
    canonicalHeaders,
    signedHeaderList,
    createHash('sha256').update('').digest('hex'),
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const key = hmac(
    hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service),
    'aws4_request',
  );
  const expected = hmac(key, stringToSign);
  return {
    valid: timingSafeEqual(expected, Buffer.from(signature, 'hex')),
    accessKeyId,
    scope,
    signedHeaders,
  };
}

describe('pullwarden findings --sigv4', () => {
  test('signs for execute-api with the credentials and region of the environment', async () => {
    answer = (request, response) => {
      const verified = verifySignature(
        { method: request.method ?? '', url: request.url ?? '', headers: request.headers },
        CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      );
      json(verified.valid ? 200 : 403, verified.valid ? ALL : { message: 'bad signature' })(
        request,
        response,
      );
    };
    const run = await findings(
      [
        '--url',
        `${base}/prod`,
        '--sigv4',
        '-n',
        'prod,shop',
        '--workload',
        'Deployment/api-*',
        '-f',
        'json',
      ],
      { ...CREDENTIALS, AWS_SESSION_TOKEN: 'session/token+1=' },
    );
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), ALL);
    const { received: request } = onlyRequest();
    const verified = verifySignature(request, CREDENTIALS.AWS_SECRET_ACCESS_KEY);
    assert.equal(verified.valid, true);
    assert.equal(verified.accessKeyId, CREDENTIALS.AWS_ACCESS_KEY_ID);
    assert.match(verified.scope, /^\d{8}\/eu-central-1\/execute-api\/aws4_request$/);
    assert.ok(verified.signedHeaders.includes('host'));
    assert.ok(verified.signedHeaders.includes('x-amz-date'));
    assert.ok(verified.signedHeaders.includes('x-amz-security-token'));
    assert.equal(request.headers['x-amz-security-token'], 'session/token+1=');
    assert.equal(
      verifySignature(request, 'another secret').valid,
      false,
      'the verifier does not accept just any signature',
    );
  });

  test('--no-sigv4 and loopback URLs send no signature', async () => {
    await findings(['--url', base, '--no-sigv4', '-f', 'json'], CREDENTIALS);
    assert.equal(onlyRequest().received.headers.authorization, undefined);
    assert.equal(onlyRequest().received.headers['x-amz-date'], undefined);
  });
});
