import {
  type DriftReport,
  type Finding,
  severityAtLeast,
  type WorkloadRef,
  workloadKey,
} from '#shared/drift/model.ts';
import { countBySeverity } from '#shared/report/common.ts';
import { globMatches } from '#shared/text/glob.ts';
import type { FindingOrigin, FindingsFilter, StoredFinding } from './model.ts';

// Stored findings seen through a filter, and as the DriftReport every report format renders.

/**
 * `Kind/name` globs match the kind case-insensitively (`deployment/api-*` as kubectl spells it) and
 * the name exactly; a glob without `/` matches the name of a workload of any kind.
 */
export function workloadMatches(glob: string, workload: WorkloadRef): boolean {
  const slash = glob.indexOf('/');
  if (slash === -1) return globMatches(glob, workload.name);
  return (
    globMatches(glob.slice(0, slash).toLowerCase(), workload.kind.toLowerCase()) &&
    globMatches(glob.slice(slash + 1), workload.name)
  );
}

/** Whether a finding passes every criterion of the filter; an empty list allows everything. */
export function matchesFilter(finding: StoredFinding, filter: FindingsFilter): boolean {
  const status = filter.status ?? 'open';
  if (status !== 'all' && finding.status !== status) return false;
  const { namespaces, rules, minSeverity, workload } = filter;
  if (namespaces !== undefined && namespaces.length > 0) {
    if (!namespaces.includes(finding.workload.namespace)) return false;
  }
  if (rules !== undefined && rules.length > 0 && !rules.includes(finding.ruleId)) return false;
  if (minSeverity !== undefined && !severityAtLeast(finding.severity, minSeverity)) return false;
  if (workload !== undefined && !workloadMatches(workload, finding.workload)) return false;
  return true;
}

const RAISED_BY: Record<FindingOrigin, string> = {
  sweep: 'the drift sweep',
  push: 'a registry push',
  event: 'a cluster event',
};

/** The finding as the formatters know it; its lifecycle becomes evidence, a closed one says so. */
function reportFinding(stored: StoredFinding): Finding {
  const { id, status, origin, firstSeenAt, lastSeenAt, closedAt, ...finding } = stored;
  const lifecycle = [
    `First seen ${firstSeenAt}; last raised by ${RAISED_BY[origin]} at ${lastSeenAt}.`,
  ];
  if (status === 'closed') {
    lifecycle.push(`Closed ${closedAt ?? 'at an unrecorded time'}: it no longer held.`);
  }
  const closed = closedAt === undefined ? '(closed)' : `(closed ${closedAt})`;
  return {
    ...finding,
    message: status === 'closed' ? `${finding.message} ${closed}` : finding.message,
    evidence: [...finding.evidence, ...lifecycle],
  };
}

/**
 * Stored findings in the shape `pullwarden drift` reports, so text, Markdown and SARIF render them the
 * same way. Nothing was read from files: each workload with a finding counts as one checked object.
 */
export function driftReportOf(findings: readonly StoredFinding[]): DriftReport {
  const workloads = new Set(findings.map((finding) => workloadKey(finding.workload))).size;
  return {
    findings: findings.map(reportFinding),
    suppressed: [],
    problems: [],
    summary: {
      files: 0,
      documents: 0,
      objects: workloads,
      pods: 0,
      workloads,
      findings: countBySeverity(findings),
      suppressed: 0,
      problems: 0,
    },
  };
}
