import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Clock } from '#shared/admission/deadline.ts';
import { createAdmissionWebhook, MAX_REVIEW_BYTES } from '#shared/admission/http.ts';
import type { Config } from '#shared/config/schema.ts';
import {
  answerOf,
  config,
  container,
  dependencies,
  httpRequest,
  KINDS,
  object,
  podSpec,
  review,
} from './reviews.ts';

// POST /admission as the API server calls it: the envelope, authentication, failures and deadlines.

type Json = Record<string, unknown>;

const pod = () =>
  object('Pod', podSpec([container('api', 'registry.example.com/shop/api:1.4', 'IfNotPresent')]));

function errorOf(body: string): { code: string; message: string } {
  return (JSON.parse(body) as { error: { code: string; message: string } }).error;
}

describe('the answer', () => {
  test('echoes request.uid, apiVersion and kind', async () => {
    const webhook = createAdmissionWebhook(dependencies());
    const sent = review({
      kind: 'Pod',
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      object: pod(),
    });
    const response = await webhook(httpRequest(sent));
    assert.equal(response.statusCode, 200);
    assert.match(response.headers['content-type'] ?? '', /^application\/json/);
    const answer = answerOf(response.body);
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
  });

  test('logs one line per review with its outcome, never the object', async () => {
    const deps = dependencies();
    const webhook = createAdmissionWebhook(deps);
    const sent = review({ kind: 'Pod', uid: 'u-1', object: pod() });
    await webhook(httpRequest(sent));
    assert.equal(deps.logged.length, 1);
    const [line] = deps.logged;
    assert.equal(line?.message, 'admission review');
    assert.deepEqual(
      { ...line?.fields, ms: typeof line?.fields.ms },
      {
        uid: 'u-1',
        kind: 'Pod',
        operation: 'CREATE',
        mode: 'warn',
        findings: 1,
        patched: 0,
        allowed: true,
        ms: 'number',
      },
    );
    assert.doesNotMatch(JSON.stringify(deps.logged), /registry\.example\.com/);
  });
});

describe('malformed requests are refused with the reason', () => {
  const valid = () => review({ kind: 'Pod', object: pod() });
  const withRequest = (change: (request: Json) => void) => {
    const sent = valid();
    change(sent.request as Json);
    return JSON.stringify(sent);
  };
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"apiVersion": "admission.k8s.io/v1", ', /^the body is not valid JSON/],
    ['a JSON array', '[]', /must be an AdmissionReview object/],
    ['a JSON string', '"AdmissionReview"', /must be an AdmissionReview object/],
    [
      'admission.k8s.io/v1beta1',
      JSON.stringify({ ...valid(), apiVersion: 'admission.k8s.io/v1beta1' }),
      /apiVersion: must be admission\.k8s\.io\/v1 \(set admissionReviewVersions: \[v1\]/,
    ],
    [
      'another kind',
      JSON.stringify({ ...valid(), kind: 'TokenReview' }),
      /kind: must be AdmissionReview/,
    ],
    [
      'no request',
      JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
      /request:/,
    ],
    ['no uid', withRequest((request) => delete request.uid), /request\.uid: must be a string/],
    [
      'an empty uid',
      withRequest((request) => (request.uid = '')),
      /request\.uid: must not be empty/,
    ],
    [
      'a numeric uid',
      withRequest((request) => (request.uid = 42)),
      /request\.uid: must be a string/,
    ],
    [
      'an unknown operation',
      withRequest((request) => (request.operation = 'PATCH')),
      /request\.operation: must be CREATE, UPDATE, DELETE or CONNECT/,
    ],
    ['no kind', withRequest((request) => delete request.kind), /request\.kind:/],
    [
      'a kind without a name',
      withRequest((request) => (request.kind = { group: '', version: 'v1', kind: '' })),
      /request\.kind\.kind: must not be empty/,
    ],
    ['no resource', withRequest((request) => delete request.resource), /request\.resource:/],
    [
      'an object that is a list',
      withRequest((request) => (request.object = [pod()])),
      /request\.object: must be a Kubernetes object or null/,
    ],
    [
      'a Pod CREATE without the object',
      withRequest((request) => (request.object = null)),
      /request\.object must be the Pod being admitted/,
    ],
    [
      'a Deployment UPDATE without the stored object',
      JSON.stringify(
        review({
          kind: 'Deployment',
          operation: 'UPDATE',
          object: object('Deployment', podSpec([])),
          oldObject: null,
        }),
      ),
      /request\.oldObject must be the stored Deployment on UPDATE/,
    ],
    [
      'dryRun that is not a boolean',
      withRequest((request) => (request.dryRun = 'false')),
      /request\.dryRun:/,
    ],
  ];
  for (const [name, body, reason] of cases) {
    test(`${name} → 400`, async () => {
      const deps = dependencies();
      const response = await createAdmissionWebhook(deps)(httpRequest(body));
      assert.equal(response.statusCode, 400, response.body);
      const error = errorOf(response.body);
      assert.equal(error.code, 'bad-request');
      assert.match(error.message, reason);
      assert.equal(deps.logged[0]?.level, 'warn');
    });
  }

  test('an empty body → 400, another media type → 415, an oversized body → 413', async () => {
    const webhook = createAdmissionWebhook(dependencies());
    const empty = await webhook(httpRequest(''));
    assert.equal(empty.statusCode, 400);
    assert.match(errorOf(empty.body).message, /empty/);
    const yaml = await webhook(
      httpRequest(JSON.stringify(review({ kind: 'Pod', object: pod() })), {
        'content-type': 'application/yaml',
      }),
    );
    assert.equal(yaml.statusCode, 415);
    assert.match(errorOf(yaml.body).message, /application\/json/);
    const big = await webhook(httpRequest(' '.repeat(MAX_REVIEW_BYTES + 1)));
    assert.equal(big.statusCode, 413);
  });

  test('a JSON body with a charset parameter is fine', async () => {
    const response = await createAdmissionWebhook(dependencies())(
      httpRequest(review({ kind: 'Pod', object: pod() }), {
        'content-type': 'application/json; charset=utf-8',
      }),
    );
    assert.equal(response.statusCode, 200);
  });
});

