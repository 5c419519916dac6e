import { type ImageRuntime, RuntimeCallError } from '#shared/cri/client.ts';
import { type ImageReference, parseImageReference } from '#shared/image/reference.ts';
import {
  NODE_REPORT_SCHEMA,
  type NodeImage,
  type NodeReport,
} from '#shared/prepull/node-report.ts';
import type { AgentState, AgentStateStore } from './agent-state.ts';
import { type NodeApi, NodeApiError, type WarmSetDocument } from './api-client.ts';
import type { FilesystemSpace } from './disk.ts';
import { type ImagePins, type PullResult, pullReference } from './pull.ts';

// The node agent: make the runtime hold the node group's warm set. Each reconcile reads the warm set
// (a 304 when unchanged), lists what the runtime holds, pulls what is missing — including images the
// kubelet's GC removed since — releases the images it added that left the warm set (their pins are
// removed; the kubelet's GC then treats them like any other image), and reports the node's state.
// Images it did not add are never touched.

export interface AgentIdentity {
  nodeGroup: string;
  node: string;
  instanceId?: string;
  version: string;
}

export interface AgentDependencies {
  api: NodeApi;
  runtime: ImageRuntime;
  /** Set when the runtime is containerd and pinning is on. */
  pins?: ImagePins;
  pull(images: readonly ImageReference[]): Promise<PullResult[]>;
  state: AgentStateStore;
  space(): Promise<FilesystemSpace>;
  now(): number;
  log(line: string): void;
}

export interface ReconcileSummary {
  desired: number;
  present: number;
  pulled: number;
  failed: number;
  released: number;
  evicted: number;
  /** The warm set came from the agent's state because the API could not be read. */
  warmSetFromCache: boolean;
  reported: boolean;
  results: PullResult[];
}

interface DesiredImage {
  /** As the warm set names it. */
  image: string;
  reference: ImageReference;
  /** `registry/repository@digest`: what the runtime is asked for and lists. */
  pullAs: string;
  digest: string;
}

function desiredImages(document: WarmSetDocument, log: (line: string) => void): DesiredImage[] {
  const desired: DesiredImage[] = [];
  const seen = new Set<string>();
  for (const entry of document.images) {
    let reference: ImageReference;
    try {
      reference = parseImageReference(`${entry.registry}/${entry.repository}@${entry.digest}`);
    } catch (error) {
      log(`skipping warm set entry ${entry.image}: ${(error as Error).message}`);
      continue;
    }
    const pullAs = pullReference(reference);
    if (seen.has(pullAs)) continue;
    seen.add(pullAs);
    desired.push({ image: entry.image, reference, pullAs, digest: entry.digest });
  }
  return desired;
}

export class NodeAgent {
  readonly #identity: AgentIdentity;
  readonly #deps: AgentDependencies;
  #runtimeName: string | undefined;

  constructor(identity: AgentIdentity, deps: AgentDependencies) {
    this.#identity = identity;
    this.#deps = deps;
  }

