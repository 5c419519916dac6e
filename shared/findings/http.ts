import { z } from 'zod';
import {
  CONFIDENCES,
  RULE_IDS,
  type RuleId,
  SEVERITIES,
  type Severity,
} from '#shared/drift/model.ts';
import {
  BadRequestError,
  failedRequestResponse,
  type HttpResponse,
  jsonResponse,
  quoted,
} from '#shared/http/errors.ts';
import type { HttpRequest } from '#shared/http/request.ts';
import { countBySeverity, sortFindings } from '#shared/report/common.ts';
import { REPORT_API_VERSION } from '#shared/report/json.ts';
import {
  FINDING_ORIGINS,
  FINDING_STATUSES,
  type FindingStatus,
  type FindingsFilter,
  type FindingsReader,
  type StoredFinding,
} from './model.ts';
import { matchesFilter } from './report.ts';

// GET /v1/findings: the stored findings that pass the query's filter, most severe first. On AWS the
// route is IAM-authorised by the gateway; the local stack serves it without an authorizer.

export const FINDING_LIST_KIND = 'FindingList';

export interface FindingListSummary {
  open: number;
  closed: number;
  findings: Record<Severity, number>;
}

export interface FindingList {
  apiVersion: typeof REPORT_API_VERSION;
  kind: typeof FINDING_LIST_KIND;
  /** Sorted like a drift report: severity (highest first), workload, container, rule. */
  findings: StoredFinding[];
  /** Counts every matching finding, also those left out by `limit`. */
  summary: FindingListSummary;
}

export interface FindingsQuery {
  filter: FindingsFilter;
  /** At most this many findings in the answer. */
  limit?: number;
}

export interface FindingsRequestDependencies {
  reader: FindingsReader;
  logger: {
    info(message: string, ...extra: Record<string, unknown>[]): void;
    error(message: string, ...extra: Record<string, unknown>[]): void;
  };
}

const QUERY_PARAMETERS = ['namespace', 'rule', 'severity', 'workload', 'status', 'limit'] as const;
const STATUS_CHOICES = [...FINDING_STATUSES, 'all'] as const;
const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
// A kind and a DNS subdomain name, with the glob's * and ?.
const KIND_GLOB = /^[A-Za-z0-9*?]{1,63}$/;
const NAME_GLOB = /^[a-z0-9A-Z.*?-]{1,253}$/;
const MAX_LIMIT = 10_000;

/** `a,b,,c` → `a`, `b`, `c`: the gateway joins a repeated parameter with commas too. */
function commaList(value: string, parameter: string): string[] {
  const parts = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (parts.length === 0) throw new BadRequestError(`${parameter} must not be empty`);
  return [...new Set(parts)];
}

function choice<T extends string>(allowed: readonly T[], value: string, parameter: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new BadRequestError(
    `${parameter} must be one of ${allowed.join(', ')} (got ${quoted(value)})`,
  );
}

function namespaces(value: string): string[] {
  const names = commaList(value, 'namespace');
  for (const name of names) {
    if (!NAMESPACE.test(name)) {
      throw new BadRequestError(`namespace ${quoted(name)} is not a Kubernetes namespace name`);
    }
  }
  return names;
}

function rules(value: string): RuleId[] {
  return commaList(value, 'rule').map((id) => {
    const rule = RULE_IDS.find((known) => known === id.toUpperCase());
    if (rule === undefined) {
      throw new BadRequestError(
        `rule ${quoted(id)} is not a pullwarden rule (${RULE_IDS[0]}–${RULE_IDS.at(-1)})`,
      );
    }
    return rule;
  });
}

function workloadGlob(value: string): string {
  const parts = value.split('/');
  const [kind, name] = parts.length === 2 ? parts : [undefined, value];
  if (
    parts.length > 2 ||
    (kind !== undefined && !KIND_GLOB.test(kind)) ||
    name === undefined ||
    !NAME_GLOB.test(name)
  ) {
    throw new BadRequestError(
      `workload must be a name glob or Kind/name glob such as Deployment/api-* (got ${quoted(value)})`,
    );
  }
  return value;
}

function limit(value: string): number {
  const parsed = /^[1-9]\d*$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed <= MAX_LIMIT)) {
    throw new BadRequestError(
      `limit must be a whole number from 1 to ${MAX_LIMIT} (got ${quoted(value)})`,
    );
  }
  return parsed;
}