describe('admission.token', () => {
  const settings = config('admission: { token: { env: ADMISSION_TOKEN } }');
  const sent = () => review({ kind: 'Pod', object: pod() });
  const cases: [string, Record<string, string>, number][] = [
    ['no Authorization header', {}, 401],
    ['another scheme', { authorization: 'Basic a3ViZTpzM2NyZXQ=' }, 401],
    ['a wrong token', { authorization: 'Bearer kube-apiserver-s3cre' }, 401],
    ['a longer token', { authorization: 'Bearer kube-apiserver-s3cret-and-more' }, 401],
    ['the token', { authorization: 'Bearer kube-apiserver-s3cret' }, 200],
  ];
  for (const [name, headers, status] of cases) {
    test(`${name} → ${status}`, async () => {
      const response = await createAdmissionWebhook(dependencies({ settings }))(
        httpRequest(sent(), headers),
      );
      assert.equal(response.statusCode, status);
      if (status === 401) {
        assert.equal(errorOf(response.body).code, 'unauthorized');
        assert.doesNotMatch(response.body, /kube-apiserver-s3cret/);
      }
    });
  }

  test('without admission.token any caller is answered', async () => {
    const response = await createAdmissionWebhook(dependencies())(
      httpRequest(sent(), { authorization: 'Bearer whatever' }),
    );
    assert.equal(response.statusCode, 200);
  });
});

