import { z } from 'zod';
import { ignored, imageChange, type NormalizedEvent } from '../model.ts';
import { verifyConfiguredHeader } from '../verify.ts';
import {
  bodyDeliveryId,
  hostOf,
  parseJsonBody,
  payloadOf,
  type SourceAdapter,
  secondsToIso,
} from './source.ts';

// Harbor webhooks, Default and CloudEvents payload formats. Harbor sends the configured auth header
// verbatim. A resource's `tag` is the artifact's first tag only, or its digest when it has none.

const resource = z.looseObject({
  digest: z.string().optional(),
  tag: z.string().optional(),
  resource_url: z.string().optional(),
});

const eventData = z.looseObject({
  resources: z.array(resource).default([]),
  repository: z
    .looseObject({ repo_full_name: z.string().optional(), name: z.string().optional() })
    .optional(),
});

const defaultFormat = z.looseObject({
  type: z.string(),
  occur_at: z.number(),
  event_data: eventData,
});

const cloudEvent = z.looseObject({
  specversion: z.string(),
  id: z.string(),
  type: z.string(),
  time: z.string().optional(),
  data: eventData,
});

const PUSH = new Set(['PUSH_ARTIFACT', 'pushImage', 'harbor.artifact.pushed']);
const DELETE = new Set(['DELETE_ARTIFACT', 'deleteImage', 'harbor.artifact.deleted']);

type Request = Parameters<SourceAdapter['normalize']>[0];

function fromCloudEvent(body: unknown, request: Request) {
  const event = payloadOf(cloudEvent, body, 'Harbor CloudEvent');
  return {
    type: event.type,
    at: event.time ?? request.receivedAt.toISOString(),
    deliveryId: event.id,
    data: event.data,
  };
}

function fromDefaultFormat(body: unknown, request: Request) {
  const event = payloadOf(defaultFormat, body, 'Harbor webhook payload');
  return {
    type: event.type,
    at: secondsToIso(event.occur_at),
    deliveryId: bodyDeliveryId('harbor', request.body),
    data: event.event_data,
  };
}

export const harbor: SourceAdapter = {
  contentTypes: ['application/json', 'application/cloudevents+json'],
  verify: verifyConfiguredHeader,
  normalize(request, settings) {
    const body = parseJsonBody(request.body);
    const isCloudEvent =
      request.contentType === 'application/cloudevents+json' ||
      (typeof body === 'object' && body !== null && 'specversion' in body);
    const { type, at, deliveryId, data } = isCloudEvent
      ? fromCloudEvent(body, request)
      : fromDefaultFormat(body, request);
    const kind = PUSH.has(type) ? 'pushed' : DELETE.has(type) ? 'deleted' : undefined;
    if (kind === undefined) return [ignored(`${type} events do not change images`)];
    return data.resources.map((entry, index): NormalizedEvent => {
      // An untagged artifact reports its digest in `tag`.
      const tag = entry.tag?.includes(':') ? undefined : entry.tag;
      const urlHost = entry.resource_url === undefined ? undefined : hostOf(entry.resource_url);
      const registry = settings.registryHost ?? urlHost;
      const repository = data.repository?.repo_full_name;
      if (registry === undefined || repository === undefined) {
        return ignored('the event names no registry host or repository');
      }
      return imageChange({
        kind,
        registry,
        repository,
        tag,
        digest: entry.digest,
        at,
        source: 'harbor',
        deliveryId: `${deliveryId}:${index}`,
      });
    });
  },
};
