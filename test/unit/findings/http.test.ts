import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compareFindings, RULE_IDS, SEVERITIES } from '#shared/drift/model.ts';
import {
  type FindingList,
  type FindingsRequestDependencies,
  handleFindingsRequest,
  parseFindingList,
} from '#shared/findings/http.ts';
import {
  FINDING_STATUSES,
  type FindingsFilter,
  type StoredFinding,
} from '#shared/findings/model.ts';
import { matchesFilter } from '#shared/findings/report.ts';
import type { HttpResponse } from '#shared/http/errors.ts';
import { storedFinding as stored } from '../../support/findings.ts';

// GET /v1/findings as the Lambda sees it, over an in-memory reader.

const API = { kind: 'Deployment', namespace: 'prod', name: 'api' };
const DB = { kind: 'StatefulSet', namespace: 'prod', name: 'db' };
const WEB = { kind: 'Deployment', namespace: 'shop', name: 'web' };
const REPORT = { kind: 'CronJob', namespace: 'batch', name: 'report' };

// Deliberately out of order: the answer sorts them.
const FINDINGS: StoredFinding[] = [
  stored({ ruleId: 'PW006', workload: DB, severity: 'info' }),
  stored({ ruleId: 'PW003', workload: WEB }),
  stored({
    ruleId: 'PW009',
    workload: API,
    origin: 'push',
    status: 'closed',
    closedAt: '2026-11-21T09:30:00.000Z',
  }),
  stored({ ruleId: 'PW004', workload: API, container: { name: 'sidecar', kind: 'container' } }),
  stored({ ruleId: 'PW001', workload: API, severity: 'error' }),
  stored({ ruleId: 'PW002', workload: API }),
  stored({ ruleId: 'PW010', workload: REPORT, severity: 'error', origin: 'event' }),
];

interface Logged {
  level: 'info' | 'error';
  message: string;
  extra: unknown[];
}

/** A reader that answers from memory; `honourFilter: false` returns everything, as a lazy store might. */
function dependencies(
  options: { findings?: StoredFinding[]; honourFilter?: boolean; fail?: Error } = {},
): FindingsRequestDependencies & { logged: Logged[]; filters: FindingsFilter[] } {
  const logged: Logged[] = [];
  const filters: FindingsFilter[] = [];
  const findings = options.findings ?? FINDINGS;
  return {
    logged,
    filters,
    reader: {
      async listFindings(filter) {
        filters.push(filter);
        if (options.fail !== undefined) throw options.fail;
        return options.honourFilter === false
          ? [...findings]
          : findings.filter((finding) => matchesFilter(finding, filter));
      },
    },
    logger: {
      info: (message, ...extra) => logged.push({ level: 'info', message, extra }),
      error: (message, ...extra) => logged.push({ level: 'error', message, extra }),
    },
  };
}

function get(
  query: Record<string, string> | undefined,
  deps = dependencies(),
): Promise<HttpResponse> {
  return handleFindingsRequest(
    { headers: {}, ...(query === undefined ? {} : { queryStringParameters: query }) },
    deps,
  );
}

async function list(query?: Record<string, string>, deps = dependencies()): Promise<FindingList> {
  const response = await get(query, deps);
  assert.equal(response.statusCode, 200, response.body);
  assert.match(response.headers['content-type'] ?? '', /^application\/json\b/);
  const parsed = parseFindingList(JSON.parse(response.body));
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
  return parsed.list;
}

function labels(findingList: FindingList): string[] {
  return findingList.findings.map(
    (finding) => `${finding.ruleId} ${finding.workload.name}/${finding.container.name}`,
  );
}

