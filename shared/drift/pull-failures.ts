import {
  classifyPullFailure,
  type PullFailureCause,
  redactCredentials,
} from '#shared/cluster/pull-messages.ts';
import type { Finding, ImageSiteKind, SourceLocation, WorkloadRef } from './model.ts';
import { RULES } from './rules.ts';

// PW010 and PW011: containers that cannot start because of their image. The same findings come from a
// pod's status (a cluster dump, the sweep) and from kubelet events (cluster-events), so both build them here.

export interface PullFailureObservation {
  workload: WorkloadRef;
  container: { kind: ImageSiteKind; name: string };
  image: string;
  /** `never-pull`: ErrImageNeverPull (PW010); `pull-failure`: ErrImagePull / ImagePullBackOff (PW011). */
  kind: 'never-pull' | 'pull-failure';
  /** The kubelet's message, classified for PW011. */
  message: string;
  /** Pods of the workload seen in this state. */
  pods: number;
  /** Failed pulls counted by the kubelet's events, when known. */
  failures?: number;
  nodes?: readonly string[];
  location?: SourceLocation;
}

const CAUSE_TEXT: Record<PullFailureCause, string> = {
  authentication: 'the registry refused the credentials (authentication)',
  'not-found': 'the image does not exist in the registry (not found)',
  'rate-limited': 'the registry is rate limiting pulls',
  network: 'the registry cannot be reached (network)',
  unknown: 'the cause is not stated in the message',
};

const CAUSE_REMEDIATION: Record<PullFailureCause, string> = {
  authentication:
    'Check the credentials the node uses for this registry: the kubelet credential provider ' +
    '(`pullwarden-node doctor`), the node role, or the pod’s `imagePullSecrets`.',
  'not-found':
    'Check the image name and tag against the registry; the tag may have been deleted or never pushed.',
  'rate-limited':
    'Pull through an authenticated account or a mirror, and pre-pull the image so starts do not hit the registry.',
  network:
    'Check DNS, routes, proxies and certificates from the node to the registry (VPC endpoints for ECR).',
  unknown: RULES.PW011.remediation,
};

function nodesText(nodes: readonly string[] | undefined): string {
  if (nodes === undefined || nodes.length === 0) return '';
  const sorted = [...nodes].sort();
  return ` on ${sorted.slice(0, 3).join(', ')}${sorted.length > 3 ? ` and ${sorted.length - 3} more` : ''}`;
}

function podsText(pods: number): string {
  return `${pods} pod${pods === 1 ? '' : 's'}`;
}

export function pullFailureFinding(observation: PullFailureObservation): Finding {
  const { workload, container, image } = observation;
  const where = nodesText(observation.nodes);
  let finding: Finding;
  if (observation.kind === 'never-pull') {
    finding = {
      ruleId: 'PW010',
      severity: RULES.PW010.defaultSeverity,
      confidence: 'high',
      workload,
      container,
      image,
      message: `${container.kind} "${container.name}" cannot start${where}: ${image} is not on the node and imagePullPolicy is Never (ErrImageNeverPull)`,
      remediation: RULES.PW010.remediation,
      evidence: [
        `${podsText(observation.pods)} ${observation.pods === 1 ? 'waits' : 'wait'} with reason ErrImageNeverPull${where}`,
        ...(observation.message === ''
          ? []
          : [`kubelet: ${redactCredentials(observation.message)}`]),
      ],
    };
  } else {
    const { cause, detail } = classifyPullFailure(observation.message);
    const failures =
      observation.failures === undefined
        ? 'keeps failing to pull'
        : `failed to pull ${observation.failures} times`;
    finding = {
      ruleId: 'PW011',
      severity: RULES.PW011.defaultSeverity,
      confidence: cause === 'unknown' ? 'medium' : 'high',
      workload,
      container,
      image,
      message: `${container.kind} "${container.name}" ${failures}${where}: ${CAUSE_TEXT[cause]}`,
      remediation: CAUSE_REMEDIATION[cause],
      evidence: [
        `cause: ${cause}`,
        ...(detail === '' ? [] : [`registry or runtime said: ${detail}`]),
        `${podsText(observation.pods)} affected`,
      ],
    };
  }
  if (observation.location !== undefined) finding.location = observation.location;
  return finding;
}
