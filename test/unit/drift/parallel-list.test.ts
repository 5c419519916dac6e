import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { configSchema } from '#shared/config/schema.ts';
import { WorkloadAggregation } from '#shared/drift/aggregation.ts';
import { DriftEvaluator } from '#shared/drift/evaluator.ts';
import { runRegionTask } from '#shared/drift/list-region.ts';
import type { DriftReport, InputProblem } from '#shared/drift/model.ts';
import {
  ParallelListReader,
  type RegionRunner,
  RegionWorkerPool,
} from '#shared/drift/parallel-list.ts';
import { type ByteSource, openFileSource } from '#shared/input/byte-source.ts';
import type { DocumentSink } from '#shared/input/documents.ts';
import { readJsonDocuments } from '#shared/input/json-documents.ts';
import { extractObject } from '#shared/workload/extract.ts';
import { kubernetesObjectProjection } from '#shared/workload/projection.ts';

const LABELS = ['eks.amazonaws.com/nodegroup'];

function source(text: string, chunk = 1 << 20): ByteSource {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  return {
    size: bytes.length,
    async read(buffer, at, length) {
      const size = Math.min(length, chunk, bytes.length - offset);
      bytes.copy(buffer, at, offset, offset + size);
      offset += size;
      return size;
    },
    async close() {},
  };
}

interface Outcome {
  /** The objects folded into workloads, one by one or region by region. */
  folded: WorkloadAggregation;
  /** What the evaluator reports from them. */
  report: DriftReport;
  problems: InputProblem[];
  items: number;
}

const CONFIG = configSchema.parse({
  apiVersion: 'pullwarden.dev/v1',
  kind: 'Config',
  nodeGroups: { labels: LABELS },
});

/** Evaluates what a reader delivers the way the CLI does: documents one by one, list regions as folds. */
function collector() {
  const evaluator = new DriftEvaluator(CONFIG);
  const outcome = {
    folded: new WorkloadAggregation(),
    problems: [] as InputProblem[],
    items: 0,
  };
  const sink: DocumentSink = {
    document(document) {
      outcome.items++;
      const { facts, problems } = extractObject(document.value, document.source, {
        nodeGroupLabels: LABELS,
        locate: document.locate,
      });
      outcome.problems.push(...problems);
      if (facts !== undefined) {
        outcome.folded.addFacts(facts);
        evaluator.addFacts(facts);
      }
    },
    problem: (problem) => outcome.problems.push(problem),
  };
  const reader = (regionBytes: number, sliceBytes?: number): ParallelListReader =>
    new ParallelListReader({
      pool,
      nodeGroupLabels: LABELS,
      regionBytes,
      ...(sliceBytes === undefined ? {} : { sliceBytes }),
      onAggregation: (aggregation) => {
        // Both take the fold over, so each gets its own copy.
        outcome.folded.merge(structuredClone(aggregation));
        evaluator.addAggregation(aggregation);
      },
      onProblem: (problem) => outcome.problems.push(problem),
      onItems: (count) => {
        outcome.items += count;
      },
    });
  return { sink, reader, finish: (): Outcome => ({ ...outcome, report: evaluator.finish() }) };
}

async function sequential(text: string): Promise<Outcome> {
  const { sink, finish } = collector();
  await readJsonDocuments(source(text), 'dump.json', kubernetesObjectProjection(LABELS), sink);
  return finish();
}

const pool = new RegionWorkerPool(2);
const directory = mkdtempSync(join(tmpdir(), 'pullwarden-list-'));
after(async () => {
  await pool.close();
  rmSync(directory, { recursive: true, force: true });
});

/** Regions cut by the main thread from a stream read in chunks of `chunk` bytes. */
async function parallel(
  text: string,
  regionBytes: number,
  chunk?: number,
  sliceBytes?: number,
): Promise<Outcome> {
  const { sink, reader, finish } = collector();
  await readJsonDocuments(
    source(text, chunk),
    'dump.json',
    kubernetesObjectProjection(LABELS),
    sink,
    reader(regionBytes, sliceBytes),
  );
  return finish();
}

let files = 0;

/**
 * Regions the workers read from a file themselves; `read` counts what the main thread read.
 * `afterOpen` runs once the reader has opened the file and taken its size.
 */
