import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CachingResolver } from '#shared/registry/caching-resolver.ts';
import {
  DigestResolutionError,
  type DigestResolver,
  type ResolvedDigest,
} from '#shared/registry/digest-resolver.ts';

// The cache in front of a resolver: answers kept for the TTL on an injected clock, one request for
// concurrent lookups of a tag, failures never kept, least recently used tags dropped first.

const T0 = Date.parse('2026-11-23T10:00:00Z');
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

/** A resolver whose answers the test releases by hand; every request is recorded. */
function manualResolver() {
  const calls: { key: string; settle: (result: ResolvedDigest | Error) => void }[] = [];
  const resolver: DigestResolver = {
    resolve(registry, repository, tag) {
      return new Promise((resolve, reject) => {
        calls.push({
          key: `${registry}/${repository}:${tag}`,
          settle: (result) => (result instanceof Error ? reject(result) : resolve(result)),
        });
      });
    },
  };
  return { resolver, calls };
}

/** A resolver answering at once with a new digest per request. */
function countingResolver() {
  let requests = 0;
  const resolver: DigestResolver = {
    async resolve() {
      requests++;
      return { digest: digest(requests), mediaType: undefined };
    },
  };
  return { resolver, requests: () => requests };
}

/** Lets every queued callback run, so the wrapped resolver has been called. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

function clock(start = T0) {
  let now = start;
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}

describe('CachingResolver', () => {
  test('an answer is reused until cacheSeconds have passed, then asked for again', async () => {
    const inner = countingResolver();
    const time = clock();
    const cache = new CachingResolver(inner.resolver, { ttlSeconds: 30, now: time.now });
    assert.equal((await cache.resolve('r.example', 'team/api', 'v1')).digest, digest(1));
    time.advance(29_999);
    assert.equal((await cache.resolve('r.example', 'team/api', 'v1')).digest, digest(1));
    time.advance(1);
    assert.equal((await cache.resolve('r.example', 'team/api', 'v1')).digest, digest(2));
    assert.equal(inner.requests(), 2);
  });

  test('tags, repositories and registries are cached apart', async () => {
    const inner = countingResolver();
    const cache = new CachingResolver(inner.resolver, { ttlSeconds: 30, now: clock().now });
    const lookups: [string, string, string][] = [
      ['r.example', 'team/api', 'v1'],
      ['r.example', 'team/api', 'v2'],
      ['r.example', 'team/web', 'v1'],
      ['s.example', 'team/api', 'v1'],
    ];
    const first = await Promise.all(lookups.map((l) => cache.resolve(...l)));
    const second = await Promise.all(lookups.map((l) => cache.resolve(...l)));
    assert.equal(new Set(first.map((r) => r.digest)).size, 4);
    assert.deepEqual(second, first);
    assert.equal(inner.requests(), 4);
  });

  test('concurrent lookups of one tag share one request', async () => {
    const inner = manualResolver();
    const cache = new CachingResolver(inner.resolver, { ttlSeconds: 30, now: clock().now });
    const lookups = Array.from({ length: 5 }, () => cache.resolve('r.example', 'team/api', 'v1'));
    const other = cache.resolve('r.example', 'team/api', 'v2');
    await flush();
    assert.deepEqual(
      inner.calls.map((c) => c.key),
      ['r.example/team/api:v1', 'r.example/team/api:v2'],
    );
    inner.calls[0]?.settle({ digest: digest(1), mediaType: undefined });
    inner.calls[1]?.settle({ digest: digest(2), mediaType: undefined });
    for (const answer of await Promise.all(lookups)) assert.equal(answer.digest, digest(1));
    assert.equal((await other).digest, digest(2));
  });

  test('a failure reaches every waiting lookup and is not kept', async () => {
    const inner = manualResolver();
    const time = clock();
    const cache = new CachingResolver(inner.resolver, { ttlSeconds: 30, now: time.now });
    const waiting = [
      cache.resolve('r.example', 'a/b', 'v1'),
      cache.resolve('r.example', 'a/b', 'v1'),
    ];
    await flush();
    inner.calls[0]?.settle(new DigestResolutionError('rate limited', 'rate-limited'));
    for (const lookup of waiting) {
      await assert.rejects(
        lookup,
        (error: DigestResolutionError) => error.reason === 'rate-limited',
      );
    }
    // At the same instant: the failure was not kept, so the registry is asked again.
    const retry = cache.resolve('r.example', 'a/b', 'v1');
    await flush();
    assert.equal(inner.calls.length, 2);
    inner.calls[1]?.settle({ digest: digest(7), mediaType: undefined });
    assert.equal((await retry).digest, digest(7));
    assert.equal(cache.size, 1);
  });

  test('a resolver that throws instead of rejecting leaves nothing behind', async () => {
    let throwNow = true;
    const resolver: DigestResolver = {
      resolve() {
        if (throwNow) throw new DigestResolutionError('bad', 'registry');
        return Promise.resolve({ digest: digest(3), mediaType: undefined });
      },
    };
    const cache = new CachingResolver(resolver, { ttlSeconds: 30, now: clock().now });
    await assert.rejects(cache.resolve('r.example', 'a/b', 'v1'), DigestResolutionError);
    throwNow = false;
    assert.equal((await cache.resolve('r.example', 'a/b', 'v1')).digest, digest(3));
  });

  test('cacheSeconds 0 asks the registry every time', async () => {
    const inner = countingResolver();
    const cache = new CachingResolver(inner.resolver, { ttlSeconds: 0, now: clock().now });
    await cache.resolve('r.example', 'a/b', 'v1');
    await cache.resolve('r.example', 'a/b', 'v1');
    assert.equal(inner.requests(), 2);
    assert.equal(cache.size, 0);
  });

  test('the least recently used tag goes first once the cache is full', async () => {
    const inner = countingResolver();
    const cache = new CachingResolver(inner.resolver, {
      ttlSeconds: 30,
      now: clock().now,
      maxEntries: 2,
    });
    await cache.resolve('r.example', 'a/b', 'one'); // request 1
    await cache.resolve('r.example', 'a/b', 'two'); // request 2
    await cache.resolve('r.example', 'a/b', 'one'); // kept; now the most recently used
    await cache.resolve('r.example', 'a/b', 'three'); // request 3, pushes out "two"
    assert.equal(cache.size, 2);
    assert.equal((await cache.resolve('r.example', 'a/b', 'one')).digest, digest(1));
    assert.equal((await cache.resolve('r.example', 'a/b', 'two')).digest, digest(4));
    assert.equal(inner.requests(), 4);
  });
});
