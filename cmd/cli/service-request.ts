import { errorReason, fetchFailure, oneLine } from '#shared/http/answer-text.ts';
import { UsageError } from './io.ts';
import {
  type AwsCredentials,
  defaultCredentials,
  isAwsHost,
  signingRegion,
  signRequest,
} from './sigv4.ts';

// GET requests from the CLI to the pullwarden API (`pullwarden findings`, `pullwarden status`): the
// base URL, SigV4 for IAM-authorised routes, a timeout, and reasons for failures that fit on one line
// and never carry credentials.

export const DEFAULT_TIMEOUT_SECONDS = 30;

/** The API's base URL. It is never echoed back: whatever was typed may hold a secret. */
export function serviceUrl(given: string | undefined, option: string): URL {
  if (given === undefined || given.trim() === '') {
    throw new UsageError(`give the pullwarden API with --${option} <url> or $PULLWARDEN_URL`);
  }
  let url: URL;
  try {
    url = new URL(given.trim());
  } catch {
    throw new UsageError(`--${option} must be an http or https URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--${option} must be an http or https URL (got ${url.protocol})`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UsageError(`--${option} must not carry a user name or password; the API takes SigV4`);
  }
  return url;
}

/** RFC 3986 encoding, as SigV4 canonicalises a query: what is signed is exactly what is sent. */
function encodeQueryPart(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `<base><path>?…`; the base may carry a stage or a path prefix. */
export function serviceEndpoint(
  base: URL,
  path: string,
  query: readonly (readonly [string, string])[] = [],
): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.hash = '';
  url.search = query
    .map(([name, value]) => `${encodeQueryPart(name)}=${encodeQueryPart(value)}`)
    .join('&');
  return url;
}

export function timeoutOption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UsageError(
      `--timeout must be a number of seconds above 0, at most 3600 (got "${value}")`,
    );
  }
  return seconds;
}

export interface ServiceGet {
  url: URL;
  /** Sign with SigV4; undefined: sign for *.amazonaws.com hosts. */
  sigv4: boolean | undefined;
  timeoutSeconds: number;
  userAgent: string;
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * The JSON document a 2xx answer carries, or why there is none: `answered` describes the answer
 * (`answered 200 OK`) for messages about its content.
 */
export type ServiceAnswer =
  | { ok: true; document: unknown; answered: string }
  | { ok: false; reason: string };

/** GETs a JSON document. Throws UsageError when the request cannot be signed as asked. */
export async function getServiceJson(
  request: ServiceGet,
  headers: Record<string, string> = {},
): Promise<ServiceAnswer> {
  const { url, timeoutSeconds } = request;
  let sent: Record<string, string> = {
    accept: 'application/json',
    'user-agent': request.userAgent,
    ...headers,
  };
  if (request.sigv4 ?? isAwsHost(url)) {
    const region = signingRegion(url, request.env);
    if (region === undefined) {
      throw new UsageError(
        `cannot tell which AWS region ${url.host} is in: set AWS_REGION, or use --no-sigv4`,
      );
    }
    let credentials: AwsCredentials;
    try {
      credentials = await defaultCredentials(request.env);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return {
        ok: false,
        reason: `not sent: no AWS credentials to sign with (${oneLine(reason)})`,
      };
    }
    sent = await signRequest(
      { method: 'GET', url, headers: sent },
      { credentials, region, service: 'execute-api' },
    );
  }

  let response: Response;
  let body: string;
  try {
    response = await fetch(url, {
      headers: sent,
      // A redirect would carry a signature made for another URL; it is reported, not followed.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
    body = await response.text();
  } catch (error) {
    return { ok: false, reason: fetchFailure(error, timeoutSeconds) };
  }
  const { status, statusText } = response;
  const answered = `answered ${status}${statusText === '' ? '' : ` ${oneLine(statusText, 60)}`}`;
  if (status < 200 || status > 299) {
    const reason = errorReason(body);
    return { ok: false, reason: reason === '' ? answered : `${answered}: ${reason}` };
  }
  try {
    return { ok: true, document: JSON.parse(body), answered };
  } catch {
    return { ok: false, reason: `${answered} with a body that is not JSON` };
  }
}