describe('GET /v1/findings', () => {
  test('answers the open findings, most severe first, then by namespace, workload, container and rule', async () => {
    const answer = await list();
    assert.equal(answer.apiVersion, 'pullwarden.dev/v1');
    assert.equal(answer.kind, 'FindingList');
    assert.deepEqual(labels(answer), [
      'PW010 report/app',
      'PW001 api/app',
      'PW002 api/app',
      'PW004 api/sidecar',
      'PW003 web/app',
      'PW006 db/app',
    ]);
    assert.deepEqual(answer.summary, {
      open: 6,
      closed: 0,
      findings: { info: 1, warning: 3, error: 2 },
    });
  });

  test('keeps the stored fields of each finding', async () => {
    const answer = await list({ status: 'closed' });
    assert.deepEqual(answer.findings, [FINDINGS[2]]);
    assert.deepEqual(answer.summary, {
      open: 0,
      closed: 1,
      findings: { info: 0, warning: 1, error: 0 },
    });
  });

  test('passes the parsed filter to the reader', async () => {
    const deps = dependencies();
    await list(
      {
        namespace: 'prod, shop,prod',
        rule: 'pw001,PW009',
        severity: 'warning',
        workload: 'Deployment/a*',
        status: 'all',
      },
      deps,
    );
    assert.deepEqual(deps.filters, [
      {
        status: 'all',
        namespaces: ['prod', 'shop'],
        rules: ['PW001', 'PW009'],
        minSeverity: 'warning',
        workload: 'Deployment/a*',
      },
    ]);
    assert.deepEqual(deps.logged[0]?.extra, [{ filter: deps.filters[0], matched: 2, returned: 2 }]);
  });

  const filtered: [string, Record<string, string>, string[]][] = [
    [
      'namespaces (a comma list, as the gateway joins a repeated parameter)',
      { namespace: 'shop,batch' },
      ['PW010 report/app', 'PW003 web/app'],
    ],
    ['rules, in any case', { rule: 'pw003,Pw006' }, ['PW003 web/app', 'PW006 db/app']],
    [
      'minimum severity',
      { severity: 'warning' },
      ['PW010 report/app', 'PW001 api/app', 'PW002 api/app', 'PW004 api/sidecar', 'PW003 web/app'],
    ],
    ['a Kind/name glob', { workload: 'CronJob/rep*' }, ['PW010 report/app']],
    ['a bare name glob', { workload: '?b' }, ['PW006 db/app']],
    [
      'status all',
      { status: 'all', namespace: 'prod', severity: 'warning' },
      ['PW001 api/app', 'PW002 api/app', 'PW009 api/app', 'PW004 api/sidecar'],
    ],
  ];
  for (const [title, query, expected] of filtered) {
    test(`filters by ${title}, even when the reader returns everything`, async () => {
      assert.deepEqual(labels(await list(query)), expected);
      assert.deepEqual(
        labels(await list(query, dependencies({ honourFilter: false }))),
        expected,
        'the answer holds to the filter whatever the store returned',
      );
    });
  }

  test('limit cuts the list; the summary still counts every match', async () => {
    const answer = await list({ limit: '2' });
    assert.deepEqual(labels(answer), ['PW010 report/app', 'PW001 api/app']);
    assert.equal(answer.summary.open, 6);
  });

  test('an empty store answers an empty list', async () => {
    const answer = await list({}, dependencies({ findings: [] }));
    assert.deepEqual(answer.findings, []);
    assert.deepEqual(answer.summary, {
      open: 0,
      closed: 0,
      findings: { info: 0, warning: 0, error: 0 },
    });
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ namespace: 'Prod' }, /^namespace "Prod" is not a Kubernetes namespace name$/],
    [{ namespace: 'prod,team_a' }, /^namespace "team_a" is not a Kubernetes namespace name$/],
    [{ namespace: ' , ' }, /^namespace must not be empty$/],
    [{ rule: 'PW999' }, /^rule "PW999" is not a pullwarden rule \(PW001–PW011\)$/],
    [{ rule: 'PW001,PW0' }, /^rule "PW0" is not a pullwarden rule/],
    [{ rule: '' }, /^rule must not be empty$/],
    [{ severity: 'critical' }, /^severity must be one of info, warning, error \(got "critical"\)$/],
    [{ severity: 'Error' }, /^severity must be one of/],
    [{ status: 'resolved' }, /^status must be one of open, closed, all \(got "resolved"\)$/],
    [{ workload: 'a/b/c' }, /^workload must be a name glob or Kind\/name glob/],
    [{ workload: '/api' }, /^workload must be/],
    [{ workload: 'Deployment/' }, /^workload must be/],
    [{ workload: 'api;drop' }, /^workload must be/],
    [{ workload: '' }, /^workload must be/],
    [{ limit: '0' }, /^limit must be a whole number from 1 to 10000 \(got "0"\)$/],
    [{ limit: '2.5' }, /^limit must be/],
    [{ limit: '-1' }, /^limit must be/],
    [{ limit: '10001' }, /^limit must be/],
    [{ limit: '1e3' }, /^limit must be/],
    [{ namespaces: 'prod' }, /^unknown query parameter "namespaces"; use namespace, rule,/],
    [{ severity: 'x'.repeat(500) }, /\(got "x{79}…"\)$/],
    // The echo is cut before a character, never inside one (an emoji's surrogate pair here).
    [{ severity: `${'y'.repeat(78)}\u{1F600}tail` }, /\(got "y{78}…"\)$/],
  ];
  for (const [query, reason] of bad) {
    test(`answers 400 for ${JSON.stringify(query).slice(0, 60)}`, async () => {
      const deps = dependencies();
      const response = await get(query, deps);
      assert.equal(response.statusCode, 400);
      const { error } = JSON.parse(response.body) as { error: { code: string; message: string } };
      assert.equal(error.code, 'bad-request');
      assert.match(error.message, reason);
      assert.deepEqual(deps.filters, [], 'the store is not asked');
      assert.deepEqual(deps.logged, [], 'bad input is not an error of the service');
    });
  }

  test('a failing store is a 500 that says nothing, and is logged', async () => {
    const deps = dependencies({ fail: new Error('ProvisionedThroughputExceededException: table') });
    const response = await get({}, deps);
    assert.equal(response.statusCode, 500);
    assert.deepEqual(JSON.parse(response.body), {
      error: { code: 'internal', message: 'internal error' },
    });
    assert.equal(deps.logged[0]?.level, 'error');
    assert.match(JSON.stringify(deps.logged[0]?.extra), /ProvisionedThroughputExceeded/);
  });
});

