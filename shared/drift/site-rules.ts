import { ALL_NODE_GROUPS, type Config, type VerificationPolicy } from '#shared/config/schema.ts';
import type { ImageReference } from '#shared/image/reference.ts';
import { urlsMatch } from '#shared/kubelet/url-glob.ts';
import { defaultPullPolicy, isFloatingLatest } from '#shared/policy/pull-policy.ts';
import { matchesAnyGlob } from '#shared/text/glob.ts';
import type { ImageSite } from '#shared/workload/extract.ts';
import type { Confidence, Finding, PullPolicy, RuleId, WorkloadRef } from './model.ts';
import { RULES } from './rules.ts';

// The rules that judge one image site of one workload: PW001–PW007. PW008 needs all replicas and lives in
// replica-skew.ts.

/** Where a workload's pods can run, and how that was learnt. */
export interface Placement {
  nodeGroups: readonly string[];
  basis: 'constraint' | 'observed' | 'unknown';
}

export interface SiteContext {
  workload: WorkloadRef;
  placement: Placement;
  config: Config;
  /** Image references the pre-pull set names, parsed once per run. */
  prePull: ReadonlyMap<string, readonly ImageReference[]>;
}

function baseFinding(
  ruleId: RuleId,
  site: ImageSite,
  context: SiteContext,
  parts: { message: string; remediation: string; evidence: string[]; confidence?: Confidence },
): Finding {
  return {
    ruleId,
    severity: RULES[ruleId].defaultSeverity,
    confidence: parts.confidence ?? 'high',
    workload: context.workload,
    container: { name: site.name, kind: site.kind },
    image: site.image,
    message: parts.message,
    remediation: parts.remediation,
    evidence: parts.evidence,
    location: site.location,
  };
}

function policyText(site: ImageSite, effective: PullPolicy): string {
  return site.policy === undefined
    ? `imagePullPolicy is omitted, so Kubernetes sets ${effective}`
    : `imagePullPolicy is ${effective}`;
}

/** True when the pre-pull set entry puts this exact image on the node. */
export function prePullCovers(entry: ImageReference, image: ImageReference): boolean {
  if (entry.name !== image.name) return false;
  if (image.digest !== undefined) return entry.digest === image.digest;
  // With `Never` the kubelet looks the image up by the reference as written, so a tag must be present.
  return entry.tag !== undefined && entry.tag === (image.tag ?? 'latest');
}

function prePulledIn(
  group: string,
  image: ImageReference,
  prePull: SiteContext['prePull'],
): boolean {
  for (const key of [group, ALL_NODE_GROUPS]) {
    for (const entry of prePull.get(key) ?? []) if (prePullCovers(entry, image)) return true;
  }
  return false;
}

/** The node groups to check: where the pods can run, or every configured group when that is unknown. */
function groupsToCheck(context: SiteContext): string[] {
  if (context.placement.basis !== 'unknown') return [...context.placement.nodeGroups];
  const groups = new Set<string>();
  for (const key of context.prePull.keys()) if (key !== ALL_NODE_GROUPS) groups.add(key);
  for (const key of Object.keys(context.config.nodeGroups.verificationPolicy)) groups.add(key);
  return [...groups].sort();
}

function placementEvidence(placement: Placement, groups: readonly string[]): string {
  switch (placement.basis) {
    case 'constraint':
      return `nodeSelector/required node affinity restrict the pods to node group(s) ${groups.join(', ')}`;
    case 'observed':
      return `pods were observed on node group(s) ${groups.join(', ')} (nothing in the spec keeps them there)`;
    default:
      return groups.length === 0
        ? 'the node groups the pods can run on are unknown and no node group is configured'
        : `the node groups the pods can run on are unknown, so every configured group counts: ${groups.join(', ')}`;
  }
}

function isPrivate(image: ImageReference, config: Config): boolean {
  return config.registries.private.some((pattern) => urlsMatch(pattern, image.name));
}

