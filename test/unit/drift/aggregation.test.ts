import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { shapersOf, WorkloadAggregation } from '#shared/drift/aggregation.ts';
import type { ObjectFacts } from '#shared/workload/extract.ts';
import {
  foldOneByOne,
  numbered,
  objectFacts,
  ordered,
  sentAcrossThreads,
} from '../../support/folds.ts';

// Parser threads fold their own objects and the main thread merges the folds in input order: the
// result must be exactly the fold of every object one by one, including which site, explicitness
// evidence and message win.

/** Folds each slice on its own, sends it as a parser thread does, and merges in order. */
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
    merged.merge(sentAcrossThreads(slice.data));
  }
  return merged;
}

describe('WorkloadAggregation', () => {
  test('the first site stays the one reported, carrying the most certain explicitness seen', () => {
    const pod = (line: number, confidence: 'high' | 'low' | undefined): ObjectFacts => ({
      source: { file: 'f', document: 1, itemPath: '' },
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'a',
      name: `web-${line}`,
      uid: undefined,
      live: true,
      hasPodSpec: true,
      owner: { kind: 'ReplicaSet', name: 'web', uid: undefined },
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
