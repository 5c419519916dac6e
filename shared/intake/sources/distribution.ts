import { z } from 'zod';
import { ignored, imageChange, type NormalizedEvent } from '../model.ts';
import { verifyConfiguredHeader } from '../verify.ts';
import {
  bodyDeliveryId,
  hostOf,
  MANIFEST_MEDIA_TYPES,
  parseJsonBody,
  payloadOf,
  type SourceAdapter,
} from './source.ts';

// CNCF Distribution notifications (also GitLab's registry): an envelope of events, v2.x batching
// several, v3 sending one. Only manifest pushes by tag are image pushes; deletes are recorded.

const event = z.looseObject({
  id: z.string().optional(),
  timestamp: z.string().optional(),
  action: z.string(),
  target: z
    .looseObject({
      mediaType: z.string().optional(),
      digest: z.string().optional(),
      repository: z.string().optional(),
      tag: z.string().optional(),
      url: z.string().optional(),
    })
    .optional(),
  request: z.looseObject({ host: z.string().optional() }).optional(),
});

const envelope = z.looseObject({ events: z.array(event) });

export const distribution: SourceAdapter = {
  contentTypes: [
    'application/vnd.docker.distribution.events.v2+json',
    'application/vnd.docker.distribution.events.v1+json',
    'application/json',
  ],
  verify: verifyConfiguredHeader,
  normalize(request, settings) {
    const { events } = payloadOf(
      envelope,
      parseJsonBody(request.body),
      'Distribution notification envelope',
    );
    return events.map((entry, index): NormalizedEvent => {
      const target = entry.target ?? {};
      const registry =
        settings.registryHost ??
        entry.request?.host?.toLowerCase() ??
        (target.url === undefined ? undefined : hostOf(target.url));
      const common = {
        registry,
        repository: target.repository,
        at: entry.timestamp ?? request.receivedAt.toISOString(),
        source: 'distribution' as const,
        deliveryId: entry.id ?? `${bodyDeliveryId('distribution', request.body)}:${index}`,
      };
      if (entry.action === 'delete') {
        return imageChange({ ...common, kind: 'deleted', tag: target.tag, digest: target.digest });
      }
      if (entry.action !== 'push') return ignored(`${entry.action} events do not change images`);
      if (target.mediaType === undefined || !MANIFEST_MEDIA_TYPES.has(target.mediaType)) {
        return ignored(`blob push (${target.mediaType ?? 'no media type'})`);
      }
      if (registry === undefined) return ignored('the event names no registry host');
      return imageChange({
        ...common,
        kind: 'pushed',
        tag: target.tag,
        digest: target.digest,
        mediaType: target.mediaType,
      });
    });
  },
};
