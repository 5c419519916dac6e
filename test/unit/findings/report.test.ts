import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  RULE_IDS,
  SEVERITIES,
  type Severity,
  type WorkloadRef,
  workloadLabel,
} from '#shared/drift/model.ts';
import {
  FINDING_ORIGINS,
  FINDING_STATUSES,
  type FindingsFilter,
  type StoredFinding,
} from '#shared/findings/model.ts';
import { driftReportOf, matchesFilter, workloadMatches } from '#shared/findings/report.ts';
import { formatMarkdown } from '#shared/report/markdown.ts';
import { formatSarif } from '#shared/report/sarif.ts';
import { formatText } from '#shared/report/text.ts';
import { storedFinding as stored } from '../../support/findings.ts';

// Which stored findings a filter lets through, and how they become a drift report for the formatters.

const API = { kind: 'Deployment', namespace: 'prod', name: 'api' };
const API_CANARY = { kind: 'Deployment', namespace: 'prod', name: 'api-canary' };
const DB = { kind: 'StatefulSet', namespace: 'prod', name: 'db' };
const WEB = { kind: 'Deployment', namespace: 'shop', name: 'web' };

const FINDINGS: StoredFinding[] = [
  stored({ ruleId: 'PW001', workload: API, severity: 'error' }),
  stored({ ruleId: 'PW003', workload: API_CANARY }),
  stored({ ruleId: 'PW006', workload: DB, severity: 'info' }),
  stored({
    ruleId: 'PW009',
    workload: WEB,
    origin: 'push',
    status: 'closed',
    closedAt: '2026-11-21T09:30:00.000Z',
  }),
  stored({ ruleId: 'PW010', workload: WEB, severity: 'error', origin: 'event' }),
];

function names(filter: FindingsFilter): string[] {
  return FINDINGS.filter((finding) => matchesFilter(finding, filter)).map(
    (finding) => `${finding.ruleId} ${finding.workload.name}`,
  );
}

describe('matchesFilter', () => {
  const cases: [string, FindingsFilter, string[]][] = [
    [
      'no criteria: every open finding',
      {},
      ['PW001 api', 'PW003 api-canary', 'PW006 db', 'PW010 web'],
    ],
    ['status closed', { status: 'closed' }, ['PW009 web']],
    [
      'status all',
      { status: 'all' },
      ['PW001 api', 'PW003 api-canary', 'PW006 db', 'PW009 web', 'PW010 web'],
    ],
    ['one namespace', { namespaces: ['shop'] }, ['PW010 web']],
    [
      'empty lists allow everything',
      { namespaces: [], rules: [] },
      ['PW001 api', 'PW003 api-canary', 'PW006 db', 'PW010 web'],
    ],
    ['rules', { rules: ['PW003', 'PW009'], status: 'all' }, ['PW003 api-canary', 'PW009 web']],
    ['minimum severity error', { minSeverity: 'error' }, ['PW001 api', 'PW010 web']],
    [
      'minimum severity warning',
      { minSeverity: 'warning' },
      ['PW001 api', 'PW003 api-canary', 'PW010 web'],
    ],
    ['Kind/name glob', { workload: 'Deployment/api*' }, ['PW001 api', 'PW003 api-canary']],
    [
      'the kind is matched case-insensitively',
      { workload: 'deployment/api-*' },
      ['PW003 api-canary'],
    ],
    ['a bare name glob matches any kind', { workload: 'd?' }, ['PW006 db']],
    ['a glob matches the whole name', { workload: 'api' }, ['PW001 api']],
    ['another kind does not match', { workload: 'StatefulSet/api*' }, []],
    [
      'all criteria at once',
      {
        namespaces: ['prod', 'shop'],
        rules: ['PW001', 'PW010'],
        minSeverity: 'error',
        workload: 'Deployment/*',
      },
      ['PW001 api', 'PW010 web'],
    ],
  ];
  for (const [title, filter, expected] of cases) {
    test(title, () => assert.deepEqual(names(filter), expected));
  }

  test('workloadMatches does not treat regular-expression characters as special', () => {
    const dotted: WorkloadRef = { kind: 'Deployment', namespace: 'x', name: 'api.v2' };
    assert.equal(workloadMatches('api.v2', dotted), true);
    assert.equal(workloadMatches('api.v2', { ...dotted, name: 'apixv2' }), false);
    assert.equal(workloadMatches('Deploy*/api.*', dotted), true);
  });
});

/** `*` and `?` matching written plainly, to check the filter against. */
function wildcard(pattern: string, text: string): boolean {
  if (pattern === '') return text === '';
  const [head, rest] = [pattern[0], pattern.slice(1)];
  if (head === '*') {
    for (let skip = 0; skip <= text.length; skip++) {
      if (wildcard(rest, text.slice(skip))) return true;
    }
    return false;
  }
  return text !== '' && (head === '?' || head === text[0]) && wildcard(rest, text.slice(1));
}

/** The filter's meaning, criterion by criterion, as the model documents it. */
function expected(finding: StoredFinding, filter: FindingsFilter): boolean {
  const rank = (severity: Severity) => SEVERITIES.indexOf(severity);
  const status = filter.status ?? 'open';
  let workload = true;
  if (filter.workload !== undefined) {
    const [kind, name] = filter.workload.includes('/')
      ? filter.workload.split('/')
      : [undefined, filter.workload];
    workload =
      (kind === undefined || wildcard(kind.toLowerCase(), finding.workload.kind.toLowerCase())) &&
      wildcard(name ?? '', finding.workload.name);
  }
  return (
    (status === 'all' || finding.status === status) &&
    (!filter.namespaces?.length || filter.namespaces.includes(finding.workload.namespace)) &&
    (!filter.rules?.length || filter.rules.includes(finding.ruleId)) &&
    (filter.minSeverity === undefined || rank(finding.severity) >= rank(filter.minSeverity)) &&
    workload
  );
}

