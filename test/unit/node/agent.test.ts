import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ImageFilesystem,
  type ImageRuntime,
  RuntimeCallError,
  type RuntimeImage,
  type RuntimeVersion,
} from '#shared/cri/client.ts';
import type { ImageReference } from '#shared/image/reference.ts';
import {
  MAX_UNREACHABLE_RECONCILES,
  NodeAgent,
  type ReconcileSummary,
  runAgent,
} from '#shared/node/agent.ts';
import {
  AGENT_STATE_SCHEMA,
  type AgentState,
  type AgentStateStore,
  emptyAgentState,
} from '#shared/node/agent-state.ts';
import {
  type NodeApi,
  NodeApiError,
  type WarmSetAnswer,
  type WarmSetDocument,
} from '#shared/node/api-client.ts';
import type { FilesystemSpace } from '#shared/node/disk.ts';
import { type ImagePins, type PullResult, pullReference } from '#shared/node/pull.ts';
import {
  type NodeImage,
  type NodeReport,
  nodeReportSchema,
  type PullFailureKind,
} from '#shared/prepull/node-report.ts';
import { WARM_SET_SCHEMA } from '#shared/prepull/warm-set-http.ts';

// The node agent over fakes: an API that answers the warm set with ETags and validates every report, a
// runtime whose held images the test changes between reconciles (the kubelet's GC), a pull that holds
// what it pulls, pins that record, and a state store in memory.

const NOW = Date.parse('2026-03-01T10:00:00.000Z');
const GIB = 2 ** 30;
const DIGEST_API = `sha256:${'a1'.repeat(32)}`;
const DIGEST_WORKER = `sha256:${'b2'.repeat(32)}`;
const DIGEST_PAUSE = `sha256:${'c3'.repeat(32)}`;
const DIGEST_CRON = `sha256:${'d4'.repeat(32)}`;

type Entry = WarmSetDocument['images'][number];

function entry(registry: string, repository: string, tag: string | undefined, digest: string) {
  return {
    image: `${registry}/${repository}${tag === undefined ? '' : `:${tag}`}@${digest}`,
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    digest,
  } satisfies Entry;
}

const API = entry('registry.example.com', 'team/api', '1.4.0', DIGEST_API);
const WORKER = entry('registry.example.com', 'team/worker', '2.0.0', DIGEST_WORKER);
const PAUSE = entry('registry.k8s.io', 'pause', undefined, DIGEST_PAUSE);
const CRON = entry('registry.example.com', 'team/cron', '0.1.0', DIGEST_CRON);

function pullAs(image: Entry): string {
  return `${image.registry}/${image.repository}@${image.digest}`;
}

function warmSet(...images: Entry[]): WarmSetDocument {
  return { schema: WARM_SET_SCHEMA, nodeGroup: 'general', images };
}

/** The node-group API: 304 when the ETag matches, every report checked against the schema. */
class FakeApi implements NodeApi {
  document: WarmSetDocument;
  etag: string | undefined;
  failure: Error | undefined;
  reportFailure: Error | undefined;
  readonly asked: (string | undefined)[] = [];
  readonly reports: NodeReport[] = [];

  constructor(document: WarmSetDocument, etag: string | undefined) {
    this.document = document;
    this.etag = etag;
  }

  async warmSet(etag: string | undefined): Promise<WarmSetAnswer> {
    this.asked.push(etag);
    if (this.asked.length > 50) throw new Error('the agent asked for the warm set 50 times');
    if (this.failure !== undefined) throw this.failure;
    if (etag !== undefined && etag === this.etag) return { changed: false };
    return { changed: true, etag: this.etag, document: structuredClone(this.document) };
  }

  async report(report: NodeReport): Promise<void> {
    // Throws, failing the test, on any report the API would refuse.
    this.reports.push(nodeReportSchema.parse(report));
    if (this.reportFailure !== undefined) throw this.reportFailure;
  }
}

class FakeRuntime implements ImageRuntime {
  readonly endpoint = 'unix:///run/containerd/containerd.sock';
  readonly held = new Set<string>();
  readonly removed: string[] = [];
  versionFails = false;

