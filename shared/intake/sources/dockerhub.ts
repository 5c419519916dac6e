import { z } from 'zod';
import { imageChange } from '../model.ts';
import { verifyConfiguredUrlToken } from '../verify.ts';
import {
  bodyDeliveryId,
  JSON_TYPES,
  parseJsonBody,
  payloadOf,
  type SourceAdapter,
  secondsToIso,
} from './source.ts';

// Docker Hub push webhooks: no signature and no digest. The secret lives in the URL; the digest is
// resolved from the registry before anything is queued.

const payload = z.looseObject({
  push_data: z.looseObject({ pushed_at: z.number(), tag: z.string() }),
  repository: z.looseObject({ repo_name: z.string() }),
});

export const dockerhub: SourceAdapter = {
  contentTypes: JSON_TYPES,
  verify: verifyConfiguredUrlToken,
  normalize(request) {
    const event = payloadOf(payload, parseJsonBody(request.body), 'Docker Hub push payload');
    return [
      imageChange({
        kind: 'pushed',
        // Docker Hub names are written without the registry (`acme/api`), as in a pod spec.
        reference: event.repository.repo_name,
        tag: event.push_data.tag,
        at: secondsToIso(event.push_data.pushed_at),
        source: 'dockerhub',
        deliveryId: bodyDeliveryId('dockerhub', request.body),
      }),
    ];
  },
};
