import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { WebhookSourceSettings } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import { BadRequestError, UnprocessableEntityError } from '#shared/http/errors.ts';
import type { NormalizedEvent } from '../model.ts';

/** One HTTP delivery as the intake sees it, whatever server received it. */
export interface WebhookRequest {
  /** The `{source}` path segment. */
  source: string;
  /** The optional path segment after the source, for senders that can only carry a secret in the URL. */
  pathToken: string | undefined;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string>>;
  query: Readonly<Record<string, string>>;
  body: Buffer;
  /** Media type without parameters, lower case. */
  contentType: string | undefined;
  receivedAt: Date;
}

export interface SourceAdapter {
  readonly contentTypes: readonly string[];
  verify(
    request: WebhookRequest,
    settings: WebhookSourceSettings,
    secrets: SecretResolver,
  ): Promise<void>;
  /** Turns the payload into events; throws UnprocessableEntityError for a shape it does not know. */
  normalize(request: WebhookRequest, settings: WebhookSourceSettings): NormalizedEvent[];
}

export const JSON_TYPES = ['application/json'] as const;

export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequestError(`the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Validates a decoded payload against the source's schema; a mismatch is a 422 naming the field. */
export function payloadOf<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new UnprocessableEntityError(
    `not a ${what}`,
    result.error.issues.slice(0, 5).map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    })),
  );
}

/** Senders without delivery ids: the body identifies a redelivery of the same notification. */
export function bodyDeliveryId(source: string, body: Buffer): string {
  return `${source}:${createHash('sha256').update(body).digest('hex').slice(0, 32)}`;
}

/** The host part of a URL or of a `host/path` reference. */
export function hostOf(text: string): string | undefined {
  const withoutScheme = text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const host = withoutScheme.split('/')[0];
  return host === undefined || host === '' ? undefined : host.toLowerCase();
}

export function secondsToIso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/** Manifest and index media types; everything else a registry reports (layers, configs) is a blob. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v1+json',
]);