describe('when pullwarden fails', () => {
  const failingConfig = async (): Promise<Config> => {
    throw new Error(
      'AccessDeniedException: not authorized to ssm:GetParameter /pullwarden/dev/config',
    );
  };

  test('a configuration that cannot be read fails open: admitted, with a warning, no internals', async () => {
    const deps = dependencies({ loadConfig: failingConfig });
    const sent = review({ kind: 'Pod', uid: 'u-open', object: pod() });
    const response = await createAdmissionWebhook(deps)(httpRequest(sent));
    assert.equal(response.statusCode, 200);
    assert.deepEqual(answerOf(response.body).response, {
      uid: 'u-open',
      allowed: true,
      warnings: ['pullwarden: image pull-policy checks were skipped because of an internal error'],
    });
    assert.doesNotMatch(response.body, /AccessDenied|ssm/);
    assert.equal(deps.logged.length, 1);
    assert.equal(deps.logged[0]?.level, 'error');
    assert.equal(deps.logged[0]?.fields.uid, 'u-open');
  });

  test('an evaluation that throws fails open too', async () => {
    const broken = new Proxy(config(), {
      get(target, key, receiver) {
        if (key === 'suppressions') throw new TypeError('suppressions is not iterable');
        return Reflect.get(target, key, receiver);
      },
    });
    const response = await createAdmissionWebhook(dependencies({ settings: broken }))(
      httpRequest(review({ kind: 'Pod', uid: 'u-eval', object: pod() })),
    );
    const answer = answerOf(response.body).response;
    assert.equal(answer.uid, 'u-eval');
    assert.equal(answer.allowed, true);
    assert.match(answer.warnings?.[0] ?? '', /skipped because of an internal error/);
  });

  test('with failClosed the request is refused with a 500 status, naming no cause', async () => {
    const closed = config('admission: { failClosed: true }');
    let reads = 0;
    const deps = dependencies({
      loadConfig: async () => {
        reads++;
        if (reads > 1) return failingConfig();
        return closed;
      },
    });
    const webhook = createAdmissionWebhook(deps);
    assert.equal(
      (await webhook(httpRequest(review({ kind: 'Pod', object: pod() })))).statusCode,
      200,
    );
    // The configuration read earlier says failClosed; the next read fails.
    const response = await webhook(
      httpRequest(review({ kind: 'Pod', uid: 'u-closed', object: pod() })),
    );
    const answer = answerOf(response.body).response;
    assert.equal(answer.uid, 'u-closed');
    assert.equal(answer.allowed, false);
    assert.equal(answer.status?.code, 500);
    assert.equal(answer.status?.reason, 'InternalError');
    assert.match(answer.status?.message ?? '', /admission\.failClosed is set/);
    assert.doesNotMatch(response.body, /AccessDenied|ssm/);
  });

  test('a token that cannot be resolved is an internal failure, not a 401', async () => {
    const settings = config('admission: { token: { env: UNSET_ADMISSION_TOKEN } }');
    const response = await createAdmissionWebhook(dependencies({ settings }))(
      httpRequest(review({ kind: 'Pod', object: pod() }), { authorization: 'Bearer x' }),
    );
    assert.equal(response.statusCode, 200);
    assert.match(answerOf(response.body).response.warnings?.[0] ?? '', /internal error/);
  });
});

describe('the deadline', () => {
  /** A clock whose deadlines pass at once: whatever has not finished by then is too slow. */
  function expiringClock(waits: number[]): Clock {
    return {
      now: () => 0,
      schedule: (ms, expire) => {
        waits.push(ms);
        queueMicrotask(expire);
        return () => undefined;
      },
    };
  }

  test('a configuration read that does not finish is answered before the webhook timeout', async () => {
    const waits: number[] = [];
    const deps = dependencies({
      loadConfig: () => new Promise<Config>(() => undefined),
      clock: expiringClock(waits),
    });
    const response = await createAdmissionWebhook(deps)(
      httpRequest(review({ kind: 'Pod', uid: 'u-slow', object: pod() })),
    );
    const answer = answerOf(response.body).response;
    assert.equal(answer.uid, 'u-slow');
    assert.equal(answer.allowed, true);
    assert.deepEqual(answer.warnings, [
      'pullwarden: image pull-policy checks were skipped because they did not finish within 4000 ms',
    ]);
    // timeoutSeconds 5 (the default) less a fifth for the way back
    assert.deepEqual(waits, [4000]);
  });

  test('the budget follows admission.timeoutSeconds and the time the invocation has left', async () => {
    const waits: number[] = [];
    let read = false;
    const deps = dependencies({
      loadConfig: async () => {
        if (read) return new Promise<Config>(() => undefined);
        read = true;
        return config('admission: { timeoutSeconds: 2 }');
      },
      clock: expiringClock(waits),
    });
    const webhook = createAdmissionWebhook(deps);
    // The first review reads timeoutSeconds 2 and finishes at once (the clock stands still).
    await webhook(httpRequest(review({ kind: 'Pod', object: pod() })));
    await webhook(httpRequest(review({ kind: 'Pod', object: pod() })));
    await webhook(httpRequest(review({ kind: 'Pod', object: pod() })), { remainingMs: 1000 });
    // 4000 for the first read, then 2 s less a fifth: the token check, the read that hangs, and the
    // invocation's own limit less what the function keeps to return the answer.
    assert.deepEqual(waits, [4000, 1600, 1600, 750]);
  });

  test('an evaluation that ends past the deadline is answered as skipped', async () => {
    let evaluating = false;
    const slow = new Proxy(config(), {
      get(target, key, receiver) {
        // Suppressions are read while the findings are judged: from here on the clock has moved.
        if (key === 'suppressions') evaluating = true;
        return Reflect.get(target, key, receiver);
      },
    });
    const clock: Clock = { now: () => (evaluating ? 4500 : 0), schedule: () => () => undefined };
    const deps = dependencies({ settings: slow, clock });
    const response = await createAdmissionWebhook(deps)(
      httpRequest(review({ kind: 'Pod', object: pod() })),
    );
    assert.deepEqual(answerOf(response.body).response.warnings, [
      'pullwarden: image pull-policy checks were skipped because they did not finish within 4000 ms',
    ]);
    assert.equal(deps.logged[0]?.fields.ms, 4500);
  });
});

