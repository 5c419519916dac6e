import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import fc from 'fast-check';
import { type Aggregate, emptyAggregate } from '#shared/drift/aggregation.ts';
import {
  type PackedRegionResult,
  packAggregates,
  packRegionResult,
  transferList,
  unpackAggregates,
  unpackRegionResult,
} from '#shared/drift/fold-codec.ts';
import type { RegionResult } from '#shared/drift/list-region.ts';
import type { SourceLocation } from '#shared/drift/model.ts';
import type { ImageSite } from '#shared/workload/extract.ts';
import { foldOneByOne, numbered, objectFacts, ordered, roundTrip } from '../../support/folds.ts';

// Parser threads send their folds packed; the main thread must get back exactly what was packed,
// with the same fields present, the same insertion order, and judgements still shared.

/** Every optional field present, and every kind of value a field can hold. */
function fullAggregate(): Aggregate {
  const judged = { state: 'defaulted' as const, confidence: 'high' as const, evidence: 'said so' };
  const aggregate = emptyAggregate('ReplicaSet', 'shop', 'web-5d8f');
  aggregate.seen = true;
  aggregate.owner = { kind: 'Deployment', name: 'web', uid: 'b7c1' };
  aggregate.pods = 3;
  aggregate.podTemplateHash = '5d8f';
  aggregate.constraints = { specs: 3, open: false, groups: new Set(['gpu', 'general']) };
  aggregate.nodes = new Map([
    ['n2', 2],
    ['n1', 1],
  ]);
  const located = { file: '', document: 0, path: 'items[#4].spec.containers[0].image', line: 9 };
  const app = (explicitness: typeof judged | undefined, location: SourceLocation): ImageSite => ({
    kind: 'container',
    name: 'app',
    image: 'nginx',
    policy: 'Always',
    explicitness,
    location,
  });
  aggregate.sites.set('container\u0000app\u0000nginx\u0000Always', {
    site: app(judged, { ...located, column: 18 }),
    own: false,
    shapers: [
      { site: app(undefined, located), own: false },
      { site: app(judged, { file: 'pods.yaml', document: 2 }), own: true },
    ],
  });
  aggregate.sites.set('initContainer\u0000init\u0000caf\u00e9:1\u0000', {
    site: {
      kind: 'initContainer',
      name: 'init',
      image: 'caf\u00e9:1',
      policy: undefined,
      explicitness: judged,
      location: { file: '', document: 0 },
    },
    own: true,
    shapers: undefined,
  });
  aggregate.running.set(
    'container\u0000app\u0000nginx',
    new Map([['nginx@sha256:aa', new Map([['n1', 1]])]]),
  );
  aggregate.waiting.set('container\u0000app\u0000nginx\u0000ImagePullBackOff', {
    kind: 'container',
    name: 'app',
    image: 'nginx',
    reason: 'ImagePullBackOff',
    message: 'Back-off pulling image "nginx"',
    pods: 2,
    nodes: new Set(['n2', 'n1']),
  });
  return aggregate;
}

