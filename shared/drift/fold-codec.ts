import type { Explicitness } from '#shared/policy/explicitness.ts';
import { plural } from '#shared/text/plural.ts';
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
// distinct string crosses once per region, the numbers cross in a transferred buffer, and the main
// thread keeps one copy of a string per region instead of one per occurrence. Sites judged alike share
// one judgement on the other side, and locations that sites share stay shared (the main thread moves
// each once per region).

/** Aggregates as numbers (string ids from 1, 0 for undefined; NaN for an absent number) and strings. */
export interface PackedAggregates {
  readonly words: Float64Array;
  readonly strings: string[];
}

// The fields of these types that the code below writes; a field added to one of them fails to compile
// here until it is added to this list, and to the writing and reading below.
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

/**
 * The words of the thread's packing in progress, kept between packs: a fresh buffer per region would be
 * a quarter of a megabyte to allocate and zero each time. A pack hands over a copy of what it used.
 */
let scratch: Float64Array | undefined;

/** The thread's word buffer, made on its first pack: the main thread, which only unpacks, holds none. */
function scratchWords(): Float64Array {
  scratch ??= new Float64Array(1 << 15);
  return scratch;
}

class Writer {
  words = scratchWords();
  length = 0;
  readonly strings: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Judgements already written, by value: sites judged alike get one object on the other side. */
  private readonly judgements = new Map<string, number>();
  /** Locations already written, by object: a merged site shares its location with a shaper. */
  private readonly locations = new Map<SourceLocation, number>();

