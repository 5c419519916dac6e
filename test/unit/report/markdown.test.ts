import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Finding, InputProblem } from '#shared/drift/model.ts';
import {
  codeSpan,
  escapeInline,
  formatMarkdown,
  GITHUB_COMMENT_LIMIT,
} from '#shared/report/markdown.ts';
import { emptyReport, FINDINGS, finding, PROBLEMS, report, SUPPRESSED } from './fixture.ts';

function tableRows(markdown: string, header: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(header);
  assert.notEqual(start, -1, `no table with header ${header}`);
  const rows: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('| ')) break;
    rows.push(line);
  }
  return rows;
}

const FINDINGS_HEADER = '| Severity | Rule | Workload | Container | Image | Message |';

/** Splits a table row at unescaped pipes. */
function cells(row: string): string[] {
  return row
    .slice(2, -2)
    .split(/(?<!\\)\| /)
    .map((cell) => cell.trim());
}

describe('formatMarkdown', () => {
  const markdown = formatMarkdown(report());

  test('opens with a heading that summarises the report', () => {
    const [heading, , checked] = markdown.split('\n');
    assert.equal(
      heading,
      '## pullwarden: 9 findings (3 errors, 4 warnings, 2 info) in 6 workloads; 2 suppressed; 3 input problems',
    );
    assert.equal(checked, 'Checked 9 workloads (40 objects in 5 files).');
  });

  test('tabulates findings most severe first, images in code spans', () => {
    const rows = tableRows(markdown, FINDINGS_HEADER).map(cells);
    assert.equal(rows.length, FINDINGS.length);
    assert.deepEqual(
      rows.map((row) => `${row[0]} ${row[1]} ${row[2]}`),
      [
        '🔴 error PW001 Deployment prod/api',
        '🔴 error PW005 Deployment prod/api',
        '🔴 error PW004 StatefulSet prod/db',
        '🟠 warning PW001 Deployment default/debug',
        '🟠 warning PW008 DaemonSet kube-system/node-agent',
        '🟠 warning PW002 Deployment prod/api',
        '🟠 warning PW003 Deployment shop/web',
        '🔵 info PW006 CronJob batch/report',
        '🔵 info PW007 Deployment shop/web',
      ],
    );
    assert.deepEqual(rows[5]?.slice(3, 5), [
      'migrate (initContainer)',
      '`registry.example.com/shop/migrate:2.3`',
    ]);
    assert.match(rows[5]?.[5] ?? '', / _\(low confidence\)_$/);
    assert.doesNotMatch(rows[0]?.[5] ?? '', /confidence/);
  });

  test('explains each rule that has findings in a collapsed section, with the specific fixes', () => {
    const blocks = markdown.split('<details>').slice(1);
    assert.deepEqual(
      blocks.map((block) => block.match(/<summary>(.*)<\/summary>/)?.[1]),
      [
        'How to fix PW001 latest-or-untagged-image (2 findings)',
        'How to fix PW002 stale-defaulted-pull-policy (1 finding)',
        'How to fix PW003 mutable-tag-served-from-cache (1 finding)',
        'How to fix PW004 never-without-guaranteed-image (1 finding)',
        'How to fix PW005 private-image-on-shared-cache (1 finding)',
        'How to fix PW006 digest-pinned-with-always (1 finding)',
        'How to fix PW007 tag-and-digest (1 finding)',
        'How to fix PW008 replica-digest-skew (1 finding)',
      ],
    );
    assert.match(
      blocks[3] ?? '',
      /\*\*Fix:\*\* Add the image to the pre-pull set[^\n]*\n\nFor these findings:\n- Add docker\.io\/library\/postgres:16\.2 to nodeGroups\.prePull for db-nodes, or use imagePullPolicy: IfNotPresent\.\n/,
    );
    // A fix that only repeats the rule's general one is not listed again.
    assert.doesNotMatch(blocks[7] ?? '', /For these findings/);
    // `<version>` would otherwise vanish as an unknown HTML tag.
    assert.match(blocks[0] ?? '', /registry\.example\.com\/shop\/api:\\<version\\>/);
  });

  test('lists suppressed findings with their reasons and every input problem', () => {
    assert.deepEqual(
      tableRows(markdown, '| Rule | Workload | Container | Image | Reason |').map(cells),
      [
        [
          'PW003',
          'Deployment shop/legacy-billing',
          'app',
          '`vendor.example.com/billing:4.1`',
          'vendor image, retag tracked in OPS-112',
        ],
        [
          'PW006',
          'Deployment kube-system/coredns',
          'coredns',
          `\`${SUPPRESSED[0]?.image}\``,
          'managed by the EKS add-on',
        ],
      ],
    );
    assert.match(markdown, /^### Suppressed \(2\)$/m);
    assert.match(markdown, /^### Input problems \(3\)$/m);
    assert.deepEqual(
      tableRows(markdown, '| File | Document | Line | Path | Problem |').map(cells),
      [
        ['`<stdin>`', '3', '40', '', 'not a Kubernetes object: the document has no kind'],
        [
          '`deploy/broken.yaml`',
          '2',
          '7',
          '',
          'invalid YAML at line 7, column 3: Nested mappings are not allowed in compact mappings',
        ],
        [
          '`dumps/cluster.json`',
          '12',
          '',
          '`spec.template.spec.containers[0].image`',
          'image is not a string',
        ],
      ],
    );
  });

  test('reads well with nothing to report', () => {
    assert.equal(
      formatMarkdown(emptyReport()),
      '## pullwarden: No findings (9 workloads checked)\n\nChecked 40 objects in 5 files.\n',
    );
    const onlyProblems = formatMarkdown(
      report({ findings: [], suppressed: [], problems: PROBLEMS }),
    );
    assert.ok(
      onlyProblems.startsWith(
        '## pullwarden: No findings (9 workloads checked); 3 input problems\n',
      ),
    );
    assert.doesNotMatch(onlyProblems, /Severity|<details>/);
  });

  test('escapes text so it cannot break the table or turn into markup', () => {
    const hostile = finding({
      ruleId: 'PW001',
      workload: { kind: 'Pod', namespace: 'default', name: 'x' },
      container: { name: 'c|d', kind: 'container' },
      image: 'repo/`odd`|image:latest',
      message: 'a | b `code` <img src=x> *bold* _it_ [link](http://e) ~~s~~ &amp;\nsecond line',
    });
    const rows = tableRows(
      formatMarkdown(report({ findings: [hostile], suppressed: [], problems: [] })),
      FINDINGS_HEADER,
    );
    assert.equal(rows.length, 1);
    assert.deepEqual(cells(rows[0] ?? ''), [
      '🟠 warning',
      'PW001',
      'Pod default/x',
      'c\\|d',
      '``repo/`odd`\\|image:latest``',
      'a \\| b \\`code\\` \\<img src=x\\> \\*bold\\* \\_it\\_ \\[link\\](http://e) \\~\\~s\\~\\~ \\&amp; second line',
    ]);
  });

  test('builds code spans and inline text for any content', () => {
    assert.equal(codeSpan('nginx:1.25'), '`nginx:1.25`');
    assert.equal(codeSpan('`starts'), '`` `starts ``');
    assert.equal(codeSpan('a``b'), '```a``b```');
    assert.equal(codeSpan(''), '');
    assert.equal(escapeInline('\u0007bell\r\nnext'), '\ufffdbell next');
    assert.equal(escapeInline('x'.repeat(1000)).length, 400);
    assert.equal(escapeInline(`${'x'.repeat(398)}🚀🚀`), `${'x'.repeat(398)}…`);
  });

  test('stays under GitHub’s comment limit by cutting the findings table, and says what was left out', () => {
    const many: Finding[] = [];
    for (let index = 0; index < 3_000; index++) {
      const template = FINDINGS[index % FINDINGS.length];
      assert.ok(template !== undefined);
      many.push({
        ...template,
        workload: { ...template.workload, name: `app-${String(index).padStart(4, '0')}` },
      });
    }
    const problems: InputProblem[] = Array.from({ length: 400 }, (_, index) => ({
      file: `deploy/broken-${index}.yaml`,
      document: 1,
      line: index + 1,
      message: `invalid YAML at line ${index + 1}, column 1: ${'unexpected token '.repeat(5)}`,
    }));
    const big = formatMarkdown(report({ findings: many, problems }));
    assert.ok(big.length < GITHUB_COMMENT_LIMIT, `${big.length} characters`);
    assert.ok(big.length > GITHUB_COMMENT_LIMIT - 6_000, 'the space is used');

    const shown = tableRows(big, FINDINGS_HEADER).length;
    assert.ok(shown > 50 && shown < many.length, `${shown} rows`);
    assert.match(
      big,
      new RegExp(
        `\\n\\n_${many.length - shown} findings not shown to stay within GitHub's comment size limit; the JSON or SARIF report has all of them\\._\\n`,
      ),
    );
    // The most severe findings are the ones kept.
    assert.ok(
      tableRows(big, FINDINGS_HEADER)
        .slice(0, 3)
        .every((row) => row.startsWith('| 🔴 error |')),
    );

    // Later sections survive, cut the same way.
    assert.match(big, /^### Suppressed \(2\)$/m);
    assert.match(big, /^### Input problems \(400\)$/m);
    const shownProblems = tableRows(big, '| File | Document | Line | Path | Problem |').length;
    assert.ok(shownProblems > 0 && shownProblems < problems.length);
    assert.match(big, new RegExp(`_${problems.length - shownProblems} input problems not shown`));
    assert.match(big, /<summary>How to fix PW008 replica-digest-skew \(333 findings\)<\/summary>/);
  });

  test('keeps whole sections when the report fits', () => {
    assert.doesNotMatch(markdown, /not shown/);
    assert.ok(markdown.endsWith('|\n'));
  });
});
