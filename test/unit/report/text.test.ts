import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { formatText } from '#shared/report/text.ts';
import { emptyReport, FINDINGS, finding, report } from './fixture.ts';

const ESCAPE = '\u001b';

function lines(text: string): string[] {
  return text.split('\n');
}

describe('formatText', () => {
  const plain = formatText(report(), { color: false });

  test('groups findings by workload, most severe workload first, then by namespace and name', () => {
    const headers = lines(plain).filter((line) => /^[A-Z]\w+ [\w-]+\/[\w-]+/.test(line));
    assert.deepEqual(headers, [
      'Deployment prod/api  deploy/prod/api.yaml:21:18',
      'StatefulSet prod/db  deploy/prod/db.yaml:30',
      'Deployment default/debug  <stdin>:5:14',
      'DaemonSet kube-system/node-agent  dumps/cluster.json (document 3)',
      'Deployment shop/web  manifests/shop-frontend.yaml:40:18',
      'CronJob batch/report',
    ]);
  });

  test('lists a workload’s findings most severe first, each followed by its fix', () => {
    const all = lines(plain);
    const start = all.indexOf('Deployment prod/api  deploy/prod/api.yaml:21:18');
    const block = all.slice(start + 1, all.indexOf('', start));
    assert.deepEqual(
      block.filter((_, index) => index % 2 === 0).map((line) => line.split(' — ')[0]),
      [
        '  error    PW001  app  registry.example.com/shop/api:latest',
        '  error    PW005  app  registry.example.com/shop/api:latest',
        '  warning  PW002  migrate (initContainer)  registry.example.com/shop/migrate:2.3',
      ],
    );
    assert.equal(
      block[5],
      '           fix: Set imagePullPolicy: IfNotPresent explicitly for "migrate": the image is now a fixed version.',
    );
    assert.ok(
      block
        .filter((_, index) => index % 2 === 1)
        .every((line) => line.startsWith('           fix: ')),
    );
  });

  test('names the site kind of images outside plain containers', () => {
    assert.match(
      plain,
      /^ {2}info {5}PW006 {2}models \(imageVolume\) {2}registry\.example\.com\/models@sha256:/m,
    );
  });

  test('shows the confidence only when it is not high', () => {
    const findingLines = lines(plain).filter((line) => /^ {2}(error|warning|info) /.test(line));
    assert.equal(findingLines.length, FINDINGS.length);
    const withConfidence = findingLines.filter((line) => line.includes('(confidence: '));
    assert.deepEqual(
      withConfidence.map((line) => [
        line.split(/\s+/)[2],
        line.match(/\(confidence: (\w+)\)$/)?.[1],
      ]),
      [
        ['PW005', 'medium'],
        ['PW002', 'low'],
        ['PW008', 'low'],
      ],
    );
  });

  test('prints evidence only when verbose', () => {
    assert.doesNotMatch(plain, /evidence/);
    assert.doesNotMatch(plain, /namespace prod is configured as production/);
    const verbose = formatText(report(), { color: false, verbose: true });
    assert.match(
      verbose,
      /fix: Deploy an immutable version \(registry\.example\.com\/shop\/api:<version>\).*\n {11}evidence:\n {13}- the reference has tag "latest" and no digest\n {13}- namespace prod is configured as production\n/,
    );
  });

  test('counts suppressed findings, and lists them with their reasons when verbose', () => {
    assert.match(plain, /^2 findings suppressed by configuration$/m);
    assert.doesNotMatch(plain, /OPS-112/);
    const verbose = formatText(report(), { color: false, verbose: true });
    assert.match(
      verbose,
      /^Suppressed \(2\):\n {2}PW003 {2}Deployment shop\/legacy-billing {2}app {2}vendor\.example\.com\/billing:4\.1 — suppressed: vendor image, retag tracked in OPS-112\n {2}PW006 {2}Deployment kube-system\/coredns /m,
    );
  });

  test('lists input problems with file, document, line and path', () => {
    const all = lines(plain);
    const start = all.indexOf('Input problems (3):');
    assert.notEqual(start, -1);
    assert.deepEqual(all.slice(start + 1, start + 4), [
      '  <stdin>, document 3, line 40: not a Kubernetes object: the document has no kind',
      '  deploy/broken.yaml, document 2, line 7: invalid YAML at line 7, column 3: Nested mappings are not allowed in compact mappings',
      '  dumps/cluster.json, document 12 (spec.template.spec.containers[0].image): image is not a string',
    ]);
  });

  test('ends with one summary line', () => {
    assert.ok(plain.endsWith('\n'));
    assert.equal(
      lines(plain).at(-2),
      '9 findings (3 errors, 4 warnings, 2 info) in 6 workloads; 2 suppressed; 3 input problems',
    );
  });

  test('uses the singular and leaves out empty counts', () => {
    const one = report({ findings: [FINDINGS[0] ?? assert.fail()], suppressed: [], problems: [] });
    assert.equal(
      lines(formatText(one, { color: false })).at(-2),
      '1 finding (1 warning) in 1 workload',
    );
  });

  test('says clearly when there is nothing to report', () => {
    assert.equal(
      formatText(emptyReport(), { color: false }),
      'No findings (9 workloads checked)\n',
    );
  });

  test('writes no ANSI escape without colour, even for hostile strings from the input', () => {
    assert.ok(!plain.includes(ESCAPE));
    const hostile = finding({
      ruleId: 'PW001',
      workload: { kind: 'Pod', namespace: 'default', name: 'evil' },
      container: { name: 'x\u001b]0;owned\u0007', kind: 'container' },
      image: 'evil\u001b[2J:latest',
      message: 'line one\nline two \u202eeurt',
    });
    const output = formatText(report({ findings: [hostile], suppressed: [], problems: [] }), {
      color: false,
    });
    assert.ok(!output.includes(ESCAPE));
    assert.ok(!output.includes('\u202e'));
    assert.match(
      output,
      /x\\u001b\]0;owned\\u0007 {2}evil\\u001b\[2J:latest — line one\\u000aline two \\u202eeurt/,
    );
  });

  test('colours severities, rule ids and the summary when asked, on any stream', () => {
    const colored = formatText(report(), { color: true, verbose: true });
    assert.ok(colored.includes(`${ESCAPE}[31m`), 'errors are red');
    assert.ok(colored.includes(`${ESCAPE}[33m`), 'warnings are yellow');
    assert.ok(colored.includes(`${ESCAPE}[1m`), 'headers are bold');
    assert.equal(
      stripVTControlCharacters(colored),
      formatText(report(), { color: false, verbose: true }),
    );
  });
});
