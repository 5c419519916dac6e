import { availableParallelism } from 'node:os';
import type { Config } from '#shared/config/schema.ts';
import type { ByteChunks } from '#shared/input/byte-source.ts';
import type { DocumentSink, InputDocument } from '#shared/input/documents.ts';
import { type InputFile, readInput, STDIN } from '#shared/input/inputs.ts';
import { extractObject } from '#shared/workload/extract.ts';
import { kubernetesObjectProjection } from '#shared/workload/projection.ts';
import { DriftEvaluator, type EvaluationOptions } from './evaluator.ts';
import type { DriftReport, InputProblem } from './model.ts';
import {
  InlineRegionRunner,
  ParallelListReader,
  type RegionRunner,
  RegionWorkerPool,
} from './parallel-list.ts';

// One code path from inputs to report, shared by the CLI, the HTTP function and the benchmark.

export interface Progress {
  file: string;
  bytes: number;
  documents: number;
  /** The input's size when known (regular files). */
  size: number | undefined;
}

export interface DriftRunOptions extends EvaluationOptions {
  stdin?: ByteChunks;
  onProgress?: (progress: Progress) => void;
  /** Problems found before reading (missing paths) to include in the report. */
  problems?: readonly InputProblem[];
  /**
   * Threads that parse large JSON lists besides the main thread; 0 parses everything on the main
   * thread. Defaults to the machine's available parallelism (at most 8).
   */
  threads?: number;
  /** Inputs at least this large (and stdin) use the threads. */
  parallelFromBytes?: number;
}

const PARALLEL_FROM_BYTES = 8 << 20;

/** Extracts a document's facts into the evaluator, turning bad fields into problems. */
export function evaluateDocument(
  evaluator: DriftEvaluator,
  config: Config,
  document: InputDocument,
): void {
  evaluator.countDocuments(document.source.file);
  const context = {
    nodeGroupLabels: config.nodeGroups.labels,
    locate: document.locate,
    ...(document.listItemKind === undefined ? {} : { listItemKind: document.listItemKind }),
  };
  const { facts, problems } = extractObject(document.value, document.source, context);
  for (const problem of problems) evaluator.addProblem(problem);
  if (facts !== undefined) evaluator.addFacts(facts);
}

export async function runDrift(
  config: Config,
  files: readonly InputFile[],
  options: DriftRunOptions = {},
): Promise<DriftReport> {
  const evaluator = new DriftEvaluator(config, options);
  for (const problem of options.problems ?? []) evaluator.addProblem(problem);
  const threads = options.threads ?? Math.min(availableParallelism(), 8);
  let pool: RegionWorkerPool | undefined;
  const inline = new InlineRegionRunner();
  try {
    for (const file of files) {
      let documents = 0;
      const progress = (bytes: number): void =>
        options.onProgress?.({ file: file.name, bytes, documents, size: file.size });
      const sink: DocumentSink = {
        document(document) {
          documents++;
          evaluateDocument(evaluator, config, document);
        },
        problem: (problem) => evaluator.addProblem(problem),
        progress,
      };
      const parallel =
        threads > 0 &&
        (file.name === STDIN ||
          (file.size ?? 0) >= (options.parallelFromBytes ?? PARALLEL_FROM_BYTES));
      let runner: RegionRunner = inline;
      if (parallel) {
        pool ??= new RegionWorkerPool(threads);
        runner = pool;
      }
      // Lists are read through the structural index on either runner; other JSON by the cursor.
      const delegate = new ParallelListReader({
        pool: runner,
        nodeGroupLabels: config.nodeGroups.labels,
        onAggregation: (aggregation) => evaluator.addAggregation(aggregation),
        onProblem: (problem) => evaluator.addProblem(problem),
        onItems: (count) => {
          documents += count;
          evaluator.countDocuments(file.name, count);
        },
        onProgress: progress,
      });
      await readInput(file, sink, {
        projection: kubernetesObjectProjection(config.nodeGroups.labels),
        ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
        listDelegate: delegate,
      });
    }
  } finally {
    await pool?.close();
  }
  return evaluator.finish();
}