  async version(): Promise<RuntimeVersion> {
    if (this.versionFails) throw new Error('Version: UNAVAILABLE');
    return { runtimeName: 'containerd', runtimeVersion: '1.7.27', apiVersion: 'v1' };
  }

  async pullImage(): Promise<string> {
    throw new Error('the agent pulls through its pull dependency only');
  }

  async imageStatus(): Promise<RuntimeImage | undefined> {
    throw new Error('the agent lists images instead');
  }

  async listImages(): Promise<RuntimeImage[]> {
    return [...this.held].map((digest, index) => ({
      id: `sha256:${String(index).padStart(64, '0')}`,
      repoTags: [],
      repoDigests: [digest],
      size: 1000,
      pinned: false,
    }));
  }

  async imageFilesystems(): Promise<ImageFilesystem[]> {
    return [{ mountpoint: '/var/lib/containerd', usedBytes: 0 }];
  }

  async removeImage(image: string): Promise<void> {
    this.removed.push(image);
  }

  close(): void {}
}

class FakePins implements ImagePins {
  readonly pinCalls: string[] = [];
  readonly unpinCalls: string[] = [];
  unpinFailure: Error | undefined;

  async pin(reference: string): Promise<void> {
    this.pinCalls.push(reference);
  }

  async unpin(reference: string): Promise<void> {
    this.unpinCalls.push(reference);
    if (this.unpinFailure !== undefined) throw this.unpinFailure;
  }

  async isPinned(): Promise<boolean> {
    return false;
  }
}

class MemoryState implements AgentStateStore {
  state: AgentState = emptyAgentState();
  saves = 0;

  async load(): Promise<AgentState> {
    return structuredClone(this.state);
  }

  async save(state: AgentState): Promise<void> {
    this.state = structuredClone(state);
    this.saves += 1;
  }
}

interface Failing {
  cause: PullFailureKind;
  reason: string;
}

function setup(options: { pins?: boolean } = {}) {
  let clock = NOW;
  const api = new FakeApi(warmSet(API, WORKER, PAUSE), '"v1"');
  const runtime = new FakeRuntime();
  const store = new MemoryState();
  const pins = options.pins === true ? new FakePins() : undefined;
  const logs: string[] = [];
  const pullCalls: string[][] = [];
  const failing = new Map<string, Failing>();
  let spaceFails = false;
  const pull = async (images: readonly ImageReference[]): Promise<PullResult[]> => {
    pullCalls.push(images.map(pullReference));
    return images.map((image): PullResult => {
      const reference = pullReference(image);
      const failure = failing.get(reference);
      if (failure !== undefined) {
        return {
          image: image.original,
          digest: image.digest as string,
          outcome: 'failed',
          bytes: 42,
          seconds: 1.5,
          attempts: 3,
          cause: failure.cause,
          reason: failure.reason,
        };
      }
      runtime.held.add(reference);
      return {
        image: image.original,
        digest: image.digest as string,
        outcome: 'pulled',
        bytes: 1000,
        seconds: 2.25,
        attempts: 1,
        pulledAt: new Date(clock).toISOString(),
        ...(pins === undefined ? {} : { pinned: true }),
      };
    });
  };
  const agent = new NodeAgent(
    {
      nodeGroup: 'general',
      node: 'ip-10-0-1-23.eu-west-1.compute.internal',
      instanceId: 'i-0123456789abcdef0',
      version: '0.1.0',
    },
    {
      api,
      runtime,
      ...(pins === undefined ? {} : { pins }),
      pull,
      state: store,
      space: async (): Promise<FilesystemSpace> => {
        if (spaceFails) throw new Error('statfs: EACCES');
        return { path: '/var/lib/containerd', freeBytes: 50 * GIB, totalBytes: 100 * GIB };
      },
      now: () => clock,
      log: (line) => logs.push(line),
    },
  );
  return {
    agent,
    api,
    runtime,
    store,
    pins,
    logs,
    pullCalls,
    failing,
    tick(ms = 60_000) {
      clock += ms;
    },
    failSpace() {
      spaceFails = true;
    },
  };
}

