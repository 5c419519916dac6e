import { styleText } from 'node:util';
import type { DriftReport, Finding, Severity, SuppressedFinding } from '#shared/drift/model.ts';
import { workloadLabel } from '#shared/drift/model.ts';
import { plural } from '#shared/text/plural.ts';
import {
  containerLabel,
  groupByWorkload,
  locationLabel,
  problemLocationLabel,
  sortFindings,
  sortProblems,
  summaryLine,
} from './common.ts';

// The terminal report: findings grouped by workload, then what was left out, then one summary line.

export interface TextOptions {
  color: boolean;
  /** Also print the evidence behind each finding and every suppressed finding. */
  verbose?: boolean;
}

type Style = Parameters<typeof styleText>[0];

const SEVERITY_STYLES: Record<Severity, Style> = {
  error: ['bold', 'red'],
  warning: ['bold', 'yellow'],
  info: ['bold', 'cyan'],
};

// Wide enough for the longest severity word, so rule ids line up.
const MARKER_WIDTH = 'warning'.length;
const FINDING_INDENT = '  ';
const DETAIL_INDENT = ' '.repeat(FINDING_INDENT.length + MARKER_WIDTH + 2);

/**
 * Manifests and cluster dumps are untrusted: control characters (terminal escapes, stray newlines)
 * and bidirectional overrides in their strings are shown escaped instead of acting on the terminal.
 */
function printable(text: string): string {
  return text.replace(
    /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu,
    (character) => `\\u${(character.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

export function formatText(report: DriftReport, options: TextOptions): string {
  const style = (format: Style, text: string): string =>
    // validateStream: false keeps colour when the caller forced it for a pipe or a file.
    options.color ? styleText(format, text, { validateStream: false }) : text;
  const verbose = options.verbose ?? false;
  const lines: string[] = [];

  const findingLines = (finding: Finding): void => {
    const marker = style(SEVERITY_STYLES[finding.severity], finding.severity.padEnd(MARKER_WIDTH));
    const confidence =
      finding.confidence === 'high' ? '' : style('yellow', ` (confidence: ${finding.confidence})`);
    lines.push(
      `${FINDING_INDENT}${marker}  ${style('bold', finding.ruleId)}  ${printable(containerLabel(finding.container))}  ` +
        `${style('cyan', printable(finding.image))} — ${printable(finding.message)}${confidence}`,
    );
    lines.push(`${DETAIL_INDENT}${style('green', 'fix:')} ${printable(finding.remediation)}`);
    if (verbose && finding.evidence.length > 0) {
      lines.push(`${DETAIL_INDENT}${style('dim', 'evidence:')}`);
      for (const fact of finding.evidence) lines.push(`${DETAIL_INDENT}  - ${printable(fact)}`);
    }
  };

  for (const group of groupByWorkload(report.findings)) {
    const where =
      group.location === undefined
        ? ''
        : `  ${style('dim', printable(locationLabel(group.location)))}`;
    lines.push(`${style('bold', printable(workloadLabel(group.workload)))}${where}`);
    for (const finding of group.findings) findingLines(finding);
    lines.push('');
  }

  if (report.suppressed.length > 0) {
    if (verbose) {
      lines.push(style('bold', `Suppressed (${report.suppressed.length}):`));
      for (const finding of sortFindings<SuppressedFinding>(report.suppressed)) {
        lines.push(
          `${FINDING_INDENT}${finding.ruleId}  ${printable(workloadLabel(finding.workload))}  ` +
            `${printable(containerLabel(finding.container))}  ${printable(finding.image)} — ` +
            `${style('dim', `suppressed: ${printable(finding.suppression.reason)}`)}`,
        );
      }
    } else {
      lines.push(
        style('dim', `${plural(report.suppressed.length, 'finding')} suppressed by configuration`),
      );
    }
    lines.push('');
  }

  if (report.problems.length > 0) {
    lines.push(style(['bold', 'red'], `Input problems (${report.problems.length}):`));
    for (const problem of sortProblems(report.problems)) {
      lines.push(
        `${FINDING_INDENT}${printable(problemLocationLabel(problem))}: ${printable(problem.message)}`,
      );
    }
    lines.push('');
  }

  lines.push(style('bold', summaryLine(report)));
  return `${lines.join('\n')}\n`;
}
