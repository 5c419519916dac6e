import assert from 'node:assert/strict';

// Waiting on things that happen elsewhere (a stack, a node agent) and on failures, for tests.

/**
 * Polls `probe` until it answers something other than `undefined` or `false`, and returns that; after
 * `timeoutMs` fails with what it waited for and `explain()` (the stack's logs, say).
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; explain?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const explanation = options.explain?.();
      throw new Error(`timed out waiting for ${what}${explanation ? `:\n${explanation}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** The error `promise` rejects with, which must be a `type`; `succeeded` says what happened instead. */
export async function rejection<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
  succeeded: string,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof type, `not a ${type.name}: ${error}`);
    return error;
  }
  assert.fail(succeeded);
}
