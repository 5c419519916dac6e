import type { DigestResolver, ResolvedDigest } from './digest-resolver.ts';

// Reuses a tag's resolution for a while: a drift evaluation asks about the same tag once per pod, and
// registries rate-limit. Lookups of a tag already under way share its request; failures are never kept,
// so the next lookup asks again. The oldest-used entries go first once the cache is full.

export interface CachingResolverOptions {
  /** How long an answer is reused; 0 passes every lookup through. */
  ttlSeconds: number;
  now: () => Date;
  /** The most tags kept. */
  maxEntries?: number;
}

interface Entry {
  result: ResolvedDigest;
  /** Epoch milliseconds; the answer is reused while the clock is before it. */
  expiresAt: number;
}

const MAX_ENTRIES = 10_000;

export class CachingResolver implements DigestResolver {
  private readonly inner: DigestResolver;
  private readonly ttlMs: number;
  private readonly now: () => Date;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<ResolvedDigest>>();

  constructor(inner: DigestResolver, options: CachingResolverOptions) {
    this.inner = inner;
    this.ttlMs = options.ttlSeconds * 1000;
    this.now = options.now;
    this.maxEntries = Math.max(1, options.maxEntries ?? MAX_ENTRIES);
  }

  /** How many answers are kept (expired ones included until they are looked up or pushed out). */
  get size(): number {
    return this.entries.size;
  }

  resolve(registry: string, repository: string, tag: string): Promise<ResolvedDigest> {
    if (this.ttlMs <= 0) return this.inner.resolve(registry, repository, tag);
    // Neither a host, a repository nor a tag contains a space, so the key is unambiguous.
    const key = `${registry} ${repository} ${tag}`;
    const startedAt = this.now().getTime();
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      if (startedAt < entry.expiresAt) {
        // Re-inserted: Map order is use order, so the first key is the least recently used.
        this.entries.set(key, entry);
        return Promise.resolve(entry.result);
      }
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;

    // Called inside then(): a resolver that throws synchronously still gives a rejected lookup.
    const lookup = Promise.resolve()
      .then(() => this.inner.resolve(registry, repository, tag))
      .then(
        (result) => {
          this.inFlight.delete(key);
          // Counted from the request's start: the answer is at least that fresh.
          this.remember(key, { result, expiresAt: startedAt + this.ttlMs });
          return result;
        },
        (error: unknown) => {
          this.inFlight.delete(key);
          throw error;
        },
      );
    this.inFlight.set(key, lookup);
    return lookup;
  }

  private remember(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}
