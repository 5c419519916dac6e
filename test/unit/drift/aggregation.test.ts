import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { shapersOf, WorkloadAggregation } from '#shared/drift/aggregation.ts';
import type { ImageSite, ObjectFacts } from '#shared/workload/extract.ts';

// Parser threads fold their own objects and the main thread merges the folds in input order: the
// result must be exactly the fold of every object one by one, including which site, explicitness
// evidence and message win.

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
type UnplacedFacts = Omit<ObjectFacts, 'source' | 'sites'> & {
  sites: Omit<ImageSite, 'location'>[];
};

const objectFacts: fc.Arbitrary<UnplacedFacts> = fc
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
function numbered(objects: readonly UnplacedFacts[]): ObjectFacts[] {
  return objects.map((object, index) => ({
    ...object,
    source: { file: 'dump.json', document: 1, itemPath: `items[${index}]` },
    sites: object.sites.map((s, at) => ({
      ...s,
      location: { file: 'dump.json', document: 1, line: index + 1, column: at + 1 },
    })),
  }));
}

function foldOneByOne(objects: readonly ObjectFacts[]): WorkloadAggregation {
  const fold = new WorkloadAggregation();
  for (const object of objects) fold.addFacts(object);
  return fold;
}

/** Folds each slice on its own, sends it through a structured clone, and merges in order. */
function foldInSlices(
  objects: readonly ObjectFacts[],
  cuts: readonly number[],
): WorkloadAggregation {
  const bounds = [
    ...new Set([0, ...cuts.map((cut) => cut % (objects.length + 1)), objects.length]),
  ];
  bounds.sort((a, b) => a - b);
  const merged = new WorkloadAggregation();
  for (let i = 0; i + 1 < bounds.length; i++) {
    const slice = foldOneByOne(structuredClone(objects.slice(bounds[i], bounds[i + 1])));
    merged.merge(structuredClone(slice.data));
  }
  return merged;
}

/** Maps and sets with their entries in order, since reports follow insertion order. */
function ordered(value: unknown): unknown {
  if (value instanceof Map) return [...value].map(([key, entry]) => [key, ordered(entry)]);
  if (value instanceof Set) return [...value];
  if (Array.isArray(value)) return value.map(ordered);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, ordered(entry)]));
  }
  return value;
}

describe('WorkloadAggregation', () => {
  test('a later own site takes over, keeping the most certain explicitness seen before it', () => {
    const pod = (line: number, confidence: 'high' | 'low' | undefined): ObjectFacts => ({
      source: { file: 'f', document: 1, itemPath: '' },
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'a',
      name: `web-${line}`,
      uid: undefined,
      live: true,
      hasPodSpec: true,
      owner: line === 3 ? undefined : { kind: 'ReplicaSet', name: 'web', uid: undefined },
      podTemplateHash: undefined,
      sites: [
        {
          kind: 'container',
          name: 'app',
          image: 'nginx',
          policy: 'IfNotPresent',
          explicitness:
            confidence === undefined
              ? undefined
              : { state: 'defaulted', confidence, evidence: `line ${line}` },
          location: { file: 'f', document: 1, line },
        },
      ],
      running: [],
      waiting: [],
      nodeName: undefined,
      nodeGroupConstraint: undefined,
      node: undefined,
    });
    const fold = foldInSlices([pod(1, 'low'), pod(2, 'high'), pod(4, undefined)], [1, 2]);
    const sites = [...(fold.data.aggregates.get('ReplicaSet/a/web')?.sites.values() ?? [])];
    assert.equal(sites.length, 1);
    assert.equal(sites[0]?.site.location.line, 1, 'the first site stays the one reported');
    assert.equal(sites[0]?.site.explicitness?.evidence, 'line 2', 'the most certain evidence wins');
    assert.deepEqual(
      (sites[0] === undefined ? [] : shapersOf(sites[0])).map(
        (shaper) => shaper.site.location.line,
      ),
      [1, 2],
      'only the sites that changed the fold are kept for a later merge',
    );
  });

  test('sites with equal explicitness judgements share one, so a fold sends each judgement once', () => {
    const judged = (evidence: string) => ({
      state: 'defaulted' as const,
      confidence: 'low' as const,
      evidence,
    });
    const bare = (name: string, evidence: string): ObjectFacts => ({
      source: { file: 'f', document: 1, itemPath: '' },
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'a',
      name,
      uid: undefined,
      live: true,
      hasPodSpec: true,
      owner: undefined,
      podTemplateHash: undefined,
      sites: [
        {
          kind: 'container',
          name: 'app',
          image: 'nginx:1.27',
          policy: 'Always',
          explicitness: judged(evidence),
          location: { file: 'f', document: 1 },
        },
      ],
      running: [],
      waiting: [],
      nodeName: undefined,
      nodeGroupConstraint: undefined,
      node: undefined,
    });
    const fold = foldOneByOne([
      bare('one', 'no history'),
      bare('two', 'no history'),
      bare('three', 'other history'),
    ]);
    const judgement = (name: string) =>
      [...(fold.data.aggregates.get(`Pod/a/${name}`)?.sites.values() ?? [])][0]?.site.explicitness;
    assert.deepEqual(judgement('two'), judged('no history'));
    assert.equal(judgement('one'), judgement('two'));
    assert.notEqual(judgement('one'), judgement('three'));
    assert.deepEqual(judgement('three'), judged('other history'));
    // Through a structured clone, as to the main thread: still one object, one evidence string.
    const cloned = structuredClone(fold.data);
    const first = [...(cloned.aggregates.get('Pod/a/one')?.sites.values() ?? [])][0];
    const second = [...(cloned.aggregates.get('Pod/a/two')?.sites.values() ?? [])][0];
    assert.ok(first?.site.explicitness !== undefined);
    assert.equal(first?.site.explicitness, second?.site.explicitness);
  });

  test('property: merging folds of consecutive slices equals folding one by one', () => {
    fc.assert(
      fc.property(
        fc.array(objectFacts, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (objects, cuts) => {
          const all = numbered(objects);
          assert.deepStrictEqual(
            ordered(foldInSlices(all, cuts).data),
            ordered(foldOneByOne(all).data),
          );
        },
      ),
      { numRuns: 1500 },
    );
  });
});