function imagesOf(report: NodeReport | undefined): [string, NodeImage['state']][] {
  assert.ok(report !== undefined, 'a report was sent');
  return report.images.map((image) => [image.image, image.state]);
}

function counts(summary: ReconcileSummary) {
  const { results: _results, ...rest } = summary;
  return rest;
}

function assertIncreasing(reports: readonly NodeReport[]): void {
  for (let index = 1; index < reports.length; index++) {
    const before = reports[index - 1] as NodeReport;
    const after = reports[index] as NodeReport;
    assert.ok(after.sequence > before.sequence, `${after.sequence} > ${before.sequence}`);
  }
}

describe('NodeAgent.reconcile', () => {
  test('the first reconcile pulls the missing images, reporting pulling and then the outcome', async () => {
    const s = setup();
    s.runtime.held.add(pullAs(PAUSE)); // the kubelet pulled it; the agent did not add it
    const summary = await s.agent.reconcile();

    assert.deepEqual(counts(summary), {
      desired: 3,
      present: 3,
      pulled: 2,
      failed: 0,
      released: 0,
      evicted: 0,
      warmSetFromCache: false,
      reported: true,
    });
    assert.equal(summary.results.length, 2);
    assert.deepEqual(s.api.asked, [undefined]);
    assert.deepEqual(s.pullCalls, [[pullAs(API), pullAs(WORKER)]]);

    assert.equal(s.api.reports.length, 2);
    const [pulling, final] = s.api.reports as [NodeReport, NodeReport];
    assert.deepEqual(pulling.images, [
      { image: API.image, digest: DIGEST_API, state: 'pulling' },
      { image: WORKER.image, digest: DIGEST_WORKER, state: 'pulling' },
      { image: PAUSE.image, digest: DIGEST_PAUSE, state: 'present' },
    ]);
    assert.deepEqual(final.images, [
      {
        image: API.image,
        digest: DIGEST_API,
        state: 'present',
        bytes: 1000,
        pulledAt: new Date(NOW).toISOString(),
        pinned: false,
        durationMs: 2250,
        attempts: 1,
      },
      {
        image: WORKER.image,
        digest: DIGEST_WORKER,
        state: 'present',
        bytes: 1000,
        pulledAt: new Date(NOW).toISOString(),
        pinned: false,
        durationMs: 2250,
        attempts: 1,
      },
      { image: PAUSE.image, digest: DIGEST_PAUSE, state: 'present' },
    ]);
    assertIncreasing(s.api.reports);
    assert.ok(pulling.sequence >= NOW);
    for (const report of s.api.reports) {
      assert.equal(report.nodeGroup, 'general');
      assert.equal(report.node, 'ip-10-0-1-23.eu-west-1.compute.internal');
      assert.equal(report.instanceId, 'i-0123456789abcdef0');
      assert.equal(report.warmSetEtag, '"v1"');
      assert.deepEqual(report.agent, { version: '0.1.0', runtime: 'containerd 1.7.27' });
      assert.deepEqual(report.disk, {
        path: '/var/lib/containerd',
        freeBytes: 50 * GIB,
        totalBytes: 100 * GIB,
      });
      assert.equal(report.reportedAt, new Date(NOW).toISOString());
    }

    // The state remembers what the agent added (not the kubelet's image), the warm set and its ETag.
    assert.equal(s.store.saves, 1);
    assert.deepEqual(Object.keys(s.store.state.images).sort(), [pullAs(API), pullAs(WORKER)]);
    assert.deepEqual(s.store.state.images[pullAs(API)], {
      addedAt: new Date(NOW).toISOString(),
      pinned: false,
      bytes: 1000,
      durationMs: 2250,
      attempts: 1,
      evictions: 0,
    });
    assert.deepEqual(s.store.state.warmSet, { etag: '"v1"', document: s.api.document });
    assert.equal(s.store.state.sequence, final.sequence);
    assert.equal(s.store.state.schema, AGENT_STATE_SCHEMA);
  });

  test('an unchanged warm set (304) reuses the cached document and pulls nothing', async () => {
    const s = setup();
    await s.agent.reconcile();
    s.tick();
    const summary = await s.agent.reconcile();

    assert.deepEqual(s.api.asked, [undefined, '"v1"']);
    assert.equal(s.pullCalls.length, 1);
    assert.deepEqual(counts(summary), {
      desired: 3,
      present: 3,
      pulled: 0,
      failed: 0,
      released: 0,
      evicted: 0,
      warmSetFromCache: false,
      reported: true,
    });
    assert.deepEqual(summary.results, []);
    // No "pulling" report when nothing is missing: one report this time.
    assert.equal(s.api.reports.length, 3);
    const last = s.api.reports[2] as NodeReport;
    assert.deepEqual(imagesOf(last), [
      [API.image, 'present'],
      [WORKER.image, 'present'],
      [PAUSE.image, 'present'],
    ]);
    // What the agent pulled keeps its figures from the pull.
    assert.equal(last.images[0]?.pulledAt, new Date(NOW).toISOString());
    assert.equal(last.images[0]?.durationMs, 2250);
    assert.equal(last.warmSetEtag, '"v1"');
    assertIncreasing(s.api.reports);
  });

  test('a changed warm set is read whole: new images pulled, the new ETag remembered', async () => {
    const s = setup();
    await s.agent.reconcile();
    s.api.document = warmSet(API, WORKER, PAUSE, CRON);
    s.api.etag = '"v2"';
    const summary = await s.agent.reconcile();
    assert.deepEqual(s.pullCalls[1], [pullAs(CRON)]);
    assert.equal(summary.desired, 4);
    assert.equal(s.store.state.warmSet?.etag, '"v2"');
    assert.equal(s.api.reports.at(-1)?.warmSetEtag, '"v2"');
  });

  test('an image the runtime lost is pulled again; evicted counts only images the agent added', async () => {
    const s = setup();
    s.runtime.held.add(pullAs(PAUSE));
    await s.agent.reconcile();
    s.tick();
    s.runtime.held.delete(pullAs(API)); // the kubelet's image GC
    s.runtime.held.delete(pullAs(PAUSE)); // never the agent's
    const summary = await s.agent.reconcile();

    assert.deepEqual(s.pullCalls[1], [pullAs(API), pullAs(PAUSE)]);
    assert.equal(summary.evicted, 1);
    assert.equal(summary.pulled, 2);
    assert.equal(s.store.state.images[pullAs(API)]?.evictions, 1);
    assert.equal(s.store.state.images[pullAs(API)]?.addedAt, new Date(NOW + 60_000).toISOString());
    assert.ok(s.logs.some((line) => line.includes(`${pullAs(API)} is gone from the runtime`)));

    s.tick();
    s.runtime.held.delete(pullAs(API));
    const again = await s.agent.reconcile();
    assert.equal(again.evicted, 1);
    assert.equal(s.store.state.images[pullAs(API)]?.evictions, 2);
  });

  test('an image the agent added that left the warm set is unpinned and forgotten; others are never touched', async () => {
    const s = setup({ pins: true });
    s.runtime.held.add(pullAs(PAUSE));
    await s.agent.reconcile();
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, true);
    assert.equal(s.store.state.images[pullAs(WORKER)]?.pinned, true);

    s.tick();
    s.api.document = warmSet(API);
    s.api.etag = '"v2"';
    const summary = await s.agent.reconcile();

    assert.equal(summary.released, 1);
    assert.equal(summary.desired, 1);
    assert.deepEqual(s.pins?.unpinCalls, [pullAs(WORKER)]);
    assert.deepEqual(Object.keys(s.store.state.images), [pullAs(API)]);
    // The agent never removes images: the kubelet's GC decides, and PAUSE was never the agent's.
    assert.deepEqual(s.runtime.removed, []);
    assert.ok(!s.pins?.unpinCalls.includes(pullAs(PAUSE)));
    assert.ok(!s.pins?.pinCalls.includes(pullAs(PAUSE)));
    assert.deepEqual(imagesOf(s.api.reports.at(-1)), [[API.image, 'present']]);
    assert.ok(s.logs.some((line) => line.includes(`${pullAs(WORKER)} left the warm set`)));
  });

  test('a released image that was never pinned is forgotten without an unpin', async () => {
    const s = setup({ pins: true });
    s.store.state = {
      ...emptyAgentState(),
      images: {
        [pullAs(CRON)]: { addedAt: new Date(NOW).toISOString(), pinned: false, evictions: 0 },
      },
    };
    const summary = await s.agent.reconcile();
    assert.equal(summary.released, 1);
    assert.deepEqual(s.pins?.unpinCalls, []);
    assert.equal(s.store.state.images[pullAs(CRON)], undefined);
  });

  test('an unpin the runtime answers NOT_FOUND still releases; another failure keeps the image for next time', async () => {
    const pinned = {
      [pullAs(CRON)]: { addedAt: new Date(NOW).toISOString(), pinned: true, evictions: 0 },
    };
    const gone = setup({ pins: true });
    gone.store.state = { ...emptyAgentState(), images: structuredClone(pinned) };
    (gone.pins as FakePins).unpinFailure = new Error('UpdateImage: NOT_FOUND: image not found');
    assert.equal((await gone.agent.reconcile()).released, 1);
    assert.equal(gone.store.state.images[pullAs(CRON)], undefined);

    const stuck = setup({ pins: true });
    stuck.store.state = { ...emptyAgentState(), images: structuredClone(pinned) };
    (stuck.pins as FakePins).unpinFailure = new Error(
      'UpdateImage: UNAVAILABLE: connection refused',
    );
    assert.equal((await stuck.agent.reconcile()).released, 0);
    assert.deepEqual(stuck.store.state.images[pullAs(CRON)], pinned[pullAs(CRON)]);
    assert.ok(stuck.logs.some((line) => line.includes('could not be unpinned')));

    (stuck.pins as FakePins).unpinFailure = undefined;
    assert.equal((await stuck.agent.reconcile()).released, 1);
    assert.deepEqual(stuck.pins?.unpinCalls, [pullAs(CRON), pullAs(CRON)]);
  });

  test('an image the agent added unpinned is pinned once pins are available', async () => {
    const s = setup({ pins: true });
    s.runtime.held.add(pullAs(API));
    s.runtime.held.add(pullAs(WORKER));
    s.runtime.held.add(pullAs(PAUSE));
    s.store.state = {
      ...emptyAgentState(),
      images: {
        [pullAs(API)]: { addedAt: new Date(NOW).toISOString(), pinned: false, evictions: 0 },
      },
    };
    await s.agent.reconcile();
    assert.deepEqual(s.pins?.pinCalls, [pullAs(API)]);
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, true);
    assert.equal(s.api.reports.at(-1)?.images[0]?.pinned, true);
  });

  test('the API unreachable with a cached warm set: reconciles from the cache', async () => {
    const s = setup();
    await s.agent.reconcile();
    s.tick();
    s.api.failure = new NodeApiError(
      'cannot reach http://pullwarden.internal: connect ECONNREFUSED',
    );
    s.runtime.held.delete(pullAs(WORKER));
    const summary = await s.agent.reconcile();

    assert.equal(summary.warmSetFromCache, true);
    assert.equal(summary.pulled, 1);
    assert.deepEqual(s.pullCalls[1], [pullAs(WORKER)]);
    assert.equal(summary.reported, true);
    assert.equal(s.api.reports.at(-1)?.warmSetEtag, '"v1"');
    assert.ok(s.logs.some((line) => line.includes('reconciling the last warm set read')));
    // The cache is kept for the next time.
    assert.equal(s.store.state.warmSet?.etag, '"v1"');
  });

  test('the API unreachable without a cached warm set: the reconcile fails and changes nothing', async () => {
    const s = setup();
    const failure = new NodeApiError('the warm set answered 401 (check the agent token)', 401);
    s.api.failure = failure;
    await assert.rejects(s.agent.reconcile(), (error) => error === failure);
    assert.deepEqual(s.api.reports, []);
    assert.deepEqual(s.pullCalls, []);
    assert.equal(s.store.saves, 0);
  });

  test('a 304 with nothing cached asks once more, unconditionally', async () => {
    const s = setup();
    const answers: WarmSetAnswer[] = [
      { changed: false },
      { changed: true, etag: '"v1"', document: warmSet(API) },
    ];
    s.api.warmSet = async (etag) => {
      s.api.asked.push(etag);
      return answers.shift() ?? { changed: false };
    };
    const summary = await s.agent.reconcile();
    assert.deepEqual(s.api.asked, [undefined, undefined]);
    assert.equal(summary.desired, 1);
  });

  test('an API that answers 304 to every unconditional request fails the reconcile instead of asking forever', async () => {
    const s = setup();
    s.api.warmSet = async (etag) => {
      s.api.asked.push(etag);
      if (s.api.asked.length > 20) throw new Error('asked for the warm set 20 times');
      return { changed: false };
    };
    await assert.rejects(s.agent.reconcile());
    assert.ok(s.api.asked.length <= 2, `asked ${s.api.asked.length} times`);
  });

  test('a report that cannot be sent: reported false, but the state is saved', async () => {
    const s = setup();
    s.api.reportFailure = new NodeApiError('the node report answered 503', 503);
    const summary = await s.agent.reconcile();
    assert.equal(summary.reported, false);
    assert.equal(summary.pulled, 3);
    assert.equal(s.store.saves, 1);
    assert.deepEqual(Object.keys(s.store.state.images).length, 3);
    assert.equal(s.store.state.sequence, s.api.reports.at(-1)?.sequence);
    assert.ok(s.logs.some((line) => line.startsWith('report not sent: ')));

    s.api.reportFailure = undefined;
    const next = await s.agent.reconcile();
    assert.equal(next.reported, true);
    assertIncreasing(s.api.reports);
  });

  test('a failed pull is reported failed with its cause, reason and figures, and retried next time', async () => {
    const s = setup();
    s.failing.set(pullAs(WORKER), {
      cause: 'rate-limited',
      reason: 'toomanyrequests: You have reached your pull rate limit.',
    });
    const summary = await s.agent.reconcile();
    assert.deepEqual(counts(summary), {
      desired: 3,
      present: 2,
      pulled: 2,
      failed: 1,
      released: 0,
      evicted: 0,
      warmSetFromCache: false,
      reported: true,
    });
    const worker = s.api.reports.at(-1)?.images.find((image) => image.image === WORKER.image);
    assert.deepEqual(worker, {
      image: WORKER.image,
      digest: DIGEST_WORKER,
      state: 'failed',
      bytes: 42,
      durationMs: 1500,
      attempts: 3,
      cause: 'rate-limited',
      reason: 'toomanyrequests: You have reached your pull rate limit.',
    });
    assert.equal(s.store.state.images[pullAs(WORKER)], undefined);

    s.tick();
    s.failing.clear();
    const next = await s.agent.reconcile();
    assert.deepEqual(s.pullCalls[1], [pullAs(WORKER)]);
    assert.equal(next.evicted, 0);
    assert.equal(next.failed, 0);
  });

  test('the sequence keeps increasing when the clock is behind the last report', async () => {
    const s = setup();
    s.store.state = { ...emptyAgentState(), sequence: NOW + 10_000 };
    s.runtime.held.add(pullAs(API));
    s.runtime.held.add(pullAs(WORKER));
    s.runtime.held.add(pullAs(PAUSE));
    await s.agent.reconcile();
    assert.equal(s.api.reports[0]?.sequence, NOW + 10_001);
  });

  test('a runtime that does not say its version and a disk that cannot be measured are left out of the report', async () => {
    const s = setup();
    s.runtime.versionFails = true;
    s.failSpace();
    await s.agent.reconcile();
    for (const report of s.api.reports) {
      assert.deepEqual(report.agent, { version: '0.1.0' });
      assert.equal(report.disk, undefined);
    }
  });

  test('duplicate and unreadable warm-set entries: pulled once, skipped with a log line', async () => {
    const s = setup();
    const retagged = { ...API, image: API.image.replace(':1.4.0', ':stable'), tag: 'stable' };
    const broken = { ...CRON, image: 'registry.example.com/team/cron@md5:00', digest: 'md5:00' };
    s.api.document = warmSet(API, retagged, broken);
    const summary = await s.agent.reconcile();
    assert.equal(summary.desired, 1);
    assert.deepEqual(s.pullCalls, [[pullAs(API)]]);
    assert.deepEqual(imagesOf(s.api.reports.at(-1)), [[API.image, 'present']]);
    assert.ok(s.logs.some((line) => line.startsWith(`skipping warm set entry ${broken.image}`)));
  });
});

