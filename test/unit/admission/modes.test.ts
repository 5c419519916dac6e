import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideReview } from '#shared/admission/decide.ts';
import { createAdmissionWebhook } from '#shared/admission/http.ts';
import { parseAdmissionReview } from '#shared/admission/review.ts';
import type { Config } from '#shared/config/schema.ts';
import {
  answerOf,
  applyPatch,
  config,
  container,
  DIGEST,
  decodePatch,
  dependencies,
  httpRequest,
  LAST_APPLIED,
  OTHER_DIGEST,
  object,
  podSpec,
  pointerGet,
  review,
  storedMetadata,
  updateManagedFields,
} from './reviews.ts';

// warn, enforce and mutate on realistic requests; rule settings, suppressions and PW002 on UPDATE.

type Json = Record<string, unknown>;

async function answer(sent: Json, settings: Config = config()) {
  const webhook = createAdmissionWebhook(dependencies({ settings }));
  const response = await webhook(httpRequest(sent));
  assert.equal(response.statusCode, 200, response.body);
  return answerOf(response.body).response;
}

function decide(sent: Json, settings: Config = config()) {
  return decideReview(parseAdmissionReview(Buffer.from(JSON.stringify(sent))).request, settings);
}

const rules = (warnings: readonly string[] | undefined) =>
  (warnings ?? []).map((warning) => warning.split(' ')[0]);