describe('any input', () => {
  test('arbitrary JSON bodies get a 200 with the uid or a 4xx, never an exception', async () => {
    const deps = dependencies({ settings: config('admission: { mode: mutate }') });
    const webhook = createAdmissionWebhook(deps);
    await fc.assert(
      fc.asyncProperty(fc.json(), async (body) => {
        const response = await webhook(httpRequest(body));
        assert.ok(response.statusCode >= 400 && response.statusCode < 500, response.body);
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary objects inside a well-formed review are judged without an internal error', async () => {
    const kinds = [...Object.keys(KINDS), 'Service'];
    const containerLike = fc.record(
      {
        name: fc.oneof(fc.string(), fc.constant('api')),
        image: fc.oneof(
          fc.string(),
          fc.constantFrom('nginx', 'app:1.0', `app@sha256:${'ab'.repeat(32)}`, 'a:b:c', ''),
        ),
        imagePullPolicy: fc.oneof(
          fc.constantFrom('Always', 'IfNotPresent', 'Never'),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: [] },
    );
    const podSpecLike = fc.record(
      {
        containers: fc.oneof(fc.array(containerLike, { maxLength: 4 }), fc.jsonValue()),
        initContainers: fc.array(containerLike, { maxLength: 2 }),
        volumes: fc.array(
          fc.record({
            name: fc.string(),
            image: fc.record({ reference: fc.string(), pullPolicy: fc.jsonValue() }),
          }),
          { maxLength: 2 },
        ),
      },
      { requiredKeys: [] },
    );
    const objectLike = fc.oneof(
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.record({
        metadata: fc.oneof(
          fc.jsonValue(),
          fc.record({ name: fc.string(), namespace: fc.string() }),
        ),
        spec: fc.oneof(podSpecLike, fc.record({ template: fc.record({ spec: podSpecLike }) })),
      }),
    );
    for (const mode of ['warn', 'enforce', 'mutate']) {
      const deps = dependencies({ settings: config(`admission: { mode: ${mode} }`) });
      const webhook = createAdmissionWebhook(deps);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...kinds),
          fc.constantFrom('CREATE', 'UPDATE'),
          objectLike,
          objectLike,
          fc.uuid(),
          async (kind, operation, current, previous, uid) => {
            const sent = review({
              kind,
              operation: operation as 'CREATE' | 'UPDATE',
              uid,
              object: current,
              oldObject: previous,
            });
            const response = await webhook(httpRequest(sent));
            assert.equal(response.statusCode, 200, response.body);
            assert.equal(answerOf(response.body).response.uid, uid);
          },
        ),
        { numRuns: 200 },
      );
      assert.deepEqual(
        deps.logged.filter((line) => line.level !== 'info'),
        [],
      );
    }
  });
});
