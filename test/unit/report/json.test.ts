import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatJson, formatJsonChunks } from '#shared/report/json.ts';
import { emptyReport, FINDINGS, PROBLEMS, report, SUPPRESSED } from './fixture.ts';

function reversedKeys<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).reverse()) as T;
}

describe('formatJson', () => {
  const output = formatJson(report());
  const parsed = JSON.parse(output);

  test('is a versioned document with the sections in a fixed order', () => {
    assert.deepEqual(Object.keys(parsed), [
      'apiVersion',
      'kind',
      'summary',
      'findings',
      'suppressed',
      'problems',
    ]);
    assert.equal(parsed.apiVersion, 'pullwarden.dev/v1');
    assert.equal(parsed.kind, 'DriftReport');
    assert.deepEqual(parsed.summary, {
      files: 5,
      documents: 42,
      objects: 40,
      pods: 12,
      workloads: 9,
      findings: { error: 3, warning: 4, info: 2 },
      suppressed: 2,
      problems: 3,
    });
  });

  test('is indented by two spaces and ends with a newline', () => {
    assert.ok(
      output.startsWith('{\n  "apiVersion": "pullwarden.dev/v1",\n  "kind": "DriftReport",\n'),
    );
    assert.ok(output.endsWith('}\n'));
    assert.ok(!output.endsWith('\n\n'));
  });

  test('orders findings by severity, then workload, container and rule', () => {
    assert.deepEqual(
      parsed.findings.map(
        (item: { ruleId: string; workload: { name: string } }) =>
          `${item.ruleId} ${item.workload.name}`,
      ),
      [
        'PW001 api',
        'PW005 api',
        'PW004 db',
        'PW001 debug',
        'PW008 node-agent',
        'PW002 api',
        'PW003 web',
        'PW006 report',
        'PW007 web',
      ],
    );
  });

  test('keeps every field of a finding, in model order, leaving out unknown ones', () => {
    const first = parsed.findings[0];
    assert.deepEqual(Object.keys(first), [
      'ruleId',
      'severity',
      'confidence',
      'workload',
      'container',
      'image',
      'message',
      'remediation',
      'evidence',
      'location',
    ]);
    assert.deepEqual(first.location, {
      file: 'deploy/prod/api.yaml',
      document: 1,
      line: 21,
      column: 18,
    });
    assert.deepEqual(first.workload, { kind: 'Deployment', namespace: 'prod', name: 'api' });
    const withoutLocation = parsed.findings.find(
      (item: { ruleId: string }) => item.ruleId === 'PW006',
    );
    assert.equal('location' in withoutLocation, false);
    const dump = parsed.findings.find((item: { ruleId: string }) => item.ruleId === 'PW008');
    assert.deepEqual(Object.keys(dump.location), ['file', 'document', 'path']);
  });

  test('carries the suppression reason and every input problem', () => {
    assert.deepEqual(
      parsed.suppressed.map((item: { ruleId: string; suppression: { reason: string } }) => [
        item.ruleId,
        item.suppression.reason,
      ]),
      [
        ['PW003', 'vendor image, retag tracked in OPS-112'],
        ['PW006', 'managed by the EKS add-on'],
      ],
    );
    assert.deepEqual(parsed.problems[1], {
      file: 'deploy/broken.yaml',
      document: 2,
      line: 7,
      message:
        'invalid YAML at line 7, column 3: Nested mappings are not allowed in compact mappings',
    });
    assert.deepEqual(Object.keys(parsed.problems[2]), ['file', 'document', 'path', 'message']);
  });

  test('is byte-identical whatever order the evaluator produced things in', () => {
    const shuffled = report({
      findings: [...FINDINGS].reverse().map((item) => ({
        ...reversedKeys(item),
        workload: reversedKeys(item.workload),
        ...(item.location === undefined ? {} : { location: reversedKeys(item.location) }),
      })),
      suppressed: [...SUPPRESSED].reverse().map(reversedKeys),
      problems: [...PROBLEMS].reverse().map(reversedKeys),
    });
    assert.equal(formatJson({ ...shuffled, summary: reversedKeys(shuffled.summary) }), output);
  });

  test('writes empty arrays for an empty report', () => {
    const empty = JSON.parse(formatJson(emptyReport()));
    assert.deepEqual([empty.findings, empty.suppressed, empty.problems], [[], [], []]);
    assert.deepEqual(empty.summary.findings, { error: 0, warning: 0, info: 0 });
  });

  test('is exactly what JSON.stringify indents by two, for full and empty reports', () => {
    for (const text of [output, formatJson(emptyReport())]) {
      assert.equal(text, `${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    }
  });

  test('comes in pieces of about a megabyte that join into the same document', () => {
    const many = report({
      findings: Array.from({ length: 4000 }, (_, index) => ({
        ...(FINDINGS[index % FINDINGS.length] as (typeof FINDINGS)[number]),
        image: `ghcr.io/acme/app-${index}:1.0`,
      })),
    });
    const chunks = [...formatJsonChunks(many)];
    const joined = chunks.join('');
    assert.ok(chunks.length > 2, `${chunks.length} pieces for ${joined.length} characters`);
    for (const chunk of chunks) assert.ok(chunk.length < (1 << 20) + 4096);
    assert.equal(joined, `${JSON.stringify(JSON.parse(joined), null, 2)}\n`);
    // Each finding reads as it does when it is the report's only one: batching drops nothing.
    const findings = JSON.parse(joined).findings as { image: string }[];
    assert.equal(findings.length, 4000);
    assert.equal(new Set(findings.map((finding) => finding.image)).size, 4000);
    for (const finding of many.findings.filter((_, index) => index % 397 === 0)) {
      const alone = JSON.parse(formatJson(report({ findings: [finding] }))).findings[0];
      assert.deepEqual(
        findings.find((candidate) => candidate.image === finding.image),
        alone,
      );
    }
  });
});
