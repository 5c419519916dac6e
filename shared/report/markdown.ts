import type {
  DriftReport,
  Finding,
  InputProblem,
  RuleId,
  Severity,
  SuppressedFinding,
} from '#shared/drift/model.ts';
import { RULE_IDS, workloadLabel } from '#shared/drift/model.ts';
import { RULES, ruleHelpMarkdown } from '#shared/drift/rules.ts';
import { clip } from '#shared/text/clip.ts';
import { plural } from '#shared/text/plural.ts';
import { containerLabel, fileLabel, sortFindings, sortProblems, summaryLine } from './common.ts';

// A pull-request comment. GitHub refuses comments over 65,536 characters, so the findings table is
// cut to fit, and the sections after it are sized before the table gets the rest.

/** GitHub's limit for a comment body. */
export const GITHUB_COMMENT_LIMIT = 65_536;
// Room for a marker or footer that a bot posting the comment may add.
const MAX_LENGTH = GITHUB_COMMENT_LIMIT - 1_536;
// Long enough for any real message; bounds the size of one row so the budget below holds.
const MAX_CELL = 400;
const MAX_FIX = 240;
const FIXES_PER_RULE = 3;
// What the problems and suppressed tables may claim before the findings table is filled.
const PROBLEMS_RESERVE = 6_000;
const SUPPRESSED_RESERVE = 4_000;
// The blank line after each of the three tables.
const SECTION_GAPS = 3;

const SEVERITY_BADGES: Record<Severity, string> = {
  error: '🔴 error',
  warning: '🟠 warning',
  info: '🔵 info',
};

/** Newlines would end a table row and other control characters have no business in a comment. */
function oneLine(text: string): string {
  return text.replace(/\r\n|[\r\n]/g, ' ').replace(/\p{Cc}/gu, '\ufffd');
}

/**
 * Plain text as inline Markdown: characters that would start emphasis, code, links or HTML are
 * backslash-escaped, and `|` so a table cell does not end early.
 */
