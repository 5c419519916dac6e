import assert from 'node:assert/strict';
import { ImageReferenceError } from '#shared/image/reference.ts';

/** A test title for an input that may be long or hold odd characters. */
export function short(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** Asserts the one error shape every reference parser reports: input, offset, reason, message. */
export function assertReferenceError(
  error: unknown,
  expected: { input: string; offset: number; reason: string },
): asserts error is ImageReferenceError {
  assert.ok(
    error instanceof ImageReferenceError,
    `expected an ImageReferenceError, got ${String(error)}`,
  );
  assert.equal(error.input, expected.input);
  assert.equal(error.offset, expected.offset, error.message);
  assert.ok(
    error.reason.includes(expected.reason),
    `reason "${error.reason}" mentions "${expected.reason}"`,
  );
  assert.equal(
    error.message,
    `invalid image reference "${expected.input}": ${error.reason} at offset ${expected.offset}`,
  );
}
