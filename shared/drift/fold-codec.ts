import type { Explicitness } from '#shared/policy/explicitness.ts';
import type { ImageSite, OwnerRef } from '#shared/workload/extract.ts';
import type {
  Aggregate,
  AggregationData,
  Constraints,
  MergedSite,
  SiteFold,
  WaitingGroup,
} from './aggregation.ts';
import type { RegionResult } from './list-region.ts';
import type { SourceLocation, WorkloadRef } from './model.ts';

// Carries the aggregates of a region's fold from a parser thread to the main thread as numbers and a
// table of distinct strings. Structured clone writes every string and property name each time it
// occurs, and the main thread then allocates every copy and keeps it until the report is written; a
// cluster dump's fold repeats kinds, namespaces, images and node names thousands of times. Here each
// distinct string crosses once per region, the numbers cross without a copy, and the main thread keeps
// one copy of a string per region instead of one per occurrence.

/** Aggregates as numbers (string ids from 1, 0 for undefined; NaN for an absent number) and strings. */
export interface PackedAggregates {
  readonly words: Float64Array;
  readonly strings: string[];
}

// Every field of these types is written below; a field added to one fails to compile here until it is.
type Covers<T, Written extends keyof T> = Exclude<keyof T, Written> extends never ? true : never;
const COVERED: [
  Covers<
    Aggregate,
    | 'ref'
    | 'seen'
    | 'owner'
    | 'sites'
    | 'running'
    | 'waiting'
    | 'pods'
    | 'nodes'
    | 'constraints'
    | 'podTemplateHash'
  >,
  Covers<WorkloadRef, 'kind' | 'namespace' | 'name'>,
  Covers<OwnerRef, 'kind' | 'name' | 'uid'>,
  Covers<Constraints, 'specs' | 'open' | 'groups'>,
  Covers<SiteFold, 'site' | 'own' | 'shapers'>,
  Covers<ImageSite, 'kind' | 'name' | 'image' | 'policy' | 'explicitness' | 'location'>,
  Covers<Explicitness, 'state' | 'confidence' | 'evidence'>,
  Covers<SourceLocation, 'file' | 'document' | 'line' | 'column' | 'path'>,
  Covers<WaitingGroup, 'kind' | 'name' | 'image' | 'reason' | 'message' | 'pods' | 'nodes'>,
] = [true, true, true, true, true, true, true, true, true];
void COVERED;

class Writer {
  words = new Float64Array(1 << 15);
  length = 0;
  readonly strings: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Judgements already written, by object: a fold shares one object per judgement. */
  private readonly judgements = new Map<Explicitness, number>();

  number(value: number | undefined): void {
    if (this.length === this.words.length) {
      const grown = new Float64Array(this.words.length * 2);
      grown.set(this.words);
      this.words = grown;
    }
    this.words[this.length++] = value ?? Number.NaN;
  }

  flag(value: boolean): void {
    this.number(value ? 1 : 0);
  }

  /** A string that may recur: written once, then named by its id. */
  text(value: string | undefined): void {
    if (value === undefined) {
      this.number(0);
      return;
    }
    let id = this.ids.get(value);
    if (id === undefined) {
      this.strings.push(value);
      id = this.strings.length;
      this.ids.set(value, id);
    }
    this.number(id);
  }

  /** A string that rarely recurs (a key, a name, a path): added without looking it up. */
  unique(value: string | undefined): void {
    if (value === undefined) {
      this.number(0);
      return;
    }
    this.strings.push(value);
    this.number(this.strings.length);
  }

  counts(counts: ReadonlyMap<string, number>): void {
    this.number(counts.size);
    for (const [key, count] of counts) {
      this.text(key);
      this.number(count);
    }
  }

  texts(values: ReadonlySet<string>): void {
    this.number(values.size);
    for (const value of values) this.text(value);
  }