/** The filter a query asks for; any parameter it does not know or cannot read is a 400. */
export function parseFindingsQuery(
  parameters: Readonly<Record<string, string | undefined>> | undefined,
): FindingsQuery {
  const filter: FindingsFilter = { status: 'open' };
  const query: FindingsQuery = { filter };
  for (const [parameter, value] of Object.entries(parameters ?? {})) {
    if (value === undefined) continue;
    switch (parameter) {
      case 'namespace':
        filter.namespaces = namespaces(value);
        break;
      case 'rule':
        filter.rules = rules(value);
        break;
      case 'severity':
        filter.minSeverity = choice(SEVERITIES, value, 'severity');
        break;
      case 'workload':
        filter.workload = workloadGlob(value);
        break;
      case 'status':
        filter.status = choice(STATUS_CHOICES, value, 'status');
        break;
      case 'limit':
        query.limit = limit(value);
        break;
      default:
        throw new BadRequestError(
          `unknown query parameter ${quoted(parameter)}; use ${QUERY_PARAMETERS.join(', ')}`,
        );
    }
  }
  return query;
}

function countByStatus(findings: readonly StoredFinding[]): Record<FindingStatus, number> {
  const counts: Record<FindingStatus, number> = { open: 0, closed: 0 };
  for (const finding of findings) counts[finding.status]++;
  return counts;
}

/** The answer document: `findings` sorted and cut to `limit`, the summary over all of them. */
export function findingList(findings: readonly StoredFinding[], limit?: number): FindingList {
  const sorted = sortFindings(findings);
  return {
    apiVersion: REPORT_API_VERSION,
    kind: FINDING_LIST_KIND,
    findings: limit === undefined ? sorted : sorted.slice(0, limit),
    summary: { ...countByStatus(findings), findings: countBySeverity(findings) },
  };
}

export async function handleFindingsRequest(
  request: HttpRequest,
  deps: FindingsRequestDependencies,
): Promise<HttpResponse> {
  try {
    const { filter, limit } = parseFindingsQuery(request.queryStringParameters);
    // Applied again here so the answer holds to the filter whatever part of it the store used.
    const findings = (await deps.reader.listFindings(filter)).filter((finding) =>
      matchesFilter(finding, filter),
    );
    const list = findingList(findings, limit);
    deps.logger.info('findings listed', {
      filter,
      matched: findings.length,
      returned: list.findings.length,
    });
    return jsonResponse(200, list);
  } catch (error) {
    return failedRequestResponse('findings request', error, deps.logger);
  }
}

const workloadSchema = z.looseObject({ kind: z.string(), namespace: z.string(), name: z.string() });

const storedFindingSchema = z.looseObject({
  id: z.string(),
  ruleId: z.enum(RULE_IDS),
  severity: z.enum(SEVERITIES),
  confidence: z.enum(CONFIDENCES),
  workload: workloadSchema,
  container: z.looseObject({
    name: z.string(),
    kind: z.enum(['container', 'initContainer', 'ephemeralContainer', 'imageVolume']),
  }),
  image: z.string(),
  message: z.string(),
  remediation: z.string(),
  evidence: z.array(z.string()),
  location: z
    .looseObject({
      file: z.string(),
      document: z.number(),
      line: z.number().optional(),
      column: z.number().optional(),
      path: z.string().optional(),
    })
    .optional(),
  status: z.enum(FINDING_STATUSES),
  origin: z.enum(FINDING_ORIGINS),
  firstSeenAt: z.string(),
  lastSeenAt: z.string(),
  closedAt: z.string().optional(),
});

const findingListSchema = z.looseObject({
  apiVersion: z.literal(REPORT_API_VERSION),
  kind: z.literal(FINDING_LIST_KIND),
  findings: z.array(storedFindingSchema),
  summary: z.looseObject({
    open: z.number(),
    closed: z.number(),
    findings: z.looseObject({ info: z.number(), warning: z.number(), error: z.number() }),
  }),
});

/** A FindingList as a client receives it; the reason names the first field that is not one. */
export function parseFindingList(
  document: unknown,
): { ok: true; list: FindingList } | { ok: false; reason: string } {
  const parsed = findingListSchema.safeParse(document);
  if (parsed.success) return { ok: true, list: parsed.data as FindingList };
  const issue = parsed.error.issues[0];
  return {
    ok: false,
    reason: `${issue?.path.join('.') || 'the document'}: ${issue?.message ?? 'not a FindingList'}`,
  };
}
