import { createHash } from 'node:crypto';
import { isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  ArtifactLocation,
  Location,
  Log,
  Notification,
  PhysicalLocation,
  Region,
  ReportingDescriptor,
  Result,
} from 'sarif';
import {
  type DriftReport,
  type Finding,
  type InputProblem,
  RULE_IDS,
  type Severity,
  type SourceLocation,
} from '#shared/drift/model.ts';
import { RULES, type RuleDefinition, ruleHelpMarkdown, ruleHelpText } from '#shared/drift/rules.ts';
import { problemLocationLabel, STDIN_FILE, sortFindings, sortProblems } from './common.ts';

// SARIF 2.1.0 for GitHub code scanning: every rule is described, suppressed findings are results
// with a suppression, and unreadable input is a tool notification rather than a result.

export interface SarifOptions {
  toolVersion: string;
  /** Directory that relative artifact URIs are based on (%SRCROOT%), normally the repository root. */
  baseDirectory?: string;
}

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
const SOURCE_ROOT = '%SRCROOT%';
const FINGERPRINT_KEY = 'pullwardenFinding/v1';

type Level = NonNullable<Result['level']>;

const LEVELS: Record<Severity, Level> = { error: 'error', warning: 'warning', info: 'note' };
const PROBLEM_SEVERITIES: Record<Severity, string> = {
  error: 'error',
  warning: 'warning',
  info: 'recommendation',
};
// GitHub buckets security-severity scores: 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low.
const SECURITY_SEVERITIES: Record<Severity, string> = { error: '8.0', warning: '5.5', info: '2.0' };

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

function ruleDescriptor(rule: RuleDefinition): ReportingDescriptor {
  const tags = ['kubernetes', 'image-pull-policy'];
  if (rule.security) tags.push('security');
  return {
    id: rule.id,
    name: rule.name,
    shortDescription: { text: rule.title },
    fullDescription: { text: rule.rationale },
    help: { text: ruleHelpText(rule), markdown: ruleHelpMarkdown(rule) },
    defaultConfiguration: { level: LEVELS[rule.defaultSeverity] },
    properties: {
      tags,
      // The rules read declared facts; per-finding doubt is in each result's `confidence`.
      precision: 'high',
      'problem.severity': PROBLEM_SEVERITIES[rule.defaultSeverity],
      ...(rule.security ? { 'security-severity': SECURITY_SEVERITIES[rule.defaultSeverity] } : {}),
    },
  };
}

function encodePath(segments: readonly string[]): string {
  return segments.map((segment) => encodeURIComponent(segment)).join('/');
}

/**
 * A relative URI under %SRCROOT% when the file is inside the base directory (what GitHub maps
 * to the repository), else an absolute `file:` URI; undefined for stdin, which has no file.
 */
export function artifactLocation(
  file: string,
  baseDirectory?: string,
): ArtifactLocation | undefined {
  if (file === STDIN_FILE) return undefined;
  if (baseDirectory === undefined) {
    if (isAbsolute(file)) return { uri: pathToFileURL(file).href };
    return { uri: encodePath(normalize(file).split(sep)), uriBaseId: SOURCE_ROOT };
  }
  const absolute = resolve(baseDirectory, file);
  const inside = relative(resolve(baseDirectory), absolute);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    return { uri: pathToFileURL(absolute).href };
  }
  return { uri: encodePath(inside.split(sep)), uriBaseId: SOURCE_ROOT };
}

function physicalLocation(
  file: string,
  line: number | undefined,
  column: number | undefined,
  baseDirectory: string | undefined,
): PhysicalLocation | undefined {
  const artifact = artifactLocation(file, baseDirectory);
  if (artifact === undefined) return undefined;
  // GitHub needs a line to show a result; the start of the file stands in for an unknown one.
  const region: Region = { startLine: line ?? 1 };
  if (line !== undefined && column !== undefined) region.startColumn = column;
  return { artifactLocation: artifact, region };
}

