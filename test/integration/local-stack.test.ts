import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '#cmd/pullwarden/main.ts';
import { type LocalStack, startLocalStack } from '#shared/local/stack.ts';
import { eventually as waitFor } from '../support/async.ts';
import { runInProcess } from '../support/in-process-cli.ts';
import { DIGEST_A, DIGEST_B, distributionEnvelope } from '../support/webhooks.ts';

// The local stack in this process: serverless.yml's functions behind the HTTP API adapter, the prepull
// queue's consumer, the EventBridge rule and the SSM executor, on the emulators. Requests go over HTTP
// exactly as a registry or a node agent sends them.

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKENS = {
  LS_DISTRIBUTION_TOKEN: 'Bearer notify-me',
  LS_GENERAL_TOKEN: 'general-agent',
};

const CONFIG = `
apiVersion: pullwarden.dev/v1
kind: Config
nodeGroups:
  groups:
    general: { executor: agent, token: { env: LS_GENERAL_TOKEN } }
    gpu:
      executor: ssm
      token: { ssm: /local-stack/gpu-token }
      ssm: { targetTag: { key: "eks:nodegroup-name", value: gpu }, maxConcurrency: "2", maxErrors: "1" }
webhooks:
  sources:
    distribution: { token: { env: LS_DISTRIBUTION_TOKEN } }
prePull:
  rules:
    - name: team
      images: ["registry.example.com/team/**"]
      tags: { semver: ">=1.0.0" }
      nodeGroups: [general, gpu]
    - name: ecr
      images: ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/**"]
      nodeGroups: [general]
`;

let stack: LocalStack;
let scratch: string;
const logs: string[] = [];

