import { createHash } from 'node:crypto';
import { z } from 'zod';

// `pullwarden.prepull/v1`: one request to hold an image, pinned by digest, on one node group. The
// FIFO queue orders them per node group (MessageGroupId) and drops repeats of the same node group and
// digest within SQS's five-minute deduplication interval (MessageDeduplicationId).

export const PREPULL_SCHEMA = 'pullwarden.prepull/v1';
export const PREPULL_REASONS = ['push', 'node-join', 'workload', 'manual'] as const;
export type PrepullReason = (typeof PREPULL_REASONS)[number];

export const digestSchema = z
  .string()
  .regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'must be a digest');

export const prepullMessageSchema = z.strictObject({
  schema: z.literal(PREPULL_SCHEMA),
  nodeGroup: z.string().min(1).max(128),
  image: z.strictObject({
    registry: z.string().min(1),
    repository: z.string().min(1),
    tag: z.string().min(1).optional(),
    digest: digestSchema,
    mediaType: z.string().optional(),
  }),
  reason: z.enum(PREPULL_REASONS),
  /** Why this node group: the planning rule's name, or `inventory`. */
  selectedBy: z.string().min(1),
  priority: z.number().int(),
  requestedAt: z.iso.datetime(),
  source: z.string().min(1),
  deliveryId: z.string().min(1),
  /** node-join: the node that joined (its EC2 instance, when known), which alone needs the image. */
  node: z
    .strictObject({
      name: z.string().min(1).optional(),
      instanceId: z
        .string()
        .regex(/^i-[0-9a-f]{8,17}$/)
        .optional(),
    })
    .optional(),
});

export type PrepullMessage = z.infer<typeof prepullMessageSchema>;

/** `registry/repository@digest`: what a node pulls. */
export function pinnedReference(message: Pick<PrepullMessage, 'image'>): string {
  return `${message.image.registry}/${message.image.repository}@${message.image.digest}`;
}

/**
 * Stable per node group and digest, within SQS's 128-character limit. A node-join request is also per
 * node: two nodes joining within SQS's five minutes both need the image.
 */
export function deduplicationId(
  message: Pick<PrepullMessage, 'nodeGroup' | 'image' | 'node'>,
): string {
  const node = message.node?.instanceId ?? message.node?.name;
  return createHash('sha256')
    .update(`${message.nodeGroup}\n${message.image.digest}${node === undefined ? '' : `\n${node}`}`)
    .digest('hex');
}
