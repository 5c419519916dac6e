import { z } from 'zod';
import { RULE_IDS, SEVERITIES } from '#shared/drift/model.ts';
import { tryParseImageReference } from '#shared/image/reference.ts';

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
    })
    .prefault({}),
  nodeGroups: z
    .strictObject({
      labels: z.array(nonEmpty).min(1).default(DEFAULT_NODE_GROUP_LABELS),
      prePull: z.record(nonEmpty, z.array(imageReference)).default({}),
      verificationPolicy: z.record(nonEmpty, z.enum(VERIFICATION_POLICIES)).default({}),
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
