import type { RuleId, Severity } from './model.ts';

/** A rule's stable description. Ids never change meaning once shipped. */
export interface RuleDefinition {
  id: RuleId;
  /** Stable kebab-case name, used as the SARIF rule name. */
  name: string;
  defaultSeverity: Severity;
  /** One line: what the rule detects. */
  title: string;
  /** Why it matters, in a few sentences. */
  rationale: string;
  /** The general fix; findings carry a remediation specific to their container. */
  remediation: string;
  /** True when the rule is about tenant isolation (SARIF security tag). */
  security: boolean;
}

export const RULES: Record<RuleId, RuleDefinition> = {
  PW001: {
    id: 'PW001',
    name: 'latest-or-untagged-image',
    defaultSeverity: 'warning',
    title: 'Image uses the `latest` tag or no tag, and no digest.',
    rationale:
      'An image without a tag means `:latest`. What `latest` points to changes with every push, so two ' +
      'pods of one workload can start different builds, rollbacks are impossible to reason about, and the ' +
      'policy Kubernetes defaults to (`Always`) makes every pod start depend on the registry. It is an ' +
      'error in namespaces configured as production.',
    remediation:
      'Deploy an immutable version tag, or better pin the digest (`repo:1.4.2@sha256:…` or `repo@sha256:…`).',
    security: false,
  },
  PW002: {
    id: 'PW002',
    name: 'stale-defaulted-pull-policy',
    defaultSeverity: 'warning',
    title:
      'The pull policy was defaulted for an earlier image and no longer matches the current image.',
    rationale:
      'Kubernetes sets a missing `imagePullPolicy` once, when the object is created, from the image of ' +
      'that moment, and never re-defaults it when the image changes later. A Deployment created with ' +
      '`app:1.0` keeps `IfNotPresent` after it is changed to `app:latest`, so nodes keep running whatever ' +
      '`latest` was when they first pulled it.',
    remediation:
      'Set `imagePullPolicy` explicitly in the manifest (the value Kubernetes would choose today is given in ' +
      'the finding), or pin the image by digest.',
    security: false,
  },
  PW003: {
    id: 'PW003',
    name: 'mutable-tag-served-from-cache',
    defaultSeverity: 'warning',
    title: 'A mutable tag without a digest is pulled with `IfNotPresent`.',
    rationale:
      'With `IfNotPresent` a node that already holds `repo:tag` never asks the registry again. When the tag ' +
      'is re-pushed, nodes that pulled before the push keep the old build and new nodes get the new one: ' +
      'replicas of one workload silently run different code.',
    remediation:
      'Pin the digest (`repo:tag@sha256:…`), or use `imagePullPolicy: Always` if the tag is meant to move.',
    security: false,
  },
  PW004: {
    id: 'PW004',
    name: 'never-without-guaranteed-image',
    defaultSeverity: 'error',
    title: '`imagePullPolicy: Never` for an image that is not guaranteed to be on the nodes.',
    rationale:
      'With `Never` the kubelet does not pull: if the image is not already on the node the container stays ' +
      'in `ErrImageNeverPull`. Only images in the pre-pull set of every node group the pod can land on are ' +
      'guaranteed to be present.',
    remediation:
      'Add the image to the pre-pull set of the node groups the workload runs on (`nodeGroups.prePull`), ' +
      'or change the policy to `IfNotPresent`.',
    security: false,
  },
  PW005: {
    id: 'PW005',
    name: 'private-image-on-shared-cache',
    defaultSeverity: 'error',
    title:
      'A private image is reused from a node cache shared by tenants without credential checks.',
    rationale:
      'On a multi-tenant cluster, `IfNotPresent` and `Never` let any pod on a node start an image that ' +
      'another tenant pulled with its own credentials, unless the API server runs the `AlwaysPullImages` ' +
      'admission plugin or the kubelet verifies credentials for cached images ' +
      '(`imagePullCredentialsVerificationPolicy`, KEP-2535).',
    remediation:
      'Enable `AlwaysPullImages`, or set the kubelet `imagePullCredentialsVerificationPolicy` to ' +
      '`AlwaysVerify` (or `NeverVerifyPreloadedImages` for images that are not pre-pulled), or use ' +
      '`imagePullPolicy: Always` for this workload.',
    security: true,
  },
  PW006: {
    id: 'PW006',
    name: 'digest-pinned-with-always',
    defaultSeverity: 'info',
    title: 'A digest-pinned image is pulled with `Always`.',
    rationale:
      'A digest names exactly one image, so asking the registry on every pod start cannot find anything ' +
      'new; it only adds a round trip that fails when the registry or its credentials are unavailable.',
    remediation: 'Use `imagePullPolicy: IfNotPresent` for digest-pinned images.',
    security: false,
  },
  PW007: {
    id: 'PW007',
    name: 'tag-and-digest',
    defaultSeverity: 'info',
    title: 'The image names both a tag and a digest.',
    rationale:
      'When a reference has a digest, container runtimes pull by digest and ignore the tag. The tag ' +
      'misleads readers, who may believe they run what the tag points to today. With the tag `latest` it ' +
      'also makes Kubernetes default the policy to `Always`.',
    remediation:
      'Keep the tag only as documentation you trust to be checked (e.g. by a digest-pinning bot), or drop it ' +
      'and keep `repo@sha256:…`.',
    security: false,
  },
  PW008: {
    id: 'PW008',
    name: 'replica-digest-skew',
    defaultSeverity: 'warning',
    title: 'Pods of one workload run different image digests for the same image reference.',
    rationale:
      'Each pod reports the digest it actually runs in `status.containerStatuses[].imageID`. Different ' +
      'digests for the same reference mean nodes resolved the tag at different times: replicas run ' +
      'different builds. Platform manifests of one multi-arch index are not skew.',
    remediation:
      'Pin the digest in the workload and roll it out, or restart the stale pods with `imagePullPolicy: ' +
      'Always` so every node resolves the tag again.',
    security: false,
  },
  PW009: {
    id: 'PW009',
    name: 'tag-moved-under-cached-pods',
    defaultSeverity: 'warning',
    title:
      'The registry now serves another digest for a tag that pods run from their node cache with `IfNotPresent`.',
    rationale:
      'Pods report the digest they run in `status.containerStatuses[].imageID`. When the registry serves a ' +
      'different digest for the same `repo:tag` and the policy is `IfNotPresent`, a restart on a node that ' +
      'holds the old image keeps running the old build, while new nodes start the new one. Platform ' +
      'manifests of the served multi-arch index count as the same build.',
    remediation:
      'Roll the workload out pinned to the new digest (`repo:tag@sha256:…`), or use `imagePullPolicy: ' +
      'Always` so every start resolves the tag again.',
    security: false,
  },
  PW010: {
    id: 'PW010',
    name: 'image-never-pulled',
    defaultSeverity: 'error',
    title:
      'A container is stuck in `ErrImageNeverPull`: `imagePullPolicy: Never` and the image is not on its node.',
    rationale:
      'With `Never` the kubelet does not pull. The container waits in `ErrImageNeverPull` until the image ' +
      'appears on the node, which nothing will do unless the image is pre-pulled on every node the pod can ' +
      'land on. This is the observed form of PW004.',
    remediation:
      "Add the image to the pre-pull set of the workload's node groups (`nodeGroups.prePull`), or change " +
      'the policy to `IfNotPresent`.',
    security: false,
  },
  PW011: {
    id: 'PW011',
    name: 'repeated-image-pull-failure',
    defaultSeverity: 'error',
    title:
      'A container fails to pull its image again and again (`ErrImagePull` / `ImagePullBackOff`).',
    rationale:
      'The kubelet retries a failed pull with a growing back-off of up to five minutes, so the pod does not ' +
      'start until the cause goes away. The cause is classified from the error message: authentication ' +
      '(missing or expired credentials), not found (wrong name or tag, deleted image), rate limited ' +
      '(registry quota) or network (DNS, TLS, timeouts).',
    remediation:
      'Fix the cause the finding names: the node credentials or `imagePullSecrets` for authentication, the ' +
      'reference for not found, a mirror or authenticated pulls for rate limits, the route to the registry ' +
      'for network errors.',
    security: false,
  },
};

export function ruleHelpMarkdown(rule: RuleDefinition): string {
  return `**${rule.id} ${rule.name}** — ${rule.title}\n\n${rule.rationale}\n\n**Fix:** ${rule.remediation}`;
}

export function ruleHelpText(rule: RuleDefinition): string {
  return `${rule.id} ${rule.name}: ${rule.title}\n\n${rule.rationale}\n\nFix: ${rule.remediation}`;
}