  number(value: number | undefined): void {
    if (this.length === this.words.length) {
      const grown = new Float64Array(this.words.length * 2);
      grown.set(this.words);
      this.words = grown;
      scratch = grown;
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

  /**
   * An object sites may share, known by `key`: one written before as its index (from 1), a new one
   * as the next index followed by its fields, which `write` writes.
   */
  private shared<T, K>(
    seen: Map<K, number>,
    value: T | undefined,
    key: K | undefined,
    write: (value: T) => void,
  ): void {
    if (value === undefined || key === undefined) {
      this.number(0);
      return;
    }
    const known = seen.get(key);
    if (known !== undefined) {
      this.number(known);
      return;
    }
    const index = seen.size + 1;
    seen.set(key, index);
    this.number(index);
    write(value);
  }

  site(site: ImageSite): void {
    this.text(site.kind);
    this.text(site.name);
    this.text(site.image);
    this.text(site.policy);
    const judged = site.explicitness;
    this.shared(
      this.judgements,
      judged,
      judged && `${judged.state}\u0000${judged.confidence}\u0000${judged.evidence}`,
      this.judgement,
    );
    this.shared(this.locations, site.location, site.location, this.location);
  }

  private readonly judgement = (judged: Explicitness): void => {
    this.text(judged.state);
    this.text(judged.confidence);
    this.text(judged.evidence);
  };

  private readonly location = (location: SourceLocation): void => {
    this.text(location.file);
    this.number(location.document);
    this.number(location.line);
    this.number(location.column);
    this.unique(location.path);
  };
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
      // Sidecars repeat a site key across the workloads of a region.
      out.text(siteKey);
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
  private readonly locations: SourceLocation[] = [];
  private readonly words: Float64Array;
  private readonly strings: readonly string[];

  constructor(words: Float64Array, strings: readonly string[]) {
    this.words = words;
    this.strings = strings;
  }

  private malformed(what: string): never {
    throw new RangeError(`packed aggregates are malformed at word ${this.at}: ${what}`);
  }

  number(): number {
    if (this.at >= this.words.length) this.malformed('they end too soon');
    return this.words[this.at++] as number;
  }

  /** A count or an index: a whole number, not negative. */
  count(): number {
    const value = this.number();
    if (!Number.isInteger(value) || value < 0) this.malformed(`${value} is not a count`);
    return value;
  }

  optionalNumber(): number | undefined {
    const value = this.number();
    return Number.isNaN(value) ? undefined : value;
  }

  flag(): boolean {
    const value = this.number();
    if (value !== 0 && value !== 1) this.malformed(`${value} is not a flag`);
    return value === 1;
  }

  optionalText(): string | undefined {
    const id = this.count();
    if (id === 0) return undefined;
    const value = this.strings[id - 1];
    if (value === undefined) this.malformed(`string ${id} is not in the table`);
    return value;
  }

  text(): string {
    const value = this.optionalText();
    if (value === undefined) this.malformed('a required string is missing');
    return value;
  }

  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (let left = this.count(); left > 0; left--) counts.set(this.text(), this.number());
    return counts;
  }

  texts(): Set<string> {
    const values = new Set<string>();
    for (let left = this.count(); left > 0; left--) values.add(this.text());
    return values;
  }

  /**
   * The object at a shared index: one read before, or the next one, which `read` then reads in full.
   */
  private shared<T>(seen: T[], read: () => T): T | undefined {
    const index = this.count();
    if (index === 0) return undefined;
    if (index <= seen.length) return seen[index - 1];
    if (index !== seen.length + 1)
      this.malformed(`shared object ${index} skips ${seen.length + 1}`);
    const value = read();
    seen.push(value);
    return value;
  }

  judgement(): Explicitness | undefined {
    return this.shared(
      this.judgements,
      () =>
        ({
          state: this.text(),
          confidence: this.text(),
          evidence: this.text(),
        }) as Explicitness,
    );
  }

  location(): SourceLocation {
    const location = this.shared(this.locations, () => {
      const read: SourceLocation = { file: this.text(), document: this.number() };
      const line = this.optionalNumber();
      const column = this.optionalNumber();
      const path = this.optionalText();
      // In the order extraction sets them.
      if (path !== undefined) read.path = path;
      if (line !== undefined) read.line = line;
      if (column !== undefined) read.column = column;
      return read;
    });
    if (location === undefined) this.malformed('a site has no location');
    return location;
  }

  site(): ImageSite {
    return {
      kind: this.text() as ImageSite['kind'],
      name: this.text(),
      image: this.text(),
      policy: this.optionalText() as ImageSite['policy'],
      explicitness: this.judgement(),
      location: this.location(),
    };
  }

  shapers(): MergedSite[] | undefined {
    const count = this.optionalNumber();
    if (count === undefined) return undefined;
    if (!Number.isInteger(count) || count < 0) this.malformed(`${count} is not a count`);
    const shapers: MergedSite[] = [];
    for (let left = count; left > 0; left--) shapers.push({ site: this.site(), own: this.flag() });
    return shapers;
  }

  /** Every word was read: a writer and reader that disagree fail here rather than later. */
  end(): void {
    if (this.at !== this.words.length)
      this.malformed(`${plural(this.words.length - this.at, 'word')} left unread`);
  }
}

/** The aggregates packAggregates packed, as new objects. */
export function unpackAggregates(packed: PackedAggregates): Map<string, Aggregate> {
  const read = new Reader(packed.words, packed.strings);
  const aggregates = new Map<string, Aggregate>();
  for (let left = read.count(); left > 0; left--) {
    const key = read.text();
    const ref: WorkloadRef = { kind: read.text(), namespace: read.text(), name: read.text() };
    const seen = read.flag();
    const owner: OwnerRef | undefined = read.flag()
      ? { kind: read.text(), name: read.text(), uid: read.optionalText() }
      : undefined;
    const pods = read.count();
    const podTemplateHash = read.optionalText();
    const constraints: Constraints = {
      specs: read.count(),
      open: read.flag(),
      groups: read.texts(),
    };
    const nodes = read.counts();
    const sites = new Map<string, SiteFold>();
    for (let count = read.count(); count > 0; count--) {
      const siteKey = read.text();
      sites.set(siteKey, { site: read.site(), own: read.flag(), shapers: read.shapers() });
    }
    const running = new Map<string, Map<string, Map<string, number>>>();
    for (let count = read.count(); count > 0; count--) {
      const runningKey = read.text();
      const digests = new Map<string, Map<string, number>>();
      for (let ids = read.count(); ids > 0; ids--) digests.set(read.text(), read.counts());
      running.set(runningKey, digests);
    }
    const waiting = new Map<string, WaitingGroup>();
    for (let count = read.count(); count > 0; count--) {
      const waitingKey = read.text();
      waiting.set(waitingKey, {
        kind: read.text() as WaitingGroup['kind'],
        name: read.text(),
        image: read.text(),
        reason: read.text(),
        message: read.text(),
        pods: read.count(),
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
  read.end();
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