function findingLocation(finding: Finding, baseDirectory: string | undefined): Location {
  const { workload, container } = finding;
  const location: Location = {
    logicalLocations: [
      {
        name: container.name,
        fullyQualifiedName: `${workload.namespace}/${workload.kind}/${workload.name}/${container.name}`,
        kind: 'resource',
      },
    ],
  };
  const source: SourceLocation | undefined = finding.location;
  if (source !== undefined) {
    const physical = physicalLocation(source.file, source.line, source.column, baseDirectory);
    if (physical !== undefined) location.physicalLocation = physical;
    location.properties = {
      document: source.document,
      ...(source.path === undefined ? {} : { path: source.path }),
    };
  }
  return location;
}

/** Stable across runs and line moves, so GitHub keeps one alert per container image and rule. */
function fingerprint(finding: Finding): string {
  const { workload, container } = finding;
  return createHash('sha256')
    .update(
      [
        finding.ruleId,
        workload.kind,
        workload.namespace,
        workload.name,
        container.kind,
        container.name,
        finding.image,
      ].join('\u0000'),
    )
    .digest('hex');
}

/** `message.` — the remediation follows as a sentence of its own. */
function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function findingResult(finding: Finding, baseDirectory: string | undefined): Result {
  return {
    ruleId: finding.ruleId,
    // `rules` lists the catalog in RULE_IDS order.
    ruleIndex: RULE_IDS.indexOf(finding.ruleId),
    level: LEVELS[finding.severity],
    message: { text: `${sentence(finding.message)} Fix: ${finding.remediation}` },
    locations: [findingLocation(finding, baseDirectory)],
    partialFingerprints: { [FINGERPRINT_KEY]: fingerprint(finding) },
    properties: {
      confidence: finding.confidence,
      image: finding.image,
      containerKind: finding.container.kind,
      evidence: [...finding.evidence],
    },
  };
}

function problemNotification(
  problem: InputProblem,
  baseDirectory: string | undefined,
): Notification {
  const notification: Notification = {
    level: 'error',
    message: { text: `${problemLocationLabel(problem)}: ${problem.message}` },
  };
  const artifact = artifactLocation(problem.file, baseDirectory);
  if (artifact !== undefined) {
    const physical: PhysicalLocation = { artifactLocation: artifact };
    if (problem.line !== undefined) physical.region = { startLine: problem.line };
    notification.locations = [{ physicalLocation: physical }];
  }
  return notification;
}

export function formatSarif(report: DriftReport, options: SarifOptions): string {
  const baseDirectory = options.baseDirectory;
  const results: Result[] = [
    ...sortFindings(report.findings).map((finding) => findingResult(finding, baseDirectory)),
    ...sortFindings(report.suppressed).map((finding) => ({
      ...findingResult(finding, baseDirectory),
      suppressions: [{ kind: 'external' as const, justification: finding.suppression.reason }],
    })),
  ];
  const log: Log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'pullwarden',
            version: options.toolVersion,
            ...(SEMVER.test(options.toolVersion) ? { semanticVersion: options.toolVersion } : {}),
            rules: RULE_IDS.map((id) => ruleDescriptor(RULES[id])),
          },
        },
        ...(baseDirectory === undefined
          ? {}
          : { originalUriBaseIds: { [SOURCE_ROOT]: { uri: directoryUri(baseDirectory) } } }),
        invocations: [
          {
            executionSuccessful: true,
            toolExecutionNotifications: sortProblems(report.problems).map((problem) =>
              problemNotification(problem, baseDirectory),
            ),
          },
        ],
        results,
        columnKind: 'utf16CodeUnits',
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

/** A `file:` URI ending in `/`, as SARIF requires for a base URI. */
function directoryUri(directory: string): string {
  const href = pathToFileURL(resolve(directory)).href;
  return href.endsWith('/') ? href : `${href}/`;
}