async function parallelFromFile(
  text: string,
  regionBytes: number,
  sliceBytes?: number,
  afterOpen?: (path: string) => void,
): Promise<Outcome & { mainThreadBytes: number }> {
  const path = join(directory, `dump-${files++}.json`);
  writeFileSync(path, text);
  const file = await openFileSource(path);
  afterOpen?.(path);
  let mainThreadBytes = 0;
  const counting: ByteSource = {
    ...file,
    size: file.size,
    async read(buffer, offset, length) {
      const count = await file.read(buffer, offset, length);
      mainThreadBytes += count;
      return count;
    },
  };
  assert.ok(counting.file !== undefined, 'a regular file can be read by the workers');
  const { sink, reader, finish } = collector();
  try {
    await readJsonDocuments(
      counting,
      'dump.json',
      kubernetesObjectProjection(LABELS),
      sink,
      reader(regionBytes, sliceBytes),
    );
  } finally {
    await file.close();
  }
  return { ...finish(), mainThreadBytes };
}

/** The same fold, and the same report to the byte (order of findings and evidence included). */
function assertSameOutcome(actual: Outcome, expected: Outcome, message?: string): void {
  assert.deepStrictEqual(actual.folded.data, expected.folded.data, message);
  assert.equal(JSON.stringify(actual.report), JSON.stringify(expected.report), message);
}

function pod(index: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `web-${index}`,
      namespace: `team-${index % 3}`,
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-5d8f',
          controller: true,
          uid: 'u1',
        },
      ],
      // Entries that look like list items in a compact dump: the reader must not cut here.
      managedFields: [
        { apiVersion: 'v1', fieldsType: 'FieldsV1', manager: 'kubelet', operation: 'Update' },
        {
          apiVersion: 'v1',
          fieldsType: 'FieldsV1',
          manager: 'kube-controller-manager',
          operation: 'Update',
        },
      ],
      ...extra,
    },
    spec: {
      nodeName: `node-${index % 5}`,
      containers: [
        {
          name: 'app',
          image: index % 4 === 0 ? 'nginx:latest' : `ghcr.io/acme/web:1.${index}`,
          imagePullPolicy: 'IfNotPresent',
        },
        { name: 'side', image: 'docker.io/istio/proxyv2:1.22.1' },
      ],
    },
    status: {
      containerStatuses: [
        { name: 'app', image: 'x', imageID: `ghcr.io/acme/web@sha256:${'ab'.repeat(32)}` },
      ],
    },
  };
}

function list(items: unknown[], indent: number | undefined): string {
  return JSON.stringify(
    { apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } },
    null,
    indent,
  );
}

type ParallelRead = (text: string, regionBytes: number, sliceBytes?: number) => Promise<Outcome>;

/** The main thread cuts a stream, or the workers read a file themselves. */
const INPUTS: readonly [string, ParallelRead][] = [
  ['a stream', (text, regionBytes, sliceBytes) => parallel(text, regionBytes, 333, sliceBytes)],
  ['a file', parallelFromFile],
];