  /** A judgement seen before is written as its index; a new one in full after the next index. */
  judgement(judged: Explicitness | undefined): void {
    if (judged === undefined) {
      this.number(0);
      return;
    }
    const known = this.judgements.get(judged);
    if (known !== undefined) {
      this.number(known);
      return;
    }
    const index = this.judgements.size + 1;
    this.judgements.set(judged, index);
    this.number(index);
    this.text(judged.state);
    this.text(judged.confidence);
    this.text(judged.evidence);
  }

  site(site: ImageSite): void {
    this.text(site.kind);
    this.text(site.name);
    this.text(site.image);
    this.text(site.policy);
    this.judgement(site.explicitness);
    const location = site.location;
    this.text(location.file);
    this.number(location.document);
    this.number(location.line);
    this.number(location.column);
    this.unique(location.path);
  }
}

/** Packs aggregates for another thread; the words' buffer can be transferred. */
export function packAggregates(aggregates: ReadonlyMap<string, Aggregate>): PackedAggregates {
  const out = new Writer();
  out.number(aggregates.size);
  for (const [key, aggregate] of aggregates) {
    out.unique(key);
    out.text(aggregate.ref.kind);
    out.text(aggregate.ref.namespace);
    out.unique(aggregate.ref.name);
    out.flag(aggregate.seen);
    const owner = aggregate.owner;
    out.flag(owner !== undefined);
    if (owner !== undefined) {
      out.text(owner.kind);
      out.text(owner.name);
      out.unique(owner.uid);
    }
    out.number(aggregate.pods);
    out.text(aggregate.podTemplateHash);
    out.number(aggregate.constraints.specs);
    out.flag(aggregate.constraints.open);
    out.texts(aggregate.constraints.groups);
    out.counts(aggregate.nodes);
    out.number(aggregate.sites.size);
    for (const [siteKey, fold] of aggregate.sites) {
      out.unique(siteKey);
      out.site(fold.site);
      out.flag(fold.own);
      out.number(fold.shapers?.length);
      for (const shaper of fold.shapers ?? []) {
        out.site(shaper.site);
        out.flag(shaper.own);
      }
    }
    out.number(aggregate.running.size);
    for (const [runningKey, digests] of aggregate.running) {
      out.text(runningKey);
      out.number(digests.size);
      for (const [imageId, nodes] of digests) {
        out.text(imageId);
        out.counts(nodes);
      }
    }
    out.number(aggregate.waiting.size);
    for (const [waitingKey, group] of aggregate.waiting) {
      out.text(waitingKey);
      out.text(group.kind);
      out.text(group.name);
      out.text(group.image);
      out.text(group.reason);
      out.text(group.message);
      out.number(group.pods);
      out.texts(group.nodes);
    }
  }
  return { words: out.words.slice(0, out.length), strings: out.strings };
}

class Reader {
  private at = 0;
  private readonly judgements: Explicitness[] = [];
  private readonly words: Float64Array;
  private readonly strings: readonly string[];

  constructor(words: Float64Array, strings: readonly string[]) {
    this.words = words;
    this.strings = strings;
  }

  number(): number {
    if (this.at >= this.words.length) throw new RangeError('packed aggregates end too soon');
    return this.words[this.at++] as number;
  }

  optionalNumber(): number | undefined {
    const value = this.number();
    return Number.isNaN(value) ? undefined : value;
  }

  flag(): boolean {
    return this.number() === 1;
  }

  optionalText(): string | undefined {
    const id = this.number();
    if (id === 0) return undefined;
    const value = this.strings[id - 1];
    if (value === undefined)
      throw new RangeError(`packed aggregates name string ${id}, not in the table`);
    return value;
  }

