import { describeError } from '#shared/runtime/log.ts';
import { clip } from '#shared/text/clip.ts';

// Request errors that map to a 4xx response. Everything else becomes a 500 without details.

export class HttpError extends Error {
  readonly statusCode: number;
  /** Machine-readable reason, e.g. `payload-too-large`. */
  readonly code: string;
  readonly details: readonly unknown[];

  constructor(statusCode: number, code: string, message: string, details: readonly unknown[] = []) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.details = details;
  }
}

export class BadRequestError extends HttpError {
  override readonly name = 'BadRequestError';
  constructor(message: string, details: readonly unknown[] = []) {
    super(400, 'bad-request', message, details);
  }
}

export class UnprocessableEntityError extends HttpError {
  override readonly name = 'UnprocessableEntityError';
  constructor(message: string, details: readonly unknown[] = []) {
    super(422, 'unprocessable', message, details);
  }
}

export class PayloadTooLargeError extends HttpError {
  override readonly name = 'PayloadTooLargeError';
  constructor(limit: number) {
    super(413, 'payload-too-large', `the request body exceeds ${limit} bytes`);
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  override readonly name = 'UnsupportedMediaTypeError';
  constructor(received: string | undefined, supported: readonly string[]) {
    super(
      415,
      'unsupported-media-type',
      `content type ${received === undefined ? '(none)' : `"${received}"`} is not supported; use one of ${supported.join(', ')}`,
    );
  }
}

/** A value echoed in an error message: bounded, so a huge query or path does not make a huge answer. */
export function quoted(value: string): string {
  return JSON.stringify(clip(value, 80));
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export function jsonResponse(statusCode: number, body: unknown): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: `${JSON.stringify(body)}\n`,
  };
}

/** The one place errors become responses: request errors keep their message, others say nothing. */
export function errorResponse(error: unknown): HttpResponse {
  if (error instanceof HttpError) {
    return jsonResponse(error.statusCode, {
      error: {
        code: error.code,
        message: error.message,
        ...(error.details.length > 0 ? { details: error.details } : {}),
      },
    });
  }
  return jsonResponse(500, { error: { code: 'internal', message: 'internal error' } });
}

/** errorResponse for a request that failed; an error that is not a request error is logged first. */
export function failedRequestResponse(
  what: string,
  error: unknown,
  logger: { error(message: string, fields: Record<string, unknown>): void },
): HttpResponse {
  if (!(error instanceof HttpError)) {
    logger.error(`${what} failed`, {
      error: describeError(error),
    });
  }
  return errorResponse(error);
}

export class UnauthorizedError extends HttpError {
  override readonly name = 'UnauthorizedError';
  constructor(message: string) {
    super(401, 'unauthorized', message);
  }
}

export class NotFoundError extends HttpError {
  override readonly name = 'NotFoundError';
  constructor(message: string) {
    super(404, 'not-found', message);
  }
}
