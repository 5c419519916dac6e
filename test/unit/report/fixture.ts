import type {
  DriftReport,
  Finding,
  InputProblem,
  Severity,
  SuppressedFinding,
} from '#shared/drift/model.ts';
import { RULES } from '#shared/drift/rules.ts';

// A report as a run over a repository, a cluster dump and stdin would produce it: every severity,
// low confidence, suppressed findings, input problems, locations with and without lines.

export const DIGEST = `sha256:${'3f'.repeat(32)}`;
export const OTHER_DIGEST = `sha256:${'4e'.repeat(32)}`;

type FindingParts = Omit<Finding, 'severity' | 'confidence' | 'remediation' | 'evidence'> &
  Partial<Pick<Finding, 'severity' | 'confidence' | 'remediation' | 'evidence'>>;

export function finding(parts: FindingParts): Finding {
  return {
    severity: RULES[parts.ruleId].defaultSeverity,
    confidence: 'high',
    remediation: RULES[parts.ruleId].remediation,
    evidence: [],
    ...parts,
  };
}

const PROD_API = { kind: 'Deployment', namespace: 'prod', name: 'api' };
const PROD_DB = { kind: 'StatefulSet', namespace: 'prod', name: 'db' };
const SHOP_WEB = { kind: 'Deployment', namespace: 'shop', name: 'web' };
const NODE_AGENT = { kind: 'DaemonSet', namespace: 'kube-system', name: 'node-agent' };
const DEBUG = { kind: 'Deployment', namespace: 'default', name: 'debug' };
const REPORT_JOB = { kind: 'CronJob', namespace: 'batch', name: 'report' };

export const FINDINGS: Finding[] = [
  finding({
    ruleId: 'PW003',
    workload: SHOP_WEB,
    container: { name: 'web', kind: 'container' },
    image: 'nginx:1.25',
    message:
      'nginx:1.25 is a mutable tag pulled with IfNotPresent: nodes that already hold it never see a re-push',
    remediation:
      'Pin the digest (nginx:1.25@sha256:<digest>) and keep IfNotPresent, or set imagePullPolicy: Always.',
    evidence: ['imagePullPolicy IfNotPresent is set explicitly', 'the reference has no digest'],
    location: {
      file: 'manifests/shop-frontend.yaml',
      document: 2,
      line: 40,
      column: 18,
      path: 'spec.template.spec.containers[0].image',
    },
  }),
  finding({
    ruleId: 'PW001',
    severity: 'error',
    workload: PROD_API,
    container: { name: 'app', kind: 'container' },
    image: 'registry.example.com/shop/api:latest',
    message: 'registry.example.com/shop/api:latest uses the "latest" tag and no digest',
    remediation:
      'Deploy an immutable version (registry.example.com/shop/api:<version>) or pin the digest (registry.example.com/shop/api@sha256:<digest>).',
    evidence: [
      'the reference has tag "latest" and no digest',
      'namespace prod is configured as production',
    ],
    location: { file: 'deploy/prod/api.yaml', document: 1, line: 21, column: 18 },
  }),
  finding({
    ruleId: 'PW007',
    workload: SHOP_WEB,
    container: { name: 'log-shipper', kind: 'container' },
    image: `fluent/fluent-bit:3.0@${DIGEST}`,
    message: `fluent/fluent-bit:3.0@${DIGEST} names tag "3.0" and a digest: runtimes pull the digest and ignore the tag`,
    remediation: `Use fluent/fluent-bit@${DIGEST}, or keep the tag only if a bot keeps it in sync with the digest.`,
    evidence: ['container runtimes resolve a reference with a digest by the digest alone'],
    location: { file: 'manifests/shop-frontend.yaml', document: 2, line: 52, column: 18 },
  }),
  finding({
    ruleId: 'PW005',
    confidence: 'medium',
    workload: PROD_API,
    container: { name: 'app', kind: 'container' },
    image: 'registry.example.com/shop/api:latest',
    message:
      'private image registry.example.com/shop/api:latest is reused from the node cache (IfNotPresent) on a multi-tenant cluster without credential checks',
    remediation:
      'Enable the AlwaysPullImages admission plugin, or set the kubelet imagePullCredentialsVerificationPolicy to AlwaysVerify, or use imagePullPolicy: Always here.',
    evidence: [
      'the cluster is configured as multi-tenant and AlwaysPullImages is not declared',
      'registry.example.com/shop/api matches a private registry pattern',
    ],
    location: { file: 'deploy/prod/api.yaml', document: 1, line: 21, column: 18 },
  }),
  finding({
    ruleId: 'PW002',
    confidence: 'low',
    workload: PROD_API,
    container: { name: 'migrate', kind: 'initContainer' },
    image: 'registry.example.com/shop/migrate:2.3',
    message:
      'imagePullPolicy Always differs from the default for registry.example.com/shop/migrate:2.3 (IfNotPresent) and may have been defaulted for an earlier image',
    remediation:
      'Set imagePullPolicy: IfNotPresent explicitly for "migrate": the image is now a fixed version.',
    evidence: [
      'the manifest has no last-applied configuration to tell explicit from defaulted fields',
    ],
    location: { file: 'deploy/prod/api.yaml', document: 1, line: 14, column: 20 },
  }),
  finding({
    ruleId: 'PW004',
    workload: PROD_DB,
    container: { name: 'postgres', kind: 'container' },
    image: 'postgres:16.2',
    message:
      'imagePullPolicy Never, but postgres:16.2 is not in the pre-pull set of node group(s) db-nodes',
    remediation:
      'Add docker.io/library/postgres:16.2 to nodeGroups.prePull for db-nodes, or use imagePullPolicy: IfNotPresent.',
    evidence: ['the pod template selects node group db-nodes'],
    location: { file: 'deploy/prod/db.yaml', document: 1, line: 30 },
  }),
  finding({
    ruleId: 'PW008',
    confidence: 'low',
    workload: NODE_AGENT,
    container: { name: 'agent', kind: 'container' },
    image: 'registry.example.com/agent:stable',
    message: `5 pods run 2 different digests of registry.example.com/agent:stable: ${DIGEST.slice(0, 19)}… ×3, ${OTHER_DIGEST.slice(0, 19)}… ×2`,
    evidence: [
      'whether these digests are platform manifests of one multi-arch index cannot be told: the architecture of some nodes is unknown (add the Node objects to the input)',
      `3 pods run ${DIGEST}`,
      `2 pods run ${OTHER_DIGEST}`,
    ],
    location: {
      file: 'dumps/cluster.json',
      document: 3,
      path: 'items[3].spec.template.spec.containers[0].image',
    },
  }),
  finding({
    ruleId: 'PW001',
    workload: DEBUG,
    container: { name: 'shell', kind: 'container' },
    image: 'busybox',
    message: 'busybox has no tag, which means "latest", and no digest',
    remediation:
      'Deploy an immutable version (busybox:<version>) or pin the digest (busybox@sha256:<digest>).',
    evidence: ['the reference has no tag and no digest'],
    location: { file: '-', document: 1, line: 5, column: 14 },
  }),
  finding({
    ruleId: 'PW006',
    workload: REPORT_JOB,
    container: { name: 'models', kind: 'imageVolume' },
    image: `registry.example.com/models@${DIGEST}`,
    message: `registry.example.com/models@${DIGEST} is pinned by digest and pulled with Always: every start asks the registry for nothing`,
    remediation: 'Set imagePullPolicy: IfNotPresent for "models".',
    evidence: ['imagePullPolicy Always is set explicitly', `the reference pins ${DIGEST}`],
  }),
];