function verificationPolicyFor(
  group: string | undefined,
  config: Config,
): VerificationPolicy | undefined {
  if (group !== undefined) {
    const specific = config.nodeGroups.verificationPolicy[group];
    if (specific !== undefined) return specific;
  }
  return config.cluster.imagePullCredentialsVerificationPolicy;
}

/** Why a cached copy of `image` on `group` would be handed to a pod without checking its credentials. */
function unverifiedReason(
  group: string | undefined,
  image: ImageReference,
  context: SiteContext,
): string | undefined {
  const policy = verificationPolicyFor(group, context.config);
  const where = group === undefined ? 'the cluster' : `node group ${group}`;
  switch (policy) {
    case 'AlwaysVerify':
      return undefined;
    case 'NeverVerifyPreloadedImages':
      if (group !== undefined && prePulledIn(group, image, context.prePull)) {
        return `${where} verifies with NeverVerifyPreloadedImages, but the image is pre-pulled there, which counts as preloaded`;
      }
      return undefined;
    case 'NeverVerifyAllowlistedImages':
      if (
        context.config.cluster.preloadedImagesVerificationAllowlist.some((pattern) =>
          allowlistMatches(pattern, image),
        )
      ) {
        return `${where} verifies with NeverVerifyAllowlistedImages and the image is on the allowlist`;
      }
      return undefined;
    case 'NeverVerify':
      return `${where} is declared with imagePullCredentialsVerificationPolicy NeverVerify`;
    default:
      return `no imagePullCredentialsVerificationPolicy is declared for ${where}`;
  }
}

/** Allowlist entries name an image repository, or a registry/prefix ending in `/*`. */
function allowlistMatches(pattern: string, image: ImageReference): boolean {
  if (pattern.endsWith('/*')) return image.name.startsWith(pattern.slice(0, -1));
  return image.name === pattern;
}

