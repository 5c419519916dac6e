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

/** A list of the report, turned into JSON a batch of elements at a time. */
interface JsonList {
  count: number;
  batches(): Iterable<unknown[]>;
}

const BATCH_ELEMENTS = 256;

function jsonList<T>(items: readonly T[], toJson: (item: T) => unknown): JsonList {
  return {
    count: items.length,
    *batches() {
      for (let start = 0; start < items.length; start += BATCH_ELEMENTS)
        yield items.slice(start, start + BATCH_ELEMENTS).map(toJson);
    },
  };
}

// A batch stringified as the value of a top-level key comes out indented exactly as a list of the
// report does; what lies between these two is its elements and their separators.
const BATCH_OPENING = '{\n  "list": ['.length;
const BATCH_CLOSING = '\n  ]\n}'.length;

function batchJson(batch: unknown[]): string {
  return JSON.stringify({ list: batch }, null, 2).slice(BATCH_OPENING, -BATCH_CLOSING);
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
  // Pieces are joined once per chunk: one flat string, rather than a rope of thousands of
  // concatenations that writing it would have to flatten.
  let pending: string[] = ['{'];
  let pendingLength = 1;
  const add = (text: string): void => {
    pending.push(text);
    pendingLength += text.length;
  };
  for (const [index, field] of fields.entries()) {
    add(`${index === 0 ? '' : ','}\n  ${JSON.stringify(field.key)}: `);
    if ('value' in field) {
      add(indented(field.value, '  '));
      continue;
    }
    if (field.list.count === 0) {
      add('[]');
      continue;
    }
    let separator = '[';
    for (const batch of field.list.batches()) {
      const text = batchJson(batch);
      if (pendingLength + text.length > CHUNK_CHARACTERS) {
        yield pending.join('');
        pending = [];
        pendingLength = 0;
      }
      add(separator);
      add(text);
      separator = ',';
    }
    add('\n  ]');
  }
  add('\n}\n');
  yield pending.join('');
}

export function formatJson(report: DriftReport): string {
  return [...formatJsonChunks(report)].join('');
}
