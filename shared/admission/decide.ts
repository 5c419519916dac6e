import type { Config } from '#shared/config/schema.ts';
import type { Finding } from '#shared/drift/model.ts';
import { asRecord } from '#shared/kubernetes/object.ts';
import {
  type AdmissionEvaluation,
  admittedFacts,
  findingKey,
  historyOf,
  judgeFacts,
  withPatchedPolicies,
} from './evaluate.ts';
import { jsonPatch, type PolicyChange, planPolicyChanges } from './patch.ts';
import { type AdmissionRequest, type AdmissionResponse, reviewScope } from './review.ts';
import {
  clip,
  findingWarning,
  fitWarnings,
  problemWarning,
  singleLine,
  siteLabel,
} from './warnings.ts';

// One admission request → the answer for the configured mode: warn admits with warnings, enforce
// refuses what the deny rules find, mutate patches pull policies and warns about the rest.

/** Longer denial messages are cut: kubectl prints them on one line. */
export const MAX_DENIAL_LENGTH = 1024;

export interface AdmissionDecision {
  response: AdmissionResponse;
  /** Findings reported (after a patch: those it did not resolve). */
  findings: Finding[];
  changes: PolicyChange[];
}

function changeWarning(change: PolicyChange, fixed: readonly string[]): string {
  const field = change.kind === 'imageVolume' ? 'image.pullPolicy' : 'imagePullPolicy';
  // Named after the rules the change resolves, like every other warning.
  const prefix = fixed.length > 0 ? [...new Set(fixed)].sort().join(', ') : 'pullwarden';
  return `${prefix} patched ${siteLabel(change.kind, change.name)}: ${field} set to ${change.to} (was ${change.from ?? 'unset'}) for ${change.image}`;
}

function denialMessage(denied: readonly Finding[]): string {
  const rules = [...new Set(denied.map((finding) => finding.ruleId))].sort().join(', ');
  let message = `pullwarden denies this request (${rules})`;
  for (const [index, finding] of denied.entries()) {
    const item = `${index === 0 ? ': ' : '; '}${findingWarning(finding)}`;
    const rest = denied.length - index - 1;
    const trailer = rest === 0 ? '' : `; and ${rest} more`;
    if ((message + item + trailer).length > MAX_DENIAL_LENGTH) {
      return singleLine(`${message}; and ${denied.length - index} more`);
    }
    message += item;
  }
  return clip(singleLine(message), MAX_DENIAL_LENGTH);
}

function isDenied(finding: Finding, config: Config): boolean {
  const deny = config.admission.deny;
  return deny === undefined ? finding.severity === 'error' : deny.includes(finding.ruleId);
}

function warningsOf(evaluation: AdmissionEvaluation, before: readonly string[] = []): string[] {
  return fitWarnings([
    ...before,
    ...evaluation.findings.map(findingWarning),
    ...evaluation.problems.map(problemWarning),
  ]);
}

function withWarnings(response: AdmissionResponse, warnings: string[]): AdmissionResponse {
  return warnings.length === 0 ? response : { ...response, warnings };
}

export function decideReview(request: AdmissionRequest, config: Config): AdmissionDecision {
  const scope = reviewScope(request);
  const object = asRecord(request.object);
  const allowed: AdmissionResponse = { uid: request.uid, allowed: true };
  if (scope === undefined || object === undefined) {
    return { response: allowed, findings: [], changes: [] };
  }
  const history = historyOf(request);
  const facts = admittedFacts(object, request, scope, config, history);
  const evaluation = judgeFacts(facts, config);

  switch (config.admission.mode) {
    case 'warn':
      return {
        response: withWarnings(allowed, warningsOf(evaluation)),
        findings: evaluation.findings,
        changes: [],
      };

    case 'enforce': {
      // An object that already had a finding stays updatable (scaled, relabelled, finalised) as long
      // as the update adds no new one.
      const stored =
        history.previous === undefined
          ? new Set<string>()
          : new Set(
              judgeFacts(
                admittedFacts(history.previous, request, scope, config, { created: false }),
                config,
              ).findings.map(findingKey),
            );
      const denied = evaluation.findings.filter(
        (finding) => isDenied(finding, config) && !stored.has(findingKey(finding)),
      );
      const others = evaluation.findings.filter((finding) => !denied.includes(finding));
      const warnings = warningsOf({ findings: others, problems: evaluation.problems });
      const response: AdmissionResponse =
        denied.length === 0
          ? allowed
          : {
              uid: request.uid,
              allowed: false,
              status: { code: 403, reason: 'Forbidden', message: denialMessage(denied) },
            };
      return {
        response: withWarnings(response, warnings),
        findings: evaluation.findings,
        changes: [],
      };
    }

    case 'mutate': {
      const changes = planPolicyChanges(object, request.kind.kind, evaluation.findings);
      if (changes.length === 0) {
        return {
          response: withWarnings(allowed, warningsOf(evaluation)),
          findings: evaluation.findings,
          changes,
        };
      }
      // The warnings describe the object as it will be stored: what the patch resolved, what it left.
      const patched = judgeFacts(withPatchedPolicies(facts, changes), config);
      const remaining = new Set(patched.findings.map(findingKey));
      const notes = changes.map((change) =>
        changeWarning(
          change,
          evaluation.findings
            .filter(
              (finding) =>
                finding.container.kind === change.kind &&
                finding.container.name === change.name &&
                !remaining.has(findingKey(finding)),
            )
            .map((finding) => finding.ruleId),
        ),
      );
      const patch = Buffer.from(JSON.stringify(jsonPatch(changes))).toString('base64');
      return {
        response: withWarnings(
          { ...allowed, patchType: 'JSONPatch', patch },
          warningsOf(patched, notes),
        ),
        findings: patched.findings,
        changes,
      };
    }
  }
}
