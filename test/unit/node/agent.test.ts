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
  type AgentDependencies,
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
  /** Called with every report as it arrives (after the schema check). */
  onReport: ((report: NodeReport) => void) | undefined;
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

  async report(report: NodeReport): Promise<boolean> {
    // Throws, failing the test, on any report the API would refuse.
    const parsed = nodeReportSchema.parse(report);
    this.reports.push(parsed);
    this.onReport?.(parsed);
    if (this.reportFailure !== undefined) throw this.reportFailure;
    return true;
  }
}

class FakeRuntime implements ImageRuntime {
  readonly endpoint = 'unix:///run/containerd/containerd.sock';
  readonly held = new Set<string>();
  readonly removed: string[] = [];
  async version(): Promise<RuntimeVersion> {
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

/** containerd's pins: `labelled` is containerd's own record of the images carrying the agent's pin. */
class FakePins implements ImagePins {
  readonly pinCalls: string[] = [];
  readonly unpinCalls: string[] = [];
  /** What each releaseExcept was asked to keep, sorted. */
  readonly releaseCalls: string[][] = [];
  readonly labelled = new Set<string>();
  releaseFailure: Error | undefined;

  async pin(reference: string): Promise<void> {
    this.pinCalls.push(reference);
    this.labelled.add(reference);
  }

  async unpin(reference: string): Promise<void> {
    this.unpinCalls.push(reference);
    this.labelled.delete(reference);
  }

  async isPinned(reference: string): Promise<boolean> {
    return this.labelled.has(reference);
  }

  async releaseExcept(keep: ReadonlySet<string>): Promise<string[]> {
    this.releaseCalls.push([...keep].sort());
    if (this.releaseFailure !== undefined) throw this.releaseFailure;
    const released = [...this.labelled].filter((name) => !keep.has(name));
    for (const name of released) this.labelled.delete(name);
    return released;
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

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((ok) => {
    resolve = ok;
  });
  return { promise, resolve };
}

interface SetupOptions {
  /** containerd's pins are there (the runtime is containerd). */
  pins?: boolean;
  /** Pinning on; by default, on when there are pins. */
  pin?: boolean;
  heartbeatMs?: number;
  /** containerd names images by the warm set's tags; records each call. */
  tags?: boolean;
  /** The runtime the agent names in its reports; null: none known. */
  runtimeName?: string | null;
}

function setup(options: SetupOptions = {}) {
  let clock = NOW;
  const api = new FakeApi(warmSet(API, WORKER, PAUSE), '"v1"');
  const runtime = new FakeRuntime();
  const store = new MemoryState();
  const pins = options.pins === true ? new FakePins() : undefined;
  const pin = options.pin ?? pins !== undefined;
  const logs: string[] = [];
  const tagCalls: [string, string][] = [];
  const tagged = new Map<string, string>();
  const tags =
    options.tags === true
      ? {
          async tag(reference: string, name: string) {
            tagCalls.push([reference, name]);
            const before = tagged.get(name);
            tagged.set(name, reference);
            return before === undefined ? 'created' : before === reference ? 'unchanged' : 'moved';
          },
        }
      : undefined;
  const pullCalls: string[][] = [];
  const failing = new Map<string, Failing>();
  /** Images the runtime turns out to hold when their pull starts (the kubelet got there first). */
  const alreadyThere = new Set<string>();
  const hooks: { beforeResult?: ((reference: string) => Promise<void> | void) | undefined } = {};
  let spaceFails = false;

  // pullImages' own pinning, as the agent's pull dependency does it.
  const pinned = (reference: string): { pinned?: boolean } => {
    if (!pin) return {};
    if (pins === undefined) return { pinned: false };
    pins.labelled.add(reference);
    return { pinned: true };
  };
  const pullOne = (image: ImageReference, reference: string): PullResult => {
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
    if (alreadyThere.has(reference)) {
      runtime.held.add(reference);
      return {
        image: image.original,
        digest: image.digest as string,
        outcome: 'present',
        seconds: 0,
        attempts: 0,
        ...pinned(reference),
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
      ...pinned(reference),
    };
  };
  /** One image after the other, each result handed over as it is known, as pullImages does. */
  const pull = async (
    images: readonly ImageReference[],
    onResult: (result: PullResult, image: ImageReference) => Promise<void>,
  ): Promise<PullResult[]> => {
    pullCalls.push(images.map(pullReference));
    const results: PullResult[] = [];
    for (const image of images) {
      const reference = pullReference(image);
      await hooks.beforeResult?.(reference);
      const result = pullOne(image, reference);
      results.push(result);
      await onResult(result, image);
    }
    return results;
  };
  /** A fresh agent over the same node: what a restart of the agent process gives. */
  const makeAgent = () =>
    new NodeAgent(
      {
        nodeGroup: 'general',
        node: 'ip-10-0-1-23.eu-west-1.compute.internal',
        instanceId: 'i-0123456789abcdef0',
        version: '0.1.0',
        ...(options.runtimeName === null
          ? {}
          : { runtime: options.runtimeName ?? 'containerd 1.7.27' }),
      },
      {
        api,
        runtime,
        ...(pins === undefined ? {} : { pins }),
        ...(tags === undefined ? {} : { tags: tags as NonNullable<AgentDependencies['tags']> }),
        pin,
        pull,
        state: store,
        space: async (): Promise<FilesystemSpace> => {
          if (spaceFails) throw new Error('statfs: EACCES');
          return { path: '/var/lib/containerd', freeBytes: 50 * GIB, totalBytes: 100 * GIB };
        },
        now: () => clock,
        log: (line) => logs.push(line),
        ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      },
    );
  return {
    agent: makeAgent(),
    makeAgent,
    api,
    runtime,
    store,
    pins,
    logs,
    tagCalls,
    pullCalls,
    failing,
    alreadyThere,
    hooks,
    tick(ms = 60_000) {
      clock += ms;
    },
    failSpace() {
      spaceFails = true;
    },
    /** The runtime already holds every image of the warm set. */
    holdWarmSet() {
      for (const entry of [API, WORKER, PAUSE]) runtime.held.add(pullAs(entry));
    },
    /** The state file knows one image, added now, pinned or not. */
    remember(entry: Entry, pinned: boolean) {
      store.state = {
        ...emptyAgentState(),
        images: { [pullAs(entry)]: { addedAt: new Date(NOW).toISOString(), pinned, evictions: 0 } },
      };
    },
  };
}

function imagesOf(report: NodeReport | undefined): [string, NodeImage['state']][] {
  assert.ok(report !== undefined, 'a report was sent');
  return report.images.map((image) => [image.image, image.state]);
}

function rowOf(report: NodeReport | undefined, image: Entry | string): NodeImage | undefined {
  assert.ok(report !== undefined, 'a report was sent');
  const name = typeof image === 'string' ? image : image.image;
  return report.images.find((row) => row.image === name);
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
  test('held images get the warm set tags as names; failed ones do not; a moved tag follows', async () => {
    const s = setup({ tags: true });
    s.failing.set(pullAs(WORKER), { cause: 'not-found', reason: 'gone' });
    await s.agent.reconcile();
    assert.deepEqual(s.tagCalls, [[pullAs(API), 'registry.example.com/team/api:1.4.0']]);
    assert.ok(
      s.logs.some(
        (line) => line === `registry.example.com/team/api:1.4.0 now names ${pullAs(API)}`,
      ),
    );

    const rebuilt = entry('registry.example.com', 'team/api', '1.4.0', DIGEST_CRON);
    s.api.document = warmSet(rebuilt, PAUSE);
    s.api.etag = '"v2"';
    await s.agent.reconcile();
    assert.deepEqual(s.tagCalls.at(-1), [pullAs(rebuilt), 'registry.example.com/team/api:1.4.0']);
    assert.ok(
      s.logs.some(
        (line) => line === `registry.example.com/team/api:1.4.0 moved to ${pullAs(rebuilt)}`,
      ),
    );
  });

  test('the first reconcile pulls the missing images, reporting pulling and then the outcome', async () => {
    const s = setup();
    s.runtime.held.add(pullAs(PAUSE)); // the kubelet pulled it; the agent did not add it
    const summary = await s.agent.reconcile();

    assert.deepEqual(counts(summary), {
      desired: 3,
      present: 3,
      pulled: 2,
      failed: 0,
      deferred: 0,
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

    // The state remembers what the agent added (not the kubelet's image), the warm set and its ETag:
    // saved after each pull, then once more at the end.
    assert.equal(s.store.saves, 3);
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
      deferred: 0,
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
    assert.ok(s.logs.some((line) => line.includes(`${pullAs(API)} was gone from the runtime`)));

    s.tick();
    s.runtime.held.delete(pullAs(API));
    const again = await s.agent.reconcile();
    assert.equal(again.evicted, 1);
    assert.equal(s.store.state.images[pullAs(API)]?.evictions, 2);
  });

  test('an image the agent added that left the warm set is forgotten and its pin released; others are never touched', async () => {
    const s = setup({ pins: true });
    s.runtime.held.add(pullAs(PAUSE));
    await s.agent.reconcile();
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, true);
    assert.equal(s.store.state.images[pullAs(WORKER)]?.pinned, true);
    // Pinning on: the agent's pins on the warm set's images are kept.
    assert.deepEqual(s.pins?.releaseCalls, [[pullAs(API), pullAs(PAUSE), pullAs(WORKER)].sort()]);
    assert.deepEqual([...(s.pins?.labelled ?? [])].sort(), [pullAs(API), pullAs(WORKER)].sort());

    s.tick();
    s.api.document = warmSet(API);
    s.api.etag = '"v2"';
    const summary = await s.agent.reconcile();

    assert.equal(summary.released, 1);
    assert.equal(summary.desired, 1);
    assert.deepEqual(s.pins?.releaseCalls.at(-1), [pullAs(API)]);
    assert.deepEqual([...(s.pins?.labelled ?? [])], [pullAs(API)]);
    // Released through containerd's record of the agent's pins, not one unpin per image.
    assert.deepEqual(s.pins?.unpinCalls, []);
    assert.deepEqual(Object.keys(s.store.state.images), [pullAs(API)]);
    // The agent never removes images: the kubelet's GC decides, and PAUSE was never the agent's.
    assert.deepEqual(s.runtime.removed, []);
    assert.ok(!s.pins?.pinCalls.includes(pullAs(PAUSE)));
    assert.ok(!s.pins?.labelled.has(pullAs(PAUSE)));
    assert.deepEqual(imagesOf(s.api.reports.at(-1)), [[API.image, 'present']]);
    assert.ok(s.logs.some((line) => line.includes(`${pullAs(WORKER)} left the warm set`)));
    assert.ok(s.logs.some((line) => line.startsWith(`${pullAs(WORKER)}: unpinned`)));
  });

  test("containerd's labels, not the state file, say which pins are the agent's", async () => {
    const s = setup({ pins: true });
    s.holdWarmSet();
    // The state says CRON was never pinned, and knows nothing of OLD (a lost state file): containerd
    // says both carry the agent's pin.
    const old = `registry.example.com/team/old@sha256:${'e5'.repeat(32)}`;
    s.remember(CRON, false);
    s.pins?.labelled.add(pullAs(CRON));
    s.pins?.labelled.add(old);
    const summary = await s.agent.reconcile();
    assert.equal(summary.released, 1);
    assert.deepEqual(s.pins?.unpinCalls, []);
    assert.deepEqual(s.pins?.releaseCalls, [[pullAs(API), pullAs(PAUSE), pullAs(WORKER)].sort()]);
    assert.deepEqual([...(s.pins?.labelled ?? [])], []);
    assert.equal(s.store.state.images[pullAs(CRON)], undefined);
    assert.ok(s.logs.some((line) => line.startsWith(`${old}: unpinned`)));
  });

  test('pins that cannot be released are logged; the image is forgotten all the same, and its pin released at a later reconcile', async () => {
    const s = setup({ pins: true });
    s.holdWarmSet();
    s.remember(CRON, true);
    s.pins?.labelled.add(pullAs(CRON));
    (s.pins as FakePins).releaseFailure = new Error('Images.List: UNAVAILABLE: connection refused');
    const summary = await s.agent.reconcile();
    assert.equal(summary.released, 1);
    assert.equal(summary.reported, true);
    assert.equal(s.store.state.images[pullAs(CRON)], undefined);
    assert.ok(s.pins?.labelled.has(pullAs(CRON)));
    assert.ok(
      s.logs.some(
        (line) => line === 'pins not released: Images.List: UNAVAILABLE: connection refused',
      ),
    );

    (s.pins as FakePins).releaseFailure = undefined;
    s.tick();
    const next = await s.agent.reconcile();
    assert.equal(next.released, 0);
    assert.ok(!s.pins?.labelled.has(pullAs(CRON)));
    assert.ok(s.logs.some((line) => line.startsWith(`${pullAs(CRON)}: unpinned`)));
  });

  test('an image the agent added unpinned is pinned once pins are available', async () => {
    const s = setup({ pins: true });
    s.holdWarmSet();
    s.remember(API, false);
    await s.agent.reconcile();
    assert.deepEqual(s.pins?.pinCalls, [pullAs(API)]);
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, true);
    assert.equal(s.api.reports.at(-1)?.images[0]?.pinned, true);
    // Kept: the pin is on the warm set.
    assert.ok(s.pins?.labelled.has(pullAs(API)));
  });

  test('pinning off: the agent pins nothing and releases every pin it set, on the warm set too', async () => {
    const s = setup({ pins: true, pin: false });
    s.runtime.held.add(pullAs(API));
    s.runtime.held.add(pullAs(PAUSE));
    // API was added and pinned while pinning was on.
    s.remember(API, true);
    s.pins?.labelled.add(pullAs(API));
    const summary = await s.agent.reconcile();

    assert.equal(summary.pulled, 1);
    assert.deepEqual(s.pullCalls, [[pullAs(WORKER)]]);
    assert.deepEqual(s.pins?.pinCalls, []);
    assert.deepEqual(s.pins?.releaseCalls, [[]]);
    assert.deepEqual([...(s.pins?.labelled ?? [])], []);
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, false);
    assert.equal(s.store.state.images[pullAs(WORKER)]?.pinned, false);
    assert.equal(rowOf(s.api.reports.at(-1), WORKER)?.pinned, false);
    assert.ok(s.logs.some((line) => line.startsWith(`${pullAs(API)}: unpinned`)));
    assert.equal(summary.released, 0);
    assert.ok(s.store.state.images[pullAs(API)] !== undefined, 'still the agent’s image');

    // The next report says so.
    s.tick();
    await s.agent.reconcile();
    assert.equal(rowOf(s.api.reports.at(-1), API)?.pinned, false);
    assert.deepEqual(s.pins?.releaseCalls, [[], []]);
  });

  test('pinning off: the report of the reconcile that released a pin already says unpinned', async () => {
    const s = setup({ pins: true, pin: false });
    s.holdWarmSet();
    s.remember(API, true);
    s.pins?.labelled.add(pullAs(API));
    await s.agent.reconcile();
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, false);
    assert.equal(rowOf(s.api.reports.at(-1), API)?.pinned, false);
  });

  test('pinning off and pins that cannot be released: the state still says pinned', async () => {
    const s = setup({ pins: true, pin: false });
    s.holdWarmSet();
    s.remember(API, true);
    s.pins?.labelled.add(pullAs(API));
    (s.pins as FakePins).releaseFailure = new Error('Images.Update: DEADLINE_EXCEEDED');
    await s.agent.reconcile();
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, true);
    assert.equal(rowOf(s.api.reports.at(-1), API)?.pinned, true);
    assert.ok(s.logs.some((line) => line.startsWith('pins not released: ')));

    (s.pins as FakePins).releaseFailure = undefined;
    await s.agent.reconcile();
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, false);
    assert.deepEqual([...(s.pins?.labelled ?? [])], []);
  });

