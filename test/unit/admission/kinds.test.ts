import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideReview } from '#shared/admission/decide.ts';
import { createAdmissionWebhook } from '#shared/admission/http.ts';
import { parseAdmissionReview } from '#shared/admission/review.ts';
import { POD_SPEC_PATHS } from '#shared/kubernetes/object.ts';
import {
  answerOf,
  applyPatch,
  config,
  container,
  decodePatch,
  dependencies,
  httpRequest,
  KINDS,
  object,
  podSpec,
  pointerGet,
  review,
  storedMetadata,
  updateManagedFields,
} from './reviews.ts';

// CREATE and UPDATE of a Pod and of every workload kind, through the webhook as the API server calls it.

const API = 'registry.example.com/shop/api';

function createReview(kind: string) {
  return review({
    kind,
    object: object(
      kind,
      podSpec([
        container('api', `${API}:1.4`, 'IfNotPresent'),
        container('proxy', `envoyproxy/envoy@sha256:${'5a'.repeat(32)}`, 'IfNotPresent'),
      ]),
    ),
  });
}

/** `kubectl set image` from 1.4 to latest: the policy defaulted for 1.4 stays IfNotPresent. */
function updateReview(kind: string) {
  const path = POD_SPEC_PATHS[kind] as readonly string[];
  const metadata = storedMetadata({ managedFields: updateManagedFields(path, ['api']) });
  return review({
    kind,
    operation: 'UPDATE',
    oldObject: object(kind, podSpec([container('api', `${API}:1.4`, 'IfNotPresent')]), {
      namespace: 'shop',
      metadata,
    }),
    object: object(kind, podSpec([container('api', `${API}:latest`, 'IfNotPresent')]), {
      namespace: 'shop',
      metadata: { ...metadata, generation: 5 },
    }),
  });
}

const kinds = Object.keys(POD_SPEC_PATHS);

test('the helpers know every kind with a pod spec', () => {
  assert.deepEqual(Object.keys(KINDS).sort(), [...kinds].sort());
});

describe('CREATE of every kind', () => {
  for (const kind of kinds) {
    test(`${kind}: warns about the mutable tag, not about the digest-pinned image`, async () => {
      const webhook = createAdmissionWebhook(dependencies());
      const sent = createReview(kind);
      const response = await webhook(httpRequest(sent));
      assert.equal(response.statusCode, 200);
      const answer = answerOf(response.body);
      assert.equal(answer.response.uid, (sent.request as { uid: string }).uid);
      assert.equal(answer.response.allowed, true);
      assert.deepEqual(answer.response.warnings, [
        `PW003 container "api": ${API}:1.4 is a mutable tag pulled with IfNotPresent: nodes that already hold it never see a re-push`,
      ]);
      assert.equal(answer.response.patch, undefined);
    });

    test(`${kind}: mutate patches the policy at the kind's pod spec path`, async () => {
      const webhook = createAdmissionWebhook(
        dependencies({ settings: config('admission: { mode: mutate }') }),
      );
      const sent = createReview(kind);
      const answer = answerOf((await webhook(httpRequest(sent))).body);
      assert.equal(answer.response.patchType, 'JSONPatch');
      const operations = decodePatch(answer.response.patch);
      const pointer = `${KINDS[kind]?.podSpecPointer}/containers/0/imagePullPolicy`;
      assert.deepEqual(operations, [{ op: 'replace', path: pointer, value: 'Always' }]);
      const patched = applyPatch((sent.request as { object: unknown }).object, operations);
      assert.equal(pointerGet(patched, pointer), 'Always');
      const podSpecPointer = KINDS[kind]?.podSpecPointer as string;
      assert.equal(pointerGet(patched, `${podSpecPointer}/containers/0/image`), `${API}:1.4`);
      assert.equal(
        pointerGet(patched, `${podSpecPointer}/containers/1/imagePullPolicy`),
        'IfNotPresent',
      );
      assert.deepEqual(answer.response.warnings, [
        `PW003 patched container "api": imagePullPolicy set to Always (was IfNotPresent) for ${API}:1.4`,
      ]);
    });
  }
});

describe('UPDATE of every kind', () => {
  for (const kind of kinds) {
    test(`${kind}: an image changed under a defaulted policy is PW002 with high confidence`, async () => {
      const sent = updateReview(kind);
      const decision = decideReview(
        parseAdmissionReview(Buffer.from(JSON.stringify(sent))).request,
        config(),
      );
      const stale = decision.findings.filter((finding) => finding.ruleId === 'PW002');
      assert.equal(stale.length, 1, 'one PW002, not one per source of evidence');
      assert.equal(stale[0]?.confidence, 'high');
      const evidence = stale[0]?.evidence.join(' ') ?? '';
      assert.match(
        evidence,
        /from registry\.example\.com\/shop\/api:1\.4 \(default policy IfNotPresent\)/,
      );
      assert.match(
        evidence,
        /to registry\.example\.com\/shop\/api:latest \(default policy Always\)/,
      );
      assert.deepEqual(decision.findings.map((finding) => finding.ruleId).sort(), [
        'PW001',
        'PW002',
        'PW003',
      ]);

      const webhook = createAdmissionWebhook(
        dependencies({ settings: config('admission: { mode: mutate }') }),
      );
      const answer = answerOf((await webhook(httpRequest(sent))).body);
      const operations = decodePatch(answer.response.patch);
      const pointer = `${KINDS[kind]?.podSpecPointer}/containers/0/imagePullPolicy`;
      assert.deepEqual(operations, [{ op: 'replace', path: pointer, value: 'Always' }]);
      assert.equal(
        pointerGet(applyPatch((sent.request as { object: unknown }).object, operations), pointer),
        'Always',
      );
      // The patch resolves the stale policy and the cached mutable tag; latest itself remains.
      assert.deepEqual(
        answer.response.warnings?.map((warning) => warning.split(':')[0]),
        ['PW002, PW003 patched container "api"', 'PW001 container "api"'],
      );
    });
  }
});
