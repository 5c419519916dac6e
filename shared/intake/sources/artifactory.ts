import { z } from 'zod';
import { UnauthorizedError } from '#shared/http/errors.ts';
import { ignored, imageChange } from '../model.ts';
import { constantTimeEqual, hmacSha256Hex } from '../verify.ts';
import {
  bodyDeliveryId,
  hostOf,
  JSON_TYPES,
  parseJsonBody,
  payloadOf,
  type SourceAdapter,
} from './source.ts';

// JFrog Artifactory webhooks, Docker domain. X-JFrog-Event-Auth holds the secret itself or, with
// payload signing on, the hex HMAC-SHA256 of the body. `sha256` is the stored manifest's checksum,
// which is the manifest digest without its algorithm prefix.

const payload = z.looseObject({
  domain: z.string(),
  event_type: z.string(),
  data: z.looseObject({
    repo_key: z.string(),
    image_name: z.string(),
    tag: z.string().optional(),
    sha256: z.string().optional(),
    name: z.string().optional(),
  }),
  jpd_origin: z.string().optional(),
});

const MEDIA_TYPE_BY_FILE: Readonly<Record<string, string>> = {
  'list.manifest.json': 'application/vnd.docker.distribution.manifest.list.v2+json',
  'manifest.json': 'application/vnd.docker.distribution.manifest.v2+json',
};

export const artifactory: SourceAdapter = {
  contentTypes: JSON_TYPES,
  async verify(request, settings, secrets) {
    if (settings.secret === undefined) return;
    const secret = await secrets.resolve(settings.secret);
    const received = request.headers['x-jfrog-event-auth'];
    if (received === undefined || received === '') {
      throw new UnauthorizedError('the X-JFrog-Event-Auth header is missing');
    }
    const signed = (settings.signing ?? 'hmac') === 'hmac';
    const expected = signed ? hmacSha256Hex(secret, request.body) : secret;
    // Hex case is not part of the signature.
    if (!constantTimeEqual(signed ? received.toLowerCase() : received, expected)) {
      throw new UnauthorizedError(
        settings.signing === 'plain'
          ? 'X-JFrog-Event-Auth does not match the configured secret'
          : 'X-JFrog-Event-Auth is not the HMAC of the body under the configured secret',
      );
    }
  },
  normalize(request, settings) {
    const event = payloadOf(payload, parseJsonBody(request.body), 'Artifactory webhook payload');
    if (event.domain !== 'docker') return [ignored(`${event.domain} events are not images`)];
    const kind =
      event.event_type === 'pushed'
        ? 'pushed'
        : event.event_type === 'deleted'
          ? 'deleted'
          : undefined;
    if (kind === undefined) return [ignored(`docker ${event.event_type} events do not push`)];
    const host =
      settings.registryHost ??
      (event.jpd_origin === undefined ? undefined : hostOf(event.jpd_origin));
    if (host === undefined) return [ignored('no registry host: set registryHost for artifactory')];
    const { data } = event;
    const layout = settings.repositoryLayout ?? 'path';
    const [registry, repository] =
      layout === 'path'
        ? [host, `${data.repo_key}/${data.image_name}`]
        : layout === 'subdomain'
          ? [`${data.repo_key}.${host}`, data.image_name]
          : [host, data.image_name];
    return [
      imageChange({
        kind,
        registry,
        repository,
        tag: data.tag,
        digest: data.sha256 === undefined ? undefined : `sha256:${data.sha256.toLowerCase()}`,
        mediaType: data.name === undefined ? undefined : MEDIA_TYPE_BY_FILE[data.name],
        at: request.receivedAt.toISOString(),
        source: 'artifactory',
        deliveryId: bodyDeliveryId('artifactory', request.body),
      }),
    ];
  },
};
