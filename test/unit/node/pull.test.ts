import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CredentialUnavailableError } from '#shared/credentials/answer.ts';
import type { RegistryCredential } from '#shared/credentials/protocol.ts';
import type {
  ImageFilesystem,
  ImageRuntime,
  RuntimeAuth,
  RuntimeImage,
  RuntimeVersion,
} from '#shared/cri/client.ts';
import { RuntimeCallError } from '#shared/cri/client.ts';
import { type ImageReference, parseImageReference } from '#shared/image/reference.ts';
import {
  asPullFailure,
  backoffMs,
  type ImagePins,
  type PullDependencies,
  type PullResult,
  type PullSettings,
  pullImages,
  pullReference,
} from '#shared/node/pull.ts';
import { PULL_FAILURE_KINDS } from '#shared/prepull/node-report.ts';
import { DigestResolutionError } from '#shared/registry/digest-resolver.ts';

// pullImages over fakes: a runtime that records every call and holds what it pulled, a registry
// footprint, a filesystem, credentials and pins; a clock that only moves when the code sleeps.

const GIB = 2 ** 30;
const MIB = 2 ** 20;
const DIGEST_A = `sha256:${'a1'.repeat(32)}`;
const DIGEST_B = `sha256:${'b2'.repeat(32)}`;
const DIGEST_C = `sha256:${'c3'.repeat(32)}`;
const START = Date.parse('2026-03-01T10:00:00.000Z');

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (the fakes only ever wait on microtasks). */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 200; turn++) {
    if (condition()) return;
    await flush();
  }
  assert.fail(`timed out waiting until ${what}`);
}

interface PullCall {
  image: string;
  auth: RuntimeAuth | undefined;
  timeoutMs: number;
}

type PullBehaviour = (call: PullCall, nth: number) => Promise<void> | void;

/** An image runtime holding a set of references; pulls add to it unless told otherwise. */
class FakeRuntime implements ImageRuntime {
  readonly endpoint = 'unix:///run/fake.sock';
  readonly held = new Set<string>();
  readonly pulls: PullCall[] = [];
  readonly statusCalls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** When set, decides each pull: throw to fail it; resolve to let it add the image. */
  behaviour: PullBehaviour | undefined;
  /** When false, a successful pull does not make the runtime hold the image. */
  holdPulled = true;

  async version(): Promise<RuntimeVersion> {
    return { runtimeName: 'containerd', runtimeVersion: '1.7.27', apiVersion: 'v1' };
  }

  async pullImage(image: string, auth: RuntimeAuth | undefined, timeoutMs: number) {
    const call = { image, auth, timeoutMs };
    this.pulls.push(call);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.behaviour?.(call, this.pulls.filter((pull) => pull.image === image).length);
    } finally {
      this.inFlight -= 1;
    }
    if (this.holdPulled) this.held.add(image);
    return `sha256:${'9'.repeat(64)}`;
  }

  async imageStatus(image: string): Promise<RuntimeImage | undefined> {
    this.statusCalls.push(image);
    if (!this.held.has(image)) return undefined;
    return {
      id: `sha256:${'9'.repeat(64)}`,
      repoTags: [],
      repoDigests: [],
      size: 1,
      pinned: false,
    };
  }

  async listImages(): Promise<RuntimeImage[]> {
    return [];
  }

  async imageFilesystems(): Promise<ImageFilesystem[]> {
    return [];
  }

  async removeImage(): Promise<void> {
    throw new Error('pullImages must never remove an image');
  }

  close(): void {}
}

class FakePins implements ImagePins {
  readonly pinned: string[] = [];
  fail: Error | undefined;

  async pin(reference: string) {
    if (this.fail !== undefined) throw this.fail;
    this.pinned.push(reference);
  }

  async unpin(): Promise<void> {
    throw new Error('pullImages must never unpin');
  }

  async releaseExcept(): Promise<string[]> {
    throw new Error('pullImages must never release pins');
  }

  async isPinned(reference: string) {
    return this.pinned.includes(reference);
  }
}

const SETTINGS: PullSettings = {
  concurrency: 2,
  pullTimeout: 120,
  attempts: 4,
  backoff: 2,
  pin: false,
  // A manifest that cannot be read fails the image (retried like any registry error).
  disk: { minFreePercent: 10, minFreeBytes: 0, expansionRatio: 1, onUnknownSize: 'refuse' },
};

interface Harness {
  runtime: FakeRuntime;
  deps: PullDependencies;
  sleeps: number[];
  logs: string[];
  footprints: string[];
  credentialLookups: string[];
  spaceCalls: number;
}

const CREDENTIAL: RegistryCredential = { username: 'AWS', password: 'token-value' };

