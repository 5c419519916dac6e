import { z } from 'zod';
import { BadRequestError } from '#shared/http/errors.ts';
import { parseImageReference } from '#shared/image/reference.ts';
import { grammar, ignored, imageChange } from '../model.ts';
import { verifyConfiguredUrlToken, verifyOidcBearer } from '../verify.ts';
import {
  bodyDeliveryId,
  JSON_TYPES,
  parseJsonBody,
  payloadOf,
  type SourceAdapter,
} from './source.ts';

// Google Artifact Registry notifications on the `gcr` Pub/Sub topic, delivered by a push
// subscription, wrapped (`{message: {data: <base64>}}`) or unwrapped. `digest` and `tag` are full
// references, not bare values.

const notification = z.looseObject({
  action: z.string(),
  digest: z.string().optional(),
  tag: z.string().optional(),
});

const wrapped = z.looseObject({
  message: z.looseObject({
    data: z.string(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
    publishTime: z.string().optional(),
  }),
  subscription: z.string().optional(),
});

function decodeData(data: string): unknown {
  const text = Buffer.from(data, 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError('message.data is not base64-encoded JSON');
  }
}

export const gar: SourceAdapter = {
  contentTypes: JSON_TYPES,
  async verify(request, settings, secrets) {
    if (settings.oidc !== undefined) {
      await verifyOidcBearer(request.headers, settings.oidc, request.receivedAt);
    }
    await verifyConfiguredUrlToken(request, settings, secrets);
  },
  normalize(request) {
    const body = parseJsonBody(request.body);
    const isWrapped = typeof body === 'object' && body !== null && 'message' in body;
    const envelope = isWrapped ? payloadOf(wrapped, body, 'Pub/Sub push envelope') : undefined;
    const message = payloadOf(
      notification,
      envelope === undefined ? body : decodeData(envelope.message.data),
      'Artifact Registry notification',
    );
    const kind =
      message.action === 'INSERT' ? 'pushed' : message.action === 'DELETE' ? 'deleted' : undefined;
    if (kind === undefined) return [ignored(`${message.action} does not change images`)];
    const reference = message.digest ?? message.tag;
    if (reference === undefined) return [ignored('the notification names no image')];
    const tagText = message.tag;
    const tag = tagText === undefined ? undefined : grammar(() => parseImageReference(tagText)).tag;
    const deliveryId =
      envelope?.message.messageId ??
      envelope?.message.message_id ??
      request.headers['x-goog-pubsub-message-id'] ??
      bodyDeliveryId('gar', request.body);
    return [
      imageChange({
        kind,
        reference: message.digest === undefined ? reference : withoutTag(reference),
        tag,
        at: envelope?.message.publishTime ?? request.receivedAt.toISOString(),
        source: 'gar',
        deliveryId,
      }),
    ];
  },
};

/** `host/path:tag@sha256:…` → `host/path@sha256:…` (the tag comes from the `tag` field). */
function withoutTag(reference: string): string {
  const parsed = grammar(() => parseImageReference(reference));
  return parsed.digest === undefined ? parsed.name : `${parsed.name}@${parsed.digest}`;
}