export function escapeInline(text: string, max = MAX_CELL): string {
  return clip(oneLine(text), max).replace(/[\\`*_[\]<>|~&]/g, '\\$&');
}

/** A code span that survives any backticks inside; `|` is escaped even there in a table (GFM). */
export function codeSpan(text: string, max = MAX_CELL): string {
  const content = clip(oneLine(text), max).replace(/\|/g, '\\|');
  if (content === '') return '';
  const longestRun = Math.max(0, ...(content.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const padded = content.startsWith('`') || content.endsWith('`') ? ` ${content} ` : content;
  return `${fence}${padded}${fence}`;
}

function tableRow(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function tableHeader(columns: readonly string[]): string[] {
  return [tableRow(columns), tableRow(columns.map(() => '---'))];
}

function findingRow(finding: Finding): string {
  const confidence = finding.confidence === 'high' ? '' : ` _(${finding.confidence} confidence)_`;
  return tableRow([
    SEVERITY_BADGES[finding.severity],
    finding.ruleId,
    escapeInline(workloadLabel(finding.workload)),
    escapeInline(containerLabel(finding.container)),
    codeSpan(finding.image),
    `${escapeInline(finding.message)}${confidence}`,
  ]);
}

function suppressedRow(finding: SuppressedFinding): string {
  return tableRow([
    finding.ruleId,
    escapeInline(workloadLabel(finding.workload)),
    escapeInline(containerLabel(finding.container)),
    codeSpan(finding.image),
    escapeInline(finding.suppression.reason),
  ]);
}

function problemRow(problem: InputProblem): string {
  return tableRow([
    codeSpan(fileLabel(problem.file)),
    problem.document === undefined ? '' : String(problem.document),
    problem.line === undefined ? '' : String(problem.line),
    problem.path === undefined ? '' : codeSpan(problem.path),
    escapeInline(problem.message),
  ]);
}

function cost(rows: readonly string[]): number {
  return rows.reduce((total, row) => total + row.length + 1, 0);
}

/** The leading rows that fit in `budget` characters (one newline each). */
function fitRows(rows: readonly string[], budget: number): string[] {
  let used = 0;
  let count = 0;
  for (const row of rows) {
    if (used + row.length + 1 > budget) break;
    used += row.length + 1;
    count++;
  }
  return rows.slice(0, count);
}

function leftOutNote(shown: number, total: number, noun: string, nouns: string): string[] {
  if (shown === total) return [];
  return [
    '',
    `_${plural(total - shown, noun, nouns)} not shown to stay within GitHub's comment size limit; ` +
      'the JSON or SARIF report has all of them._',
  ];
}

/** One collapsible block per rule that has findings: the rule's help, then (if it fits) specific fixes. */
function fixSections(findings: readonly Finding[], withFixes: boolean): string[] {
  const byRule = new Map<RuleId, Finding[]>();
  for (const finding of findings) {
    const list = byRule.get(finding.ruleId) ?? [];
    list.push(finding);
    byRule.set(finding.ruleId, list);
  }
  const lines: string[] = [];
  for (const id of RULE_IDS) {
    const ruleFindings = byRule.get(id);
    if (ruleFindings === undefined) continue;
    const rule = RULES[id];
    lines.push(
      '<details>',
      `<summary>How to fix ${rule.id} ${rule.name} (${plural(ruleFindings.length, 'finding')})</summary>`,
      '',
      ruleHelpMarkdown(rule),
    );
    if (withFixes) {
      const fixes = new Map<string, number>();
      for (const finding of ruleFindings) {
        // The rule's general fix is already shown just above.
        if (finding.remediation === rule.remediation) continue;
        fixes.set(finding.remediation, (fixes.get(finding.remediation) ?? 0) + 1);
      }
      const shown = [...fixes].slice(0, FIXES_PER_RULE);
      if (shown.length > 0) lines.push('', 'For these findings:');
      for (const [fix, count] of shown) {
        lines.push(`- ${escapeInline(fix, MAX_FIX)}${count > 1 ? ` (${count} findings)` : ''}`);
      }
      if (fixes.size > shown.length) {
        lines.push(`- …and ${plural(fixes.size - shown.length, 'other fix', 'other fixes')}`);
      }
    }
    lines.push('', '</details>', '');
  }
  return lines;
}

function sectionHeading(title: string, count: number): string[] {
  return [`### ${title} (${count})`, ''];
}

export function formatMarkdown(report: DriftReport): string {
  const findings = sortFindings(report.findings);
  const suppressed = sortFindings(report.suppressed);
  const problems = sortProblems(report.problems);
  const { summary } = report;

  const head = [
    `## pullwarden: ${summaryLine(report)}`,
    '',
    findings.length === 0
      ? `Checked ${plural(summary.objects, 'object')} in ${plural(summary.files, 'file')}.`
      : `Checked ${plural(summary.workloads, 'workload')} (${plural(summary.objects, 'object')} in ${plural(summary.files, 'file')}).`,
    '',
  ];

  const findingRows = findings.map(findingRow);
  const suppressedRows = suppressed.map(suppressedRow);
  const problemRows = problems.map(problemRow);
  const findingHeader =
    findings.length === 0
      ? []
      : tableHeader(['Severity', 'Rule', 'Workload', 'Container', 'Image', 'Message']);
  const suppressedHeader =
    suppressed.length === 0
      ? []
      : [
          ...sectionHeading('Suppressed', suppressed.length),
          ...tableHeader(['Rule', 'Workload', 'Container', 'Image', 'Reason']),
        ];
  const problemHeader =
    problems.length === 0
      ? []
      : [
          ...sectionHeading('Input problems', problems.length),
          ...tableHeader(['File', 'Document', 'Line', 'Path', 'Problem']),
        ];
  const helpOnly = fixSections(findings, false);
  const noteReserve = 3 * cost(leftOutNote(0, Number.MAX_SAFE_INTEGER, 'findings', 'findings'));

  // Sizes are fixed first for everything but the rows; then the rows share what is left.
  let budget =
    MAX_LENGTH -
    cost(head) -
    cost(findingHeader) -
    cost(suppressedHeader) -
    cost(problemHeader) -
    cost(helpOnly) -
    noteReserve -
    SECTION_GAPS;
  const problemsReserve = Math.min(cost(problemRows), PROBLEMS_RESERVE);
  const suppressedReserve = Math.min(cost(suppressedRows), SUPPRESSED_RESERVE);
  const shownFindings = fitRows(findingRows, budget - problemsReserve - suppressedReserve);
  budget -= cost(shownFindings);
  const shownProblems = fitRows(problemRows, budget - suppressedReserve);
  budget -= cost(shownProblems);
  const shownSuppressed = fitRows(suppressedRows, budget);
  budget -= cost(shownSuppressed);
  const withFixes = fixSections(findings, true);
  const fixes = cost(withFixes) - cost(helpOnly) <= budget ? withFixes : helpOnly;

  const lines = [...head];
  if (findings.length > 0) {
    lines.push(
      ...findingHeader,
      ...shownFindings,
      ...leftOutNote(shownFindings.length, findings.length, 'finding', 'findings'),
      '',
      ...fixes,
    );
  }
  if (suppressed.length > 0) {
    lines.push(
      ...suppressedHeader,
      ...shownSuppressed,
      ...leftOutNote(
        shownSuppressed.length,
        suppressed.length,
        'suppressed finding',
        'suppressed findings',
      ),
      '',
    );
  }
  if (problems.length > 0) {
    lines.push(
      ...problemHeader,
      ...shownProblems,
      ...leftOutNote(shownProblems.length, problems.length, 'input problem', 'input problems'),
      '',
    );
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
