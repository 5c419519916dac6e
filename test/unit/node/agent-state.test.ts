import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import {
  AGENT_STATE_SCHEMA,
  AgentBusyError,
  type AgentState,
  emptyAgentState,
  FileAgentState,
  lockAgentState,
} from '#shared/node/agent-state.ts';

// The agent's memory across restarts: absent or unreadable means starting afresh, never crashing; a
// save replaces the file whole.

const DIGEST = `sha256:${'a1'.repeat(32)}`;

let directory: string;
let warnings: string[];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'pullwarden-agent-state-'));
  warnings = [];
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

function store(path = join(directory, 'agent-state.json')): FileAgentState {
  return new FileAgentState(path, (line) => warnings.push(line));
}

const STATE: AgentState = {
  schema: AGENT_STATE_SCHEMA,
  images: {
    [`registry.example.com/team/api@${DIGEST}`]: {
      addedAt: '2026-03-01T10:00:00.000Z',
      pinned: true,
      bytes: 123_456,
      durationMs: 4200,
      attempts: 2,
      evictions: 1,
    },
  },
  warmSet: {
    etag: '"v7"',
    document: {
      schema: 'pullwarden.warmset/v1',
      nodeGroup: 'general',
      images: [
        {
          image: `registry.example.com/team/api:1.4.0@${DIGEST}`,
          registry: 'registry.example.com',
          repository: 'team/api',
          tag: '1.4.0',
          digest: DIGEST,
        },
      ],
    },
  },
  sequence: 1_772_359_200_000,
};

describe('FileAgentState', () => {
  test('a missing file is an empty state, silently', async () => {
    assert.deepEqual(await store().load(), emptyAgentState());
    assert.deepEqual(warnings, []);
  });

  test('the empty state has no images, no warm set and sequence 0', () => {
    assert.deepEqual(emptyAgentState(), { schema: AGENT_STATE_SCHEMA, images: {}, sequence: 0 });
    // A fresh object each time: one agent's state never aliases another's.
    assert.notEqual(emptyAgentState().images, emptyAgentState().images);
  });

  const corrupt: [string, string][] = [
    ['not JSON', '{"schema": "pullwarden.agentstate/v1", "images": {'],
    ['another schema', JSON.stringify({ ...STATE, schema: 'pullwarden.agentstate/v0' })],
    ['no images', JSON.stringify({ schema: AGENT_STATE_SCHEMA, sequence: 3 })],
    ['JSON null', 'null'],
    ['an empty file', ''],
  ];
  for (const [name, text] of corrupt) {
    test(`a corrupt file (${name}) is an empty state and a warning naming the file`, async () => {
      const path = join(directory, 'agent-state.json');
      await writeFile(path, text);
      assert.deepEqual(await store(path).load(), emptyAgentState());
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]?.includes(path), warnings[0]);
    });
  }

  test('images that are not a map of images are not an agent state', async () => {
    // `typeof null === 'object'`: a state with `images: null` must not reach the agent, whose every
    // reconcile reads `state.images`.
    for (const images of [null, ['x']]) {
      warnings = [];
      const path = join(directory, 'agent-state.json');
      await writeFile(path, JSON.stringify({ schema: AGENT_STATE_SCHEMA, images, sequence: 1 }));
      const loaded = await store(path).load();
      assert.ok(
        typeof loaded.images === 'object' &&
          loaded.images !== null &&
          !Array.isArray(loaded.images),
        `images: ${JSON.stringify(loaded.images)}`,
      );
      assert.deepEqual(Object.keys(loaded.images), []);
      assert.equal(warnings.length, 1);
    }
  });

  test('a sequence that is not a whole number reads as 0', async () => {
    const path = join(directory, 'agent-state.json');
    await writeFile(path, JSON.stringify({ ...STATE, sequence: 'soon' }));
    const loaded = await store(path).load();
    assert.equal(loaded.sequence, 0);
    assert.deepEqual(loaded.images, STATE.images);
  });

  test('a path that cannot be read is an empty state and a warning with the error code', async () => {
    const path = join(directory, 'is-a-directory');
    await mkdir(path);
    assert.deepEqual(await store(path).load(), emptyAgentState());
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /EISDIR/);
  });

  test('save then load gives back the same state', async () => {
    const state = store(join(directory, 'nested', 'deeper', 'agent-state.json'));
    await state.save(STATE);
    assert.deepEqual(await state.load(), STATE);
    assert.deepEqual(warnings, []);
  });

  test('a second save replaces the first whole', async () => {
    const state = store();
    await state.save(STATE);
    const next: AgentState = { ...emptyAgentState(), sequence: STATE.sequence + 1 };
    await state.save(next);
    assert.deepEqual(await state.load(), next);
  });

  test('save leaves no temporary file behind and keeps the file private', async () => {
    const path = join(directory, 'agent-state.json');
    await store(path).save(STATE);
    await store(path).save(STATE);
    assert.deepEqual(await readdir(directory), ['agent-state.json']);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), STATE);
  });
});

describe('lockAgentState', () => {
  const OTHER = 4242;
  const stateFile = () => join(directory, 'agent-state.json');
  /** A lock left by another process, written `ageSeconds` ago. */
  async function lockBy(content: string, ageSeconds = 0): Promise<void> {
    const path = `${stateFile()}.lock`;
    await writeFile(path, content);
    const then = new Date(Date.now() - ageSeconds * 1000);
    await utimes(path, then, then);
  }
  const busy = (pid: number | undefined) => (error: unknown) =>
    error instanceof AgentBusyError && error.pid === pid;

  test('takes a free lock, naming this process, and gives it back', async () => {
    const release = await lockAgentState(stateFile());
    assert.equal(await readFile(`${stateFile()}.lock`, 'utf8'), `${process.pid}\n`);
    await release();
    assert.deepEqual(await readdir(directory), []);
  });

  test('a lock whose process runs is busy; one whose process is gone is taken over', async () => {
    await lockBy(`${OTHER}\n`);
    await assert.rejects(
      lockAgentState(stateFile(), () => true),
      busy(OTHER),
    );
    const release = await lockAgentState(stateFile(), (pid) => pid !== OTHER);
    assert.equal(await readFile(`${stateFile()}.lock`, 'utf8'), `${process.pid}\n`);
    await release();
  });

  test('a lock that names no process yet is being written; left so for long, its writer is gone', async () => {
    await lockBy('');
    await assert.rejects(
      lockAgentState(stateFile(), () => true),
      busy(undefined),
    );
    await lockBy('', 60);
    const release = await lockAgentState(stateFile(), () => true);
    await release();
  });

  test('a lock released between the failed open and the look at it is taken, not called busy', async () => {
    // As when the holder unlinks its lock just after this agent's exclusive open found it there.
    const open = fs.open;
    let refused = false;
    const opened = mock.method(fs, 'open', async (...args: Parameters<typeof fs.open>) => {
      if (refused) return open(...args);
      refused = true;
      throw Object.assign(new Error('EEXIST'), { code: 'EEXIST' });
    });
    try {
      const release = await lockAgentState(stateFile(), () => true);
      assert.equal(await readFile(`${stateFile()}.lock`, 'utf8'), `${process.pid}\n`);
      await release();
    } finally {
      opened.mock.restore();
    }
  });
});
