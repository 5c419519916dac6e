import { z } from 'zod';
import { privateEcrRegistryHost } from '#shared/ecr/registry-host.ts';
import { ignored, imageChange, type NormalizedEvent } from '../model.ts';
import { payloadOf } from './source.ts';

// `ECR Image Action` events from EventBridge. IAM delivers them, so there is nothing to verify. Tag or
// digest may be missing (untagged platform manifests, tag-only deletes).

const ecrEventSchema = z.looseObject({
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  account: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id'),
  time: z.string(),
  region: z.string(),
  detail: z.looseObject({
    result: z.string().optional(),
    'action-type': z.string().optional(),
    'repository-name': z.string().optional(),
    'image-digest': z.string().optional(),
    'image-tag': z.string().optional(),
    'manifest-media-type': z.string().optional(),
  }),
});

// The registry host is derived once, while validating: a pair that names no ECR registry is invalid.
const ecrEventWithHostSchema = ecrEventSchema.transform((event, context) => {
  const registry = privateEcrRegistryHost(event.account, event.region);
  if (registry === undefined) {
    context.addIssue({
      code: 'custom',
      message: 'account and region must name an ECR registry',
      path: ['region'],
    });
    return z.NEVER;
  }
  return { ...event, registry };
});

export function normalizeEcrEvent(value: unknown): NormalizedEvent {
  const event = payloadOf(ecrEventWithHostSchema, value, 'EventBridge ECR event');
  if (event.source !== 'aws.ecr' || event['detail-type'] !== 'ECR Image Action') {
    return ignored(`${event['detail-type']} events do not change images`);
  }
  const detail = event.detail;
  if (detail.result !== 'SUCCESS') return ignored(`action result ${detail.result ?? 'missing'}`);
  const action = detail['action-type'];
  const kind = action === 'PUSH' ? 'pushed' : action === 'DELETE' ? 'deleted' : undefined;
  if (kind === undefined) return ignored(`action ${action ?? 'missing'} does not change images`);
  return imageChange({
    kind,
    registry: event.registry,
    repository: detail['repository-name'],
    tag: detail['image-tag'],
    digest: detail['image-digest'],
    mediaType: detail['manifest-media-type'],
    at: event.time,
    source: 'ecr',
    deliveryId: event.id,
  });
}
