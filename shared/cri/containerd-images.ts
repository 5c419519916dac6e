import { RuntimeCallError, UnixSocketChannel } from './client.ts';
import { containerdImagesMethod } from './proto.ts';

// containerd's own image metadata service, on the CRI's socket and in its namespace, for what the CRI
// cannot do:
// - pins: containerd's CRI reports an image as pinned when its metadata carries
//   `io.cri-containerd.pinned=pinned`, and the kubelet never collects a pinned image. The label goes on
//   every name the runtime keeps for the image (the pulled reference, tags, the id record).
// - tags: an image pulled by digest has no `repo:tag` name, so a pod naming the tag with IfNotPresent
//   would ask the registry again. Adding the name, as the CRI does when it pulls a tag, lets the
//   kubelet find the image under it.

export const PINNED_LABEL = 'io.cri-containerd.pinned';
export const PINNED_VALUE = 'pinned';
/**
 * Marks the pins pullwarden set and by whom — `agent` (the warm set's images, released when they
 * leave it) or `pull` (`pullwarden-node pull --pin`, kept until unpinned) — so unpinning never releases a
 * pin an operator set by hand, and the agent never releases another's.
 */
export const PINNED_BY_LABEL = 'dev.pullwarden.pinned-by';
export type PinOwner = 'agent' | 'pull';
export const CRI_NAMESPACE = 'k8s.io';

interface WireDescriptor {
  media_type: string;
  digest: string;
  size: number;
}

interface WireImage {
  name: string;
  labels: Record<string, string>;
  target?: WireDescriptor | null;
}

/** The label containerd's CRI puts on the images it manages (containerd 2 shows only those). */
export const CRI_MANAGED_LABEL = 'io.cri-containerd.image';

const LIST = containerdImagesMethod<{ filters: string[] }, { images: WireImage[] }>('List');
const UPDATE = containerdImagesMethod<
  { image: { name: string; labels: Record<string, string> }; update_mask: { paths: string[] } },
  { image: WireImage }
>('Update');

const CREATE = containerdImagesMethod<
  { image: { name: string; labels: Record<string, string>; target: WireDescriptor } },
  { image: WireImage }
>('Create');
const TARGET_UPDATE = containerdImagesMethod<
  { image: { name: string; target: WireDescriptor }; update_mask: { paths: string[] } },
  { image: WireImage }
>('Update');

export class PinUnsupportedError extends Error {
  override readonly name = 'PinUnsupportedError';
}

export interface PinResult {
  /** Names whose labels changed. */
  changed: string[];
  /** Names left alone: pinned by someone else (unpin), or already as asked. */
  unchanged: string[];
}

export class ContainerdImages {
  readonly #channel: UnixSocketChannel;
  readonly #namespace: string;

  readonly #owner: PinOwner;

  constructor(
    endpoint: string,
    options: { timeoutMs?: number; namespace?: string; owner?: PinOwner } = {},
  ) {
    this.#channel = new UnixSocketChannel(endpoint, options.timeoutMs ?? 30_000);
    this.#namespace = options.namespace ?? CRI_NAMESPACE;
    this.#owner = options.owner ?? 'pull';
  }

  /**
   * The images matching any of `filters` (containerd's filter syntax; see `filter`). An empty list
   * would return every image, which on a busy node is thousands of records per call, so callers
   * always say what they want.
   */
  async #list(filters: readonly string[]): Promise<WireImage[]> {
    if (filters.length === 0) return [];
    try {
      return (
        await this.#channel.call(
          LIST,
          { filters: [...filters] },
          { metadata: { 'containerd-namespace': this.#namespace } },
        )
      ).images;
    } catch (error) {
      if (error instanceof RuntimeCallError && error.code === 'UNIMPLEMENTED') {
        throw new PinUnsupportedError(
          `the runtime at ${this.#channel.endpoint} is not containerd: pinning images needs containerd's image service`,
        );
      }
      throw error;
    }
  }

