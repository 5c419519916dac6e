import { z } from 'zod';
import { RULE_IDS, SEVERITIES } from '#shared/drift/model.ts';
import { parseEcrRegistryHost } from '#shared/ecr/registry-host.ts';
import { tryParseImageReference } from '#shared/image/reference.ts';
import { WEBHOOK_SOURCES, type WebhookSource } from '#shared/intake/model.ts';
import { tagFilterSchema } from '#shared/prepull/tag-filter.ts';
import { secretRefSchema } from './secret-ref.ts';

/** The kubelet's `imagePullCredentialsVerificationPolicy` values (KEP-2535). */
export const VERIFICATION_POLICIES = [
  'NeverVerify',
  'NeverVerifyPreloadedImages',
  'NeverVerifyAllowlistedImages',
  'AlwaysVerify',
] as const;
export type VerificationPolicy = (typeof VERIFICATION_POLICIES)[number];

export const DEFAULT_NODE_GROUP_LABELS = [
  'eks.amazonaws.com/nodegroup',
  'karpenter.sh/nodepool',
  'alpha.eksctl.io/nodegroup-name',
  'cloud.google.com/gke-nodepool',
  'kubernetes.azure.com/agentpool',
];

/** The key under `nodeGroups.prePull` whose images every node group holds. */
export const ALL_NODE_GROUPS = '*';

export const ADMISSION_MODES = ['warn', 'enforce', 'mutate'] as const;
export type AdmissionMode = (typeof ADMISSION_MODES)[number];

const nonEmpty = z.string().trim().min(1, 'must not be empty');

const imageReference = z.string().superRefine((value, context) => {
  const parsed = tryParseImageReference(value);
  if (parsed instanceof Error) context.addIssue({ code: 'custom', message: parsed.message });
});

const registryPattern = nonEmpty.refine((value) => !/\s/.test(value), 'must not contain spaces');

const ruleSettings = z.strictObject({
  enabled: z.boolean().optional(),
  severity: z.enum(SEVERITIES).optional(),
});

const suppression = z
  .strictObject({
    rules: z.array(z.enum(RULE_IDS)).min(1, 'name at least one rule').optional(),
    namespace: nonEmpty.optional(),
    workload: nonEmpty
      .regex(/^[^/]+\/[^/]+$/, 'must be "<Kind>/<name>" (globs allowed), e.g. "Deployment/api-*"')
      .optional(),
    container: nonEmpty.optional(),
    image: nonEmpty.optional(),
    reason: nonEmpty,
  })
  .refine(
    (entry) =>
      entry.rules !== undefined ||
      entry.namespace !== undefined ||
      entry.workload !== undefined ||
      entry.container !== undefined ||
      entry.image !== undefined,
    'a suppression must narrow by at least one of rules, namespace, workload, container, image',
  );

const hostName = nonEmpty.regex(
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]+)?$/,
  'must be a registry host, optionally with a port, e.g. registry.example.com:5000',
);

/** `registry/repository` globs: `*` stays within a path segment, `**` crosses segments. */
const imagePattern = nonEmpty.refine((value) => {
  const host = value.split('/')[0] ?? '';
  return value.includes('/') && (/[.:*]/.test(host) || host === 'localhost');
}, 'must be a fully qualified repository pattern such as "registry.example.com/team/*" or "docker.io/library/nginx"');

const registryEndpoint = z.strictObject({
  host: hostName,
  /** Base URL when it differs from https://<host> (a mirror, or plain HTTP on loopback). */
  url: z.url({ protocol: /^https?$/ }).optional(),
  username: nonEmpty.optional(),
  password: secretRefSchema.optional(),
});