describe('fold codec', () => {
  test('every field comes back, present or absent as it was, in the same order', () => {
    const bare = emptyAggregate('Pod', 'default', 'lonely');
    const aggregates = new Map([
      ['ReplicaSet/shop/web-5d8f', fullAggregate()],
      ['Pod/default/lonely', bare],
    ]);
    const back = roundTrip(aggregates);
    assert.deepStrictEqual(back, aggregates);
    assert.deepStrictEqual(ordered(back), ordered(aggregates));
  });

  test('sites judged alike share one judgement on the other side; others keep their own', () => {
    const aggregate = fullAggregate();
    // Separate objects equal in value, as extraction makes one per pod, and one that differs.
    const [app, init] = [...aggregate.sites.values()];
    assert.ok(app?.shapers !== undefined && init !== undefined);
    const copy = (site: ImageSite): ImageSite => ({
      ...site,
      explicitness: site.explicitness && { ...site.explicitness },
    });
    app.site = copy(app.site);
    init.site = copy(init.site);
    const [unjudged, judgedOwn] = app.shapers;
    assert.ok(unjudged !== undefined && judgedOwn !== undefined);
    judgedOwn.site = copy(judgedOwn.site);
    const other = { state: 'unknown' as const, confidence: 'low' as const, evidence: 'other' };
    unjudged.site = { ...unjudged.site, explicitness: other };
    const back = roundTrip(new Map([['ReplicaSet/shop/web-5d8f', aggregate]]));
    const [appBack, initBack] = [...(back.get('ReplicaSet/shop/web-5d8f')?.sites.values() ?? [])];
    const shared = appBack?.site.explicitness;
    assert.deepEqual(shared, { state: 'defaulted', confidence: 'high', evidence: 'said so' });
    assert.equal(initBack?.site.explicitness, shared);
    assert.equal(appBack?.shapers?.[1]?.site.explicitness, shared);
    assert.deepEqual(appBack?.shapers?.[0]?.site.explicitness, other);
    assert.notEqual(appBack?.shapers?.[0]?.site.explicitness, shared);
  });

  test('recurring strings cross once: kinds, namespaces, images, node names', () => {
    const packed = packAggregates(
      new Map([
        ['ReplicaSet/shop/web-5d8f', fullAggregate()],
        [
          'ReplicaSet/shop/web-77aa',
          { ...fullAggregate(), ref: { kind: 'ReplicaSet', namespace: 'shop', name: 'web-77aa' } },
        ],
      ]),
    );
    for (const recurring of [
      'ReplicaSet',
      'shop',
      'nginx',
      'n1',
      'container',
      'Always',
      'said so',
      // A site key: sidecars repeat it across workloads.
      'container\u0000app\u0000nginx\u0000Always',
    ]) {
      assert.equal(packed.strings.filter((text) => text === recurring).length, 1, recurring);
    }
  });

  test('a merged site and the shaper it took its location from still share that location', () => {
    const aggregate = fullAggregate();
    const fold = aggregate.sites.values().next().value;
    assert.ok(fold?.shapers !== undefined);
    // As mergeSite leaves it: the merged site is a copy of a shaper that keeps its location.
    fold.site = { ...fold.site, location: fold.shapers[0]?.site.location ?? fold.site.location };
    const back = roundTrip(new Map([['ReplicaSet/shop/web-5d8f', aggregate]]));
    const returned = back.get('ReplicaSet/shop/web-5d8f')?.sites.values().next().value;
    assert.ok(returned?.shapers !== undefined);
    assert.equal(returned.site.location, returned.shapers[0]?.site.location);
    assert.notEqual(returned.site.location, returned.shapers[1]?.site.location);
  });

  test('malformed packed words are refused with where and why', () => {
    const packed = packAggregates(new Map([['ReplicaSet/shop/web-5d8f', fullAggregate()]]));
    const altered = (at: number, value: number): Float64Array => {
      const words = packed.words.slice();
      words[at] = value;
      return words;
    };
    const refuse = (words: Float64Array, reason: RegExp, strings = packed.strings) =>
      assert.throws(() => unpackAggregates({ words, strings }), reason);
    refuse(packed.words.subarray(0, 20), /at word 20: they end too soon/);
    refuse(packed.words, /string \d+ is not in the table/, packed.strings.slice(0, 3));
    // Word 0 counts the aggregates, word 5 is the `seen` flag.
    refuse(altered(0, 1.5), /at word 1: 1.5 is not a count/);
    refuse(altered(0, -1), /-1 is not a count/);
    refuse(altered(5, 2), /at word 6: 2 is not a flag/);
    refuse(altered(0, 0), /words left unread/);
    const longer = new Float64Array(packed.words.length + 1);
    longer.set(packed.words);
    refuse(longer, /1 word left unread/);
  });

  test('a region result keeps everything but its aggregates as it was, and transfers the words', () => {
    const aggregates = new Map([['ReplicaSet/shop/web-5d8f', fullAggregate()]]);
    const result: RegionResult = {
      id: 7,
      aggregation: {
        aggregates,
        nodes: new Map([['n1', { nodeGroup: 'gpu', architecture: 'arm64' }]]),
        objects: 5,
        pods: 3,
      },
      problems: [{ file: '', document: 0, line: 3, path: 'items[#1].kind', message: 'bad kind' }],
      items: 5,
      consumed: 4000,
      closedAt: undefined,
      newlines: 120,
      lastLineStart: 3990,
      syntaxError: undefined,
      span: undefined,
    };
    const packed = packRegionResult(result);
    // Posted as a parser thread posts it: the words are handed over, not copied.
    const channel = new MessageChannel();
    try {
      channel.port1.postMessage(packed, transferList(packed));
      assert.equal(packed.aggregation.packed.words.byteLength, 0, 'the words were transferred');
      const received = receiveMessageOnPort(channel.port2)?.message as PackedRegionResult;
      assert.deepStrictEqual(unpackRegionResult(received), result);
    } finally {
      channel.port1.close();
    }
  });

  test('each pack owns its words: packing another fold does not change one packed before', () => {
    const first = new Map([['ReplicaSet/shop/web-5d8f', fullAggregate()]]);
    const second = new Map([
      ['Deployment/other/api', emptyAggregate('Deployment', 'other', 'api')],
    ]);
    const packed = packAggregates(first);
    const words = packed.words.slice();
    packAggregates(second);
    assert.deepEqual(packed.words, words);
    assert.deepStrictEqual(unpackAggregates(packed), first);
  });

  test('property: folds of random objects come back as they were packed', () => {
    fc.assert(
      fc.property(fc.array(objectFacts, { maxLength: 40 }), (objects) => {
        const { aggregates } = foldOneByOne(numbered(objects)).data;
        assert.deepStrictEqual(ordered(roundTrip(aggregates)), ordered(aggregates));
      }),
      { numRuns: 500 },
    );
  });
});