export const SUPPRESSED: SuppressedFinding[] = [
  {
    ...finding({
      ruleId: 'PW006',
      workload: { kind: 'Deployment', namespace: 'kube-system', name: 'coredns' },
      container: { name: 'coredns', kind: 'container' },
      image: `registry.k8s.io/coredns/coredns@${DIGEST}`,
      message: `registry.k8s.io/coredns/coredns@${DIGEST} is pinned by digest and pulled with Always: every start asks the registry for nothing`,
      location: { file: 'dumps/cluster.json', document: 7 },
    }),
    suppression: { reason: 'managed by the EKS add-on' },
  },
  {
    ...finding({
      ruleId: 'PW003',
      workload: { kind: 'Deployment', namespace: 'shop', name: 'legacy-billing' },
      container: { name: 'app', kind: 'container' },
      image: 'vendor.example.com/billing:4.1',
      message:
        'vendor.example.com/billing:4.1 is a mutable tag pulled with IfNotPresent: nodes that already hold it never see a re-push',
      location: { file: 'manifests/billing.yaml', document: 1, line: 19, column: 16 },
    }),
    suppression: { reason: 'vendor image, retag tracked in OPS-112' },
  },
];

export const PROBLEMS: InputProblem[] = [
  {
    file: 'dumps/cluster.json',
    document: 12,
    path: 'spec.template.spec.containers[0].image',
    message: 'image is not a string',
  },
  {
    file: 'deploy/broken.yaml',
    document: 2,
    line: 7,
    message:
      'invalid YAML at line 7, column 3: Nested mappings are not allowed in compact mappings',
  },
  {
    file: '-',
    document: 3,
    line: 40,
    message: 'not a Kubernetes object: the document has no kind',
  },
];

export function countSeverities(findings: readonly Finding[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { info: 0, warning: 0, error: 0 };
  for (const item of findings) counts[item.severity]++;
  return counts;
}

export function report(
  parts: Partial<Pick<DriftReport, 'findings' | 'suppressed' | 'problems'>> = {},
): DriftReport {
  const findings = parts.findings ?? FINDINGS;
  const suppressed = parts.suppressed ?? SUPPRESSED;
  const problems = parts.problems ?? PROBLEMS;
  return {
    findings,
    suppressed,
    problems,
    summary: {
      files: 5,
      documents: 42,
      objects: 40,
      pods: 12,
      workloads: 9,
      findings: countSeverities(findings),
      suppressed: suppressed.length,
      problems: problems.length,
    },
  };
}

export function emptyReport(): DriftReport {
  return report({ findings: [], suppressed: [], problems: [] });
}