  async #warmSet(
    state: AgentState,
  ): Promise<{ document: WarmSetDocument; etag?: string; cached: boolean }> {
    const cached = state.warmSet;
    try {
      let answer = await this.#deps.api.warmSet(cached?.etag);
      if (!answer.changed && cached !== undefined) {
        return {
          document: cached.document,
          ...(cached.etag === undefined ? {} : { etag: cached.etag }),
          cached: false,
        };
      }
      if (!answer.changed) {
        // A 304 to a request without an ETag is the server's mistake: ask once more, then give up.
        answer = await this.#deps.api.warmSet(undefined);
        if (!answer.changed) {
          throw new NodeApiError('the warm set answered 304 to a request without an ETag');
        }
      }
      return {
        document: answer.document,
        ...(answer.etag === undefined ? {} : { etag: answer.etag }),
        cached: false,
      };
    } catch (error) {
      if (cached === undefined) throw error;
      this.#deps.log(`${(error as Error).message}; reconciling the last warm set read`);
      return {
        document: cached.document,
        ...(cached.etag === undefined ? {} : { etag: cached.etag }),
        cached: true,
      };
    }
  }

  async #runtimeLabel(): Promise<string | undefined> {
    if (this.#runtimeName === undefined) {
      try {
        const version = await this.#deps.runtime.version();
        this.#runtimeName = `${version.runtimeName} ${version.runtimeVersion}`.trim();
      } catch {
        return undefined;
      }
    }
    return this.#runtimeName === '' ? undefined : this.#runtimeName;
  }

  async reconcile(): Promise<ReconcileSummary> {
    const { deps } = { deps: this.#deps };
    const state = await deps.state.load();
    const warmSet = await this.#warmSet(state);
    const desired = desiredImages(warmSet.document, deps.log);
    const held = new Set((await deps.runtime.listImages()).flatMap((image) => image.repoDigests));
    const missing = desired.filter((image) => !held.has(image.pullAs));
    let evicted = 0;
    for (const image of missing) {
      const added = state.images[image.pullAs];
      if (added !== undefined) {
        evicted += 1;
        added.evictions += 1;
        deps.log(`${image.pullAs} is gone from the runtime; pulling it again`);
      }
    }

    const reportBase = async (): Promise<
      Omit<NodeReport, 'images' | 'sequence' | 'reportedAt'>
    > => {
      const runtime = await this.#runtimeLabel();
      let disk: NodeReport['disk'];
      try {
        const space = await deps.space();
        disk = { path: space.path, freeBytes: space.freeBytes, totalBytes: space.totalBytes };
      } catch {
        disk = undefined;
      }
      return {
        schema: NODE_REPORT_SCHEMA,
        nodeGroup: this.#identity.nodeGroup,
        node: this.#identity.node,
        ...(this.#identity.instanceId === undefined
          ? {}
          : { instanceId: this.#identity.instanceId }),
        ...(warmSet.etag === undefined ? {} : { warmSetEtag: warmSet.etag }),
        agent: { version: this.#identity.version, ...(runtime === undefined ? {} : { runtime }) },
        ...(disk === undefined ? {} : { disk }),
      };
    };
    const send = async (images: NodeImage[]): Promise<boolean> => {
      const now = deps.now();
      state.sequence = Math.max(state.sequence + 1, now);
      const report: NodeReport = {
        ...(await reportBase()),
        sequence: state.sequence,
        reportedAt: new Date(now).toISOString(),
        images,
      };
      try {
        await deps.api.report(report);
        return true;
      } catch (error) {
        deps.log(`report not sent: ${(error as Error).message}`);
        return false;
      }
    };
    const presentImage = (image: DesiredImage): NodeImage => {
      const added = state.images[image.pullAs];
      return {
        image: image.image,
        digest: image.digest,
        state: 'present',
        ...(added?.bytes === undefined ? {} : { bytes: added.bytes }),
        ...(added === undefined ? {} : { pulledAt: added.addedAt, pinned: added.pinned }),
        ...(added?.durationMs === undefined ? {} : { durationMs: added.durationMs }),
        ...(added?.attempts === undefined ? {} : { attempts: added.attempts }),
      };
    };

    let results: PullResult[] = [];
    if (missing.length > 0) {
      await send(
        desired.map((image) =>
          missing.includes(image)
            ? { image: image.image, digest: image.digest, state: 'pulling' }
            : presentImage(image),
        ),
      );
      results = await deps.pull(missing.map((image) => image.reference));
    }
    const resultOf = new Map(missing.map((image, index) => [image.pullAs, results[index]]));
    for (const [pullAs, result] of resultOf) {
      if (result?.outcome !== 'pulled') continue;
      const before = state.images[pullAs];
      state.images[pullAs] = {
        addedAt: result.pulledAt ?? new Date(deps.now()).toISOString(),
        pinned: result.pinned === true,
        ...(result.bytes === undefined ? {} : { bytes: result.bytes }),
        durationMs: Math.round(result.seconds * 1000),
        attempts: result.attempts,
        evictions: before?.evictions ?? 0,
      };
    }
    // Images held before this reconcile that the agent added: pin them when asked and not yet pinned.
    if (deps.pins !== undefined) {
      for (const image of desired) {
        const added = state.images[image.pullAs];
        if (added === undefined || added.pinned || resultOf.has(image.pullAs)) continue;
        try {
          await deps.pins.pin(image.pullAs);
          added.pinned = true;
        } catch (error) {
          deps.log(`${image.pullAs}: not pinned: ${(error as Error).message}`);
        }
      }
    }

    const released = await this.#release(state, new Set(desired.map((image) => image.pullAs)));
    const images: NodeImage[] = desired.map((image) => {
      const result = resultOf.get(image.pullAs);
      if (result === undefined || result.outcome !== 'failed') return presentImage(image);
      return {
        image: image.image,
        digest: image.digest,
        state: 'failed',
        ...(result.bytes === undefined ? {} : { bytes: result.bytes }),
        durationMs: Math.round(result.seconds * 1000),
        attempts: result.attempts,
        ...(result.cause === undefined ? {} : { cause: result.cause }),
        ...(result.reason === undefined ? {} : { reason: result.reason }),
      };
    });
    state.warmSet = {
      document: warmSet.document,
      ...(warmSet.etag === undefined ? {} : { etag: warmSet.etag }),
    };
    const reported = await send(images);
    await deps.state.save(state);
    const failed = images.filter((image) => image.state === 'failed').length;
    const pulled = results.filter((result) => result.outcome === 'pulled').length;
    return {
      desired: desired.length,
      present: desired.length - failed,
      pulled,
      failed,
      released,
      evicted,
      warmSetFromCache: warmSet.cached,
      reported,
      results,
    };
  }

  /** Forgets the images the agent added that left the warm set, removing the pins it set on them. */
  async #release(state: AgentState, desired: ReadonlySet<string>): Promise<number> {
    let released = 0;
    for (const [pullAs, added] of Object.entries(state.images)) {
      if (desired.has(pullAs)) continue;
      if (added.pinned && this.#deps.pins !== undefined) {
        try {
          await this.#deps.pins.unpin(pullAs);
        } catch (error) {
          // Gone already (the GC, an operator) is the outcome releasing wants anyway.
          if (!/NOT_FOUND/.test((error as Error).message)) {
            this.#deps.log(
              `${pullAs}: left the warm set but could not be unpinned: ${(error as Error).message}`,
            );
            continue;
          }
        }
      }
      delete state.images[pullAs];
      released += 1;
      this.#deps.log(`${pullAs} left the warm set; released to the kubelet's image GC`);
    }
    return released;
  }
}

/** Reconciles in a row that may find the runtime unreachable before the agent gives up. */
export const MAX_UNREACHABLE_RECONCILES = 5;

/**
 * Reconciles every `intervalMs` (±10 % so a fleet does not poll in step) until `signal` aborts: then
 * resolves 'stopped'. Resolves 'runtime-unreachable' once the runtime refused connections
 * MAX_UNREACHABLE_RECONCILES times in a row: a socket bind-mounted into a container keeps pointing at
 * the one containerd removed when it restarted, and only a restart of the agent mounts the new one.
 */
export async function runAgent(
  agent: NodeAgent,
  intervalMs: number,
  signal: AbortSignal,
  log: (line: string) => void,
  random: () => number = Math.random,
): Promise<'stopped' | 'runtime-unreachable'> {
  let unreachable = 0;
  while (!signal.aborted) {
    try {
      const summary = await agent.reconcile();
      unreachable = 0;
      log(
        `reconciled: ${summary.present}/${summary.desired} present, ${summary.pulled} pulled, ${summary.failed} failed, ${summary.released} released`,
      );
    } catch (error) {
      log(`reconcile failed: ${(error as Error).message}`);
      if (error instanceof RuntimeCallError && error.code === 'UNAVAILABLE') {
        unreachable += 1;
        if (unreachable >= MAX_UNREACHABLE_RECONCILES) return 'runtime-unreachable';
      } else {
        unreachable = 0;
      }
    }
    if (signal.aborted) break;
    const wait = Math.round(intervalMs * (0.9 + random() * 0.2));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  return 'stopped';
}
