import type { InputProblem } from '#shared/drift/model.ts';
import type { DocumentSource, Locator } from '#shared/workload/extract.ts';

/** One Kubernetes object read from an input, with a way to find where its fields are. */
export interface InputDocument {
  value: unknown;
  source: DocumentSource;
  locate: Locator;
  /** Set for items of a typed list (`PodList`) that omit their own kind. */
  listItemKind?: { kind: string; apiVersion: string };
}

/** Receives what a reader finds, in input order. */
export interface DocumentSink {
  document(document: InputDocument): void;
  problem(problem: InputProblem): void;
  /** Bytes of the current input consumed so far. */
  progress?(bytes: number): void;
}

/** `PodList` → `Pod`; undefined for the generic `List` and for anything else. */
export function itemKindOfList(kind: unknown, apiVersion: unknown): InputDocument['listItemKind'] {
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') return undefined;
  if (kind === 'List' || !kind.endsWith('List') || kind.length <= 4) return undefined;
  return { kind: kind.slice(0, -4), apiVersion };
}