const webhookSource = z.strictObject({
  /** Shared secret compared with a header (distribution, harbor, acr) or the URL (dockerhub, quay, gar). */
  token: secretRefSchema.optional(),
  /** Header that carries `token`; defaults to Authorization. */
  header: nonEmpty.optional(),
  /** HMAC key (github) or event secret (artifactory). */
  secret: secretRefSchema.optional(),
  /** artifactory: X-JFrog-Event-Auth holds the secret itself (plain) or an HMAC of the body. */
  signing: z.enum(['plain', 'hmac']).optional(),
  /** The registry host pulls use, when the payload names another (or none). */
  registryHost: hostName.optional(),
  /** artifactory: how Docker names map to repositories: host/<repoKey>/<image>, <repoKey>.host/<image>, host/<image>. */
  repositoryLayout: z.enum(['path', 'subdomain', 'host']).optional(),
  /** gar: verify the Pub/Sub push OIDC token. */
  oidc: z
    .strictObject({
      audience: nonEmpty,
      issuers: z
        .array(nonEmpty)
        .min(1)
        .default(['accounts.google.com', 'https://accounts.google.com']),
      jwksUri: z.url({ protocol: /^https?$/ }).optional(),
      jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
      email: nonEmpty.optional(),
    })
    .optional(),
});
export type WebhookSourceSettings = z.infer<typeof webhookSource>;

/** What each source must be configured with to verify deliveries. */
const SOURCE_REQUIREMENTS: Record<
  WebhookSource,
  (settings: WebhookSourceSettings) => string | undefined
> = {
  distribution: (s) =>
    s.token === undefined ? 'needs token (the header value the registry sends)' : undefined,
  harbor: (s) => (s.token === undefined ? 'needs token (the auth_header Harbor sends)' : undefined),
  acr: (s) => (s.token === undefined ? 'needs token (the custom header value)' : undefined),
  dockerhub: (s) =>
    s.token === undefined ? 'needs token (secret part of the webhook URL)' : undefined,
  quay: (s) => (s.token === undefined ? 'needs token (secret part of the webhook URL)' : undefined),
  github: (s) => (s.secret === undefined ? 'needs secret (the webhook secret)' : undefined),
  artifactory: (s) =>
    s.secret === undefined ? 'needs secret (the webhook secret token)' : undefined,
  gar: (s) => (s.token === undefined && s.oidc === undefined ? 'needs token or oidc' : undefined),
};

const ssmExecutor = z.strictObject({
  /** EC2 tag that selects the node group's instances. */
  targetTag: z.strictObject({ key: nonEmpty, value: nonEmpty }),
  document: nonEmpty.default('pullwarden-prepull'),
  maxConcurrency: nonEmpty.regex(/^\d+%?$/, 'must be a number or a percentage').default('10%'),
  maxErrors: nonEmpty.regex(/^\d+%?$/, 'must be a number or a percentage').default('10%'),
  timeoutSeconds: z.number().int().min(30).max(172800).default(3600),
});

const nodeGroupSettings = z
  .strictObject({
    executor: z.enum(['agent', 'ssm']).default('agent'),
    ssm: ssmExecutor.optional(),
    /** Bearer token node agents present for the warm set and their reports (local stack; IAM on AWS). */
    token: secretRefSchema.optional(),
  })
  .refine((group) => group.executor !== 'ssm' || group.ssm !== undefined, {
    message: 'executor ssm needs ssm.targetTag',
    path: ['ssm'],
  });
export type NodeGroupSettings = z.infer<typeof nodeGroupSettings>;

const prePullRule = z.strictObject({
  name: nonEmpty,
  images: z.array(imagePattern).min(1),
  tags: tagFilterSchema.default('any'),
  nodeGroups: z.array(nonEmpty).min(1),
  /** Higher wins when several rules select one node group; also the order requests are queued in. */
  priority: z.number().int().default(0),
});
export type PrePullRule = z.infer<typeof prePullRule>;

/** Minutes before expiry; left out, a credential is refreshed at half its lifetime. */
const refreshTiming = {
  /** Refresh once less than this many minutes of the credential's lifetime remain. */
  refreshBeforeMinutes: z.number().int().min(1).max(1440).optional(),
  /** Count the credential as at risk (alarm) when this close to expiry and its last refresh failed. */
  alarmBeforeMinutes: z.number().int().min(1).max(1440).optional(),
};

// Nodes look credentials up by the host as it appears in the image, which is lower case.
const brokeredHost = hostName.transform((host) => host.toLowerCase());

const ecrRegistryHost = brokeredHost.refine(
  (host) => parseEcrRegistryHost(host) !== undefined,
  'must be an ECR registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com, or public.ecr.aws',
);