describe('warn', () => {
  test('one warning per finding, each naming rule, container and image', async () => {
    const sent = review({
      kind: 'Deployment',
      object: object(
        'Deployment',
        podSpec(
          [
            container('api', 'registry.example.com/shop/api:1.4', 'IfNotPresent'),
            container('metrics', `registry.example.com/shop/metrics:2.0@${DIGEST}`, 'Always'),
          ],
          {
            initContainers: [container('migrate', 'registry.example.com/shop/migrate', 'Always')],
          },
        ),
      ),
    });
    const response = await answer(sent);
    assert.equal(response.allowed, true);
    assert.deepEqual(response.warnings, [
      'PW003 container "api": registry.example.com/shop/api:1.4 is a mutable tag pulled with IfNotPresent: nodes that already hold it never see a re-push',
      'PW001 init container "migrate": registry.example.com/shop/migrate has no tag, which means "latest", and no digest',
      `PW006 container "metrics": registry.example.com/shop/metrics:2.0@${DIGEST} is pinned by digest and pulled with Always: every start asks the registry for nothing`,
      `PW007 container "metrics": registry.example.com/shop/metrics:2.0@${DIGEST} names tag "2.0" and a digest: runtimes pull the digest and ignore the tag`,
    ]);
  });

  test('a clean object is admitted without warnings', async () => {
    const sent = review({
      kind: 'Pod',
      object: object(
        'Pod',
        podSpec([container('api', `registry.example.com/api@${DIGEST}`, 'IfNotPresent')]),
      ),
    });
    assert.deepEqual(await answer(sent), { uid: (sent.request as Json).uid, allowed: true });
  });

  test('rule settings apply: disabled rules are silent, severities change what enforce denies', async () => {
    const sent = review({
      kind: 'Pod',
      object: object(
        'Pod',
        podSpec([container('api', 'registry.example.com/api:1.4', 'IfNotPresent')]),
      ),
    });
    assert.equal(
      (await answer(sent, config('rules: { PW003: { enabled: false } }'))).warnings,
      undefined,
    );
    const denied = await answer(
      sent,
      config('admission: { mode: enforce }\nrules: { PW003: { severity: error } }'),
    );
    assert.equal(denied.allowed, false);
  });

  test('suppressions match the namespace of the request when the object names none', async () => {
    const sent = review({
      kind: 'Pod',
      namespace: 'shop',
      object: object(
        'Pod',
        podSpec([container('api', 'registry.example.com/api:1.4', 'IfNotPresent')]),
      ),
    });
    const quiet = await answer(
      sent,
      config(
        'suppressions: [{ namespace: shop, rules: [PW003], reason: mirrors re-push nightly }]',
      ),
    );
    assert.equal(quiet.warnings, undefined);
    const other = await answer(
      sent,
      config('suppressions: [{ namespace: billing, rules: [PW003], reason: not this one }]'),
    );
    assert.deepEqual(rules(other.warnings), ['PW003']);
  });

  test('pods a ReplicaSet creates (generateName, owner reference) are checked', async () => {
    const pod = object(
      'Pod',
      podSpec([container('api', 'registry.example.com/api:1.4', 'IfNotPresent')]),
      {
        metadata: {
          generateName: 'api-7d4b9c6f8d-',
          namespace: 'shop',
          labels: { app: 'api', 'pod-template-hash': '7d4b9c6f8d' },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: 'api-7d4b9c6f8d',
              uid: '1f0c2a8e-7b61-4d0e-a1c9-5e7d3c2b9f10',
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
      },
    );
    delete (pod.metadata as Json).name;
    const sent = review({ kind: 'Pod', name: '', object: pod });
    assert.deepEqual(rules((await answer(sent)).warnings), ['PW003']);
    assert.equal(decide(sent).findings[0]?.workload.kind, 'Deployment');
  });
});

describe('enforce', () => {
  const never = (image: string) =>
    review({
      kind: 'Deployment',
      object: object(
        'Deployment',
        podSpec([
          container('api', image, 'Never'),
          container('sidecar', 'registry.example.com/shop/sidecar:3.1', 'IfNotPresent'),
        ]),
      ),
    });

  test('without a deny list, findings of severity error are refused; the others stay warnings', async () => {
    const response = await answer(
      never('registry.example.com/shop/api:1.4'),
      config('admission: { mode: enforce }'),
    );
    assert.equal(response.allowed, false);
    assert.equal(response.status?.code, 403);
    assert.equal(response.status?.reason, 'Forbidden');
    assert.equal(
      response.status?.message,
      'pullwarden denies this request (PW004): PW004 container "api": imagePullPolicy Never, but registry.example.com/shop/api:1.4 is not in any pre-pull set',
    );
    assert.deepEqual(rules(response.warnings), ['PW003']);
  });

  test('images the pre-pull set guarantees are not refused', async () => {
    const response = await answer(
      never('registry.example.com/shop/api:1.4'),
      config(
        'admission: { mode: enforce }\nnodeGroups: { prePull: { "*": [registry.example.com/shop/api:1.4] } }',
      ),
    );
    assert.equal(response.allowed, true);
    assert.deepEqual(rules(response.warnings), ['PW003']);
  });

  test('a deny list refuses exactly its rules', async () => {
    const settings = config('admission: { mode: enforce, deny: [PW003] }');
    const response = await answer(never('registry.example.com/shop/api:1.4'), settings);
    assert.equal(response.allowed, false);
    assert.match(
      response.status?.message ?? '',
      /^pullwarden denies this request \(PW003\): PW003 container "sidecar"/,
    );
    assert.deepEqual(rules(response.warnings), ['PW004']);
  });

  test('an UPDATE is refused only for findings it adds', async () => {
    const settings = config('admission: { mode: enforce, deny: [PW001] }');
    const metadata = storedMetadata();
    const stored = object('Deployment', podSpec([container('api', 'nginx', 'Always')]), {
      metadata,
    });
    const rescaled = object('Deployment', podSpec([container('api', 'nginx', 'Always')]), {
      metadata: { ...metadata, labels: { tier: 'web' } },
    });
    const relabel = await answer(
      review({ kind: 'Deployment', operation: 'UPDATE', oldObject: stored, object: rescaled }),
      settings,
    );
    assert.equal(relabel.allowed, true);
    assert.deepEqual(rules(relabel.warnings), ['PW001']);

    const added = object(
      'Deployment',
      podSpec([container('api', 'nginx', 'Always'), container('debug', 'busybox', 'Always')]),
      { metadata },
    );
    const response = await answer(
      review({ kind: 'Deployment', operation: 'UPDATE', oldObject: stored, object: added }),
      settings,
    );
    assert.equal(response.allowed, false);
    assert.match(response.status?.message ?? '', /PW001 container "debug"/);
    assert.doesNotMatch(response.status?.message ?? '', /container "api"/);
  });

  test('the denial message stays one line of bounded length and counts what it leaves out', async () => {
    const containers = Array.from({ length: 40 }, (_, index) =>
      container(`worker-${index}`, `registry.example.com/shop/worker-${index}`, 'Never'),
    );
    const response = await answer(
      review({ kind: 'Pod', object: object('Pod', podSpec(containers)) }),
      config('admission: { mode: enforce }'),
    );
    const message = response.status?.message ?? '';
    assert.ok(message.length <= 1024, `${message.length}`);
    assert.doesNotMatch(message, /\n/);
    assert.match(message, /; and \d+ more$/);
  });
});

describe('mutate', () => {
  const settings = config('admission: { mode: mutate }');

  test('each site gets the policy that resolves it; the patch applies and never touches an image', async () => {
    const spec = podSpec(
      [
        container('api', 'registry.example.com/shop/api:1.4', 'IfNotPresent'),
        container('pinned', `registry.example.com/shop/pinned@${DIGEST}`, 'Always'),
        container('cached', `registry.example.com/shop/cached@${OTHER_DIGEST}`, 'Never'),
        container('fine', 'registry.example.com/shop/fine:2.0', 'Always'),
      ],
      { initContainers: [container('setup', 'registry.example.com/shop/setup:0.9', 'Never')] },
    );
    (spec.volumes as Json[]).push(
      { name: 'model', image: { reference: 'registry.example.com/models/llm:7b' } },
      {
        name: 'weights',
        image: { reference: `registry.example.com/models/w@${DIGEST}`, pullPolicy: 'Always' },
      },
    );
    const sent = review({ kind: 'Pod', object: object('Pod', spec) });
    const response = await answer(sent, settings);
    const operations = decodePatch(response.patch);
    const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
    assert.deepEqual(
      [...operations].sort(byPath),
      [
        { op: 'replace', path: '/spec/initContainers/0/imagePullPolicy', value: 'Always' },
        { op: 'replace', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
        { op: 'replace', path: '/spec/containers/1/imagePullPolicy', value: 'IfNotPresent' },
        { op: 'replace', path: '/spec/containers/2/imagePullPolicy', value: 'IfNotPresent' },
        { op: 'add', path: '/spec/volumes/1/image/pullPolicy', value: 'Always' },
        { op: 'replace', path: '/spec/volumes/2/image/pullPolicy', value: 'IfNotPresent' },
      ].sort(byPath),
    );

    const original = (sent.request as Json).object;
    const patched = applyPatch(original, operations) as Json;
    const images = (value: unknown) =>
      JSON.stringify(value, (key, inner) =>
        key === 'imagePullPolicy' || key === 'pullPolicy' ? undefined : inner,
      );
    assert.equal(images(patched), images(original), 'only pull policies change');
    assert.equal(pointerGet(patched, '/spec/containers/3/imagePullPolicy'), 'Always');

    // What the API server does next: reinvoke the webhook with the patched object.
    const again = await answer(review({ kind: 'Pod', object: patched }), settings);
    assert.equal(again.patch, undefined, 'the recommendation is a fixed point');
    assert.equal(again.warnings, undefined);
  });

  test('warnings say what was patched, then what the patch could not resolve', async () => {
    const sent = review({
      kind: 'Pod',
      object: object(
        'Pod',
        podSpec([container('api', 'registry.example.com/shop/api:latest', 'IfNotPresent')]),
      ),
    });
    const response = await answer(sent, settings);
    assert.deepEqual(response.warnings, [
      'PW003 patched container "api": imagePullPolicy set to Always (was IfNotPresent) for registry.example.com/shop/api:latest',
      'PW001 container "api": registry.example.com/shop/api:latest uses the "latest" tag and no digest',
    ]);
  });

  test('an image volume without a policy gets one added', async () => {
    const spec = podSpec([
      container('api', `registry.example.com/shop/api@${DIGEST}`, 'IfNotPresent'),
    ]);
    (spec.volumes as Json[]).push({
      name: 'model',
      image: { reference: 'registry.example.com/models/llm:7b' },
    });
    const sent = review({ kind: 'Pod', object: object('Pod', spec) });
    const operations = decodePatch((await answer(sent, settings)).patch);
    assert.deepEqual(operations, [
      { op: 'add', path: '/spec/volumes/1/image/pullPolicy', value: 'Always' },
    ]);
    const patched = applyPatch((sent.request as Json).object, operations);
    assert.deepEqual(pointerGet(patched, '/spec/volumes/1/image'), {
      reference: 'registry.example.com/models/llm:7b',
      pullPolicy: 'Always',
    });
  });

  test('on UPDATE a policy the patch sets is not mistaken for a stale default', async () => {
    const metadata = storedMetadata({
      managedFields: updateManagedFields(['spec', 'template', 'spec'], ['api']),
    });
    const sent = review({
      kind: 'Deployment',
      operation: 'UPDATE',
      oldObject: object(
        'Deployment',
        podSpec([container('api', 'registry.example.com/shop/api:1.4', 'IfNotPresent')]),
        { metadata },
      ),
      object: object(
        'Deployment',
        podSpec([container('api', 'registry.example.com/shop/api:1.5', 'IfNotPresent')]),
        { metadata },
      ),
    });
    const response = await answer(sent, settings);
    assert.deepEqual(response.warnings, [
      'PW003 patched container "api": imagePullPolicy set to Always (was IfNotPresent) for registry.example.com/shop/api:1.5',
    ]);
  });

  test('a private image shared between tenants is pulled with Always', async () => {
    const shared = config(
      'admission: { mode: mutate }\ncluster: { multiTenant: true }\nregistries: { private: ["registry.example.com"] }',
    );
    const sent = review({
      kind: 'Deployment',
      object: object(
        'Deployment',
        podSpec([container('api', 'registry.example.com/shop/api:1.4', 'IfNotPresent')]),
      ),
    });
    const response = await answer(sent, shared);
    assert.deepEqual(decodePatch(response.patch), [
      { op: 'replace', path: '/spec/template/spec/containers/0/imagePullPolicy', value: 'Always' },
    ]);
    assert.deepEqual(response.warnings, [
      'PW003, PW005 patched container "api": imagePullPolicy set to Always (was IfNotPresent) for registry.example.com/shop/api:1.4',
    ]);
  });

  test('nothing to patch: no patchType, no patch', async () => {
    const sent = review({
      kind: 'Pod',
      object: object(
        'Pod',
        podSpec([container('api', 'registry.example.com/shop/api:1.4', 'Always')]),
      ),
    });
    const response = await answer(sent, settings);
    assert.equal(response.patchType, undefined);
    assert.equal(response.patch, undefined);
  });
});

describe('PW002 on UPDATE', () => {
  const path = ['spec', 'template', 'spec'];
  function update(options: {
    oldImage: string;
    oldPolicy: string;
    newImage: string;
    newPolicy: string;
    metadata?: Json;
  }) {
    const metadata = storedMetadata(options.metadata);
    return review({
      kind: 'Deployment',
      operation: 'UPDATE',
      oldObject: object(
        'Deployment',
        podSpec([container('api', options.oldImage, options.oldPolicy)]),
        { metadata },
      ),
      object: object(
        'Deployment',
        podSpec([container('api', options.newImage, options.newPolicy)]),
        { metadata },
      ),
    });
  }
  const pw002 = (sent: Json) =>
    decide(sent).findings.filter((finding) => finding.ruleId === 'PW002');

  test('a policy the last applied manifest sets is explicit: no PW002', () => {
    const applied = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'shop' },
      spec: {
        template: {
          spec: {
            containers: [{ name: 'api', image: 'app:latest', imagePullPolicy: 'IfNotPresent' }],
          },
        },
      },
    };
    const sent = update({
      oldImage: 'app:1.0',
      oldPolicy: 'IfNotPresent',
      newImage: 'app:latest',
      newPolicy: 'IfNotPresent',
      metadata: { annotations: { [LAST_APPLIED]: JSON.stringify(applied) } },
    });
    assert.deepEqual(pw002(sent), []);
  });

  test('the last applied manifest without a policy, and the image change, agree: one PW002', () => {
    const applied = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'shop' },
      spec: { template: { spec: { containers: [{ name: 'api', image: 'app:latest' }] } } },
    };
    const sent = update({
      oldImage: 'app:1.0',
      oldPolicy: 'IfNotPresent',
      newImage: 'app:latest',
      newPolicy: 'IfNotPresent',
      metadata: { annotations: { [LAST_APPLIED]: JSON.stringify(applied) } },
    });
    const found = pw002(sent);
    assert.equal(found.length, 1);
    assert.equal(found[0]?.confidence, 'high');
    assert.match(
      found[0]?.evidence[0] ?? '',
      /from app:1\.0 \(default policy IfNotPresent\) to app:latest \(default policy Always\)/,
    );
    assert.match(found[0]?.evidence[0] ?? '', /last-applied-configuration/);
  });

  test('managedFields of update requests alone would be low confidence; the update makes it high', () => {
    const sent = update({
      oldImage: 'app:1.0',
      oldPolicy: 'IfNotPresent',
      newImage: 'app:latest',
      newPolicy: 'IfNotPresent',
      metadata: { managedFields: updateManagedFields(path, ['api']) },
    });
    assert.deepEqual(
      pw002(sent).map((finding) => finding.confidence),
      ['high'],
    );
  });

  const quiet: [string, Parameters<typeof update>[0]][] = [
    [
      'the policy changed with the image',
      {
        oldImage: 'app:1.0',
        oldPolicy: 'IfNotPresent',
        newImage: 'app:latest',
        newPolicy: 'Always',
      },
    ],
    [
      'both images default to the same policy',
      {
        oldImage: 'app:1.0',
        oldPolicy: 'IfNotPresent',
        newImage: 'app:1.1',
        newPolicy: 'IfNotPresent',
      },
    ],
    [
      'the image did not change',
      { oldImage: 'app:latest', oldPolicy: 'Always', newImage: 'app:latest', newPolicy: 'Always' },
    ],
  ];
  for (const [name, options] of quiet) {
    test(`no PW002 when ${name}`, () => {
      assert.deepEqual(
        pw002(update({ ...options, metadata: { managedFields: [] } })).map(
          (finding) => finding.confidence,
        ),
        [],
      );
    });
  }

  test('a policy that was not the default of the old image stays a low-confidence call', () => {
    const sent = update({
      oldImage: 'app:1.0',
      oldPolicy: 'Always',
      newImage: `app@${DIGEST}`,
      newPolicy: 'Always',
      metadata: { managedFields: updateManagedFields(path, ['api']) },
    });
    assert.deepEqual(
      pw002(sent).map((finding) => finding.confidence),
      ['low'],
    );
  });

  test('a digest pinned over a latest default: Always kept is PW002 (and PW006), patched to IfNotPresent', async () => {
    const sent = update({
      oldImage: 'app:latest',
      oldPolicy: 'Always',
      newImage: `app@${DIGEST}`,
      newPolicy: 'Always',
      metadata: { managedFields: updateManagedFields(path, ['api']) },
    });
    assert.deepEqual(
      decide(sent)
        .findings.map((finding) => finding.ruleId)
        .sort(),
      ['PW002', 'PW006'],
    );
    const response = await answer(sent, config('admission: { mode: mutate }'));
    assert.deepEqual(decodePatch(response.patch), [
      {
        op: 'replace',
        path: '/spec/template/spec/containers/0/imagePullPolicy',
        value: 'IfNotPresent',
      },
    ]);
    assert.deepEqual(response.warnings, [
      `PW002, PW006 patched container "api": imagePullPolicy set to IfNotPresent (was Always) for app@${DIGEST}`,
    ]);
  });

  test('a CREATE never reports PW002: the API server defaulted from this very image', () => {
    const sent = review({
      kind: 'Deployment',
      object: object('Deployment', podSpec([container('api', 'app:latest', 'IfNotPresent')]), {
        metadata: storedMetadata({ managedFields: updateManagedFields(path, ['api']) }),
      }),
    });
    assert.deepEqual(
      decide(sent)
        .findings.map((finding) => finding.ruleId)
        .sort(),
      ['PW001', 'PW003'],
    );
  });
});

