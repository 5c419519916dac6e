import {
  compareFindings,
  compareSeverity,
  compareWorkloads,
  type DriftReport,
  type Finding,
  type ImageSiteKind,
  type InputProblem,
  SEVERITIES,
  type Severity,
  type SourceLocation,
  type WorkloadRef,
  workloadKey,
} from '#shared/drift/model.ts';
import { compareText } from '#shared/text/order.ts';
import { plural } from '#shared/text/plural.ts';

// Ordering, grouping and wording shared by every report format, so all of them agree.

/**
 * The file name of findings read from stdin (`SourceLocation.file`). Spelled out here rather than
 * imported from the input readers so the formatters do not load the parsers.
 */
export const STDIN_FILE = '-';

function compareOptionalNumber(a: number | undefined, b: number | undefined): number {
  return (a ?? 0) - (b ?? 0);
}

export function sortFindings<T extends Finding>(findings: readonly T[]): T[] {
  return [...findings].sort(compareFindings);
}

/** By file, document and line; problems from parallel parsing can arrive in any order. */
export function sortProblems(problems: readonly InputProblem[]): InputProblem[] {
  return [...problems].sort(
    (a, b) =>
      compareText(a.file, b.file) ||
      compareOptionalNumber(a.document, b.document) ||
      compareOptionalNumber(a.line, b.line) ||
      compareText(a.path ?? '', b.path ?? '') ||
      compareText(a.message, b.message),
  );
}

export interface WorkloadGroup {
  workload: WorkloadRef;
  /** Sorted with {@link compareFindings}. */
  findings: Finding[];
  highest: Severity;
  /** Where the workload's first finding was declared, if known. */
  location: SourceLocation | undefined;
}

/** Findings per workload; the workload with the most severe finding first, then by name. */
export function groupByWorkload(findings: readonly Finding[]): WorkloadGroup[] {
  const groups = new Map<string, WorkloadGroup>();
  for (const finding of sortFindings(findings)) {
    const key = workloadKey(finding.workload);
    const group = groups.get(key);
    if (group === undefined) {
      groups.set(key, {
        workload: finding.workload,
        findings: [finding],
        highest: finding.severity,
        location: finding.location,
      });
    } else {
      group.findings.push(finding);
      group.location ??= finding.location;
    }
  }
  return [...groups.values()].sort(
    (a, b) => compareSeverity(b.highest, a.highest) || compareWorkloads(a.workload, b.workload),
  );
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { info: 0, warning: 0, error: 0 };
  for (const finding of findings) counts[finding.severity]++;
  return counts;
}

const SEVERITY_NOUNS: Record<Severity, [string, string]> = {
  error: ['error', 'errors'],
  warning: ['warning', 'warnings'],
  info: ['info', 'info'],
};

/** Most severe first, zero counts left out: `2 errors, 7 warnings, 3 info`. */
export function severityBreakdown(counts: Record<Severity, number>): string {
  return [...SEVERITIES]
    .reverse()
    .filter((severity) => counts[severity] > 0)
    .map((severity) => plural(counts[severity], ...SEVERITY_NOUNS[severity]))
    .join(', ');
}

function distinctWorkloads(findings: readonly Finding[]): number {
  return new Set(findings.map((finding) => workloadKey(finding.workload))).size;
}

/**
 * One line for the whole report:
 * `12 findings (2 errors, 7 warnings, 3 info) in 5 workloads; 1 suppressed; 1 input problem`.
 */
export function summaryLine(report: DriftReport): string {
  const findings = report.findings;
  const head =
    findings.length === 0
      ? `No findings (${plural(report.summary.workloads, 'workload')} checked)`
      : `${plural(findings.length, 'finding')} (${severityBreakdown(countBySeverity(findings))}) in ${plural(
          distinctWorkloads(findings),
          'workload',
        )}`;
  const parts = [head];
  if (report.suppressed.length > 0) parts.push(`${report.suppressed.length} suppressed`);
  if (report.problems.length > 0) parts.push(plural(report.problems.length, 'input problem'));
  return parts.join('; ');
}

/** `app`, or `migrate (initContainer)` when the image is not in a plain container. */
export function containerLabel(container: { name: string; kind: ImageSiteKind }): string {
  return container.kind === 'container' ? container.name : `${container.name} (${container.kind})`;
}

/** A file as named to the reader: `<stdin>` rather than a bare `-`. */
export function fileLabel(file: string): string {
  return file === STDIN_FILE ? '<stdin>' : file;
}

/** `deploy/api.yaml:14:7`, or `dump.json (document 3)` when the line is unknown. */
export function locationLabel(location: SourceLocation): string {
  const file = fileLabel(location.file);
  if (location.line === undefined) return `${file} (document ${location.document})`;
  return location.column === undefined
    ? `${file}:${location.line}`
    : `${file}:${location.line}:${location.column}`;
}

/** `bad.yaml, document 2, line 7 (spec.template…)`: every part the problem knows. */
export function problemLocationLabel(problem: InputProblem): string {
  const parts = [fileLabel(problem.file)];
  if (problem.document !== undefined) parts.push(`document ${problem.document}`);
  if (problem.line !== undefined) parts.push(`line ${problem.line}`);
  const where = parts.join(', ');
  return problem.path === undefined ? where : `${where} (${problem.path})`;
}
