import type {
  DriftReport,
  DriftSummary,
  Finding,
  InputProblem,
  SourceLocation,
  SuppressedFinding,
} from '#shared/drift/model.ts';
import { sortFindings, sortProblems } from './common.ts';

// The machine-readable report. Every object is rebuilt field by field so key order does not depend
// on how the evaluator happened to assemble it, and optional fields are left out rather than null.

export const REPORT_API_VERSION = 'pullwarden.dev/v1';

/** Copies the defined values only, in the order the keys are listed. */
function ordered<T extends object>(source: T, keys: readonly (keyof T)[]): Partial<T> {
  const result: Partial<T> = {};
  for (const key of keys) {
    if (source[key] !== undefined) result[key] = source[key];
  }
  return result;
}

function locationJson(location: SourceLocation): Partial<SourceLocation> {
  return ordered(location, ['file', 'document', 'line', 'column', 'path']);
}

function findingJson(finding: Finding): Record<string, unknown> {
  return {
    ruleId: finding.ruleId,
    severity: finding.severity,
    confidence: finding.confidence,
    workload: ordered(finding.workload, ['kind', 'namespace', 'name']),
    container: ordered(finding.container, ['name', 'kind']),
    image: finding.image,
    message: finding.message,
    remediation: finding.remediation,
    evidence: [...finding.evidence],
    ...(finding.location === undefined ? {} : { location: locationJson(finding.location) }),
  };
}

function suppressedJson(finding: SuppressedFinding): Record<string, unknown> {
  return { ...findingJson(finding), suppression: { reason: finding.suppression.reason } };
}

function summaryJson(summary: DriftSummary): Record<string, unknown> {
  return {
    files: summary.files,
    documents: summary.documents,
    objects: summary.objects,
    pods: summary.pods,
    workloads: summary.workloads,
    findings: {
      error: summary.findings.error,
      warning: summary.findings.warning,
      info: summary.findings.info,
    },
    suppressed: summary.suppressed,
    problems: summary.problems,
  };
}

function problemJson(problem: InputProblem): Partial<InputProblem> {
  return ordered(problem, ['file', 'document', 'line', 'path', 'message']);
}

export function formatJson(report: DriftReport): string {
  const document = {
    apiVersion: REPORT_API_VERSION,
    kind: 'DriftReport',
    summary: summaryJson(report.summary),
    findings: sortFindings(report.findings).map(findingJson),
    suppressed: sortFindings(report.suppressed).map(suppressedJson),
    problems: sortProblems(report.problems).map(problemJson),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
