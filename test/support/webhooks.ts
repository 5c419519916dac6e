import { createHmac } from 'node:crypto';
import type { WebhookRequest } from '#shared/intake/sources/source.ts';

// Realistic deliveries built from the senders' documented payloads.

export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;
export const RECEIVED_AT = new Date('2026-03-01T10:15:31.000Z');

export function webhookRequest(
  source: string,
  body: unknown,
  options: {
    contentType?: string;
    headers?: Record<string, string>;
    pathToken?: string;
    query?: Record<string, string>;
  } = {},
): WebhookRequest {
  const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  return {
    source,
    pathToken: options.pathToken,
    headers: Object.fromEntries(
      Object.entries(options.headers ?? {}).map(([key, value]) => [key.toLowerCase(), value]),
    ),
    query: options.query ?? {},
    body: raw,
    contentType: options.contentType ?? 'application/json',
    receivedAt: RECEIVED_AT,
  };
}

export function githubSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function distributionEnvelope(
  events: { action: string; mediaType?: string; tag?: string; digest?: string; id?: string }[],
  host = 'registry.example.com',
) {
  return {
    events: events.map((event, index) => ({
      id: event.id ?? `evt-${index}`,
      timestamp: '2026-03-01T10:15:30.123Z',
      action: event.action,
      target: {
        mediaType: event.mediaType ?? 'application/vnd.oci.image.index.v1+json',
        ...(event.digest === undefined ? {} : { digest: event.digest }),
        size: 1609,
        length: 1609,
        repository: 'team/api',
        url: `https://${host}/v2/team/api/manifests/${event.digest ?? ''}`,
        ...(event.tag === undefined ? {} : { tag: event.tag }),
      },
      request: { id: 'r1', addr: '10.0.0.7:51514', host, method: 'PUT', useragent: 'buildkit' },
      actor: { name: 'ci-bot' },
      source: { addr: 'registry-0:5000', instanceID: 'bde27723' },
    })),
  };
}