describe('ParallelListReader', () => {
  for (const [input, read] of INPUTS) {
    for (const [layout, indent] of [
      ['indented like kubectl', 4],
      ['compact like the API', undefined],
    ] as const) {
      test(`yields exactly the sequential fold for a list ${layout}, from ${input}`, async () => {
        const text = list(
          Array.from({ length: 60 }, (_, index) => pod(index)),
          indent,
        );
        const expected = await sequential(text);
        for (const regionBytes of [64, 700, 5000, 1 << 20]) {
          const actual = await read(text, regionBytes);
          assert.equal(actual.items, 60, `items with regions of ${regionBytes}`);
          assertSameOutcome(actual, expected, `regions of ${regionBytes}`);
          assert.deepStrictEqual(actual.problems, expected.problems);
        }
        // Regions indexed in slices, some smaller than one item: positions carry across slices.
        for (const sliceBytes of [100, 2000, 7000]) {
          const actual = await read(text, 1 << 20, sliceBytes);
          assert.equal(actual.items, 60, `items with slices of ${sliceBytes}`);
          assertSameOutcome(actual, expected, `slices of ${sliceBytes}`);
          assert.deepStrictEqual(actual.problems, expected.problems);
        }
      });
    }

    test(`recovers when a guessed boundary falls inside an item, from ${input}`, async () => {
      // Compact items whose first key repeats inside them, and one item much larger than a region.
      const items = Array.from({ length: 12 }, (_, index) =>
        pod(index, index === 5 ? { annotations: { blob: 'x'.repeat(5000) } } : {}),
      );
      const text = list(items, undefined);
      assert.ok(
        text.split('},{"apiVersion":').length > 13,
        'the dump contains boundary look-alikes',
      );
      const expected = await sequential(text);
      const actual = await read(text, 300);
      assertSameOutcome(actual, expected);
      assert.equal(actual.items, 12);
    });

    test(`a ReplicaSet listed after its pods takes their sites over, with its own line, from ${input}`, async () => {
      // As `kubectl get pods,rs` lists them: the owner's own site shapes the pods' fold, and the
      // merged site shares the owner's location, which must be moved to the file's line once.
      const replicaSet = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'web-5d8f', namespace: 'team-0', uid: 'u1', resourceVersion: '7' },
        spec: {
          template: {
            spec: { containers: [{ name: 'side', image: 'docker.io/istio/proxyv2:1.22.1' }] },
          },
        },
      };
      const items = [...Array.from({ length: 20 }, (_, index) => pod(index)), replicaSet];
      const text = list(items, 4);
      const expected = await sequential(text);
      const folded = expected.folded.data.aggregates.get('ReplicaSet/team-0/web-5d8f');
      const side = [...(folded?.sites.values() ?? [])].find((fold) => fold.site.name === 'side');
      assert.equal(side?.shapers?.length, 2, 'the owner shaped the fold');
      assert.equal(side?.site.location.path, 'items[20].spec.template.spec.containers[0].image');
      for (const regionBytes of [1 << 20, 3000]) {
        assertSameOutcome(await read(text, regionBytes), expected, `regions of ${regionBytes}`);
      }
    });

    test(`reports bad fields inside items with their file, item and line, from ${input}`, async () => {
      const items = Array.from({ length: 30 }, (_, index) => pod(index));
      const spec = (items[17] as { spec: { containers: { image: string }[] } }).spec;
      (spec.containers[0] as { image: string }).image = 'ghcr.io/Acme/web:1';
      const text = list(items, 4);
      const expected = await sequential(text);
      assert.equal(expected.problems.length, 1);
      assert.equal(expected.problems[0]?.file, 'dump.json');
      for (const regionBytes of [300, 4000]) {
        const actual = await read(text, regionBytes);
        assert.deepStrictEqual(actual.problems, expected.problems, `regions of ${regionBytes}`);
      }
    });

    test(`reports a syntax error at its absolute line and column and stops, from ${input}`, async () => {
      const good = list([pod(1), pod(2), pod(3)], 4);
      const broken = good.replace('"web-2"', '"web-2" oops');
      const expected = await sequential(broken);
      for (const [regionBytes, sliceBytes] of [
        [200, undefined],
        [1 << 20, 300],
      ] as const) {
        const actual = await read(broken, regionBytes, sliceBytes);
        assert.equal(actual.problems.length, 1);
        assert.deepEqual(actual.problems, expected.problems);
        assert.match(actual.problems[0]?.message ?? '', /invalid JSON at line \d+, column \d+/);
      }
    });

    test(`an empty list, and a list followed by more fields and documents, from ${input}`, async () => {
      for (const text of [
        '{"items": [ ], "kind": "List"}',
        `{"items":[${JSON.stringify(pod(1))}],"kind":"List","metadata":{}}`,
        // The reader takes over after the list, with the lines of what follows counted right.
        `${list([pod(1), pod(2), pod(3)], 4)}\n${JSON.stringify(pod(4, { name: 'after' }), null, 2)}`,
      ]) {
        assertSameOutcome(await read(text, 50), await sequential(text));
      }
    });
  }

  test('from a file, the main thread reads only the head of a list and what follows it', async () => {
    const items = Array.from({ length: 12_000 }, (_, index) => pod(index));
    const text = `${list(items, 2)}\n${JSON.stringify(pod(12_000, { name: 'after' }))}`;
    assert.ok(text.length > 8 << 20, 'the list is larger than the first read of the reader');
    const expected = await sequential(text);
    const actual = await parallelFromFile(text, 256 << 10);
    assertSameOutcome(actual, expected);
    assert.equal(actual.items, 12_001);
    assert.ok(
      actual.mainThreadBytes < (4 << 20) + 4096,
      `the main thread read ${actual.mainThreadBytes} of ${text.length} bytes`,
    );
  });

  test('a file cut short after it was opened ends in a syntax error, as reading it whole would', async () => {
    const items = Array.from({ length: 400 }, (_, index) => pod(index));
    const text = list(items, 2);
    const cutAt = Math.floor(text.length * 0.6);
    const expected = await sequential(text.slice(0, cutAt));
    // The reader has taken the file's size; the parser threads find it shorter.
    const actual = await parallelFromFile(text, 16 << 10, undefined, (path) =>
      truncateSync(path, cutAt),
    );
    assert.equal(actual.problems.length, 1);
    assert.deepEqual(actual.problems, expected.problems);
    assert.match(actual.problems[0]?.message ?? '', /unexpected end of input/);
    assertSameOutcome(actual, expected);
  });

  test('a reader that fails returns only once no region is still being read', async () => {
    // Regions that finish later than their dispatch, as on threads reading the file themselves.
    const started: { settled: boolean }[] = [];
    const slow: RegionRunner = {
      size: 2,
      transfers: false,
      run(input) {
        const task = { settled: false };
        started.push(task);
        const result = runRegionTask({ ...input, id: started.length });
        return new Promise((resolve) =>
          setTimeout(() => {
            task.settled = true;
            resolve(result);
          }, 20 * started.length),
        );
      },
      close: async () => {},
    };
    const reader = new ParallelListReader({
      pool: slow,
      nodeGroupLabels: LABELS,
      regionBytes: 300,
      onAggregation() {
        throw new Error('the evaluator failed');
      },
      onProblem: () => undefined,
      onItems: () => undefined,
    });
    const text = list(
      Array.from({ length: 20 }, (_, index) => pod(index)),
      undefined,
    );
    const { sink } = collector();
    await assert.rejects(
      readJsonDocuments(
        source(text),
        'dump.json',
        kubernetesObjectProjection(LABELS),
        sink,
        reader,
      ),
      /the evaluator failed/,
    );
    assert.ok(started.length > 1, `${started.length} regions started`);
    assert.deepEqual(
      started.filter((task) => !task.settled),
      [],
      'every region had ended',
    );
  });

  test('each task gets its own result, even when results of abandoned tasks arrive late', {
    timeout: 10_000,
  }, async () => {
    // One thread, so a slow task and a quick one queue on the same worker: a reader that stopped
    // early leaves such slow tasks behind, and their results must not answer another reader's task.
    const single = new RegionWorkerPool(1);
    try {
      const region = (count: number) => ({
        bytes: new Uint8Array(
          Buffer.from(
            `${Array.from({ length: count }, (_, i) => JSON.stringify(pod(i))).join(',')}]`,
          ),
        ),
        document: 0,
        pathPrefix: 'items',
        listItemKind: undefined,
        atListStart: true,
        final: true,
        nodeGroupLabels: LABELS,
      });
      const [slow, quick] = await Promise.all([single.run(region(300)), single.run(region(1))]);
      assert.equal(slow.items, 300);
      assert.equal(quick.items, 1);
      assert.notEqual(slow.id, quick.id);
    } finally {
      await single.close();
    }
  });

  test('property: random lists, layouts, region and slice sizes agree with sequential reading', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 25 }),
        fc.constantFrom(0, 1, 2, 4),
        fc.integer({ min: 16, max: 4000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.boolean(),
        fc.option(fc.integer({ min: 1, max: 3000 }), { nil: undefined }),
        async (count, indent, regionBytes, chunk, fromFile, sliceBytes) => {
          const text = list(
            Array.from({ length: count }, (_, index) => pod(index)),
            indent === 0 ? undefined : indent,
          );
          const expected = await sequential(text);
          const actual = fromFile
            ? await parallelFromFile(text, regionBytes, sliceBytes)
            : await parallel(text, regionBytes, chunk, sliceBytes);
          assertSameOutcome(actual, expected);
          assert.equal(actual.items, count);
        },
      ),
      { numRuns: 60 },
    );
  });
});