describe('ephemeral containers', () => {
  test('pods/ephemeralcontainers judges only the ephemeral containers', async () => {
    const metadata = storedMetadata();
    const base = podSpec([container('api', 'registry.example.com/shop/api:1.4', 'IfNotPresent')]);
    const debug = {
      name: 'debugger-x7k2p',
      image: 'busybox',
      imagePullPolicy: 'Always',
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      stdin: true,
      tty: true,
      targetContainerName: 'api',
    };
    const sent = review({
      kind: 'Pod',
      operation: 'UPDATE',
      subResource: 'ephemeralcontainers',
      oldObject: object('Pod', base, { metadata }),
      object: object('Pod', { ...base, ephemeralContainers: [debug] }, { metadata }),
    });
    const response = await answer(sent);
    assert.deepEqual(response.warnings, [
      'PW001 ephemeral container "debugger-x7k2p": busybox has no tag, which means "latest", and no digest',
    ]);
  });
});

describe('requests the webhook leaves alone', () => {
  const pod = object('Pod', podSpec([container('api', 'nginx', 'IfNotPresent')]));
  const cases: [string, Json][] = [
    ['DELETE', review({ kind: 'Pod', operation: 'DELETE', object: null, oldObject: pod })],
    [
      'CONNECT (exec)',
      review({
        kind: 'Pod',
        operation: 'CONNECT',
        subResource: 'exec',
        object: { kind: 'PodExecOptions', apiVersion: 'v1', command: ['sh'], container: 'api' },
      }),
    ],
    [
      'status subresource',
      review({
        kind: 'Pod',
        operation: 'UPDATE',
        subResource: 'status',
        object: pod,
        oldObject: pod,
      }),
    ],
    [
      'scale subresource',
      review({
        kind: 'Deployment',
        operation: 'UPDATE',
        subResource: 'scale',
        object: { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 5 } },
        oldObject: { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 3 } },
      }),
    ],
    [
      'pods/binding',
      review({
        kind: 'Pod',
        subResource: 'binding',
        object: { kind: 'Binding', apiVersion: 'v1', target: { kind: 'Node', name: 'n1' } },
      }),
    ],
    [
      'a ConfigMap',
      review({
        kind: 'ConfigMap',
        object: { kind: 'ConfigMap', apiVersion: 'v1', data: { image: 'nginx' } },
      }),
    ],
    [
      'a Deployment of another API group',
      (() => {
        const sent = review({
          kind: 'Deployment',
          object: object('Deployment', podSpec([container('api', 'nginx', 'IfNotPresent')])),
        });
        ((sent.request as Json).kind as Json).group = 'apps.example.com';
        return sent;
      })(),
    ],
  ];
  for (const [name, sent] of cases) {
    test(`${name}: allowed, no warnings, no patch`, async () => {
      const response = await answer(sent, config('admission: { mode: mutate }'));
      assert.deepEqual(response, { uid: (sent.request as Json).uid, allowed: true });
    });
  }

  test('dry runs are judged like any other request', async () => {
    const sent = review({ kind: 'Pod', dryRun: true, object: pod });
    assert.deepEqual(rules((await answer(sent)).warnings), ['PW001', 'PW003']);
  });
});