before(async () => {
  Object.assign(process.env, TOKENS, { POWERTOOLS_LOG_LEVEL: 'ERROR' });
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-stack-'));
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

const webhook = (body: unknown, token = TOKENS.LS_DISTRIBUTION_TOKEN) =>
  fetch(`${stack.url}/webhooks/distribution`, {
    method: 'POST',
    headers: {
      'content-type': 'application/vnd.docker.distribution.events.v1+json',
      authorization: token,
    },
    body: JSON.stringify(body),
  });

const warmSet = (nodeGroup: string, token: string, etag?: string) =>
  fetch(`${stack.url}/v1/nodegroups/${nodeGroup}/warmset`, {
    headers: {
      authorization: `Bearer ${token}`,
      ...(etag === undefined ? {} : { 'if-none-match': etag }),
    },
  });

function eventually<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  return waitFor(what, probe, { timeoutMs: 15_000, explain: () => logs.join('\n') });
}

async function digestsOf(nodeGroup: string, token: string): Promise<string[]> {
  const response = await warmSet(nodeGroup, token);
  assert.equal(response.status, 200);
  const body = (await response.json()) as { images: { digest: string }[] };
  return body.images.map((image) => image.digest);
}

describe('the local stack', () => {
  test('serves the routes serverless.yml declares, plus /healthz and the local event bus', async () => {
    const routes = stack.routes.map((route) => `${route.method} ${route.path} ${route.target}`);
    for (const expected of [
      'POST /webhooks/{source} registryWebhook',
      'POST /webhooks/{source}/{token} registryWebhook',
      'GET /v1/nodegroups/{nodeGroup}/warmset nodegroupApi',
      'POST /v1/nodegroups/{nodeGroup}/nodes/{node}/report nodegroupApi',
      'GET /v1/nodegroups/{nodeGroup}/status nodegroupApi',
      'POST /v1/drift driftReport',
      'POST /admission admission',
      'POST /cluster-events clusterEvents',
      'GET /v1/findings findingsApi',
      'GET /healthz local stack',
      'POST /events local event bus',
    ]) {
      assert.ok(routes.includes(expected), `${expected} in ${routes.join(', ')}`);
    }
    const health = await fetch(`${stack.url}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok', mode: 'emulated' });
    assert.equal((await fetch(`${stack.url}/v1/unknown`)).status, 404);
  });

  test('webhook → FIFO queue → dispatch → warm set over HTTP, with ETag and the SSM executor', async () => {
    const push = distributionEnvelope([
      { action: 'push', tag: '1.2.0', digest: DIGEST_A, id: 'ls-1' },
    ]);
    const accepted = await webhook(push);
    assert.equal(accepted.status, 202);
    const summary = (await accepted.json()) as { queued: number; sendCalls: number };
    assert.equal(summary.queued, 2);
    assert.equal(summary.sendCalls, 1);

    const digests = await eventually(async () => {
      const found = await digestsOf('general', TOKENS.LS_GENERAL_TOKEN);
      return found.length > 0 ? found : undefined;
    }, 'the warm set of general');
    assert.deepEqual(digests, [DIGEST_A]);

    // gpu runs the SSM executor: one command, pinned by digest, with the node group's limits
    const command = await eventually(async () => stack.commands[0], 'the SSM command');
    assert.equal(command.documentName, 'pullwarden-prepull');
    assert.deepEqual(command.targets, [{ Key: 'tag:eks:nodegroup-name', Values: ['gpu'] }]);
    assert.deepEqual(command.parameters, { image: [`registry.example.com/team/api@${DIGEST_A}`] });
    assert.equal(command.maxConcurrency, '2');
    assert.equal(command.maxErrors, '1');

    // the gpu token is an SSM reference: generated locally, served by the SSM stand-in
    const gpuSecret = stack.secrets.find((entry) => 'ssm' in entry.ref);
    assert.ok(gpuSecret?.file !== undefined && gpuSecret.generated);
    const { readFile } = await import('node:fs/promises');
    const gpuToken = (await readFile(gpuSecret.file, 'utf8')).trim();
    assert.deepEqual(await digestsOf('gpu', gpuToken), [DIGEST_A]);

    const first = await warmSet('general', TOKENS.LS_GENERAL_TOKEN);
    const etag = first.headers.get('etag') as string;
    assert.ok(etag);
    assert.equal((await warmSet('general', TOKENS.LS_GENERAL_TOKEN, etag)).status, 304);
    assert.equal((await warmSet('general', 'wrong-token')).status, 401);
  });

  test('a node report posted with the node group token shows in the status and in pullwarden status', async () => {
    const warm = (await (await warmSet('general', TOKENS.LS_GENERAL_TOKEN)).json()) as {
      images: { image: string; digest: string }[];
    };
    const [first] = warm.images;
    assert.ok(first !== undefined, 'the warm set of general has an image');
    const report = (node: string, sequence: number, state: 'present' | 'failed') => ({
      schema: 'pullwarden.nodereport/v1',
      nodeGroup: 'general',
      node,
      sequence,
      reportedAt: new Date().toISOString(),
      agent: { version: '0.1.0' },
      images: [
        {
          image: first.image,
          digest: first.digest,
          state,
          ...(state === 'failed' ? { cause: 'authentication', reason: 'pull access denied' } : {}),
        },
      ],
    });
    const post = (body: unknown, token = TOKENS.LS_GENERAL_TOKEN, node = 'ip-10-0-0-1') =>
      fetch(`${stack.url}/v1/nodegroups/general/nodes/${node}/report`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    const stored = await post(report('ip-10-0-0-1', 2, 'present'));
    assert.equal(stored.status, 200);
    assert.equal(((await stored.json()) as { accepted: boolean }).accepted, true);
    const older = await post(report('ip-10-0-0-1', 1, 'failed'));
    assert.equal(((await older.json()) as { accepted: boolean }).accepted, false);
    assert.equal((await post(report('ip-10-0-0-1', 3, 'failed'), 'wrong-token')).status, 401);
    assert.equal(
      (await post(report('ip-10-0-0-2', 1, 'failed'), undefined, 'ip-10-0-0-2')).status,
      200,
    );

    // The operators' route: no token, as GET /v1/findings.
    const answer = await fetch(`${stack.url}/v1/nodegroups/general/status`);
    assert.equal(answer.status, 200);
    const status = (await answer.json()) as {
      schema: string;
      nodes: { node: string }[];
      images: { image: string; present: string[]; failed: { node: string; cause: string }[] }[];
    };
    assert.equal(status.schema, 'pullwarden.nodegroupstatus/v1');
    assert.deepEqual(
      status.nodes.map((node) => node.node),
      ['ip-10-0-0-1', 'ip-10-0-0-2'],
    );
    const row = status.images.find((image) => image.image === first.image);
    assert.deepEqual(row?.present, ['ip-10-0-0-1']);
    assert.deepEqual(
      row?.failed.map((failure) => `${failure.node} ${failure.cause}`),
      ['ip-10-0-0-2 authentication'],
    );

    const text = await runInProcess(main, [
      'status',
      '--node-group',
      'general',
      '--endpoint',
      stack.url,
    ]);
    assert.equal(text.code, 1, text.stderr);
    assert.match(text.stdout, /^Node group general: 2 nodes reporting, 0 stale;/);
    assert.match(text.stdout, new RegExp(`${first.digest.slice(7, 19)}\\s+1/2\\s+0\\s+1\\s+`));
    assert.match(
      text.stdout,
      /^ {2}authentication \(1 pull\):\n {4}ip-10-0-0-2 .*pull access denied$/m,
    );
    const json = await runInProcess(main, ['status', '-g', 'general', '-f', 'json'], {
      env: { PULLWARDEN_URL: stack.url },
    });
    assert.equal(json.code, 1, json.stderr);
    assert.deepEqual(
      (JSON.parse(json.stdout) as typeof status).nodes.map((node) => node.node),
      ['ip-10-0-0-1', 'ip-10-0-0-2'],
    );
  });

  test('the same delivery three times queues once; a moved tag supersedes', async () => {
    const push = distributionEnvelope([
      { action: 'push', tag: '2.0.0', digest: DIGEST_A, id: 'ls-dup' },
    ]);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await webhook(push)).status);
    assert.deepEqual(statuses, [202, 200, 200]);
    const moved = await webhook(
      distributionEnvelope([{ action: 'push', tag: '2.0.0', digest: DIGEST_B, id: 'ls-move' }]),
    );
    assert.equal(moved.status, 202);
    const body = (await moved.json()) as { events: { tagMoved: boolean }[] };
    assert.equal(body.events[0]?.tagMoved, true);
    await eventually(async () => {
      const found = await digestsOf('general', TOKENS.LS_GENERAL_TOKEN);
      return found.includes(DIGEST_B) ? found : undefined;
    }, 'the moved tag in the warm set');
  });

  test('bad deliveries get their 4xx and change nothing', async () => {
    assert.equal((await webhook({ events: [] }, 'Bearer wrong')).status, 401);
    const malformed = await fetch(`${stack.url}/webhooks/distribution`, {
      method: 'POST',
      headers: {
        'content-type': 'application/vnd.docker.distribution.events.v1+json',
        authorization: TOKENS.LS_DISTRIBUTION_TOKEN,
      },
      body: '{not json',
    });
    assert.equal(malformed.status, 400);
    assert.equal((await webhook({ events: [] }, TOKENS.LS_DISTRIBUTION_TOKEN)).status, 200);
    assert.equal(
      (
        await fetch(`${stack.url}/webhooks/harbor`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).status,
      404,
    );
    assert.ok(!logs.some((line) => line.includes('notify-me')), 'no token in the logs');
  });

  test('an ECR push posted to the local event bus reaches the ecr-events function', async () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    const response = await fetch(`${stack.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        source: 'aws.ecr',
        'detail-type': 'ECR Image Action',
        account: '123456789012',
        region: 'eu-west-1',
        detail: {
          result: 'SUCCESS',
          'action-type': 'PUSH',
          'repository-name': 'payments/api',
          'image-digest': digest,
          'image-tag': '3.1.0',
        },
      }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { delivered: [{ matched: ['ecrEvents'] }] });
    await eventually(async () => {
      const found = await digestsOf('general', TOKENS.LS_GENERAL_TOKEN);
      return found.includes(digest) ? found : undefined;
    }, 'the ECR push in the warm set');
    const failed = await fetch(`${stack.url}/events`, {
      method: 'POST',
      body: JSON.stringify({
        source: 'aws.ecr',
        'detail-type': 'ECR Image Action',
        detail: { result: 'FAILURE' },
      }),
    });
    assert.deepEqual(await failed.json(), { delivered: [{ matched: [] }] });
  });
});
