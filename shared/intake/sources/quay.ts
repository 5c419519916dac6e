import { z } from 'zod';
import { imageChange } from '../model.ts';
import { verifyConfiguredUrlToken } from '../verify.ts';
import {
  bodyDeliveryId,
  hostOf,
  JSON_TYPES,
  parseJsonBody,
  payloadOf,
  type SourceAdapter,
} from './source.ts';

// Quay `repo_push` notifications: no signature, no digest, `updated_tags` as a list (or, in older
// payloads, an object keyed by tag).

const payload = z.looseObject({
  repository: z.string(),
  docker_url: z.string(),
  updated_tags: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]),
});

export const quay: SourceAdapter = {
  contentTypes: JSON_TYPES,
  verify: verifyConfiguredUrlToken,
  normalize(request, settings) {
    const event = payloadOf(payload, parseJsonBody(request.body), 'Quay repo_push notification');
    const tags = Array.isArray(event.updated_tags)
      ? event.updated_tags
      : Object.keys(event.updated_tags);
    const registry = settings.registryHost ?? hostOf(event.docker_url) ?? 'quay.io';
    const deliveryId = bodyDeliveryId('quay', request.body);
    return tags.map((tag) =>
      imageChange({
        kind: 'pushed',
        registry,
        repository: event.repository,
        tag,
        at: request.receivedAt.toISOString(),
        source: 'quay',
        deliveryId: `${deliveryId}:${tag}`,
      }),
    );
  },
};
