import { z } from 'zod';
import { digestSchema as digest } from './message.ts';
import { MAX_REASON_LENGTH, NODE_GROUP_NAME, NODE_NAME } from './names.ts';

// `pullwarden.nodereport/v1`: what one node's agent holds of its node group's warm set, sent to
// POST /v1/nodegroups/{nodeGroup}/nodes/{node}/report after every reconcile. A report replaces the node's
// previous one whole; `sequence` orders them, so a retried or delayed older report changes nothing.

export const NODE_REPORT_SCHEMA = 'pullwarden.nodereport/v1';

export const IMAGE_STATES = ['present', 'pulling', 'failed'] as const;
export type ImageState = (typeof IMAGE_STATES)[number];

/**
 * Why a pull failed. The registry causes match the kubelet-event classifier's; `registry` is a server
 * error the registry answered; `disk-space` is a pull the agent refused before starting, `timeout` one
 * that ran out of time, `runtime` a container runtime error.
 */
export const PULL_FAILURE_KINDS = [
  'authentication',
  'not-found',
  'rate-limited',
  'network',
  'registry',
  'disk-space',
  'timeout',
  'runtime',
  'unknown',
] as const;
export type PullFailureKind = (typeof PULL_FAILURE_KINDS)[number];

export const nodeImageSchema = z.strictObject({
  /** `registry/repository[:tag]@digest`, as the warm set names it. */
  image: z.string().min(1).max(1024),
  digest,
  state: z.enum(IMAGE_STATES),
  /** Compressed bytes the registry manifest declares (config and layers of the node's platform). */
  bytes: z.number().int().min(0).optional(),
  /** When the agent pulled it (not set for an image that was already present). */
  pulledAt: z.iso.datetime().optional(),
  /** Time the pull took, all attempts included. */
  durationMs: z.number().int().min(0).optional(),
  attempts: z.number().int().min(0).optional(),
  /** The agent labelled it `io.cri-containerd.pinned=pinned`: the kubelet's image GC skips it. */
  pinned: z.boolean().optional(),
  cause: z.enum(PULL_FAILURE_KINDS).optional(),
  /** One line, credentials removed, at most 300 characters. */
  reason: z.string().max(MAX_REASON_LENGTH).optional(),
});
export type NodeImage = z.infer<typeof nodeImageSchema>;

export const nodeReportSchema = z.strictObject({
  schema: z.literal(NODE_REPORT_SCHEMA),
  nodeGroup: z.string().regex(NODE_GROUP_NAME),
  node: z.string().regex(NODE_NAME, 'must be a Kubernetes node name'),
  instanceId: z
    .string()
    .regex(/^i-[0-9a-f]{8,17}$/)
    .optional(),
  /** Increases with every report a node sends (the agent uses its clock in milliseconds). */
  sequence: z.number().int().min(0),
  reportedAt: z.iso.datetime(),
  /** The warm set's ETag the agent reconciled against. */
  warmSetEtag: z.string().max(200).optional(),
  agent: z.strictObject({
    version: z.string().min(1).max(64),
    /** The container runtime, as CRI Version names it, e.g. `containerd 1.7.27`. */
    runtime: z.string().min(1).max(128).optional(),
  }),
  /** The image filesystem as the agent measured it before its last pull. */
  disk: z
    .strictObject({
      path: z.string().min(1).max(4096),
      freeBytes: z.number().int().min(0),
      totalBytes: z.number().int().min(0),
    })
    .optional(),
  images: z.array(nodeImageSchema).max(2000),
});
export type NodeReport = z.infer<typeof nodeReportSchema>;

export const NODE_GROUP_STATUS_SCHEMA = 'pullwarden.nodegroupstatus/v1';

// `pullwarden.nodegroupstatus/v1`: GET /v1/nodegroups/{nodeGroup}/status, the fresh reports of a node
// group set against its warm set.

// One description serves the server that builds the document and the client that reads it. A client
// keeps the fields it knows and drops any others, so a newer server can add fields without breaking it.

/** A node as its newest report describes it; `receivedAt` is pullwarden's clock, not the node's. */
const statusNodeSchema = z.object({
  node: z.string(),
  instanceId: z.string().optional(),
  sequence: z.number(),
  reportedAt: z.string(),
  receivedAt: z.string(),
  warmSetEtag: z.string().optional(),
  agent: z.object({ version: z.string(), runtime: z.string().optional() }),
  disk: z.object({ path: z.string(), freeBytes: z.number(), totalBytes: z.number() }).optional(),
});
export type NodeGroupStatusNode = z.infer<typeof statusNodeSchema>;

const pullFailureSchema = z.object({
  node: z.string(),
  cause: z.enum(PULL_FAILURE_KINDS),
  reason: z.string().optional(),
  /** When the node reported the failure. */
  at: z.string(),
  attempts: z.number().optional(),
});
export type NodePullFailure = z.infer<typeof pullFailureSchema>;

const imageStatusSchema = z.object({
  /** `registry/repository[:tag]@digest`, as the warm set names it. */
  image: z.string(),
  digest: z.string(),
  tag: z.string().optional(),
  /** False for an image nodes still report that has left the warm set. */
  inWarmSet: z.boolean(),
  /** Fresh nodes by state, sorted by name. */
  present: z.array(z.string()),
  pulling: z.array(z.string()),
  failed: z.array(pullFailureSchema),
  /** Fresh nodes that do not report the image at all (warm-set images only). */
  missing: z.array(z.string()),
  /** Nodes that hold it pinned against the kubelet's image garbage collection. */
  pinned: z.number(),
  /** Over the fresh nodes that pulled it and said how long it took. */
  pullDurationMs: z.object({ median: z.number(), max: z.number(), samples: z.number() }).optional(),
});
export type ImageStatus = z.infer<typeof imageStatusSchema>;

export const nodeGroupStatusSchema = z.object({
  schema: z.literal(NODE_GROUP_STATUS_SCHEMA),
  nodeGroup: z.string(),
  generatedAt: z.string(),
  /** A node whose newest report was received longer ago than this is stale. */
  staleAfterSeconds: z.number(),
  nodes: z.array(statusNodeSchema),
  staleNodes: z.array(statusNodeSchema),
  /** Warm-set images first, then the others; by image within each. */
  images: z.array(imageStatusSchema),
});
export type NodeGroupStatus = z.infer<typeof nodeGroupStatusSchema>;
