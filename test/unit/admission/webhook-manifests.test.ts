import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { POD_SPEC_KIND_GROUPS } from '#shared/admission/review.ts';
import { DEFAULT_CONFIG } from '#shared/config/schema.ts';
import { POD_SPEC_PATHS } from '#shared/kubernetes/object.ts';
import { readServerlessDefinition } from '#shared/local/serverless-definition.ts';

// The webhook configurations in infra/kubernetes/admission: what the API server sends where, and what
// it does when pullwarden does not answer.

const root = fileURLToPath(new URL('../../..', import.meta.url));

const RESOURCES: Record<string, string> = {
  Pod: 'pods',
  Deployment: 'deployments',
  ReplicaSet: 'replicasets',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
  Job: 'jobs',
  CronJob: 'cronjobs',
  ReplicationController: 'replicationcontrollers',
  PodTemplate: 'podtemplates',
};

interface Rule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
}

interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  clientConfig: { url?: string; service?: unknown };
  failurePolicy: string;
  matchPolicy: string;
  sideEffects: string;
  timeoutSeconds: number;
  reinvocationPolicy?: string;
  namespaceSelector: {
    matchExpressions: { key: string; operator: string; values: string[] }[];
  };
  rules: Rule[];
}

interface Configuration {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  webhooks: Webhook[];
}

async function manifest(file: string): Promise<Configuration> {
  return parse(
    await readFile(`${root}/infra/kubernetes/admission/${file}`, 'utf8'),
  ) as Configuration;
}

const manifests: [string, string][] = [
  ['validating-webhook.yaml', 'ValidatingWebhookConfiguration'],
  ['mutating-webhook.yaml', 'MutatingWebhookConfiguration'],
];

for (const [file, kind] of manifests) {
  describe(file, () => {
    test(`is one admissionregistration.k8s.io/v1 ${kind} webhook that fails open`, async () => {
      const configuration = await manifest(file);
      assert.equal(configuration.apiVersion, 'admissionregistration.k8s.io/v1');
      assert.equal(configuration.kind, kind);
      assert.equal(configuration.webhooks.length, 1);
      const [webhook] = configuration.webhooks as [Webhook];
      assert.match(webhook.name, /^[a-z0-9-]+(\.[a-z0-9-]+){2,}$/, 'a fully qualified name');
      assert.deepEqual(webhook.admissionReviewVersions, ['v1']);
      assert.equal(webhook.failurePolicy, 'Ignore');
      assert.equal(webhook.sideEffects, 'None');
      assert.equal(webhook.matchPolicy, 'Equivalent');
      assert.ok(webhook.timeoutSeconds >= 1 && webhook.timeoutSeconds <= 30);
      assert.equal(
        webhook.timeoutSeconds,
        DEFAULT_CONFIG.admission.timeoutSeconds,
        'the function answers within admission.timeoutSeconds',
      );
      assert.equal(
        webhook.reinvocationPolicy,
        kind === 'MutatingWebhookConfiguration' ? 'IfNeeded' : undefined,
      );
    });

    test('calls the /admission route that serverless.yml deploys', async () => {
      const [webhook] = (await manifest(file)).webhooks as [Webhook];
      // envsubst fills in the HttpApiUrl stack output (see the README next to the manifests).
      assert.match(webhook.clientConfig.url ?? '', /^\$\{HTTP_API_URL\}\/admission$/);
      const definition = await readServerlessDefinition(`${root}/serverless.yml`);
      const routes = definition.functions.flatMap((fn) =>
        fn.routes.map((route) => `${route.method} ${route.path} ${fn.module}`),
      );
      assert.ok(
        routes.includes('POST /admission functions/admission/handler.ts'),
        routes.join(', '),
      );
    });

    test('sends CREATE and UPDATE of every kind with a pod spec, and ephemeral containers', async () => {
      const [webhook] = (await manifest(file)).webhooks as [Webhook];
      const covered = new Set<string>();
      for (const rule of webhook.rules) {
        assert.deepEqual([...rule.operations].sort(), ['CREATE', 'UPDATE']);
        for (const group of rule.apiGroups) {
          for (const version of rule.apiVersions) {
            for (const resource of rule.resources) covered.add(`${group}/${version}/${resource}`);
          }
        }
      }
      for (const podKind of Object.keys(POD_SPEC_PATHS)) {
        const group = POD_SPEC_KIND_GROUPS[podKind];
        assert.notEqual(group, undefined, `${podKind} has an API group`);
        const key = `${group}/v1/${RESOURCES[podKind]}`;
        assert.ok(covered.has(key), `${podKind} (${key}) is sent`);
      }
      assert.ok(covered.has('/v1/pods/ephemeralcontainers'));
    });

    test('leaves out the system namespaces and those labelled pullwarden.dev/admission=disabled', async () => {
      const [webhook] = (await manifest(file)).webhooks as [Webhook];
      const expressions = webhook.namespaceSelector.matchExpressions;
      const byName = expressions.find((entry) => entry.key === 'kubernetes.io/metadata.name');
      assert.equal(byName?.operator, 'NotIn');
      assert.deepEqual([...(byName?.values ?? [])].sort(), [
        'kube-node-lease',
        'kube-public',
        'kube-system',
      ]);
      const optOut = expressions.find((entry) => entry.key === 'pullwarden.dev/admission');
      assert.equal(optOut?.operator, 'NotIn');
      assert.deepEqual(optOut?.values, ['disabled']);
    });
  });
}

test('both configurations register the same rules and namespaces', async () => {
  const [validating, mutating] = await Promise.all(manifests.map(([file]) => manifest(file)));
  const scope = (configuration: Configuration) => {
    const [webhook] = configuration.webhooks as [Webhook];
    return { rules: webhook.rules, namespaceSelector: webhook.namespaceSelector };
  };
  assert.deepEqual(scope(mutating as Configuration), scope(validating as Configuration));
});
