import { compareText } from '#shared/text/order.ts';

// The drift report's vocabulary: what every evaluator produces and every reporter consumes.

export const SEVERITIES = ['info', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const CONFIDENCES = ['high', 'medium', 'low'] as const;
export type Confidence = (typeof CONFIDENCES)[number];

export const RULE_IDS = [
  'PW001',
  'PW002',
  'PW003',
  'PW004',
  'PW005',
  'PW006',
  'PW007',
  'PW008',
  'PW009',
  'PW010',
  'PW011',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** Where an image is declared in a pod spec. `imageVolume` is a pod volume of type `image` (KEP-4639). */
export type ImageSiteKind = 'container' | 'initContainer' | 'ephemeralContainer' | 'imageVolume';

/** A position in an input: file (or `-` for stdin), 1-based document index, and where known the line/column. */
export interface SourceLocation {
  file: string;
  /** 1-based index of the document in the file (multi-document YAML), or of the item in a List. */
  document: number;
  /** 1-based line of the offending value, when the input format allows it. */
  line?: number;
  /** 1-based column of the offending value. */
  column?: number;
  /** Field path inside the document, e.g. `spec.template.spec.containers[0].image`. */
  path?: string;
}

export interface WorkloadRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface Finding {
  ruleId: RuleId;
  severity: Severity;
  confidence: Confidence;
  workload: WorkloadRef;
  container: { name: string; kind: ImageSiteKind };
  image: string;
  /** One line, specific to this finding. */
  message: string;
  /** A concrete fix for this finding. */
  remediation: string;
  /** Facts the finding rests on, one sentence each. */
  evidence: string[];
  location?: SourceLocation;
}

export interface SuppressedFinding extends Finding {
  suppression: { reason: string };
}

/** Bad input that was skipped: the rest of the input was still evaluated. */
export interface InputProblem {
  file: string;
  document?: number;
  line?: number;
  path?: string;
  message: string;
}

export interface DriftSummary {
  files: number;
  documents: number;
  objects: number;
  pods: number;
  workloads: number;
  findings: Record<Severity, number>;
  suppressed: number;
  problems: number;
}

export interface DriftReport {
  findings: Finding[];
  suppressed: SuppressedFinding[];
  problems: InputProblem[];
  summary: DriftSummary;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

export function severityAtLeast(severity: Severity, threshold: Severity): boolean {
  return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold];
}

export function compareSeverity(a: Severity, b: Severity): number {
  return SEVERITY_RANK[a] - SEVERITY_RANK[b];
}

/** Workloads by namespace, then name, then kind: how a reader scans a list of them. */
export function compareWorkloads(a: WorkloadRef, b: WorkloadRef): number {
  return (
    compareText(a.namespace, b.namespace) ||
    compareText(a.name, b.name) ||
    compareText(a.kind, b.kind)
  );
}

/**
 * Most severe first, then by workload, container, rule and image; total, so output is stable. The
 * order of a report's findings, and of every format's.
 */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    compareSeverity(b.severity, a.severity) ||
    compareWorkloads(a.workload, b.workload) ||
    compareText(a.container.name, b.container.name) ||
    compareText(a.container.kind, b.container.kind) ||
    compareText(a.ruleId, b.ruleId) ||
    compareText(a.image, b.image) ||
    compareText(a.message, b.message)
  );
}

export function workloadKey(workload: WorkloadRef): string {
  return `${workload.kind}/${workload.namespace}/${workload.name}`;
}

/** `Deployment prod/api` — how a workload is named in every output. */
export function workloadLabel(workload: WorkloadRef): string {
  return `${workload.kind} ${workload.namespace}/${workload.name}`;
}