function harness(overrides: Partial<PullDependencies> = {}, runtime = new FakeRuntime()): Harness {
  let clock = START;
  const h: Harness = {
    runtime,
    sleeps: [],
    logs: [],
    footprints: [],
    credentialLookups: [],
    spaceCalls: 0,
    deps: undefined as unknown as PullDependencies,
  };
  h.deps = {
    runtime,
    credentials: async (name) => {
      h.credentialLookups.push(name);
      return CREDENTIAL;
    },
    footprint: async (image) => {
      h.footprints.push(image.original);
      return {
        compressedBytes: 100 * MIB,
        digest: image.digest ?? DIGEST_C,
      };
    },
    space: async () => {
      h.spaceCalls += 1;
      return { path: '/var/lib/containerd', freeBytes: 100 * GIB, totalBytes: 200 * GIB };
    },
    now: () => clock,
    sleep: async (ms) => {
      h.sleeps.push(ms);
      clock += ms;
    },
    random: () => 0.5,
    log: (line) => h.logs.push(line),
    ...overrides,
  };
  return h;
}

function ref(text: string): ImageReference {
  return parseImageReference(text);
}

const IMAGE_A = ref(`registry.example.com/team/api:1.4.0@${DIGEST_A}`);
const PULL_A = `registry.example.com/team/api@${DIGEST_A}`;
const IMAGE_B = ref(`registry.example.com/team/worker@${DIGEST_B}`);
const IMAGE_C = ref(`registry.example.com/team/cron@${DIGEST_C}`);
const PULL_C = `registry.example.com/team/cron@${DIGEST_C}`;

function only(results: PullResult[]): PullResult {
  assert.equal(results.length, 1);
  return results[0] as PullResult;
}

/** What every failure reason must be: one line, short, no secret. */
function assertCleanReason(reason: string | undefined, secrets: readonly string[]): void {
  assert.ok(reason !== undefined && reason !== '', 'a failure has a reason');
  assert.ok(!/[\r\n\u2028\u2029]/.test(reason), `one line: ${JSON.stringify(reason)}`);
  assert.ok(reason.length <= 300, `at most 300 characters, got ${reason.length}`);
  for (const secret of secrets) {
    assert.ok(!reason.includes(secret), `${JSON.stringify(reason)} leaks ${secret}`);
  }
}

describe('pullReference', () => {
  const cases: [string, string][] = [
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['myorg/app', 'docker.io/myorg/app:latest'],
    ['docker.io/library/redis:7', 'docker.io/library/redis:7'],
    [`nginx@${DIGEST_A}`, `docker.io/library/nginx@${DIGEST_A}`],
    [`ghcr.io/acme/app:2.0@${DIGEST_B}`, `ghcr.io/acme/app@${DIGEST_B}`],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    [`[::1]:5000/x:dev@${DIGEST_C}`, `[::1]:5000/x@${DIGEST_C}`],
  ];
  for (const [written, expected] of cases) {
    test(`${written} → ${expected}`, () => {
      assert.equal(pullReference(ref(written)), expected);
    });
  }
});

describe('backoffMs', () => {
  test('full jitter over an exponential ceiling', () => {
    assert.equal(
      backoffMs(1, 2, () => 0),
      1000,
    );
    assert.equal(
      backoffMs(1, 2, () => 0.5),
      1500,
    );
    assert.equal(
      backoffMs(3, 2, () => 0),
      4000,
    );
    assert.equal(
      backoffMs(10, 2, () => 0.999_999),
      60_000,
    );
    assert.equal(
      backoffMs(4, 0, () => 0.7),
      0,
    );
  });

  test('whole-second backoffs lie in [ceiling/2, ceiling], never above 60 s', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 600 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialSeconds, random) => {
          const ceiling = Math.min(60_000, initialSeconds * 1000 * 2 ** (attempt - 1));
          const wait = backoffMs(attempt, initialSeconds, () => random);
          assert.ok(
            wait >= ceiling / 2 && wait <= ceiling,
            `${wait} in [${ceiling / 2}, ${ceiling}]`,
          );
          assert.ok(wait <= 60_000);
        },
      ),
    );
  });

  test('any backoff lies in [ceiling/2, ceiling] rounded, never above 60 s', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.double({ min: 0, max: 3600, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialSeconds, random) => {
          const ceiling = Math.min(60_000, initialSeconds * 1000 * 2 ** (attempt - 1));
          const wait = backoffMs(attempt, initialSeconds, () => random);
          assert.ok(Number.isInteger(wait), `${wait} is whole milliseconds`);
          // Whole milliseconds: the bounds are the ceiling's, rounded the same way.
          assert.ok(wait >= Math.round(ceiling / 2), `${wait} >= ${ceiling / 2}`);
          assert.ok(wait <= Math.round(ceiling), `${wait} <= ${ceiling}`);
          assert.ok(wait <= 60_000);
        },
      ),
    );
  });
});

