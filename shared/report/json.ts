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

/** A list of the report, turned into JSON one element at a time. */
interface JsonList {
  count: number;
  each(): Iterable<unknown>;
}

function jsonList<T>(items: readonly T[], toJson: (item: T) => unknown): JsonList {
  return {
    count: items.length,
    *each() {
      for (const item of items) yield toJson(item);
    },
  };
}

type ReportField = { key: string; value: unknown } | { key: string; list: JsonList };

const CHUNK_CHARACTERS = 1 << 20;

/** `value` as JSON indented by 2, its lines shifted right by `indent` spaces. */
function indented(value: unknown, indent: string): string {
  return JSON.stringify(value, null, 2).replaceAll('\n', `\n${indent}`);
}

/**
 * The report as JSON text in pieces of about a megabyte, so that a large report is never one string
 * in memory; the pieces joined are exactly `JSON.stringify(report document, null, 2)` and a newline.
 */
export function* formatJsonChunks(report: DriftReport): Generator<string> {
  const fields: ReportField[] = [
    { key: 'apiVersion', value: REPORT_API_VERSION },
    { key: 'kind', value: 'DriftReport' },
    { key: 'summary', value: summaryJson(report.summary) },
    { key: 'findings', list: jsonList(sortFindings(report.findings), findingJson) },
    { key: 'suppressed', list: jsonList(sortFindings(report.suppressed), suppressedJson) },
    { key: 'problems', list: jsonList(sortProblems(report.problems), problemJson) },
  ];
  let pending = '{';
  for (const [index, field] of fields.entries()) {
    pending += `${index === 0 ? '' : ','}\n  ${JSON.stringify(field.key)}: `;
    if ('value' in field) {
      pending += indented(field.value, '  ');
      continue;
    }
    if (field.list.count === 0) {
      pending += '[]';
      continue;
    }
    let separator = '[';
    for (const item of field.list.each()) {
      pending += `${separator}\n    ${indented(item, '    ')}`;
      separator = ',';
      if (pending.length >= CHUNK_CHARACTERS) {
        yield pending;
        pending = '';
      }
    }
    pending += '\n  ]';
  }
  yield `${pending}\n}\n`;
}

export function formatJson(report: DriftReport): string {
  return [...formatJsonChunks(report)].join('');
}
