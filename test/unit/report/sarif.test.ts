import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Log, Result } from 'sarif';
import { type DriftReport, RULE_IDS } from '#shared/drift/model.ts';
import { artifactLocation, formatSarif } from '#shared/report/sarif.ts';
import { validateSarif } from '../../support/sarif-validator.ts';
import { emptyReport, FINDINGS, report } from './fixture.ts';

const BASE = '/home/ci/checkout';

function sarif(options: { baseDirectory?: string } = { baseDirectory: BASE }): Log {
  return JSON.parse(formatSarif(report(), { toolVersion: '0.1.0', ...options }));
}

function run(log: Log) {
  const first = log.runs[0];
  assert.ok(first !== undefined);
  return first;
}

function resultFor(log: Log, ruleId: string, workloadName: string): Result {
  const found = run(log).results?.find(
    (result) =>
      result.ruleId === ruleId &&
      result.locations?.[0]?.logicalLocations?.[0]?.fullyQualifiedName?.split('/')[2] ===
        workloadName,
  );
  assert.ok(found !== undefined, `${ruleId} ${workloadName}`);
  return found;
}

describe('formatSarif', () => {
  const log = sarif();

  test('is one SARIF 2.1.0 run of pullwarden', () => {
    assert.equal(log.$schema, 'https://json.schemastore.org/sarif-2.1.0.json');
    assert.equal(log.version, '2.1.0');
    assert.equal(log.runs.length, 1);
    const driver = run(log).tool.driver;
    assert.deepEqual(
      [driver.name, driver.version, driver.semanticVersion],
      ['pullwarden', '0.1.0', '0.1.0'],
    );
    assert.equal(run(log).columnKind, 'utf16CodeUnits');
    assert.deepEqual(run(log).originalUriBaseIds, {
      '%SRCROOT%': { uri: 'file:///home/ci/checkout/' },
    });
  });

  test('describes every rule, whether or not it has findings', () => {
    const rules = run(log).tool.driver.rules ?? [];
    assert.deepEqual(
      rules.map((rule) => rule.id),
      [...RULE_IDS],
    );
    const pw005 = rules[4];
    assert.equal(pw005?.name, 'private-image-on-shared-cache');
    assert.equal(pw005?.defaultConfiguration?.level, 'error');
    assert.match(pw005?.help?.markdown ?? '', /^\*\*PW005 private-image-on-shared-cache\*\*/);
    assert.match(pw005?.help?.text ?? '', /^PW005 private-image-on-shared-cache: /);
    assert.deepEqual(pw005?.properties, {
      tags: ['kubernetes', 'image-pull-policy', 'security'],
      precision: 'high',
      'problem.severity': 'error',
      'security-severity': '8.0',
    });
    const pw006 = rules[5];
    assert.equal(pw006?.defaultConfiguration?.level, 'note');
    assert.equal(pw006?.properties?.['problem.severity'], 'recommendation');
    assert.equal(pw006?.properties?.['security-severity'], undefined);
  });

  test('reports each finding against its rule, with message and fix', () => {
    const results = run(log).results ?? [];
    assert.equal(results.length, FINDINGS.length + 2);
    for (const result of results) {
      assert.equal(run(log).tool.driver.rules?.[result.ruleIndex ?? -1]?.id, result.ruleId);
    }
    const pw004 = resultFor(log, 'PW004', 'db');
    assert.equal(pw004.level, 'error');
    assert.equal(
      pw004.message.text,
      'imagePullPolicy Never, but postgres:16.2 is not in the pre-pull set of node group(s) db-nodes. ' +
        'Fix: Add docker.io/library/postgres:16.2 to nodeGroups.prePull for db-nodes, or use imagePullPolicy: IfNotPresent.',
    );
    assert.equal(resultFor(log, 'PW006', 'report').level, 'note');
    assert.equal(resultFor(log, 'PW002', 'api').properties?.confidence, 'low');
  });

  test('locates findings in files relative to the base directory, and logically in the cluster', () => {
    const location = resultFor(log, 'PW001', 'api').locations?.[0];
    assert.deepEqual(location?.physicalLocation, {
      artifactLocation: { uri: 'deploy/prod/api.yaml', uriBaseId: '%SRCROOT%' },
      region: { startLine: 21, startColumn: 18 },
    });
    assert.deepEqual(location?.logicalLocations, [
      { name: 'app', fullyQualifiedName: 'prod/Deployment/api/app', kind: 'resource' },
    ]);
    const withoutLine = resultFor(log, 'PW008', 'node-agent').locations?.[0]?.physicalLocation;
    assert.deepEqual(withoutLine?.region, { startLine: 1 });
  });

  test('gives findings read from stdin a logical location only', () => {
    const location = resultFor(log, 'PW001', 'debug').locations?.[0];
    assert.equal(location?.physicalLocation, undefined);
    assert.equal(
      location?.logicalLocations?.[0]?.fullyQualifiedName,
      'default/Deployment/debug/shell',
    );
  });

  test('fingerprints by rule, workload, container and image, not by position', () => {
    const fingerprints = (run(log).results ?? []).map(
      (result) => result.partialFingerprints?.['pullwardenFinding/v1'],
    );
    assert.ok(fingerprints.every((value) => value !== undefined && /^[0-9a-f]{64}$/.test(value)));
    assert.equal(new Set(fingerprints).size, fingerprints.length);
    const moved = report({
      findings: FINDINGS.map((item) =>
        item.location === undefined
          ? item
          : { ...item, location: { ...item.location, line: (item.location.line ?? 0) + 10 } },
      ),
    });
    const again: Log = JSON.parse(
      formatSarif(moved, { toolVersion: '0.2.0', baseDirectory: BASE }),
    );
    assert.deepEqual(
      (run(again).results ?? []).map((result) => result.partialFingerprints),
      (run(log).results ?? []).map((result) => result.partialFingerprints),
    );
  });

  test('marks suppressed findings as externally suppressed, with the reason', () => {
    const suppressed = (run(log).results ?? []).filter(
      (result) => result.suppressions !== undefined,
    );
    assert.deepEqual(
      suppressed.map((result) => [result.ruleId, result.suppressions]),
      [
        ['PW003', [{ kind: 'external', justification: 'vendor image, retag tracked in OPS-112' }]],
        ['PW006', [{ kind: 'external', justification: 'managed by the EKS add-on' }]],
      ],
    );
  });

  test('reports input problems as error notifications of a successful run', () => {
    const invocation = run(log).invocations?.[0];
    assert.equal(invocation?.executionSuccessful, true);
    const notifications = invocation?.toolExecutionNotifications ?? [];
    assert.equal(notifications.length, 3);
    assert.ok(notifications.every((notification) => notification.level === 'error'));
    assert.deepEqual(notifications[1], {
      level: 'error',
      message: {
        text: 'deploy/broken.yaml, document 2, line 7: invalid YAML at line 7, column 3: Nested mappings are not allowed in compact mappings',
      },
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: 'deploy/broken.yaml', uriBaseId: '%SRCROOT%' },
            region: { startLine: 7 },
          },
        },
      ],
    });
    assert.equal(notifications[0]?.locations, undefined, 'stdin has no file to point to');
  });

  test('turns paths into URIs GitHub can map to the repository', () => {
    assert.deepEqual(artifactLocation('-', BASE), undefined);
    assert.deepEqual(artifactLocation(`${BASE}/k8s/a b#1.yaml`, BASE), {
      uri: 'k8s/a%20b%231.yaml',
      uriBaseId: '%SRCROOT%',
    });
    assert.deepEqual(artifactLocation('./k8s/../deploy/x.yaml', BASE), {
      uri: 'deploy/x.yaml',
      uriBaseId: '%SRCROOT%',
    });
    assert.deepEqual(artifactLocation('/etc/kubernetes/pod.yaml', BASE), {
      uri: 'file:///etc/kubernetes/pod.yaml',
    });
    assert.deepEqual(artifactLocation('../elsewhere.yaml', BASE), {
      uri: 'file:///home/ci/elsewhere.yaml',
    });
    assert.deepEqual(artifactLocation('deploy/x.yaml'), {
      uri: 'deploy/x.yaml',
      uriBaseId: '%SRCROOT%',
    });
    assert.deepEqual(artifactLocation('/abs/x.yaml'), { uri: 'file:///abs/x.yaml' });
  });

  test('omits the base URI without a base directory, and the semantic version when not semver', () => {
    const log = JSON.parse(formatSarif(emptyReport(), { toolVersion: 'dev build' })) as Log;
    assert.equal(run(log).originalUriBaseIds, undefined);
    assert.equal(run(log).tool.driver.version, 'dev build');
    assert.equal(run(log).tool.driver.semanticVersion, undefined);
    assert.deepEqual(run(log).results, []);
    assert.deepEqual(run(log).invocations, [
      { executionSuccessful: true, toolExecutionNotifications: [] },
    ]);
  });
});

