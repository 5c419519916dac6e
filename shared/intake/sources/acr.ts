import { z } from 'zod';
import { ignored, imageChange } from '../model.ts';
import { verifyConfiguredHeader } from '../verify.ts';
import { JSON_TYPES, parseJsonBody, payloadOf, type SourceAdapter } from './source.ts';

// Azure Container Registry webhooks: one event per request, authenticated only by the custom header
// configured on the webhook. The image is `request.host` + `target.repository`.

const payload = z.looseObject({
  id: z.string(),
  timestamp: z.string(),
  action: z.string(),
  target: z
    .looseObject({
      mediaType: z.string().optional(),
      digest: z.string().optional(),
      repository: z.string().optional(),
      tag: z.string().optional(),
    })
    .default({}),
  request: z.looseObject({ host: z.string().optional() }).default({}),
});

export const acr: SourceAdapter = {
  contentTypes: JSON_TYPES,
  verify: verifyConfiguredHeader,
  normalize(request, settings) {
    const event = payloadOf(payload, parseJsonBody(request.body), 'ACR webhook event');
    const kind =
      event.action === 'push' ? 'pushed' : event.action === 'delete' ? 'deleted' : undefined;
    if (kind === undefined) return [ignored(`${event.action} events do not change images`)];
    return [
      imageChange({
        kind,
        registry: settings.registryHost ?? event.request.host?.toLowerCase(),
        repository: event.target.repository,
        tag: event.target.tag,
        digest: event.target.digest,
        mediaType: event.target.mediaType,
        at: event.timestamp,
        source: 'acr',
        deliveryId: event.id,
      }),
    ];
  },
};