  test('without containerd pins nothing is pinned or released, and images leaving the warm set are still forgotten', async () => {
    const s = setup({ pin: true });
    await s.agent.reconcile();
    assert.equal(s.store.state.images[pullAs(API)]?.pinned, false);
    s.api.document = warmSet(API);
    s.api.etag = '"v2"';
    const summary = await s.agent.reconcile();
    assert.equal(summary.released, 2);
    assert.deepEqual(Object.keys(s.store.state.images), [pullAs(API)]);
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

  test('an API that answers 304 to every unconditional request: asked twice, then the reconcile fails with NodeApiError', async () => {
    const s = setup();
    s.api.warmSet = async (etag) => {
      s.api.asked.push(etag);
      if (s.api.asked.length > 20) throw new Error('asked for the warm set 20 times');
      return { changed: false };
    };
    await assert.rejects(s.agent.reconcile(), NodeApiError);
    assert.ok(s.api.asked.length <= 2, `asked ${s.api.asked.length} times`);
    assert.deepEqual(s.api.asked, [undefined, undefined]);
    assert.deepEqual(s.pullCalls, []);
    assert.deepEqual(s.api.reports, []);
    assert.equal(s.store.saves, 0);
  });

  test('a cached warm set of another node group is neither offered nor used', async () => {
    const s = setup();
    // The node moved from 'batch' to 'general': the cache is batch's, with an ETag general's API
    // happens to answer 304 to.
    s.store.state = {
      ...emptyAgentState(),
      warmSet: {
        etag: '"v1"',
        document: { schema: WARM_SET_SCHEMA, nodeGroup: 'batch', images: [CRON] },
      },
    };
    const failure = new NodeApiError('cannot reach http://pullwarden.internal: ECONNREFUSED');
    s.api.failure = failure;
    await assert.rejects(s.agent.reconcile(), (error) => error === failure);
    assert.deepEqual(s.api.asked, [undefined]);
    assert.deepEqual(s.pullCalls, []);
    assert.deepEqual(s.api.reports, []);

    s.api.failure = undefined;
    const summary = await s.agent.reconcile();
    assert.deepEqual(s.api.asked, [undefined, undefined]);
    assert.equal(summary.warmSetFromCache, false);
    assert.equal(summary.desired, 3);
    assert.deepEqual(s.pullCalls, [[pullAs(API), pullAs(WORKER), pullAs(PAUSE)]]);
    assert.deepEqual(s.store.state.warmSet, { etag: '"v1"', document: s.api.document });
  });

  test('a report that cannot be sent: reported false, but the state is saved', async () => {
    const s = setup();
    s.api.reportFailure = new NodeApiError('the node report answered 503', 503);
    const summary = await s.agent.reconcile();
    assert.equal(summary.reported, false);
    assert.equal(summary.pulled, 3);
    assert.equal(s.store.saves, 4);
    assert.deepEqual(Object.keys(s.store.state.images).length, 3);
    assert.equal(s.store.state.sequence, s.api.reports.at(-1)?.sequence);
    assert.ok(s.logs.some((line) => line.startsWith('report not sent: ')));

    s.api.reportFailure = undefined;
    const next = await s.agent.reconcile();
    assert.equal(next.reported, true);
    assertIncreasing(s.api.reports);
  });

  test('a failed pull is reported failed with its cause, reason and figures, and retried once its backoff is over', async () => {
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
      deferred: 0,
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

    s.tick(); // a minute: the first backoff
    s.failing.clear();
    const next = await s.agent.reconcile();
    assert.deepEqual(s.pullCalls[1], [pullAs(WORKER)]);
    assert.equal(next.evicted, 0);
    assert.equal(next.failed, 0);
  });

  test('the sequence keeps increasing when the clock is behind the last report', async () => {
    const s = setup();
    s.store.state = { ...emptyAgentState(), sequence: NOW + 10_000 };
    s.holdWarmSet();
    await s.agent.reconcile();
    assert.equal(s.api.reports[0]?.sequence, NOW + 10_001);
  });

  test('a runtime that did not say its version and a disk that cannot be measured are left out of the report', async () => {
    const s = setup({ runtimeName: null });
    s.failSpace();
    await s.agent.reconcile();
    assert.ok(s.api.reports.length > 0, 'the agent reported');
    for (const report of s.api.reports) {
      assert.deepEqual(report.agent, { version: '0.1.0' });
      assert.equal(report.disk, undefined);
    }
  });

  test('duplicate and unreadable warm-set entries: pulled once, skipped with a log line', async () => {
    const s = setup();
    const retagged = { ...API, image: API.image.replace(':1.4.0', ':stable'), tag: 'stable' };
    const broken = { ...CRON, image: 'registry.example.com/team/cron@md5:00', digest: 'md5:00' };
    s.api.document = warmSet(API, retagged, API, broken);
    const summary = await s.agent.reconcile();
    assert.equal(summary.desired, 1);
    assert.deepEqual(s.pullCalls, [[pullAs(API)]]);
    // One row per name the warm set gives the build; the same name twice is one row.
    assert.deepEqual(imagesOf(s.api.reports.at(-1)), [
      [API.image, 'present'],
      [retagged.image, 'present'],
    ]);
    assert.ok(s.logs.some((line) => line.startsWith(`skipping warm set entry ${broken.image}`)));
  });
});

describe('NodeAgent.reconcile: failure backoff', () => {
  const RATE_LIMITED: Failing = {
    cause: 'rate-limited',
    reason: 'toomanyrequests: You have reached your pull rate limit.',
  };
  const REGISTRY_DOWN: Failing = { cause: 'registry', reason: '503 Service Unavailable' };

  test('a failed image is not tried again for a minute; meanwhile it is reported failed with its last result and counted deferred', async () => {
    const s = setup();
    s.failing.set(pullAs(WORKER), RATE_LIMITED);
    await s.agent.reconcile();
    const failedRow = rowOf(s.api.reports.at(-1), WORKER);
    assert.equal(failedRow?.state, 'failed');

    s.tick(59_999);
    const reportsBefore = s.api.reports.length;
    const waiting = await s.agent.reconcile();
    assert.deepEqual(counts(waiting), {
      desired: 3,
      present: 2,
      pulled: 0,
      failed: 1,
      deferred: 1,
      released: 0,
      evicted: 0,
      warmSetFromCache: false,
      reported: true,
    });
    assert.deepEqual(waiting.results, []);
    assert.equal(s.pullCalls.length, 1, 'nothing pulled while backing off');
    // Nothing to pull: no "pulling" report, only the final one.
    assert.equal(s.api.reports.length, reportsBefore + 1);
    assert.deepEqual(rowOf(s.api.reports.at(-1), WORKER), failedRow);

    s.tick(1);
    s.failing.set(pullAs(WORKER), REGISTRY_DOWN);
    const retried = await s.agent.reconcile();
    assert.deepEqual(s.pullCalls.at(-1), [pullAs(WORKER)]);
    assert.equal(retried.deferred, 0);
    assert.equal(retried.failed, 1);
    assert.equal(rowOf(s.api.reports.at(-1), WORKER)?.cause, 'registry');

    // The second failure waits two minutes, reported with the newest result.
    s.tick(119_999);
    const again = await s.agent.reconcile();
    assert.equal(again.deferred, 1);
    assert.equal(s.pullCalls.length, 2);
    assert.deepEqual(rowOf(s.api.reports.at(-1), WORKER), {
      image: WORKER.image,
      digest: DIGEST_WORKER,
      state: 'failed',
      bytes: 42,
      durationMs: 1500,
      attempts: 3,
      cause: 'registry',
      reason: '503 Service Unavailable',
    });
  });

  test('the wait doubles with every failure, up to an hour', async () => {
    const s = setup();
    s.failing.set(pullAs(WORKER), RATE_LIMITED);
    await s.agent.reconcile();
    const minutes = [1, 2, 4, 8, 16, 32, 60, 60];
    for (const [index, wait] of minutes.map((minute) => minute * 60_000).entries()) {
      const after = `after failure ${index + 1}`;
      s.tick(wait - 1);
      const waiting = await s.agent.reconcile();
      assert.equal(waiting.deferred, 1, `${after}: still waiting ${wait - 1} ms later`);
      assert.equal(s.pullCalls.length, index + 1, `${after}: nothing pulled yet`);
      s.tick(1);
      const retried = await s.agent.reconcile();
      assert.equal(retried.deferred, 0, `${after}: tried again ${wait} ms later`);
      assert.deepEqual(s.pullCalls.at(-1), [pullAs(WORKER)], after);
    }
  });

  test('a success clears the backoff: the next failure waits a minute again', async () => {
    const s = setup();
    s.failing.set(pullAs(WORKER), RATE_LIMITED);
    await s.agent.reconcile();
    for (const wait of [60_000, 120_000]) {
      s.tick(wait);
      await s.agent.reconcile();
    }
    assert.equal(s.pullCalls.length, 3);
    s.tick(240_000);
    s.failing.clear();
    const pulled = await s.agent.reconcile();
    assert.equal(pulled.failed, 0);
    assert.equal(pulled.deferred, 0);

    // The kubelet's GC takes it at once: pulled again without waiting.
    s.tick(1);
    s.runtime.held.delete(pullAs(WORKER));
    s.failing.set(pullAs(WORKER), RATE_LIMITED);
    await s.agent.reconcile();
    assert.equal(s.pullCalls.length, 5);
    s.tick(59_999);
    assert.equal((await s.agent.reconcile()).deferred, 1);
    s.tick(1);
    assert.equal((await s.agent.reconcile()).deferred, 0);
    assert.equal(s.pullCalls.length, 6);
  });

  test('the backoff lives in the agent, not the state file: a restarted agent tries at once', async () => {
    const s = setup();
    s.failing.set(pullAs(WORKER), RATE_LIMITED);
    await s.agent.reconcile();
    s.tick(1000);
    assert.equal((await s.agent.reconcile()).deferred, 1);
    assert.equal(s.pullCalls.length, 1);

    const restarted = await s.makeAgent().reconcile();
    assert.equal(restarted.deferred, 0);
    assert.deepEqual(s.pullCalls.at(-1), [pullAs(WORKER)]);
    assert.equal(s.pullCalls.length, 2);
  });
});

describe('NodeAgent.reconcile: one build, several names', () => {
  const STABLE = { ...API, image: API.image.replace(':1.4.0', ':stable'), tag: 'stable' };

  test('two tags of one build are pulled once and reported once per name', async () => {
    const s = setup();
    s.api.document = warmSet(API, STABLE, WORKER);
    const summary = await s.agent.reconcile();
    assert.equal(summary.desired, 2);
    assert.equal(summary.pulled, 2);
    assert.deepEqual(s.pullCalls, [[pullAs(API), pullAs(WORKER)]]);
    assert.deepEqual(imagesOf(s.api.reports[0]), [
      [API.image, 'pulling'],
      [STABLE.image, 'pulling'],
      [WORKER.image, 'pulling'],
    ]);
    const final = s.api.reports.at(-1);
    assert.deepEqual(imagesOf(final), [
      [API.image, 'present'],
      [STABLE.image, 'present'],
      [WORKER.image, 'present'],
    ]);
    const { image: _api, ...apiRow } = rowOf(final, API) as NodeImage;
    const { image: _stable, ...stableRow } = rowOf(final, STABLE) as NodeImage;
    assert.deepEqual(stableRow, apiRow);
    assert.equal(stableRow.digest, DIGEST_API);
    assert.equal(stableRow.durationMs, 2250);
    assert.deepEqual(
      Object.keys(s.store.state.images).sort(),
      [pullAs(API), pullAs(WORKER)].sort(),
    );
  });

  test('a failure of the build is every name’s failure, counted once', async () => {
    const s = setup();
    s.api.document = warmSet(API, STABLE, WORKER);
    s.failing.set(pullAs(API), { cause: 'not-found', reason: 'manifest unknown' });
    const summary = await s.agent.reconcile();
    assert.equal(summary.failed, 1);
    assert.equal(summary.present, 1);
    for (const name of [API, STABLE]) {
      assert.equal(rowOf(s.api.reports.at(-1), name)?.state, 'failed');
      assert.equal(rowOf(s.api.reports.at(-1), name)?.cause, 'not-found');
    }
    s.tick(1000);
    const waiting = await s.agent.reconcile();
    assert.equal(waiting.deferred, 1);
    assert.deepEqual(imagesOf(s.api.reports.at(-1)), [
      [API.image, 'failed'],
      [STABLE.image, 'failed'],
      [WORKER.image, 'present'],
    ]);
  });
});

describe('NodeAgent.reconcile: evictions', () => {
  test('an eviction counts only once the image is pulled again: a failed pull counts none', async () => {
    const s = setup();
    await s.agent.reconcile();
    s.tick();
    s.runtime.held.delete(pullAs(API)); // the kubelet's image GC
    s.failing.set(pullAs(API), { cause: 'network', reason: 'connection reset by peer' });
    const failed = await s.agent.reconcile();
    assert.equal(failed.evicted, 0);
    assert.equal(failed.failed, 1);
    assert.equal(s.store.state.images[pullAs(API)]?.evictions, 0);
    assert.ok(!s.logs.some((line) => line.includes('was gone from the runtime')));

    s.tick(); // the backoff is over
    s.failing.clear();
    const pulled = await s.agent.reconcile();
    assert.equal(pulled.evicted, 1);
    assert.equal(s.store.state.images[pullAs(API)]?.evictions, 1);
    assert.ok(s.logs.some((line) => line.includes(`${pullAs(API)} was gone from the runtime`)));

    // Held again: nothing more to count.
    s.tick();
    assert.equal((await s.agent.reconcile()).evicted, 0);
    assert.equal(s.store.state.images[pullAs(API)]?.evictions, 1);
  });

  test('an image of the agent’s found present when its pull starts counts no eviction and keeps its record', async () => {
    const s = setup();
    await s.agent.reconcile();
    const before = structuredClone(s.store.state.images[pullAs(API)]);
    s.tick();
    s.runtime.held.delete(pullAs(API));
    s.alreadyThere.add(pullAs(API)); // the kubelet pulled it back between the list and the pull
    const summary = await s.agent.reconcile();
    assert.deepEqual(s.pullCalls.at(-1), [pullAs(API)]);
    assert.equal(summary.results[0]?.outcome, 'present');
    assert.equal(summary.evicted, 0);
    assert.equal(summary.pulled, 0);
    assert.deepEqual(s.store.state.images[pullAs(API)], before);
    assert.equal(rowOf(s.api.reports.at(-1), API)?.pulledAt, new Date(NOW).toISOString());
  });
});

describe('NodeAgent.reconcile: what the state records', () => {
  test('the state is saved as each pull finishes, not only at the end', async () => {
    const s = setup();
    const seen: [string, number, string[]][] = [];
    s.hooks.beforeResult = (reference) => {
      seen.push([reference, s.store.saves, Object.keys(s.store.state.images)]);
    };
    await s.agent.reconcile();
    assert.deepEqual(seen, [
      [pullAs(API), 0, []],
      [pullAs(WORKER), 1, [pullAs(API)]],
      [pullAs(PAUSE), 2, [pullAs(API), pullAs(WORKER)]],
    ]);
    assert.equal(s.store.saves, 4);
  });

  test('a reconcile cut short keeps what it pulled: the restarted agent does not count it evicted', async () => {
    const s = setup();
    s.hooks.beforeResult = (reference) => {
      if (reference === pullAs(WORKER)) throw new Error('the pull was cut short');
    };
    await assert.rejects(s.agent.reconcile(), /the pull was cut short/);
    assert.deepEqual(Object.keys(s.store.state.images), [pullAs(API)]);
    assert.equal(s.store.state.images[pullAs(API)]?.addedAt, new Date(NOW).toISOString());

    s.hooks.beforeResult = undefined;
    s.tick();
    const summary = await s.makeAgent().reconcile();
    assert.deepEqual(s.pullCalls.at(-1), [pullAs(WORKER), pullAs(PAUSE)]);
    assert.equal(summary.evicted, 0);
    assert.equal(s.store.state.images[pullAs(API)]?.evictions, 0);
  });

  test('an image found present and pinned by the agent becomes the agent’s; it is released when it leaves the warm set', async () => {
    const s = setup({ pins: true });
    s.alreadyThere.add(pullAs(PAUSE)); // the kubelet got there between the list and the pull
    const summary = await s.agent.reconcile();
    assert.equal(summary.results.find((result) => result.outcome === 'present')?.pinned, true);
    assert.deepEqual(s.store.state.images[pullAs(PAUSE)], {
      addedAt: new Date(NOW).toISOString(),
      pinned: true,
      evictions: 0,
    });
    assert.deepEqual(rowOf(s.api.reports.at(-1), PAUSE), {
      image: PAUSE.image,
      digest: DIGEST_PAUSE,
      state: 'present',
      pulledAt: new Date(NOW).toISOString(),
      pinned: true,
    });

    s.tick();
    s.api.document = warmSet(API, WORKER);
    s.api.etag = '"v2"';
    const next = await s.agent.reconcile();
    assert.equal(next.released, 1);
    assert.equal(s.store.state.images[pullAs(PAUSE)], undefined);
    assert.ok(!s.pins?.labelled.has(pullAs(PAUSE)));
  });

  test('an image found present and not pinned stays the kubelet’s', async () => {
    for (const options of [{}, { pins: true, pin: false }] satisfies SetupOptions[]) {
      const s = setup(options);
      s.alreadyThere.add(pullAs(PAUSE));
      await s.agent.reconcile();
      assert.equal(s.store.state.images[pullAs(PAUSE)], undefined, JSON.stringify(options));
      assert.deepEqual(rowOf(s.api.reports.at(-1), PAUSE), {
        image: PAUSE.image,
        digest: DIGEST_PAUSE,
        state: 'present',
      });
    }
  });
});

describe('NodeAgent.reconcile: heartbeat', () => {
  // The timeout only turns a heartbeat that never comes into a failure instead of a hang.
  test('while pulls run, the agent keeps reporting what it knows so far', {
    timeout: 10_000,
  }, async () => {
    const s = setup({ heartbeatMs: 1 });
    const workerPulled = deferred();
    s.hooks.beforeResult = (reference) =>
      reference === pullAs(WORKER) ? workerPulled.promise : undefined;
    // Release WORKER's pull once a report says API is in and WORKER still pulling: a heartbeat.
    s.api.onReport = (report) => {
      if (rowOf(report, API)?.state === 'present' && rowOf(report, WORKER)?.state === 'pulling') {
        workerPulled.resolve();
      }
    };
    const summary = await s.agent.reconcile();
    assert.equal(summary.reported, true);

    const [first, ...rest] = s.api.reports;
    const final = rest.pop();
    const heartbeats = rest;
    assert.ok(heartbeats.length >= 1, 'at least one report while pulling');
    assert.deepEqual(imagesOf(first), [
      [API.image, 'pulling'],
      [WORKER.image, 'pulling'],
      [PAUSE.image, 'pulling'],
    ]);
    assert.ok(heartbeats.some((report) => rowOf(report, API)?.state === 'present'));
    for (const report of heartbeats) {
      assert.equal(rowOf(report, WORKER)?.state, 'pulling');
      assert.equal(report.warmSetEtag, '"v1"');
    }
    const present = heartbeats.find((report) => rowOf(report, API)?.state === 'present');
    assert.equal(rowOf(present, API)?.durationMs, 2250);
    assert.deepEqual(imagesOf(final), [
      [API.image, 'present'],
      [WORKER.image, 'present'],
      [PAUSE.image, 'present'],
    ]);
    assertIncreasing(s.api.reports);
    assert.equal(s.store.state.sequence, final?.sequence);

    // Once the reconcile is over the heartbeat is stopped: many periods later, no more reports.
    const count = s.api.reports.length;
    await new Promise((resolve) => setTimeout(resolve, 25));
    assert.equal(s.api.reports.length, count);
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