  text(): string {
    const value = this.optionalText();
    if (value === undefined) throw new RangeError('packed aggregates lack a required string');
    return value;
  }

  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (let left = this.number(); left > 0; left--) counts.set(this.text(), this.number());
    return counts;
  }

  texts(): Set<string> {
    const values = new Set<string>();
    for (let left = this.number(); left > 0; left--) values.add(this.text());
    return values;
  }

  judgement(): Explicitness | undefined {
    const index = this.number();
    if (index === 0) return undefined;
    if (index <= this.judgements.length) return this.judgements[index - 1];
    const judged = {
      state: this.text(),
      confidence: this.text(),
      evidence: this.text(),
    } as Explicitness;
    this.judgements.push(judged);
    return judged;
  }

  site(): ImageSite {
    const kind = this.text() as ImageSite['kind'];
    const name = this.text();
    const image = this.text();
    const policy = this.optionalText() as ImageSite['policy'];
    const explicitness = this.judgement();
    const location: SourceLocation = { file: this.text(), document: this.number() };
    const line = this.optionalNumber();
    const column = this.optionalNumber();
    const path = this.optionalText();
    if (path !== undefined) location.path = path;
    if (line !== undefined) location.line = line;
    if (column !== undefined) location.column = column;
    return { kind, name, image, policy, explicitness, location };
  }

  shapers(): MergedSite[] | undefined {
    const count = this.optionalNumber();
    if (count === undefined) return undefined;
    const shapers: MergedSite[] = [];
    for (let left = count; left > 0; left--) shapers.push({ site: this.site(), own: this.flag() });
    return shapers;
  }
}

/** The aggregates packAggregates packed, as new objects. */
export function unpackAggregates(packed: PackedAggregates): Map<string, Aggregate> {
  const read = new Reader(packed.words, packed.strings);
  const aggregates = new Map<string, Aggregate>();
  for (let left = read.number(); left > 0; left--) {
    const key = read.text();
    const ref: WorkloadRef = { kind: read.text(), namespace: read.text(), name: read.text() };
    const seen = read.flag();
    const owner: OwnerRef | undefined = read.flag()
      ? { kind: read.text(), name: read.text(), uid: read.optionalText() }
      : undefined;
    const pods = read.number();
    const podTemplateHash = read.optionalText();
    const constraints: Constraints = {
      specs: read.number(),
      open: read.flag(),
      groups: read.texts(),
    };
    const nodes = read.counts();
    const sites = new Map<string, SiteFold>();
    for (let count = read.number(); count > 0; count--) {
      const siteKey = read.text();
      sites.set(siteKey, { site: read.site(), own: read.flag(), shapers: read.shapers() });
    }
    const running = new Map<string, Map<string, Map<string, number>>>();
    for (let count = read.number(); count > 0; count--) {
      const runningKey = read.text();
      const digests = new Map<string, Map<string, number>>();
      for (let ids = read.number(); ids > 0; ids--) digests.set(read.text(), read.counts());
      running.set(runningKey, digests);
    }
    const waiting = new Map<string, WaitingGroup>();
    for (let count = read.number(); count > 0; count--) {
      const waitingKey = read.text();
      waiting.set(waitingKey, {
        kind: read.text() as WaitingGroup['kind'],
        name: read.text(),
        image: read.text(),
        reason: read.text(),
        message: read.text(),
        pods: read.number(),
        nodes: read.texts(),
      });
    }
    aggregates.set(key, {
      ref,
      seen,
      owner,
      sites,
      running,
      waiting,
      pods,
      nodes,
      constraints,
      podTemplateHash,
    });
  }
  return aggregates;
}

/** A region's result as a parser thread posts it: its aggregates packed, everything else as is. */
export interface PackedRegionResult extends Omit<RegionResult, 'aggregation'> {
  aggregation: Omit<AggregationData, 'aggregates'> & { packed: PackedAggregates };
}

/** Packs a result for posting; transfer `transferList(packed)` with it. */
export function packRegionResult(result: RegionResult): PackedRegionResult {
  const { aggregates, ...rest } = result.aggregation;
  return { ...result, aggregation: { ...rest, packed: packAggregates(aggregates) } };
}

/** What posting a packed result can hand over without a copy. */
export function transferList(result: PackedRegionResult): ArrayBuffer[] {
  return [result.aggregation.packed.words.buffer as ArrayBuffer];
}

export function unpackRegionResult(result: PackedRegionResult): RegionResult {
  const { packed, ...rest } = result.aggregation;
  return { ...result, aggregation: { ...rest, aggregates: unpackAggregates(packed) } };
}