describe('asPullFailure', () => {
  const cases: [string, unknown, string][] = [
    [
      'a registry error from the digest resolver',
      new DigestResolutionError('HEAD manifest: 502', 'registry'),
      'registry',
    ],
    ['a missing manifest', new DigestResolutionError('no such tag', 'not-found'), 'not-found'],
    ['a refused token', new DigestResolutionError('401', 'authentication'), 'authentication'],
    ['a runtime deadline', new RuntimeCallError('PullImage', 'DEADLINE_EXCEEDED', ''), 'timeout'],
    ['a runtime down', new RuntimeCallError('PullImage', 'UNAVAILABLE', 'dial unix'), 'runtime'],
    [
      'a 429 through the runtime',
      new RuntimeCallError('PullImage', 'UNKNOWN', 'unexpected status: 429 Too Many Requests'),
      'rate-limited',
    ],
    [
      'an unrecognised runtime error',
      new RuntimeCallError('PullImage', 'UNKNOWN', 'failed to unpack: overlay broke'),
      'runtime',
    ],
    ['no credentials', new CredentialUnavailableError('ecr: AccessDenied'), 'authentication'],
    ['anything else', new Error('boom'), 'unknown'],
    ['a thrown string', 'boom', 'unknown'],
  ];
  for (const [name, error, kind] of cases) {
    test(`${name} → ${kind}`, () => {
      assert.equal(asPullFailure(error).kind, kind);
    });
  }

  test('every reason is one line of at most 300 characters, whatever the error says', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 2000 }),
        fc.constantFrom('UNKNOWN', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'digest', 'credentials'),
        (message, kind) => {
          const error =
            kind === 'digest'
              ? new DigestResolutionError(message, 'network')
              : kind === 'credentials'
                ? new CredentialUnavailableError(message)
                : new RuntimeCallError('PullImage', kind, message);
          const failure = asPullFailure(error);
          assert.ok(PULL_FAILURE_KINDS.includes(failure.kind));
          assert.ok(!/[\r\n\u2028\u2029]/.test(failure.message), JSON.stringify(failure.message));
          assert.ok(failure.message.length <= 300, `${failure.message.length}`);
        },
      ),
    );
  });
});