const namespace = fc.constantFrom('prod', 'shop', 'batch');
const kind = fc.constantFrom('Deployment', 'StatefulSet', 'CronJob');
const name = fc.stringMatching(/^[a-c][a-c.-]{0,5}$/);
const storedFinding = fc
  .record({
    ruleId: fc.constantFrom(...RULE_IDS),
    severity: fc.constantFrom(...SEVERITIES),
    workload: fc.record({ kind, namespace, name }),
    status: fc.constantFrom(...FINDING_STATUSES),
    origin: fc.constantFrom(...FINDING_ORIGINS),
  })
  .map((parts) => stored(parts));
const nameGlob = fc.stringMatching(/^[a-c.*?-]{1,5}$/);
const filter: fc.Arbitrary<FindingsFilter> = fc.record(
  {
    namespaces: fc.uniqueArray(namespace, { maxLength: 2 }),
    rules: fc.uniqueArray(fc.constantFrom(...RULE_IDS), { maxLength: 4 }),
    minSeverity: fc.constantFrom(...SEVERITIES),
    workload: fc.oneof(
      nameGlob,
      fc
        .tuple(fc.constantFrom('Deployment', 'deploy*', 'STATEFULSET', '*'), nameGlob)
        .map(([k, n]) => `${k}/${n}`),
    ),
    status: fc.constantFrom('open', 'closed', 'all'),
  },
  { requiredKeys: [] },
);

describe('matchesFilter: properties', () => {
  test('keeps exactly the findings that meet every criterion of the filter', () => {
    fc.assert(
      fc.property(fc.array(storedFinding, { maxLength: 30 }), filter, (findings, wanted) => {
        const kept = findings.filter((finding) => matchesFilter(finding, wanted));
        for (const finding of kept) assert.ok(expected(finding, wanted), finding.id);
        for (const finding of findings.filter((other) => !kept.includes(other))) {
          assert.ok(!expected(finding, wanted), finding.id);
        }
      }),
      { numRuns: 400 },
    );
  });

  test('filtering twice gives what filtering once gave', () => {
    fc.assert(
      fc.property(fc.array(storedFinding, { maxLength: 30 }), filter, (findings, wanted) => {
        const once = findings.filter((finding) => matchesFilter(finding, wanted));
        const twice = once.filter((finding) => matchesFilter(finding, wanted));
        assert.deepEqual(twice, once);
      }),
      { numRuns: 400 },
    );
  });
});

describe('driftReportOf', () => {
  const report = driftReportOf(FINDINGS);

  test('counts severities and distinct workloads; nothing is suppressed or unreadable', () => {
    assert.deepEqual(report.summary, {
      files: 0,
      documents: 0,
      objects: 4,
      pods: 0,
      workloads: 4,
      findings: { info: 1, warning: 2, error: 2 },
      suppressed: 0,
      problems: 0,
    });
    assert.deepEqual(report.suppressed, []);
    assert.deepEqual(report.problems, []);
  });

  test('keeps the finding, adds its lifecycle as evidence and leaves the stored fields out', () => {
    const [first] = report.findings;
    assert.deepEqual(first, {
      ruleId: 'PW001',
      severity: 'error',
      confidence: 'high',
      workload: API,
      container: { name: 'app', kind: 'container' },
      image: 'registry.example.com/team/app:1.0',
      message: 'PW001 holds for api',
      remediation: 'Pin the digest.',
      evidence: [
        'the reference has no digest',
        'First seen 2026-11-01T08:00:00.000Z; last raised by the drift sweep at 2026-11-20T08:00:00.000Z.',
      ],
    });
  });

  test('a closed finding says so in its message and evidence', () => {
    const closed = report.findings.find((finding) => finding.ruleId === 'PW009');
    assert.equal(closed?.message, 'PW009 holds for web (closed 2026-11-21T09:30:00.000Z)');
    assert.deepEqual(closed?.evidence.slice(1), [
      'First seen 2026-11-01T08:00:00.000Z; last raised by a registry push at 2026-11-20T08:00:00.000Z.',
      'Closed 2026-11-21T09:30:00.000Z: it no longer held.',
    ]);
  });

  test('renders through the drift formatters', () => {
    const text = formatText(report, { color: false, verbose: true });
    for (const workload of [API, DB, WEB]) assert.ok(text.includes(workloadLabel(workload)));
    assert.match(text, /last raised by a cluster event/);
    assert.match(text, /5 findings \(2 errors, 2 warnings, 1 info\) in 4 workloads/);
    assert.match(formatMarkdown(report), /\| 🔴 error \| PW010 \| Deployment shop\/web \|/);
    const sarif = JSON.parse(formatSarif(report, { toolVersion: '1.0.0' })) as {
      runs: { results: { ruleId: string; level: string }[] }[];
    };
    assert.deepEqual(
      sarif.runs[0]?.results.map((result) => `${result.ruleId} ${result.level}`),
      ['PW001 error', 'PW010 error', 'PW003 warning', 'PW009 warning', 'PW006 note'],
    );
  });
});