export function evaluateSite(
  site: ImageSite,
  reference: ImageReference,
  context: SiteContext,
): Finding[] {
  const findings: Finding[] = [];
  const defaulted = defaultPullPolicy(reference);
  const effective = site.policy ?? defaulted;
  const repo = reference.familiarName;
  const namespace = context.workload.namespace;

  if (isFloatingLatest(reference)) {
    const finding = baseFinding('PW001', site, context, {
      message:
        reference.tag === undefined
          ? `${site.image} has no tag, which means "latest", and no digest`
          : `${site.image} uses the "latest" tag and no digest`,
      remediation: `Deploy an immutable version (${repo}:<version>) or pin the digest (${repo}@sha256:<digest>).`,
      evidence: [
        `the reference has ${reference.tag === undefined ? 'no tag' : 'tag "latest"'} and no digest`,
      ],
    });
    if (matchesAnyGlob(context.config.namespaces.production, namespace)) {
      finding.severity = 'error';
      finding.evidence.push(`namespace ${namespace} is configured as production`);
    }
    findings.push(finding);
  }

  if (
    site.policy !== undefined &&
    site.explicitness !== undefined &&
    site.explicitness.state !== 'explicit'
  ) {
    const certain = site.explicitness.state === 'defaulted';
    findings.push(
      baseFinding('PW002', site, context, {
        message: certain
          ? `imagePullPolicy ${site.policy} was defaulted for an earlier image; for ${site.image} Kubernetes would now choose ${defaulted}`
          : `imagePullPolicy ${site.policy} differs from the default for ${site.image} (${defaulted}) and may have been defaulted for an earlier image`,
        remediation:
          defaulted === 'Always'
            ? `Set imagePullPolicy: Always explicitly for "${site.name}", or pin the digest and keep IfNotPresent.`
            : `Set imagePullPolicy: IfNotPresent explicitly for "${site.name}": the image is now a fixed version.`,
        evidence: [
          site.explicitness.evidence,
          'the API server fills in imagePullPolicy once, at creation, and does not update it when the image changes',
        ],
        confidence: site.explicitness.confidence,
      }),
    );
  }

  if (reference.digest === undefined && effective === 'IfNotPresent') {
    findings.push(
      baseFinding('PW003', site, context, {
        message: `${site.image} is a mutable tag pulled with IfNotPresent: nodes that already hold it never see a re-push`,
        remediation: `Pin the digest (${repo}:${reference.tag ?? 'latest'}@sha256:<digest>) and keep IfNotPresent, or set imagePullPolicy: Always.`,
        evidence: [policyText(site, effective), 'the reference has no digest'],
      }),
    );
  }

  if (effective === 'Never') {
    const groups = groupsToCheck(context);
    const missing = groups.filter((group) => !prePulledIn(group, reference, context.prePull));
    const everywhere =
      groups.length === 0 && prePulledIn(ALL_NODE_GROUPS, reference, context.prePull);
    if (missing.length > 0 || (groups.length === 0 && !everywhere)) {
      findings.push(
        baseFinding('PW004', site, context, {
          message:
            missing.length > 0
              ? `imagePullPolicy Never, but ${site.image} is not in the pre-pull set of node group(s) ${missing.join(', ')}`
              : `imagePullPolicy Never, but ${site.image} is not in any pre-pull set`,
          remediation: `Add ${reference.canonical} to nodeGroups.prePull for ${
            missing.length > 0
              ? missing.join(', ')
              : `"${ALL_NODE_GROUPS}" or the workload's node groups`
          }, or use imagePullPolicy: IfNotPresent.`,
          evidence: [
            placementEvidence(context.placement, groups),
            'with Never the kubelet fails the container with ErrImageNeverPull when the image is absent',
          ],
          confidence: context.placement.basis === 'constraint' ? 'high' : 'medium',
        }),
      );
    }
  }

  if (
    context.config.cluster.multiTenant &&
    (effective === 'IfNotPresent' || effective === 'Never') &&
    !context.config.cluster.alwaysPullImages &&
    isPrivate(reference, context.config)
  ) {
    const groups = groupsToCheck(context);
    const reasons = (groups.length === 0 ? [undefined] : groups)
      .map((group) => unverifiedReason(group, reference, context))
      .filter((reason): reason is string => reason !== undefined);
    if (reasons.length > 0) {
      findings.push(
        baseFinding('PW005', site, context, {
          message: `private image ${site.image} is reused from the node cache (${effective}) on a multi-tenant cluster without credential checks`,
          remediation:
            'Enable the AlwaysPullImages admission plugin, or set the kubelet imagePullCredentialsVerificationPolicy to AlwaysVerify, or use imagePullPolicy: Always here.',
          evidence: [
            'the cluster is configured as multi-tenant and AlwaysPullImages is not declared',
            `${reference.name} matches a private registry pattern`,
            ...reasons,
          ],
          confidence: context.placement.basis === 'unknown' ? 'medium' : 'high',
        }),
      );
    }
  }

  if (reference.digest !== undefined && effective === 'Always') {
    findings.push(
      baseFinding('PW006', site, context, {
        message:
          site.policy === undefined
            ? `${site.image} is pinned by digest but its "latest" tag makes Kubernetes default the policy to Always`
            : `${site.image} is pinned by digest and pulled with Always: every start asks the registry for nothing`,
        remediation: `Set imagePullPolicy: IfNotPresent for "${site.name}".`,
        evidence: [policyText(site, effective), `the reference pins ${reference.digest}`],
      }),
    );
  }

  if (reference.digest !== undefined && reference.tag !== undefined) {
    findings.push(
      baseFinding('PW007', site, context, {
        message: `${site.image} names tag "${reference.tag}" and a digest: runtimes pull the digest and ignore the tag`,
        remediation: `Use ${repo}@${reference.digest}, or keep the tag only if a bot keeps it in sync with the digest.`,
        evidence: ['container runtimes resolve a reference with a digest by the digest alone'],
      }),
    );
  }
  return findings;
}