const brokeredEcr = z.strictObject({
  source: z.literal('ecr'),
  registry: ecrRegistryHost,
  /** The role in the registry's account that may pull; assumed with sts:AssumeRole. */
  roleArn: nonEmpty.regex(
    /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@-]{1,64}$/,
    'must be an IAM role ARN without a path, e.g. arn:aws:iam::123456789012:role/pullwarden-registry-pull',
  ),
  /** The ExternalId the role's trust policy requires, if any. */
  externalId: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, 'must be 2 to 1224 characters of [A-Za-z0-9+=,.@:/_-]')
    .optional(),
  ...refreshTiming,
});

const brokeredGitHubApp = z.strictObject({
  source: z.literal('github-app'),
  registry: brokeredHost.default('ghcr.io'),
  /** The app's id (or client id): the `iss` of the app JWT. */
  appId: z.union([z.number().int().positive().transform(String), nonEmpty]),
  installationId: z.number().int().positive(),
  /** The app's private key (PEM), from Secrets Manager or SSM. */
  privateKey: secretRefSchema,
  /** The GitHub API; GitHub Enterprise Server: https://<host>/api/v3. */
  apiUrl: z
    .url({ protocol: /^https?$/ })
    .refine(
      (url) =>
        url.startsWith('https:') || /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)[:/]/.test(url),
      'must be https (plain http only on loopback): the app JWT and the token travel over it',
    )
    .default('https://api.github.com'),
  /** What the installation token may do: least privilege by default. */
  permissions: z
    .record(
      z.string().regex(/^[a-z_]+$/, 'must be a GitHub App permission name, e.g. packages'),
      z.enum(['read', 'write']),
    )
    .default({ packages: 'read' }),
  /** Limit the token to these repositories (names, without the owner). */
  repositories: z.array(nonEmpty).min(1).max(500).optional(),
  username: nonEmpty.default('x-access-token'),
  ...refreshTiming,
});

const brokeredRegistry = z
  .discriminatedUnion('source', [brokeredEcr, brokeredGitHubApp], {
    error: 'source must be ecr or github-app',
  })
  .refine(
    (entry) =>
      entry.refreshBeforeMinutes === undefined ||
      entry.alarmBeforeMinutes === undefined ||
      entry.alarmBeforeMinutes < entry.refreshBeforeMinutes,
    {
      message: 'alarmBeforeMinutes must be less than refreshBeforeMinutes',
      path: ['alarmBeforeMinutes'],
    },
  );
export type BrokeredRegistry = z.infer<typeof brokeredRegistry>;

