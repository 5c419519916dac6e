import { BadRequestError, PayloadTooLargeError } from './errors.ts';

// The parts of an API Gateway HTTP API (payload 2.0) request that handlers read, whoever serves it.

export interface HttpRequest {
  body?: string | undefined;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined> | undefined;
  pathParameters?: Record<string, string | undefined> | undefined;
}

/** A header by name, whatever its case in the request. */
export function header(request: HttpRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** The token of an `Authorization: Bearer <token>` value, if that is what it is. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
}

/** All headers with lower-case names. */
export function lowerCaseHeaders(request: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.headers ?? {})) {
    if (value !== undefined) headers[key.toLowerCase()] = value;
  }
  return headers;
}

/** `Application/JSON; charset=utf-8` → `application/json` */
export function mediaType(request: HttpRequest): string | undefined {
  return header(request, 'content-type')?.split(';')[0]?.trim().toLowerCase() || undefined;
}

/** The raw body, refused when empty or over `maxBytes` (checked before decoding a base64 body). */
export function decodeBody(request: HttpRequest, maxBytes: number): Buffer {
  const raw = request.body ?? '';
  // A base64 body is a third larger than its content; refuse early without decoding a huge one.
  if (
    raw.length > (request.isBase64Encoded === true ? Math.ceil((maxBytes * 4) / 3) + 4 : maxBytes)
  ) {
    throw new PayloadTooLargeError(maxBytes);
  }
  const body =
    request.isBase64Encoded === true ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (body.length > maxBytes) throw new PayloadTooLargeError(maxBytes);
  if (body.length === 0) throw new BadRequestError('the request body is empty');
  return body;
}