  /** Every record of the image `reference` names (by name, or sharing its target manifest). */
  async #records(reference: string): Promise<WireImage[]> {
    // A reference by digest names its target: one call finds the record and those sharing it.
    const pinned = /@(sha256:[0-9a-f]{64})$/.exec(reference)?.[1];
    const found = await this.#list([
      filter('name', reference),
      ...(pinned === undefined ? [] : [filter('target.digest', pinned)]),
    ]);
    const named = found.find((image) => image.name === reference);
    if (named === undefined) {
      throw new RuntimeCallError(
        'Images.List',
        'NOT_FOUND',
        `containerd holds no image ${reference}`,
      );
    }
    const target = named.target?.digest;
    if (target === undefined) return [named];
    const sharing = target === pinned ? found : await this.#list([filter('target.digest', target)]);
    return [
      named,
      ...sharing.filter((image) => image.name !== reference && image.target?.digest === target),
    ];
  }

  async #label(record: WireImage, value: string | undefined): Promise<void> {
    const labels: Record<string, string> =
      value === undefined ? {} : { [PINNED_LABEL]: value, [PINNED_BY_LABEL]: this.#owner };
    await this.#channel.call(
      UPDATE,
      {
        image: { name: record.name, labels },
        update_mask: { paths: [`labels.${PINNED_LABEL}`, `labels.${PINNED_BY_LABEL}`] },
      },
      { metadata: { 'containerd-namespace': this.#namespace } },
    );
  }

  async pin(reference: string): Promise<PinResult> {
    const result: PinResult = { changed: [], unchanged: [] };
    for (const record of await this.#records(reference)) {
      if (record.labels[PINNED_LABEL] === PINNED_VALUE) {
        result.unchanged.push(record.name);
        continue;
      }
      await this.#label(record, PINNED_VALUE);
      result.changed.push(record.name);
    }
    return result;
  }

  /** Removes the pins pullwarden set (the agent's and `pull --pin`'s); a pin without its mark stays. */
  async unpin(reference: string): Promise<PinResult> {
    const result: PinResult = { changed: [], unchanged: [] };
    for (const record of await this.#records(reference)) {
      if (record.labels[PINNED_LABEL] === undefined || !isPullwardenPin(record)) {
        result.unchanged.push(record.name);
        continue;
      }
      await this.#label(record, undefined);
      result.changed.push(record.name);
    }
    return result;
  }

  /**
   * Removes this owner's pins from every image none of whose names is in `keep`: containerd itself
   * records which images were pinned, so a lost state file or a changed setting leaks no pin.
   * Returns the names unpinned.
   */
  async releaseExcept(keep: ReadonlySet<string>): Promise<string[]> {
    // This owner's pins, and the images named in `keep`, whose targets keep other names pinned.
    const images = await this.#list([
      filter(`labels.${quoted(PINNED_BY_LABEL)}`, this.#owner),
      ...[...keep].map((name) => filter('name', name)),
    ]);
    const kept = new Set(
      images
        .filter((image) => keep.has(image.name))
        .map((image) => image.target?.digest ?? image.name),
    );
    const released: string[] = [];
    for (const image of images) {
      if (image.labels[PINNED_BY_LABEL] !== this.#owner) continue;
      if (kept.has(image.target?.digest ?? image.name)) continue;
      await this.#label(image, undefined);
      released.push(image.name);
    }
    return released;
  }

  /**
   * Names the image `reference` (by digest) also as `tagged` (`registry/repository:tag`), or moves
   * that name to it. Returns what changed: `created`, `moved` (the tag named another build before) or
   * `unchanged`.
   */
  async tag(reference: string, tagged: string): Promise<'created' | 'moved' | 'unchanged'> {
    const images = await this.#list([filter('name', reference), filter('name', tagged)]);
    const source = images.find((image) => image.name === reference);
    if (source?.target === undefined || source.target === null) {
      throw new RuntimeCallError(
        'Images.List',
        'NOT_FOUND',
        `containerd holds no image ${reference}`,
      );
    }
    const target = source.target;
    const metadata = { 'containerd-namespace': this.#namespace };
    const existing = images.find((image) => image.name === tagged);
    if (existing === undefined) {
      await this.#channel.call(
        CREATE,
        { image: { name: tagged, labels: { [CRI_MANAGED_LABEL]: 'managed' }, target } },
        { metadata },
      );
      return 'created';
    }
    if (existing.target?.digest === target.digest) return 'unchanged';
    await this.#channel.call(
      TARGET_UPDATE,
      { image: { name: tagged, target }, update_mask: { paths: ['target'] } },
      { metadata },
    );
    return 'moved';
  }

  /** Whether every record of the image carries the pin label. */
  async isPinned(reference: string): Promise<boolean> {
    const records = await this.#records(reference);
    return records.every((record) => record.labels[PINNED_LABEL] === PINNED_VALUE);
  }

  close(): void {
    this.#channel.close();
  }
}

/** A quoted string, as containerd's filter syntax takes field names and values with dots or colons. */
function quoted(text: string): string {
  // The filter parser unquotes as Go does; a JSON string is a valid Go string literal.
  return JSON.stringify(text);
}

/** A containerd filter selecting images whose `field` equals `value`. */
function filter(field: string, value: string): string {
  return `${field}==${quoted(value)}`;
}

function isPullwardenPin(record: WireImage): boolean {
  const owner = record.labels[PINNED_BY_LABEL];
  return owner === 'agent' || owner === 'pull';
}