export const configSchema = z.strictObject({
  apiVersion: z.literal('pullwarden.dev/v1'),
  kind: z.literal('Config'),
  cluster: z
    .strictObject({
      multiTenant: z.boolean().default(false),
      alwaysPullImages: z.boolean().default(false),
      imagePullCredentialsVerificationPolicy: z.enum(VERIFICATION_POLICIES).optional(),
      preloadedImagesVerificationAllowlist: z.array(registryPattern).default([]),
    })
    .prefault({}),
  namespaces: z
    .strictObject({
      production: z.array(nonEmpty).default([]),
    })
    .prefault({}),
  registries: z
    .strictObject({
      private: z.array(registryPattern).default([]),
      /** How to reach registries to resolve tags to digests. */
      endpoints: z.array(registryEndpoint).default([]),
      /** How long a tag's resolved digest is reused before the registry is asked again. */
      cacheSeconds: z.number().int().min(0).max(3600).default(30),
    })
    .prefault({}),
  nodeGroups: z
    .strictObject({
      labels: z.array(nonEmpty).min(1).default(DEFAULT_NODE_GROUP_LABELS),
      prePull: z.record(nonEmpty, z.array(imageReference)).default({}),
      verificationPolicy: z.record(nonEmpty, z.enum(VERIFICATION_POLICIES)).default({}),
      /** Per node group: how pre-pulls are executed and how its agents authenticate. */
      groups: z.record(nonEmpty, nodeGroupSettings).default({}),
      /** Node agents' pre-pull reports (POST …/nodes/{node}/report) and the status built from them. */
      reports: z
        .strictObject({
          /** A node whose newest report is older than this counts as stale in the status. */
          staleAfterSeconds: z.number().int().min(30).max(86400).default(900),
          /** Reports are removed (DynamoDB TTL) this long after they arrive. */
          expireAfterHours: z.number().int().min(1).max(720).default(24),
        })
        .refine((reports) => reports.staleAfterSeconds <= reports.expireAfterHours * 3600, {
          message: 'must not exceed expireAfterHours: reports would be removed before going stale',
          path: ['staleAfterSeconds'],
        })
        .prefault({}),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      sources: z.partialRecord(z.enum(WEBHOOK_SOURCES), webhookSource).default({}),
      /** The same registry+repository+tag+digest arriving again within this window is a duplicate. */
      duplicateWindowSeconds: z.number().int().min(1).max(604800).default(3600),
    })
    .superRefine((webhooks, context) => {
      for (const [source, settings] of Object.entries(webhooks.sources)) {
        const missing =
          settings === undefined
            ? undefined
            : SOURCE_REQUIREMENTS[source as WebhookSource](settings);
        if (missing !== undefined) {
          context.addIssue({ code: 'custom', path: ['sources', source], message: missing });
        }
      }
    })
    .prefault({}),
  prePull: z
    .strictObject({
      /** Also pre-pull onto node groups that currently run workloads using the repository. */
      followInventory: z.boolean().default(true),
      rules: z.array(prePullRule).default([]),
    })
    .prefault({}),
  credentials: z
    .strictObject({
      /** Registries credential-refresh mints for and nodes read with `source: brokered`. */
      brokered: z
        .array(brokeredRegistry)
        .default([])
        .superRefine((entries, context) => {
          const seen = new Map<string, number>();
          entries.forEach((entry, index) => {
            const key = entry.registry.toLowerCase();
            const first = seen.get(key);
            if (first !== undefined) {
              context.addIssue({
                code: 'custom',
                path: [index, 'registry'],
                message: `${entry.registry} is already brokered by entry ${first}`,
              });
            } else seen.set(key, index);
          });
        }),
    })
    .prefault({}),
  admission: z
    .strictObject({
      /** warn: admit with warnings; enforce: deny the `deny` rules; mutate: also patch pull policies. */
      mode: z.enum(ADMISSION_MODES).default('warn'),
      /** Rules whose findings deny a request in enforce mode; left out, every finding of severity error. */
      deny: z.array(z.enum(RULE_IDS)).min(1, 'name at least one rule').optional(),
      /** Deny, rather than admit with a warning, when pullwarden itself fails. */
      failClosed: z.boolean().default(false),
      /** The webhook's timeoutSeconds: the answer is always given within it. */
      timeoutSeconds: z.number().int().min(1).max(30).default(5),
      /** Bearer token the API server presents (admission kubeconfig); left out, the route is open. */
      token: secretRefSchema.optional(),
    })
    .prefault({}),
  clusterEvents: z
    .strictObject({
      /** Failed pulls of one container (event count) before PW011 is raised. */
      pullFailureThreshold: z.number().int().min(1).max(1000).default(3),
      /** Queue a node group's warm set for every node that joins it. */
      warmNodesOnJoin: z.boolean().default(true),
      /** Auto Scaling group name glob → node group, for launch events; EKS managed groups are inferred. */
      autoScalingGroups: z.record(nonEmpty, nonEmpty).default({}),
      /** Bearer token event shippers present at POST /cluster-events; the route is closed without one. */
      token: secretRefSchema.optional(),
    })
    .prefault({}),
  findings: z
    .strictObject({
      /** Closed findings stay readable this long. */
      retainClosedDays: z.number().int().min(1).max(365).default(30),
      /** A finding raised from events closes when no event or sweep has seen it for this long. */
      eventFindingsExpireMinutes: z.number().int().min(5).max(10080).default(60),
    })
    .prefault({}),
  rules: z.partialRecord(z.enum(RULE_IDS), ruleSettings).default({}),
  suppressions: z.array(suppression).default([]),
});

export type Config = z.infer<typeof configSchema>;
export type Suppression = Config['suppressions'][number];

export const DEFAULT_CONFIG: Config = configSchema.parse({
  apiVersion: 'pullwarden.dev/v1',
  kind: 'Config',
});
