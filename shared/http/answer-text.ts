import { clip } from '#shared/text/clip.ts';

// What a client says when a pullwarden API call fails: the server's reason or the network's, on one
// line a terminal or a log can take, never carrying more than a line's worth of a proxy's error page.

// Enough for the service's reason in a message, not for a whole error page from a proxy.
const MAX_ERROR_TEXT = 300;

/** Text from a server or the network, made safe for one line of a terminal: no escapes, no bidi overrides. */
export function oneLine(text: string, max = MAX_ERROR_TEXT): string {
  const flat = text
    .replace(/\s+/g, ' ')
    .replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '')
    .trim();
  return clip(flat, max);
}

/** The reason in an error answer: pullwarden's `error.message`, API Gateway's `message`, or the text. */
export function errorReason(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown }; message?: unknown };
    const message = parsed.error?.message ?? parsed.message;
    if (typeof message === 'string') return oneLine(message);
  } catch {
    // Not JSON: the text itself is the best reason there is.
  }
  return oneLine(body);
}

/** Why fetch gave no answer: the timeout, or the network error under fetch's own "fetch failed". */
export function fetchFailure(error: unknown, timeoutSeconds: number): string {
  if ((error as { name?: unknown } | undefined)?.name === 'TimeoutError') {
    return `timed out after ${timeoutSeconds}s`;
  }
  const cause = (error as { cause?: unknown } | undefined)?.cause ?? error;
  // A refused dual-stack connect is an AggregateError with no message of its own.
  const details = cause as { message?: unknown; code?: unknown; errors?: { message?: unknown }[] };
  const message =
    (typeof details.message === 'string' && details.message !== '' && details.message) ||
    (typeof details.errors?.[0]?.message === 'string' && details.errors[0].message) ||
    (typeof details.code === 'string' && details.code) ||
    String(cause);
  return `failed: ${oneLine(message)}`;
}
