import type { Severity } from '#shared/drift/model.ts';
import { findingId, type StoredFinding } from '#shared/findings/model.ts';

// A stored finding with everything but the rule and the workload filled in.

export type FindingParts = Pick<StoredFinding, 'ruleId' | 'workload'> & Partial<StoredFinding>;

export function storedFinding(parts: FindingParts): StoredFinding {
  const base = {
    severity: 'warning' as Severity,
    confidence: 'high' as const,
    container: { name: 'app', kind: 'container' as const },
    image: 'registry.example.com/team/app:1.0',
    message: `${parts.ruleId} holds for ${parts.workload.name}`,
    remediation: 'Pin the digest.',
    evidence: ['the reference has no digest'],
    status: 'open' as const,
    origin: 'sweep' as const,
    firstSeenAt: '2026-11-01T08:00:00.000Z',
    lastSeenAt: '2026-11-20T08:00:00.000Z',
    ...parts,
  };
  return { id: findingId(base), ...base };
}
