// npm run bench:admission — starts the local stack in this process and sends AdmissionReviews for a
// 20-container Pod over HTTP, as the API server would: a warm-up, then sequential round trips, then
// concurrent ones. Prints p50/p90/p99/max latency, reviews/s, and the process's RSS and heap.
// Options: --requests N (default 2000, per phase), --warmup N (default 300), --concurrency N
// (default 8), --mode warn|enforce|mutate (default mutate: evaluation, patch and re-evaluation).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLocalStack } from '#shared/local/stack.ts';
import { percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '8' },
    mode: { type: 'string', default: 'mutate' },
  },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const concurrency = Number(values.concurrency);
const root = fileURLToPath(new URL('..', import.meta.url));
const TARGET_P99_MS = 20;

const DIGEST = (n: number) => `sha256:${n.toString(16).padStart(2, '0').repeat(32)}`;

/** 20 containers: version tags, latest, digests, tag+digest, Never; most of them raise a finding. */
function containers(revision: string) {
  return Array.from({ length: 20 }, (_, index) => {
    const repository = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/service-${index}`;
    const [image, policy] = (
      [
        [`${repository}:${revision}`, 'IfNotPresent'],
        [`${repository}@${DIGEST(index)}`, 'IfNotPresent'],
        [`${repository}:${revision}@${DIGEST(index)}`, 'Always'],
        [`${repository}:latest`, 'Always'],
        [`${repository}:${revision}`, 'Never'],
      ] as const
    )[index % 5] as readonly [string, string];
    return {
      name: `service-${index}`,
      image,
      imagePullPolicy: policy,
      ports: [{ containerPort: 8080 + index, protocol: 'TCP' }],
      env: [{ name: 'SERVICE_INDEX', value: String(index) }],
      resources: { requests: { cpu: '50m', memory: '64Mi' } },
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      volumeMounts: [
        {
          mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
          name: 'kube-api-access-x2k9q',
          readOnly: true,
        },
      ],
    };
  });
}

function pod(revision: string) {
  const list = containers(revision);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'storefront-6c9f7d8b4-q2xlm',
      generateName: 'storefront-6c9f7d8b4-',
      namespace: 'shop',
      uid: '4b1d7c55-0c7e-4a0f-9a41-8a3e5f0f2c11',
      resourceVersion: '918273',
      creationTimestamp: '2026-03-02T09:14:07Z',
      labels: { app: 'storefront', 'pod-template-hash': '6c9f7d8b4' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'storefront-6c9f7d8b4',
          uid: '8d0f6a3e-2b71-4c55-b0a9-6c1e2d3f4a5b',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-03-02T09:14:07Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:spec': {
              'f:containers': Object.fromEntries(
                list.map((entry) => [
                  `k:{"name":"${entry.name}"}`,
                  { '.': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:name': {} },
                ]),
              ),
            },
          },
        },
      ],
    },
    spec: {
      containers: list,
      dnsPolicy: 'ClusterFirst',
      enableServiceLinks: true,
      nodeSelector: { 'eks.amazonaws.com/nodegroup': 'general' },
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      securityContext: {},
      serviceAccountName: 'default',
      terminationGracePeriodSeconds: 30,
      volumes: [
        {
          name: 'kube-api-access-x2k9q',
          projected: {
            defaultMode: 420,
            sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }],
          },
        },
      ],
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  };
}

/** A CREATE, and an UPDATE that moves every tag from 1.4.0 to 1.5.0; `@UID@` marks the uid. */
function reviewTemplate(update: boolean): string {
  const kind = { group: '', version: 'v1', kind: 'Pod' };
  const resource = { group: '', version: 'v1', resource: 'pods' };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '@UID@',
      kind,
      resource,
      requestKind: kind,
      requestResource: resource,
      name: 'storefront-6c9f7d8b4-q2xlm',
      namespace: 'shop',
      operation: update ? 'UPDATE' : 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod(update ? '1.5.0' : '1.4.0'),
      oldObject: update ? pod('1.4.0') : null,
      dryRun: false,
    },
  });
}

// Built once, so the client's own work stays out of the figures as far as it can.
const templates = [reviewTemplate(false), reviewTemplate(true)];
let sequence = 0;
/** Alternates CREATE and UPDATE, each with a uid of its own. */
function reviewBody(): string {
  sequence++;
  return (templates[sequence % 2] as string).replace('@UID@', `bench-${sequence}`);
}

async function peakRssMiB(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

const scratch = await mkdtemp(join(tmpdir(), 'pullwarden-bench-admission-'));
const configFile = join(scratch, 'pullwarden.yaml');
await writeFile(
  configFile,
  [
    'apiVersion: pullwarden.dev/v1',
    'kind: Config',
    'namespaces: { production: [shop] }',
    'nodeGroups: { prePull: { general: [] } }',
    `admission: { mode: ${values.mode}, deny: [PW004] }`,
    '',
  ].join('\n'),
);
// One structured log line per review would flood the terminal; the figures are what matters here.
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
const stack = await startLocalStack({
  root,
  configFile,
  port: 0,
  log: { info: () => undefined, error: (line) => console.error(line) },
});
const url = new URL('/admission', stack.url);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

interface Reply {
  status: number;
  body: string;
}

function post(body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const call = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}

async function roundTrip(latencies: number[]): Promise<void> {
  const body = reviewBody();
  const sent = performance.now();
  const reply = await post(body);
  const ms = performance.now() - sent;
  if (reply.status !== 200) throw new Error(`answer ${reply.status}: ${reply.body}`);
  latencies.push(ms);
}

function report(label: string, latencies: number[], wallMs: number): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  const figure = (value: number) => `${value.toFixed(2)} ms`;
  const p99 = percentile(sorted, 0.99);
  console.log(
    `${label.padEnd(22)} ${String(sorted.length).padStart(5)} reviews  ${(sorted.length / (wallMs / 1000)).toFixed(0).padStart(5)} reviews/s  ` +
      `p50 ${figure(percentile(sorted, 0.5))}  p90 ${figure(percentile(sorted, 0.9))}  p99 ${figure(p99)}  max ${figure(sorted.at(-1) ?? 0)}` +
      `  (p99 target ≤ ${TARGET_P99_MS} ms: ${p99 <= TARGET_P99_MS ? 'met' : 'missed'})`,
  );
}

try {
  const sample = await post(reviewBody());
  const answer = JSON.parse(sample.body) as {
    response: { allowed: boolean; warnings?: string[]; patch?: string };
  };
  const patch =
    answer.response.patch === undefined
      ? []
      : JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8'));
  console.log(
    `pullwarden admission benchmark: Pod with 20 containers, CREATE and UPDATE alternating (${Buffer.byteLength(templates[0] as string)} and ${Buffer.byteLength(templates[1] as string)} bytes), mode ${values.mode}, ` +
      `${availableParallelism()} CPUs, node ${process.version}`,
  );
  console.log(
    `one UPDATE answer: allowed ${answer.response.allowed}, ${answer.response.warnings?.length ?? 0} warnings, ${patch.length} patch operations`,
  );
  const discard: number[] = [];
  for (let index = 0; index < warmup; index++) await roundTrip(discard);
  console.log('');

  const sequential: number[] = [];
  let started = performance.now();
  for (let index = 0; index < requests; index++) await roundTrip(sequential);
  report('sequential', sequential, performance.now() - started);

  const concurrent: number[] = [];
  started = performance.now();
  let issued = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < requests) {
        issued++;
        await roundTrip(concurrent);
      }
    }),
  );
  report(`${concurrency} concurrent`, concurrent, performance.now() - started);

  const memory = process.memoryUsage();
  console.log('');
  console.log(
    `memory (client and stack in one process): RSS ${mib(memory.rss)} (peak ${(await peakRssMiB()).toFixed(0)} MiB), heap used ${mib(memory.heapUsed)} of ${mib(memory.heapTotal)}`,
  );
} finally {
  agent.destroy();
  await stack.stop();
  await rm(scratch, { recursive: true, force: true });
}
