import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LocalStack, startLocalStack } from '#shared/local/stack.ts';

// POST /admission through the local stack: serverless.yml's route, the HTTP API adapter and the
// admission handler with its real side effects (configuration file, environment secrets, logger).

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'apiserver-admission-token';

const CONFIG = `
apiVersion: pullwarden.dev/v1
kind: Config
namespaces:
  production: [prod]
admission:
  mode: enforce
  deny: [PW001]
  token: { env: AS_ADMISSION_TOKEN }
`;

let stack: LocalStack;
let scratch: string;
const logs: string[] = [];

before(async () => {
  Object.assign(process.env, { AS_ADMISSION_TOKEN: TOKEN, POWERTOOLS_LOG_LEVEL: 'ERROR' });
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-admission-'));
  await writeFile(join(scratch, 'pullwarden.yaml'), CONFIG);
  stack = await startLocalStack({
    root,
    configFile: join(scratch, 'pullwarden.yaml'),
    port: 0,
    dataDirectory: join(scratch, 'data'),
    log: { info: (line) => logs.push(line), error: (line) => logs.push(`error: ${line}`) },
  });
});
after(async () => {
  await stack.stop();
  await rm(scratch, { recursive: true, force: true });
});

function deploymentReview(uid: string, image: string) {
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: 'prod', generation: 1 },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'api' } },
      template: {
        metadata: { labels: { app: 'api' } },
        spec: {
          containers: [
            {
              name: 'api',
              image,
              imagePullPolicy: image.includes(':') ? 'IfNotPresent' : 'Always',
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
            },
          ],
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
          schedulerName: 'default-scheduler',
        },
      },
    },
  };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
      name: 'api',
      namespace: 'prod',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:argocd:argocd-application-controller' },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.url}/admission`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

interface Answer {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    warnings?: string[];
    status?: { code: number; message: string };
  };
}

describe('POST /admission on the local stack', () => {
  test('is served by the admission function', () => {
    assert.ok(
      stack.routes.some(
        (route) =>
          route.method === 'POST' && route.path === '/admission' && route.target === 'admission',
      ),
    );
  });

  test('admits a mutable tag with a warning', async () => {
    const response = await post(deploymentReview('uid-warn', 'registry.example.com/shop/api:1.4'));
    assert.equal(response.status, 200);
    const answer = (await response.json()) as Answer;
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, 'uid-warn');
    assert.equal(answer.response.allowed, true);
    assert.deepEqual(answer.response.warnings, [
      'PW003 container "api": registry.example.com/shop/api:1.4 is a mutable tag pulled with IfNotPresent: nodes that already hold it never see a re-push',
    ]);
  });

  test('denies a rule of admission.deny', async () => {
    const response = await post(deploymentReview('uid-deny', 'registry.example.com/shop/api'));
    assert.equal(response.status, 200);
    const answer = (await response.json()) as Answer;
    assert.equal(answer.response.uid, 'uid-deny');
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status?.code, 403);
    assert.match(
      answer.response.status?.message ?? '',
      /^pullwarden denies this request \(PW001\)/,
    );
  });

  test('refuses callers without the token, and malformed reviews', async () => {
    const review = deploymentReview('uid-401', 'registry.example.com/shop/api:1.4');
    assert.equal((await post(review, { authorization: 'Bearer nope' })).status, 401);
    const malformed = await post({ ...review, apiVersion: 'admission.k8s.io/v1beta1' });
    assert.equal(malformed.status, 400);
    const { error } = (await malformed.json()) as { error: { message: string } };
    assert.match(error.message, /apiVersion: must be admission\.k8s\.io\/v1/);
    assert.equal(
      (await post('apiVersion: v1', { 'content-type': 'application/yaml' })).status,
      415,
    );
  });
});
