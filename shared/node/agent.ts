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
  /** The container runtime, as CRI Version names it, e.g. `containerd 1.7.27`. */
  runtime?: string;
}

export interface AgentDependencies {
  api: NodeApi;
  runtime: ImageRuntime;
  /** containerd's pins (undefined on other runtimes): used to release pins even when `pin` is off. */
  pins?: ImagePins;
  /** Pin the images the agent holds for the warm set. */
  pin: boolean;
  /**
   * containerd: gives an image pulled by digest the warm set's tags as names too, so pods that name the
   * tag find it (IfNotPresent) without asking the registry.
   */
  tags?: { tag(reference: string, tagged: string): Promise<'created' | 'moved' | 'unchanged'> };
  pull(
    images: readonly ImageReference[],
    onResult: (result: PullResult, image: ImageReference) => Promise<void>,
  ): Promise<PullResult[]>;
  state: AgentStateStore;
  space(): Promise<FilesystemSpace>;
  now(): number;
  log(line: string): void;
  /** While pulls run, report this often, so a long pull never makes the node look stale. */
  heartbeatMs?: number;
}

export interface ReconcileSummary {
  desired: number;
  present: number;
  pulled: number;
  failed: number;
  /** Failed before and not tried again yet (backing off). */
  deferred: number;
  released: number;
  evicted: number;
  /** The warm set came from the agent's state because the API could not be read. */
  warmSetFromCache: boolean;
  reported: boolean;
  results: PullResult[];
}

interface DesiredImage {
  /** Every name the warm set gives this digest (two tags may name one build). */
  names: string[];
  /** `registry/repository:tag` for each tag the warm set points at this digest. */
  tagged: string[];
  reference: ImageReference;
  /** `registry/repository@digest`: what the runtime is asked for and lists. */
  pullAs: string;
  digest: string;
}

interface FailureRecord {
  result: PullResult;
  failures: number;
  nextAttemptAt: number;
}

const DEFAULT_HEARTBEAT_MS = 5 * 60_000;
const FIRST_RETRY_MS = 60_000;
const LONGEST_RETRY_MS = 60 * 60_000;

function desiredImages(document: WarmSetDocument, log: (line: string) => void): DesiredImage[] {
  const byPullAs = new Map<string, DesiredImage>();
  for (const entry of document.images) {
    let reference: ImageReference;
    try {
      reference = parseImageReference(`${entry.registry}/${entry.repository}@${entry.digest}`);
    } catch (error) {
      log(`skipping warm set entry ${entry.image}: ${(error as Error).message}`);
      continue;
    }
    const pullAs = pullReference(reference);
    const tagged = entry.tag === undefined ? [] : [`${reference.name}:${entry.tag}`];
    const known = byPullAs.get(pullAs);
    if (known === undefined) {
      byPullAs.set(pullAs, {
        names: [entry.image],
        tagged,
        reference,
        pullAs,
        digest: entry.digest,
      });
    } else if (!known.names.includes(entry.image)) {
      known.names.push(entry.image);
      known.tagged.push(...tagged.filter((name) => !known.tagged.includes(name)));
    }
  }
  return [...byPullAs.values()];
}

type ImageRow = Omit<NodeImage, 'image' | 'digest'>;

function failedRow(result: PullResult): ImageRow {
  return {
    state: 'failed',
    ...(result.bytes === undefined ? {} : { bytes: result.bytes }),
    durationMs: Math.round(result.seconds * 1000),
    attempts: result.attempts,
    ...(result.cause === undefined ? {} : { cause: result.cause }),
    ...(result.reason === undefined ? {} : { reason: result.reason }),
  };
}

export class NodeAgent {
  readonly #identity: AgentIdentity;
  readonly #deps: AgentDependencies;
  /** Images whose pull failed, tried again after a growing delay rather than at every reconcile. */
  readonly #failures = new Map<string, FailureRecord>();

  constructor(identity: AgentIdentity, deps: AgentDependencies) {
    this.#identity = identity;
    this.#deps = deps;
  }