describe('SARIF Multitool validation (SARIF and GitHub ingestion rules)', () => {
  test('finds no error in the report, while it does flag a log GitHub would reject', {
    timeout: 60_000,
  }, async () => {
    const directory = await mkdtemp(join(tmpdir(), 'pullwarden-sarif-'));
    try {
      const report = join(directory, 'pullwarden.sarif');
      const empty = join(directory, 'empty.sarif');
      // A control log whose rule lacks the descriptions GitHub requires: proves the GitHub rules ran.
      const control = join(directory, 'control.sarif');
      const validation = join(directory, 'validation.sarif');
      await writeFile(
        report,
        formatSarif(reportWithEveryCase(), { toolVersion: '0.1.0', baseDirectory: directory }),
      );
      await writeFile(empty, formatSarif(emptyReport(), { toolVersion: '0.1.0' }));
      await writeFile(
        control,
        JSON.stringify({
          version: '2.1.0',
          runs: [{ tool: { driver: { name: 'control', rules: [{ id: 'C1' }] } }, results: [] }],
        }),
      );
      const results = await validateSarif([report, empty, control], validation);
      const byFile = (file: string) =>
        results.filter(
          (result) =>
            result.locations?.[0]?.physicalLocation?.artifactLocation?.uri ===
            pathToFileURL(file).href,
        );
      const explain = (list: readonly Result[]) =>
        list.map(
          (result) =>
            `${result.level ?? 'warning'} ${result.ruleId} ${result.message.id}: ${result.message.arguments?.join(' | ')}`,
        );

      assert.ok(
        byFile(control).some((result) => result.ruleId === 'GH2012' && result.level === 'error'),
        `control log not flagged: ${explain(results).join('\n')}`,
      );
      for (const file of [report, empty]) {
        const errors = byFile(file).filter((result) => result.level === 'error');
        assert.deepEqual(explain(errors), [], file);
        // Only advice that needs a project web site is left (SARIF2005: no informationUri).
        const warnings = byFile(file).filter((result) => (result.level ?? 'warning') === 'warning');
        assert.deepEqual(
          [...new Set(warnings.map((result) => result.ruleId))].filter((id) => id !== 'SARIF2005'),
          [],
        );
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

/** The fixture plus the awkward cases: a file name needing escapes, a finding without location. */
function reportWithEveryCase(): DriftReport {
  const base = report();
  const first = base.findings[0];
  assert.ok(first !== undefined);
  const { location: _, ...unlocated } = first;
  return {
    ...base,
    findings: [
      ...base.findings,
      {
        ...first,
        workload: { ...first.workload, name: 'odd' },
        location: { file: 'k8s/a b#1.yaml', document: 1, line: 3 },
      },
      { ...unlocated, workload: { ...first.workload, name: 'nowhere' } },
    ],
  };
}
