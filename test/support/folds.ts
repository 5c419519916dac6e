import fc from 'fast-check';
import {
  type Aggregate,
  type AggregationData,
  WorkloadAggregation,
} from '#shared/drift/aggregation.ts';
import { packAggregates, unpackAggregates } from '#shared/drift/fold-codec.ts';
import type { ImageSite, ObjectFacts } from '#shared/workload/extract.ts';

// Random object facts and the folds built from them, for the tests of folding, merging and sending
// folds between threads.

const confidence = fc.constantFrom('high', 'medium', 'low') as fc.Arbitrary<
  'high' | 'medium' | 'low'
>;

const site: fc.Arbitrary<Omit<ImageSite, 'location'>> = fc.record({
  kind: fc.constantFrom('container', 'initContainer') as fc.Arbitrary<ImageSite['kind']>,
  name: fc.constantFrom('app', 'side'),
  image: fc.constantFrom('nginx', 'ghcr.io/acme/web:1.2'),
  policy: fc.constantFrom(undefined, 'Always', 'IfNotPresent') as fc.Arbitrary<ImageSite['policy']>,
  explicitness: fc.option(
    fc.record({
      state: fc.constantFrom('explicit', 'defaulted') as fc.Arbitrary<'explicit' | 'defaulted'>,
      confidence,
      evidence: fc.constantFrom('from the annotation', 'from managed fields'),
    }),
    { nil: undefined },
  ),
});

/** Facts before they are given a source and their sites a location. */
export type UnplacedFacts = Omit<ObjectFacts, 'source' | 'sites'> & {
  sites: Omit<ImageSite, 'location'>[];
};

export const objectFacts: fc.Arbitrary<UnplacedFacts> = fc
  .record({
    kind: fc.constantFrom('Pod', 'Pod', 'Pod', 'ReplicaSet', 'Deployment', 'Node'),
    namespace: fc.constantFrom('a', 'b'),
    name: fc.constantFrom('web', 'web-5d8f', 'api'),
    owner: fc.option(
      fc.record({
        kind: fc.constantFrom('ReplicaSet', 'Deployment'),
        name: fc.constantFrom('web', 'web-5d8f'),
        uid: fc.constant(undefined),
      }),
      { nil: undefined },
    ),
    podTemplateHash: fc.constantFrom(undefined, '5d8f', '77aa'),
    sites: fc.array(site, { maxLength: 3 }),
    running: fc.array(
      fc.record({
        kind: fc.constant('container' as const),
        name: fc.constantFrom('app', 'side'),
        image: fc.constantFrom('nginx', 'ghcr.io/acme/web:1.2'),
        imageID: fc.constantFrom('nginx@sha256:aa', 'nginx@sha256:bb'),
      }),
      { maxLength: 2 },
    ),
    waiting: fc.array(
      fc.record({
        kind: fc.constant('container' as const),
        name: fc.constantFrom('app', 'side'),
        image: fc.constant('nginx'),
        reason: fc.constantFrom('ImagePullBackOff', 'ErrImageNeverPull', 'ErrImagePull'),
        message: fc.constantFrom('', 'back-off', 'back-off pulling', 'not found'),
      }),
      { maxLength: 2 },
    ),
    nodeName: fc.constantFrom(undefined, 'n1', 'n2', 'n3'),
    nodeGroupConstraint: fc.option(fc.subarray(['general', 'gpu']), { nil: undefined }),
    architecture: fc.constantFrom(undefined, 'amd64', 'arm64'),
  })
  .map(({ architecture, ...facts }) => ({
    ...facts,
    apiVersion: 'v1',
    uid: undefined,
    live: true,
    hasPodSpec: facts.kind !== 'Node',
    node:
      facts.kind === 'Node'
        ? { nodeGroup: facts.nodeName === undefined ? undefined : 'general', architecture }
        : undefined,
  }));

/** Numbers every object and site so that each location tells which one won. */
export function numbered(objects: readonly UnplacedFacts[]): ObjectFacts[] {
  return objects.map((object, index) => ({
    ...object,
    source: { file: 'dump.json', document: 1, itemPath: `items[${index}]` },
    sites: object.sites.map((s, at) => ({
      ...s,
      location: { file: 'dump.json', document: 1, line: index + 1, column: at + 1 },
    })),
  }));
}

export function foldOneByOne(objects: readonly ObjectFacts[]): WorkloadAggregation {
  const fold = new WorkloadAggregation();
  for (const object of objects) fold.addFacts(object);
  return fold;
}

/** Maps and sets with their entries in order, since reports follow insertion order. */
export function ordered(value: unknown): unknown {
  if (value instanceof Map) return [...value].map(([key, entry]) => [key, ordered(entry)]);
  if (value instanceof Set) return [...value];
  if (Array.isArray(value)) return value.map(ordered);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, ordered(entry)]));
  }
  return value;
}

/** Aggregates packed, cloned as posting clones them, and unpacked. */
export function roundTrip(aggregates: Map<string, Aggregate>): Map<string, Aggregate> {
  return unpackAggregates(structuredClone(packAggregates(aggregates)));
}

/** A fold as the main thread receives it from a parser thread: aggregates packed, the rest cloned. */
export function sentAcrossThreads(data: AggregationData): AggregationData {
  const { aggregates, ...rest } = data;
  return { ...structuredClone(rest), aggregates: roundTrip(aggregates) };
}
