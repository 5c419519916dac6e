// The API server waits `timeoutSeconds` for a webhook and then applies its failurePolicy, so an answer
// that arrives later is lost. Slow work (reading the configuration, resolving the token) races a
// deadline a little shorter than that, leaving time for the answer to travel back.

export interface Clock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `expire` after `ms` unless the returned cancel function is called first. */
  schedule(ms: number, expire: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  schedule: (ms, expire) => {
    const timer = setTimeout(expire, ms);
    return () => clearTimeout(timer);
  },
};

export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
  readonly budgetMs: number;
  constructor(budgetMs: number) {
    super(`no answer within ${Math.round(budgetMs)} ms`);
    this.budgetMs = budgetMs;
  }
}

/** What a Lambda keeps for itself after the answer: serialising it and returning it to API Gateway. */
const LAMBDA_RESERVE_MS = 250;

/**
 * Milliseconds to answer in: the webhook timeout less a fifth (at most a second) for the way back, and
 * never past the time the function invocation has left.
 */
export function answerBudgetMs(timeoutSeconds: number, remainingMs?: number): number {
  const timeoutMs = timeoutSeconds * 1000;
  const budget = timeoutMs - Math.min(1000, timeoutMs / 5);
  return remainingMs === undefined ? budget : Math.min(budget, remainingMs - LAMBDA_RESERVE_MS);
}

/** Settles as `work` does, or rejects with DeadlineExceededError once `clock` reaches `deadline`. */
export function withinDeadline<T>(
  work: Promise<T>,
  deadline: number,
  budgetMs: number,
  clock: Clock,
): Promise<T> {
  const left = deadline - clock.now();
  if (left <= 0) {
    // The work still settles later; nothing waits for it, so its failure must not go unhandled.
    work.catch(() => undefined);
    return Promise.reject(new DeadlineExceededError(budgetMs));
  }
  return new Promise<T>((resolve, reject) => {
    let cancel = () => {};
    // Registered first: work that has already finished wins over a deadline reached at that moment.
    work.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        cancel();
        reject(error);
      },
    );
    cancel = clock.schedule(left, () => reject(new DeadlineExceededError(budgetMs)));
  });
}
