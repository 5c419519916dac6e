import { promises as fs, unlinkSync } from 'node:fs';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  isProcessAlive,
  lockHolder,
  lockHolderGone,
  readLock,
  writeFileAtomically,
} from '#shared/runtime/files.ts';
import { type WarmSetDocument, warmSetDocumentSchema } from './api-client.ts';

// What the agent remembers across restarts: the images it added (so it releases only those), their
// pull figures for the reports, and the last warm set with its ETag (so a restart can reconcile while
// the API is unreachable).

export const AGENT_STATE_SCHEMA = 'pullwarden.agentstate/v1';

export interface AddedImage {
  addedAt: string;
  pinned: boolean;
  bytes?: number;
  durationMs?: number;
  attempts?: number;
  /** Times the image was found gone (the kubelet's GC, an operator) and pulled again. */
  evictions: number;
}

export interface AgentState {
  schema: typeof AGENT_STATE_SCHEMA;
  /** By pull reference, `registry/repository@digest`. */
  images: Record<string, AddedImage>;
  warmSet?: { etag?: string; document: WarmSetDocument };
  /** The last report's sequence: the next one must be larger. */
  sequence: number;
}

export function emptyAgentState(): AgentState {
  return { schema: AGENT_STATE_SCHEMA, images: {}, sequence: 0 };
}

export interface AgentStateStore {
  load(): Promise<AgentState>;
  save(state: AgentState): Promise<void>;
}

export class FileAgentState implements AgentStateStore {
  readonly path: string;
  readonly #warn: (line: string) => void;

  constructor(path: string, warn: (line: string) => void) {
    this.path = path;
    this.#warn = warn;
  }

  async load(): Promise<AgentState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#warn(
          `cannot read ${this.path} (${(error as NodeJS.ErrnoException).code}); starting afresh`,
        );
      }
      return emptyAgentState();
    }
    try {
      const state = JSON.parse(text) as AgentState;
      if (
        state.schema !== AGENT_STATE_SCHEMA ||
        !isRecord(state.images) ||
        !Object.values(state.images).every(isRecord) ||
        (state.warmSet !== undefined &&
          !warmSetDocumentSchema.safeParse(state.warmSet.document).success)
      ) {
        throw new Error('not an agent state');
      }
      return { ...state, sequence: Number.isSafeInteger(state.sequence) ? state.sequence : 0 };
    } catch {
      this.#warn(`${this.path} is not an agent state file; starting afresh`);
      return emptyAgentState();
    }
  }

  /** Written beside, synced and renamed, so a crash leaves the old state or the new one, never half. */
  async save(state: AgentState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFileAtomically(this.path, `${JSON.stringify(state)}\n`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Another agent process reconciles with the same state file. */
export class AgentBusyError extends Error {
  override readonly name = 'AgentBusyError';
  /** Undefined while the other agent is still writing its lock. */
  readonly pid: number | undefined;

  constructor(pid: number | undefined) {
    super(
      `another pullwarden-node agent${pid === undefined ? '' : ` (pid ${pid})`} is reconciling this node`,
    );
    this.pid = pid;
  }
}

/**
 * Takes `<stateFile>.lock` for this process: one agent per state file, so the boot-time warm-up
 * started again while the agent service runs does not interleave with it. A lock whose process is
 * gone is taken over. Returns the release function (also run when the process exits).
 */
export async function lockAgentState(
  stateFile: string,
  alive: (pid: number) => boolean = isProcessAlive,
): Promise<() => Promise<void>> {
  const path = `${stateFile}.lock`;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt += 1) {
    try {
      const handle = await fs.open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      const onExit = () => {
        try {
          unlinkSync(path);
        } catch {
          // Gone already.
        }
      };
      process.once('exit', onExit);
      return async () => {
        process.off('exit', onExit);
        await unlink(path).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw error;
      const held = await readLock(path);
      // Released since the open failed: try again.
      if (held === undefined) continue;
      const pid = lockHolder(held.content);
      // A lock this process's pid names is left from a process that had it before.
      if (pid !== process.pid && !lockHolderGone(held.content, held.ageMs, alive)) {
        throw new AgentBusyError(pid);
      }
      await unlink(path).catch(() => undefined);
    }
  }
}