describe('runAgent', () => {
  /** listImages fails as `plan` says, call by call (true: the runtime refuses), then succeeds. */
  function scripted(plan: readonly (boolean | 'other')[]) {
    const s = setup();
    let calls = 0;
    const listImages = s.runtime.listImages.bind(s.runtime);
    s.runtime.listImages = async () => {
      const step = plan[calls];
      calls += 1;
      if (step === true) {
        throw new RuntimeCallError(
          'ListImages',
          'UNAVAILABLE',
          'connect ENOENT /run/containerd.sock',
        );
      }
      if (step === 'other') throw new RuntimeCallError('ListImages', 'INTERNAL', 'boom');
      return listImages();
    };
    return { ...s, calls: () => calls };
  }

  test('gives up once the runtime refused MAX_UNREACHABLE_RECONCILES reconciles in a row', async () => {
    const s = scripted(Array(20).fill(true));
    const lines: string[] = [];
    const outcome = await runAgent(
      s.agent,
      1,
      new AbortController().signal,
      (line) => lines.push(line),
      () => 0,
    );
    assert.equal(outcome, 'runtime-unreachable');
    assert.equal(s.calls(), MAX_UNREACHABLE_RECONCILES);
    assert.equal(
      lines.filter((line) => line.startsWith('reconcile failed: ')).length,
      MAX_UNREACHABLE_RECONCILES,
    );
  });

  test('a reconcile that succeeds, or fails otherwise, starts the count again', async () => {
    const refusals = Array(MAX_UNREACHABLE_RECONCILES - 1).fill(true);
    const s = scripted([...refusals, false, ...refusals, 'other', ...Array(20).fill(true)]);
    const outcome = await runAgent(
      s.agent,
      1,
      new AbortController().signal,
      () => {},
      () => 0,
    );
    assert.equal(outcome, 'runtime-unreachable');
    assert.equal(s.calls(), 2 * (MAX_UNREACHABLE_RECONCILES - 1) + 2 + MAX_UNREACHABLE_RECONCILES);
  });

  test('an abort while reconciling stops without waiting out the interval', async () => {
    // SIGTERM arrives mid-reconcile (a long pull): the agent must not then sleep a whole interval.
    const s = scripted([]);
    const controller = new AbortController();
    let outcome: string | undefined;
    const running = runAgent(s.agent, 1000, controller.signal, () => controller.abort()).then(
      (result) => {
        outcome = result;
      },
    );
    // Every fake answers on the microtask queue: a few turns of the event loop are plenty.
    for (let turn = 0; turn < 100 && outcome === undefined; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(outcome, 'stopped', 'still waiting out the interval after the abort');
    await running;
    assert.equal(s.calls(), 1);
  });

  test('an abort during the wait stops at once', async () => {
    const s = scripted([]);
    const controller = new AbortController();
    const lines: string[] = [];
    // An hour between reconciles: only the abort can end the wait.
    const outcome = await runAgent(s.agent, 3_600_000, controller.signal, (line) => {
      lines.push(line);
      // Abort once the wait has begun.
      setImmediate(() => controller.abort());
    });
    assert.equal(outcome, 'stopped');
    assert.equal(s.calls(), 1);
    assert.match(lines[0] ?? '', /^reconciled: 3\/3 present, 3 pulled, 0 failed, 0 released$/);
  });

  test('an aborted signal reconciles nothing', async () => {
    const s = scripted([]);
    const controller = new AbortController();
    controller.abort();
    assert.equal(await runAgent(s.agent, 1, controller.signal, () => {}), 'stopped');
    assert.equal(s.calls(), 0);
  });
});