describe('GET /v1/findings: properties', () => {
  const finding = fc
    .record({
      ruleId: fc.constantFrom(...RULE_IDS),
      severity: fc.constantFrom(...SEVERITIES),
      status: fc.constantFrom(...FINDING_STATUSES),
      workload: fc.record({
        kind: fc.constantFrom('Deployment', 'CronJob'),
        namespace: fc.constantFrom('prod', 'shop'),
        name: fc.stringMatching(/^[ab][ab-]{0,3}$/),
      }),
      container: fc.record({
        name: fc.constantFrom('app', 'init'),
        kind: fc.constantFrom('container' as const, 'initContainer' as const),
      }),
    })
    .map((parts) => stored(parts));
  const query = fc.record(
    {
      namespace: fc.constantFrom('prod', 'shop', 'prod,shop'),
      rule: fc.subarray([...RULE_IDS], { minLength: 1 }).map((ids) => ids.join(',').toLowerCase()),
      severity: fc.constantFrom(...SEVERITIES),
      workload: fc.stringMatching(/^(Deployment\/|cronjob\/)?[ab*?-]{1,4}$/),
      status: fc.constantFrom('open', 'closed', 'all'),
    },
    { requiredKeys: [] },
  );

  test('answers every finding that passes the query, none that fails it, in drift report order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(finding, { maxLength: 25, selector: (each) => each.id }),
        query,
        async (findings, parameters) => {
          const deps = dependencies({ findings, honourFilter: false });
          const answer = await list(parameters, deps);
          const filter = deps.filters[0] as FindingsFilter;
          const expected = findings.filter((each) => matchesFilter(each, filter));
          assert.deepEqual(
            new Set(answer.findings.map((each) => each.id)),
            new Set(expected.map((each) => each.id)),
          );
          assert.equal(answer.summary.open + answer.summary.closed, expected.length);
          answer.findings.forEach((later, index) => {
            const earlier = answer.findings[index - 1];
            if (earlier !== undefined) assert.ok(compareFindings(earlier, later) < 0, later.id);
          });
          // Asking again with the answer as the store gives the same answer.
          const again = await list(parameters, dependencies({ findings: answer.findings }));
          assert.deepEqual(again, answer);
        },
      ),
      { numRuns: 200 },
    );
  });
});