describe('pullImages', () => {
  test('an image the runtime holds is present: no pull, no registry, no credentials', async () => {
    const h = harness();
    h.runtime.held.add(PULL_A);
    const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
    assert.deepEqual(result, {
      image: IMAGE_A.original,
      digest: DIGEST_A,
      outcome: 'present',
      seconds: 0,
      attempts: 0,
    });
    assert.deepEqual(h.runtime.statusCalls, [PULL_A]);
    assert.equal(h.runtime.pulls.length, 0);
    assert.deepEqual(h.footprints, []);
    assert.deepEqual(h.credentialLookups, []);
  });

  test('a present image is pinned when asked', async () => {
    const pins = new FakePins();
    const h = harness({ pins });
    h.runtime.held.add(PULL_A);
    const result = only(await pullImages([IMAGE_A], { ...SETTINGS, pin: true }, h.deps));
    assert.equal(result.outcome, 'present');
    assert.equal(result.pinned, true);
    assert.deepEqual(pins.pinned, [PULL_A]);
    assert.equal(h.runtime.pulls.length, 0);
  });

  test('pinning asked without containerd pins reports pinned false and says why', async () => {
    const h = harness();
    h.runtime.held.add(PULL_A);
    const result = only(await pullImages([IMAGE_A], { ...SETTINGS, pin: true }, h.deps));
    assert.equal(result.outcome, 'present');
    assert.equal(result.pinned, false);
    assert.ok(h.logs.some((line) => line.includes('not pinned')));
  });

  test('a pin that fails leaves the pull a success, pinned false, with the secret out of the log', async () => {
    const pins = new FakePins();
    pins.fail = new Error('label failed\nat https://admin:s3cr3t@containerd.local/x');
    const h = harness({ pins });
    const result = only(await pullImages([IMAGE_A], { ...SETTINGS, pin: true }, h.deps));
    assert.equal(result.outcome, 'pulled');
    assert.equal(result.pinned, false);
    const line = h.logs.find((entry) => entry.includes('not pinned'));
    assert.ok(line !== undefined);
    assert.ok(!line.includes('s3cr3t') && !line.includes('\n'), line);
  });

  test('a missing image is pulled by digest with the credentials and the per-attempt deadline', async () => {
    const pins = new FakePins();
    const h = harness({ pins });
    const result = only(await pullImages([IMAGE_A], { ...SETTINGS, pin: true }, h.deps));
    assert.deepEqual(h.runtime.pulls, [
      { image: PULL_A, auth: { username: 'AWS', password: 'token-value' }, timeoutMs: 120_000 },
    ]);
    assert.deepEqual(h.credentialLookups, ['registry.example.com/team/api']);
    assert.deepEqual(result, {
      image: IMAGE_A.original,
      digest: DIGEST_A,
      outcome: 'pulled',
      bytes: 100 * MIB,
      seconds: 0,
      attempts: 1,
      pulledAt: new Date(START).toISOString(),
      pinned: true,
    });
    assert.deepEqual(pins.pinned, [PULL_A]);
    // Proof, not trust: the runtime was asked again after the pull.
    assert.deepEqual(h.runtime.statusCalls, [PULL_A, PULL_A]);
  });

  test('no credential means no auth in the CRI request', async () => {
    const h = harness({ credentials: async () => undefined });
    only(await pullImages([IMAGE_A], SETTINGS, h.deps));
    assert.equal(h.runtime.pulls[0]?.auth, undefined);
  });

  test('a tag is pulled by tag and reported with the digest the registry resolved', async () => {
    const h = harness();
    const image = ref('registry.example.com/team/api:1.4.0');
    const result = only(await pullImages([image], SETTINGS, h.deps));
    assert.equal(h.runtime.pulls[0]?.image, 'registry.example.com/team/api:1.4.0');
    assert.equal(result.outcome, 'pulled');
    assert.equal(result.digest, DIGEST_C);
  });

  test('a tag is reported with the digest the runtime holds, not the one read before the pull', async () => {
    const runtime = new FakeRuntime();
    const held = `sha256:${'4'.repeat(64)}`;
    runtime.imageStatus = async (image) =>
      runtime.held.has(image)
        ? {
            id: `sha256:${'9'.repeat(64)}`,
            repoTags: [image],
            repoDigests: [`registry.example.com/team/api@${held}`],
            size: 1,
            pinned: false,
          }
        : undefined;
    const h = harness({}, runtime);
    const pulled = only(
      await pullImages([ref('registry.example.com/team/api:1.4.0')], SETTINGS, h.deps),
    );
    assert.equal(pulled.digest, held, 'the tag moved between the size check and the pull');
    const present = only(
      await pullImages([ref('registry.example.com/team/api:1.4.0')], SETTINGS, h.deps),
    );
    assert.equal(present.outcome, 'present');
    assert.equal(present.digest, held);
  });

  test('a size that cannot be read: pulled without the disk check when onUnknownSize is pull', async () => {
    const logs: string[] = [];
    const h = harness({
      footprint: async () => {
        throw new DigestResolutionError(
          'cannot reach registry.example.com: ECONNREFUSED',
          'network',
        );
      },
      log: (line) => {
        logs.push(line);
      },
    });
    const settings = { ...SETTINGS, disk: { ...SETTINGS.disk, onUnknownSize: 'pull' as const } };
    const result = only(
      await pullImages([ref(`registry.example.com/team/api@${DIGEST_A}`)], settings, h.deps),
    );
    assert.equal(result.outcome, 'pulled');
    assert.equal(result.bytes, undefined);
    assert.equal(result.attempts, 1);
    assert.ok(
      logs.some((line) => /size unknown .*without the disk check/.test(line)),
      logs.join('\n'),
    );
  });

  test('at most `concurrency` pulls in flight; results in the order asked', async () => {
    const h = harness();
    const gates: Deferred[] = [];
    h.runtime.behaviour = () => {
      const gate = deferred();
      gates.push(gate);
      return gate.promise;
    };
    const images = Array.from({ length: 6 }, (_, index) =>
      ref(`registry.example.com/team/app${index}@${DIGEST_A}`),
    );
    let finished = false;
    const running = pullImages(images, { ...SETTINGS, concurrency: 2 }, h.deps).then((results) => {
      finished = true;
      return results;
    });
    let released = 0;
    while (released < images.length) {
      await until(() => h.runtime.inFlight === Math.min(2, images.length - released), 'pulls');
      // Release the newest first, so pulls complete in another order than asked.
      (gates.pop() as Deferred).resolve();
      released += 1;
    }
    await until(() => finished, 'pullImages resolved');
    const results = await running;
    assert.equal(h.runtime.maxInFlight, 2);
    assert.equal(h.runtime.pulls.length, 6);
    assert.deepEqual(
      results.map((result) => [result.image, result.outcome]),
      images.map((image) => [image.original, 'pulled']),
    );
  });

  test('concurrency larger than the list starts every pull at once', async () => {
    const h = harness();
    const gates: Deferred[] = [];
    h.runtime.behaviour = () => {
      const gate = deferred();
      gates.push(gate);
      return gate.promise;
    };
    const running = pullImages(
      [IMAGE_A, IMAGE_B, IMAGE_C],
      { ...SETTINGS, concurrency: 8 },
      h.deps,
    );
    await until(() => h.runtime.inFlight === 3, 'three pulls in flight');
    for (const gate of gates) gate.resolve();
    const results = await running;
    assert.deepEqual(
      results.map((result) => result.outcome),
      ['pulled', 'pulled', 'pulled'],
    );
  });

  describe('onResult', () => {
    test('is called as each image finishes, before the others are done, with the image as asked', async () => {
      const h = harness();
      const gates = new Map<string, Deferred>();
      h.runtime.behaviour = (call) => {
        const gate = deferred();
        gates.set(call.image, gate);
        return gate.promise;
      };
      const seen: [PullResult, ImageReference][] = [];
      let finished = false;
      const images = [IMAGE_A, IMAGE_B, IMAGE_C];
      const running = pullImages(
        images,
        { ...SETTINGS, concurrency: 3 },
        h.deps,
        (result, image) => {
          seen.push([result, image]);
        },
      ).then((results) => {
        finished = true;
        return results;
      });
      await until(() => h.runtime.inFlight === 3, 'three pulls in flight');
      // B finishes first: its result is handed over while A and C still pull.
      gates.get(pullReference(IMAGE_B))?.resolve();
      await until(() => seen.length === 1, 'B reported');
      assert.equal(seen[0]?.[1], IMAGE_B, 'the very reference object asked for');
      assert.equal(seen[0]?.[0].outcome, 'pulled');
      assert.equal(seen[0]?.[0].image, IMAGE_B.original);
      assert.equal(h.runtime.inFlight, 2);
      assert.equal(finished, false);

      gates.get(PULL_C)?.resolve();
      await until(() => seen.length === 2, 'C reported');
      assert.equal(seen[1]?.[1], IMAGE_C);
      gates.get(PULL_A)?.resolve();
      const results = await running;
      assert.deepEqual(
        seen.map(([, image]) => image),
        [IMAGE_B, IMAGE_C, IMAGE_A],
      );
      // Each callback got the very result returned, and the results keep the order asked.
      assert.deepEqual(
        results.map((result) => result.image),
        images.map((image) => image.original),
      );
      for (const [result, image] of seen) {
        assert.equal(results[images.indexOf(image)], result);
      }
    });

    test('gets every outcome: present, pulled and failed, once each', async () => {
      const h = harness();
      h.runtime.held.add(PULL_A);
      h.runtime.behaviour = (call) => {
        if (call.image === PULL_C) {
          throw new RuntimeCallError('PullImage', 'UNKNOWN', 'failed to unpack: overlay broke');
        }
      };
      const seen = new Map<ImageReference, PullResult[]>();
      const results = await pullImages(
        [IMAGE_A, IMAGE_B, IMAGE_C],
        SETTINGS,
        h.deps,
        (result, image) => {
          seen.set(image, [...(seen.get(image) ?? []), result]);
        },
      );
      assert.deepEqual(
        results.map((result) => result.outcome),
        ['present', 'pulled', 'failed'],
      );
      assert.deepEqual(
        [IMAGE_A, IMAGE_B, IMAGE_C].map((image) =>
          seen.get(image)?.map((result) => result.outcome),
        ),
        [['present'], ['pulled'], ['failed']],
      );
    });

    test('is awaited: pullImages resolves only once every callback has', async () => {
      const h = harness();
      const saved = deferred();
      let called = 0;
      let finished = false;
      const running = pullImages([IMAGE_A], SETTINGS, h.deps, async () => {
        called += 1;
        await saved.promise;
      }).then((results) => {
        finished = true;
        return results;
      });
      await until(() => called === 1, 'the callback ran');
      await flush();
      assert.equal(finished, false, 'resolved before its callback finished');
      saved.resolve();
      assert.equal(only(await running).outcome, 'pulled');
    });

    test('a callback that throws rejects pullImages', async () => {
      const h = harness();
      await assert.rejects(
        pullImages([IMAGE_A], SETTINGS, h.deps, async () => {
          throw new Error('state not saved: ENOSPC');
        }),
        /ENOSPC/,
      );
    });
  });

  describe('retries', () => {
    const unavailable503 = new RuntimeCallError(
      'PullImage',
      'UNKNOWN',
      `failed to pull and unpack image "${PULL_A}": failed to resolve reference "${PULL_A}": unexpected status from HEAD request to https://registry.example.com/v2/team/api/manifests/${DIGEST_A}: 503 Service Unavailable`,
    );

    test('a 503 twice, then success: pulled at the third attempt after two jittered waits', async () => {
      const randoms = [0, 0.999];
      const h = harness({ random: () => randoms.shift() ?? 0.5 });
      h.runtime.behaviour = (_, nth) => {
        if (nth <= 2) throw unavailable503;
      };
      const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
      assert.equal(result.outcome, 'pulled');
      assert.equal(result.attempts, 3);
      assert.equal(result.cause, undefined);
      assert.equal(h.sleeps.length, 2);
      // backoff 2 s: ceilings 2 s then 4 s.
      const [first, second] = h.sleeps as [number, number];
      assert.ok(first >= 1000 && first <= 2000, `first wait ${first}`);
      assert.ok(second >= 2000 && second <= 4000, `second wait ${second}`);
      assert.equal(result.seconds, (first + second) / 1000);
      assert.equal(result.pulledAt, new Date(START + first + second).toISOString());
      // The footprint and the disk check happen once, not per attempt.
      assert.equal(h.footprints.length, 1);
      assert.equal(h.spaceCalls, 1);
      assert.equal(h.runtime.pulls.length, 3);
    });

    test('401 Unauthorized fails at once as authentication', async () => {
      const h = harness();
      h.runtime.behaviour = () => {
        throw new RuntimeCallError(
          'PullImage',
          'UNKNOWN',
          `failed to pull and unpack image "${PULL_A}": failed to resolve reference "${PULL_A}": pulling from host registry.example.com failed with status code [manifests ${DIGEST_A}]: 401 Unauthorized`,
        );
      };
      const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
      assert.equal(result.outcome, 'failed');
      assert.equal(result.cause, 'authentication');
      assert.equal(result.attempts, 1);
      assert.deepEqual(h.sleeps, []);
      assert.match(result.reason ?? '', /401 Unauthorized/);
      assert.equal(result.pulledAt, undefined);
    });

    test('DEADLINE_EXCEEDED is a timeout, and retried', async () => {
      const h = harness();
      h.runtime.behaviour = (_, nth) => {
        if (nth === 1) throw new RuntimeCallError('PullImage', 'DEADLINE_EXCEEDED', '');
      };
      const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
      assert.equal(result.outcome, 'pulled');
      assert.equal(result.attempts, 2);
      assert.equal(h.sleeps.length, 1);
      assert.ok(h.logs.some((line) => line.includes('timeout')));
    });

    test('attempts exhausted: failed with the last cause', async () => {
      const h = harness();
      const errors = [
        unavailable503,
        new RuntimeCallError('PullImage', 'UNKNOWN', 'unexpected status: 429 Too Many Requests'),
        new RuntimeCallError('PullImage', 'DEADLINE_EXCEEDED', ''),
      ];
      h.runtime.behaviour = (_, nth) => {
        throw errors[nth - 1] ?? new Error('asked too often');
      };
      const result = only(await pullImages([IMAGE_A], { ...SETTINGS, attempts: 3 }, h.deps));
      assert.equal(result.outcome, 'failed');
      assert.equal(result.cause, 'timeout');
      assert.equal(result.attempts, 3);
      assert.equal(h.sleeps.length, 2);
      assert.equal(result.bytes, 100 * MIB);
      assert.equal(result.digest, DIGEST_A);
    });

    test('one attempt allowed: a retryable failure is not retried', async () => {
      const h = harness();
      h.runtime.behaviour = () => {
        throw unavailable503;
      };
      const result = only(await pullImages([IMAGE_A], { ...SETTINGS, attempts: 1 }, h.deps));
      assert.equal(result.outcome, 'failed');
      assert.equal(result.cause, 'network');
      assert.equal(result.attempts, 1);
      assert.deepEqual(h.sleeps, []);
    });

    test('an unrecognised runtime error is not retried; UNAVAILABLE is', async () => {
      const h = harness();
      h.runtime.behaviour = () => {
        throw new RuntimeCallError('PullImage', 'UNKNOWN', 'failed to unpack: overlay broke');
      };
      const unknown = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
      assert.equal(unknown.cause, 'runtime');
      assert.equal(unknown.attempts, 1);

      const h2 = harness();
      h2.runtime.behaviour = (_, nth) => {
        if (nth === 1) throw new RuntimeCallError('PullImage', 'UNAVAILABLE', 'connection reset');
      };
      const unavailable = only(await pullImages([IMAGE_A], SETTINGS, h2.deps));
      assert.equal(unavailable.outcome, 'pulled');
      assert.equal(unavailable.attempts, 2);
    });

    test('a registry error reading the footprint is retried', async () => {
      let calls = 0;
      const h = harness({
        footprint: async () => {
          calls += 1;
          if (calls === 1) throw new DigestResolutionError('HEAD manifest: 502', 'registry');
          return { compressedBytes: 10 * MIB, digest: DIGEST_A };
        },
      });
      const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
      assert.equal(result.outcome, 'pulled');
      assert.equal(result.attempts, 2);
      assert.equal(result.bytes, 10 * MIB);
      assert.equal(calls, 2);
      assert.equal(h.sleeps.length, 1);
      assert.equal(h.runtime.pulls.length, 1);
    });

    test('a manifest the registry does not have is not retried, and nothing is pulled', async () => {
      const h = harness({
        footprint: async () => {
          throw new DigestResolutionError('manifest unknown', 'not-found');
        },
      });
      const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
      assert.equal(result.outcome, 'failed');
      assert.equal(result.cause, 'not-found');
      assert.equal(result.attempts, 1);
      assert.equal(result.bytes, undefined);
      assert.deepEqual(h.sleeps, []);
      assert.equal(h.runtime.pulls.length, 0);
    });
  });

  describe('disk space', () => {
    const tight: PullSettings['disk'] = { ...SETTINGS.disk, minFreePercent: 10, expansionRatio: 1 };

    test('an image that would leave too little free is refused before pulling', async () => {
      const h = harness({
        footprint: async () => ({
          compressedBytes: GIB,
          digest: DIGEST_A,
        }),
        // Needs 2 GiB (1 GiB compressed ×(1+1)); 11 GiB free, 10 GiB (10 % of 100) must stay free.
        space: async () => ({
          path: '/var/lib/containerd',
          freeBytes: 11 * GIB,
          totalBytes: 100 * GIB,
        }),
      });
      const result = only(await pullImages([IMAGE_A], { ...SETTINGS, disk: tight }, h.deps));
      assert.equal(result.outcome, 'failed');
      assert.equal(result.cause, 'disk-space');
      assert.equal(result.bytes, GIB);
      assert.equal(h.runtime.pulls.length, 0);
      assert.deepEqual(h.sleeps, []);
      const reason = result.reason ?? '';
      assert.match(reason, /11\.0 GiB free/);
      assert.match(reason, /must keep 10\.0 GiB free/);
      assert.match(reason, /\/var\/lib\/containerd/);
      assertCleanReason(reason, []);
    });

    test('the same image fits when the unpacked estimate is left out', async () => {
      const h = harness({
        footprint: async () => ({
          compressedBytes: GIB,
          digest: DIGEST_A,
        }),
        space: async () => ({
          path: '/var/lib/containerd',
          freeBytes: 11 * GIB,
          totalBytes: 100 * GIB,
        }),
      });
      const result = only(
        await pullImages([IMAGE_A], { ...SETTINGS, disk: { ...tight, expansionRatio: 0 } }, h.deps),
      );
      assert.equal(result.outcome, 'pulled');
    });

    for (const firstOutcome of ['pulled', 'failed'] as const) {
      test(`two pulls that fit alone but not together: the second is refused, and the reservation is released once the first has ${firstOutcome}`, async () => {
        const firstStarted = deferred();
        const cGate = deferred();
        const h = harness({
          footprint: async (image) => {
            h.footprints.push(image.original);
            if (image === IMAGE_B) await firstStarted.promise;
            if (image === IMAGE_C) await cGate.promise;
            return { compressedBytes: GIB, digest: image.digest ?? '' };
          },
          // Each needs 2 GiB; 13 GiB free and 10 GiB to keep: room for one at a time.
          space: async () => ({
            path: '/var/lib/containerd',
            freeBytes: 13 * GIB,
            totalBytes: 100 * GIB,
          }),
        });
        const aGate = deferred();
        h.runtime.behaviour = async (call) => {
          if (call.image === PULL_A) {
            firstStarted.resolve();
            await aGate.promise;
          }
        };
        const running = pullImages(
          [IMAGE_A, IMAGE_B, IMAGE_C],
          {
            ...SETTINGS,
            attempts: 1,
            disk: tight,
          },
          h.deps,
        );
        // A is pulling; B was refused; C (on B's worker) is reading its footprint.
        await until(() => h.footprints.includes(IMAGE_C.original), 'C started');
        assert.equal(h.runtime.inFlight, 1);
        if (firstOutcome === 'pulled') aGate.resolve();
        else aGate.reject(new RuntimeCallError('PullImage', 'UNKNOWN', '401 Unauthorized'));
        await flush();
        await flush();
        cGate.resolve();
        const [a, b, c] = (await running) as [PullResult, PullResult, PullResult];
        assert.equal(a.outcome, firstOutcome);
        assert.equal(b.outcome, 'failed');
        assert.equal(b.cause, 'disk-space');
        assert.match(b.reason ?? '', /promised to pulls in flight/);
        assert.equal(c.outcome, 'pulled', `C was refused: ${c.reason}`);
        assert.deepEqual(
          h.runtime.pulls.map((pull) => pull.image),
          [PULL_A, PULL_C],
        );
      });
    }

    test('a refusal frees nothing it never reserved', async () => {
      // A is refused (too big), then B, small, must be judged against the full free space.
      const h = harness({
        footprint: async (image) => ({
          compressedBytes: image === IMAGE_A ? 50 * GIB : GIB,
          digest: image.digest ?? '',
        }),
        space: async () => ({ path: '/', freeBytes: 13 * GIB, totalBytes: 100 * GIB }),
      });
      const [a, b] = (await pullImages(
        [IMAGE_A, IMAGE_B],
        {
          ...SETTINGS,
          concurrency: 1,
          disk: tight,
        },
        h.deps,
      )) as [PullResult, PullResult];
      assert.equal(a.cause, 'disk-space');
      assert.equal(b.outcome, 'pulled');
      assert.doesNotMatch(a.reason ?? '', /promised/);
    });
  });

  test('a runtime that says pulled but does not hold the image fails as runtime', async () => {
    const h = harness();
    h.runtime.holdPulled = false;
    const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
    assert.equal(result.outcome, 'failed');
    assert.equal(result.cause, 'runtime');
    assert.equal(result.attempts, 1);
    assert.match(result.reason ?? '', /pulled but does not hold it/);
    assert.equal(result.pulledAt, undefined);
  });

  test('an image status call that fails is a failure, not a crash', async () => {
    const runtime = new FakeRuntime();
    runtime.imageStatus = async () => {
      throw new RuntimeCallError('ImageStatus', 'UNAVAILABLE', 'dial unix /run/fake.sock');
    };
    const h = harness({}, runtime);
    const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
    assert.equal(result.outcome, 'failed');
    assert.equal(result.cause, 'runtime');
    assert.equal(result.attempts, 0);
  });

  test('credentials that cannot be had fail the image as authentication, without pulling', async () => {
    const h = harness({
      credentials: async () => {
        throw new CredentialUnavailableError(
          'ecr 123456789012: AccessDenied: token https://AWS:hunter2-secret@123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        );
      },
    });
    const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
    assert.equal(result.outcome, 'failed');
    assert.equal(result.cause, 'authentication');
    assert.equal(h.runtime.pulls.length, 0);
    assertCleanReason(result.reason, ['hunter2-secret']);
  });

  describe('reasons never carry a credential', () => {
    const secrets = ['s3cr3t-password', 'abc.def-token', 'hunter2'];
    const planted = [
      'failed to pull and unpack image "x": failed to resolve reference "x":',
      'GET https://user:s3cr3t-password@registry.example.com/v2/team/api/manifests/latest',
      'with header Authorization: Bearer abc.def-token',
      'and password=hunter2',
      '401 Unauthorized',
    ].join('\n');
    const sources: [string, Partial<PullDependencies>, PullBehaviour | undefined][] = [
      [
        'a runtime error',
        {},
        () => {
          throw new RuntimeCallError('PullImage', 'UNKNOWN', planted);
        },
      ],
      [
        'an unavailable runtime',
        {},
        () => {
          throw new RuntimeCallError('PullImage', 'UNAVAILABLE', planted);
        },
      ],
      [
        'a registry error',
        {
          footprint: async () => {
            throw new DigestResolutionError(planted, 'authentication');
          },
        },
        undefined,
      ],
      [
        'a credential source',
        {
          credentials: async () => {
            throw new CredentialUnavailableError(planted);
          },
        },
        undefined,
      ],
      [
        'a plain error',
        {
          footprint: async () => {
            throw new Error(`${planted}\n${'x'.repeat(2000)}`);
          },
        },
        undefined,
      ],
    ];
    for (const [name, overrides, behaviour] of sources) {
      test(name, async () => {
        const h = harness({ ...overrides, random: () => 0 });
        h.runtime.behaviour = behaviour;
        const result = only(await pullImages([IMAGE_A], SETTINGS, h.deps));
        assert.equal(result.outcome, 'failed');
        assertCleanReason(result.reason, secrets);
        for (const line of h.logs) {
          for (const secret of secrets) assert.ok(!line.includes(secret), `log leaks: ${line}`);
        }
      });
    }
  });
});