  async #warmSet(
    state: AgentState,
  ): Promise<{ document: WarmSetDocument; etag?: string; cached: boolean }> {
    // A cache from another node group (the node was moved) says nothing about this one.
    const cached =
      state.warmSet?.document.nodeGroup === this.#identity.nodeGroup ? state.warmSet : undefined;
    try {
      let answer = await this.#deps.api.warmSet(cached?.etag);
      if (!answer.changed && cached?.etag !== undefined) {
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

  #recordFailure(pullAs: string, result: PullResult): void {
    const failures = (this.#failures.get(pullAs)?.failures ?? 0) + 1;
    const delay = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** (failures - 1));
    this.#failures.set(pullAs, { result, failures, nextAttemptAt: this.#deps.now() + delay });
  }

  async reconcile(): Promise<ReconcileSummary> {
    const deps = this.#deps;
    const state = await deps.state.load();
    const warmSet = await this.#warmSet(state);
    const desired = desiredImages(warmSet.document, deps.log);
    const held = new Set((await deps.runtime.listImages()).flatMap((image) => image.repoDigests));
    const missing = desired.filter((image) => !held.has(image.pullAs));
    const now = deps.now();
    const due = missing.filter(
      (image) => (this.#failures.get(image.pullAs)?.nextAttemptAt ?? 0) <= now,
    );
    const deferred = missing.length - due.length;

    // What each image's row says right now; pulls update it as they finish.
    const rows = new Map<string, ImageRow>();
    const presentRow = (pullAs: string): ImageRow => {
      const added = state.images[pullAs];
      return {
        state: 'present',
        ...(added?.bytes === undefined ? {} : { bytes: added.bytes }),
        ...(added === undefined ? {} : { pulledAt: added.addedAt, pinned: added.pinned }),
        ...(added?.durationMs === undefined ? {} : { durationMs: added.durationMs }),
        ...(added?.attempts === undefined ? {} : { attempts: added.attempts }),
      };
    };
    for (const image of desired) {
      const failure = this.#failures.get(image.pullAs);
      rows.set(
        image.pullAs,
        !missing.includes(image)
          ? presentRow(image.pullAs)
          : due.includes(image) || failure === undefined
            ? { state: 'pulling' }
            : failedRow(failure.result),
      );
    }
    const images = (): NodeImage[] =>
      desired.flatMap((image) => {
        const row = rows.get(image.pullAs) ?? { state: 'pulling' };
        return image.names.map((name) => ({ image: name, digest: image.digest, ...row }));
      });

    const reportBase = async (): Promise<
      Omit<NodeReport, 'images' | 'sequence' | 'reportedAt'>
    > => {
      const { runtime } = this.#identity;
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
    const send = async (): Promise<boolean> => {
      const at = deps.now();
      state.sequence = Math.max(state.sequence + 1, at);
      const report: NodeReport = {
        ...(await reportBase()),
        sequence: state.sequence,
        reportedAt: new Date(at).toISOString(),
        images: images(),
      };
      try {
        if (!(await deps.api.report(report))) {
          deps.log(
            `report ${report.sequence} not taken: the server holds a newer one of ${report.node} (another agent, or a clock that went back)`,
          );
        }
        return true;
      } catch (error) {
        deps.log(`report not sent: ${(error as Error).message}`);
        return false;
      }
    };
    // Saves are chained: each pull's result is on disk before the next one's, in order.
    let saved: Promise<void> = Promise.resolve();
    const save = () => {
      saved = saved.then(() => deps.state.save(state));
      return saved;
    };

    let results: PullResult[] = [];
    let evicted = 0;
    if (due.length > 0) {
      await send();
      const heartbeat = setInterval(() => {
        void send();
      }, deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
      heartbeat.unref?.();
      const byReference = new Map(due.map((image) => [image.reference, image]));
      try {
        results = await deps.pull(
          due.map((image) => image.reference),
          async (result, reference) => {
            const image = byReference.get(reference);
            if (image === undefined) return;
            if (result.outcome === 'failed') {
              this.#recordFailure(image.pullAs, result);
              rows.set(image.pullAs, failedRow(result));
              return;
            }
            this.#failures.delete(image.pullAs);
            const before = state.images[image.pullAs];
            if (result.outcome === 'pulled') {
              if (before !== undefined) {
                evicted += 1;
                deps.log(`${image.pullAs} was gone from the runtime; pulled it again`);
              }
              state.images[image.pullAs] = {
                addedAt: result.pulledAt ?? new Date(deps.now()).toISOString(),
                pinned: result.pinned === true,
                ...(result.bytes === undefined ? {} : { bytes: result.bytes }),
                durationMs: Math.round(result.seconds * 1000),
                attempts: result.attempts,
                evictions: (before?.evictions ?? 0) + (before === undefined ? 0 : 1),
              };
            } else if (result.pinned === true) {
              // Held already (the kubelet got there first) but pinned here: the pin is ours.
              state.images[image.pullAs] =
                before === undefined
                  ? { addedAt: new Date(deps.now()).toISOString(), pinned: true, evictions: 0 }
                  : { ...before, pinned: true };
            }
            rows.set(image.pullAs, presentRow(image.pullAs));
            await save();
          },
        );
      } finally {
        clearInterval(heartbeat);
      }
    }

    // Images held for the warm set before this reconcile: pin them when pinning is on.
    if (deps.pin && deps.pins !== undefined) {
      for (const image of desired) {
        const added = state.images[image.pullAs];
        if (added === undefined || added.pinned || !held.has(image.pullAs)) continue;
        try {
          await deps.pins.pin(image.pullAs);
          added.pinned = true;
          rows.set(image.pullAs, presentRow(image.pullAs));
        } catch (error) {
          deps.log(`${image.pullAs}: not pinned: ${(error as Error).message}`);
        }
      }
    }

    if (deps.tags !== undefined) {
      for (const image of desired) {
        if (rows.get(image.pullAs)?.state !== 'present') continue;
        for (const tagged of image.tagged) {
          try {
            const change = await deps.tags.tag(image.pullAs, tagged);
            if (change !== 'unchanged')
              deps.log(
                `${tagged} ${change === 'created' ? 'now names' : 'moved to'} ${image.pullAs}`,
              );
          } catch (error) {
            deps.log(`${tagged}: not named: ${(error as Error).message}`);
          }
        }
      }
    }

    const desiredRefs = new Set(desired.map((image) => image.pullAs));
    for (const pullAs of this.#failures.keys()) {
      if (!desiredRefs.has(pullAs)) this.#failures.delete(pullAs);
    }
    const released = await this.#release(state, desiredRefs);
    // Releasing may have removed pins: the rows of held images say what is true now.
    for (const image of desired) {
      if (rows.get(image.pullAs)?.state === 'present')
        rows.set(image.pullAs, presentRow(image.pullAs));
    }
    state.warmSet = {
      document: warmSet.document,
      ...(warmSet.etag === undefined ? {} : { etag: warmSet.etag }),
    };
    await saved;
    const reported = await send();
    await save();
    const failed = [...rows.values()].filter((row) => row.state === 'failed').length;
    return {
      desired: desired.length,
      present: desired.length - failed,
      pulled: results.filter((result) => result.outcome === 'pulled').length,
      failed,
      deferred,
      released,
      evicted,
      warmSetFromCache: warmSet.cached,
      reported,
      results,
    };
  }

  /**
   * Forgets the images the agent added that left the warm set, and removes the agent's pins from
   * every image that is not in it — all of them when pinning is off. containerd's labels, not the state
   * file, say which pins are the agent's.
   */
  async #release(state: AgentState, desired: ReadonlySet<string>): Promise<number> {
    const { pins, pin, log } = this.#deps;
    if (pins !== undefined) {
      try {
        for (const name of await pins.releaseExcept(pin ? desired : new Set())) {
          log(`${name}: unpinned; the kubelet's image GC may collect it again`);
        }
        if (!pin) for (const added of Object.values(state.images)) added.pinned = false;
      } catch (error) {
        log(`pins not released: ${(error as Error).message}`);
      }
    }
    let released = 0;
    for (const pullAs of Object.keys(state.images)) {
      if (desired.has(pullAs)) continue;
      delete state.images[pullAs];
      released += 1;
      log(`${pullAs} left the warm set; released to the kubelet's image GC`);
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
