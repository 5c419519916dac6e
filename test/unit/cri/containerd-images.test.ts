import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  ContainerdImages,
  PINNED_BY_LABEL,
  PINNED_LABEL,
  PINNED_VALUE,
  PinUnsupportedError,
} from '#shared/cri/containerd-images.ts';
import { containerdImagesMethod } from '#shared/cri/proto.ts';

// ContainerdImages against a fake containerd image service on a unix socket: the images and their labels
// live in the fake, which applies Update's field mask the way containerd does. The labels are the
// record of whose pins are whose.

interface Image {
  name: string;
  labels: Record<string, string>;
  target?: { digest: string } | null;
}

interface UpdateRequest {
  image: { name: string; labels: Record<string, string> };
  update_mask: { paths: string[] };
}

const LIST = containerdImagesMethod<{ filters: string[] }, { images: Image[] }>('List');
const UPDATE = containerdImagesMethod<UpdateRequest, { image: Image }>('Update');

function definition<Request, Response>(method: {
  path: string;
  request: { serialize(value: Request): Buffer; deserialize(bytes: Buffer): Request };
  response: { serialize(value: Response): Buffer; deserialize(bytes: Buffer): Response };
}): grpc.MethodDefinition<Request, Response> {
  return {
    path: method.path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value) => method.request.serialize(value),
    requestDeserialize: (bytes) => method.request.deserialize(bytes),
    responseSerialize: (value) => method.response.serialize(value),
    responseDeserialize: (bytes) => method.response.deserialize(bytes),
  };
}

class FakeContainerd {
  images: Image[] = [];
  readonly updates: UpdateRequest[] = [];
  readonly namespaces: string[] = [];
  /** The filters of every List call, and how many images each answer held. */
  readonly filters: string[][] = [];
  readonly answered: number[] = [];
  /** When set, every call fails with this status. */
  failWith: grpc.status | undefined;
  readonly server = new grpc.Server();

  constructor() {
    this.server.addService(
      { List: definition(LIST), Update: definition(UPDATE) },
      {
        List: (
          call: grpc.ServerUnaryCall<{ filters: string[] }, { images: Image[] }>,
          callback: grpc.sendUnaryData<{ images: Image[] }>,
        ) => {
          this.namespaces.push(String(call.metadata.get('containerd-namespace')[0]));
          if (this.failWith !== undefined) {
            callback({ code: this.failWith, details: 'not served' }, null);
            return;
          }
          this.filters.push([...call.request.filters]);
          try {
            const images = this.matching(call.request.filters);
            this.answered.push(images.length);
            callback(null, { images: structuredClone(images) });
          } catch (error) {
            callback({ code: grpc.status.INVALID_ARGUMENT, details: String(error) }, null);
          }
        },
        Update: (
          call: grpc.ServerUnaryCall<UpdateRequest, { image: Image }>,
          callback: grpc.sendUnaryData<{ image: Image }>,
        ) => {
          this.namespaces.push(String(call.metadata.get('containerd-namespace')[0]));
          const request = call.request;
          this.updates.push(structuredClone(request));
          const image = this.images.find((entry) => entry.name === request.image.name);
          if (image === undefined) {
            callback({ code: grpc.status.NOT_FOUND, details: 'image not found' }, null);
            return;
          }
          for (const path of request.update_mask.paths) {
            const key = path.slice('labels.'.length);
            const value = request.image.labels[key];
            if (value === undefined) delete image.labels[key];
            else image.labels[key] = value;
          }
          callback(null, { image: structuredClone(image) });
        },
      },
    );
  }

  /**
   * The images any of the filters selects, as containerd's Images.List answers; only the selectors
   * the client sends are understood: `name==`, `target.digest==` and `labels."key"==`, values quoted.
   */
  matching(filters: readonly string[]): Image[] {
    if (filters.length === 0) return this.images;
    const selectors = filters.map((text) => {
      const match = /^(name|target\.digest|labels\.("(?:[^"\\]|\\.)*"))==("(?:[^"\\]|\\.)*")$/.exec(
        text,
      );
      if (match === null) throw new Error(`filter not understood: ${text}`);
      const value = JSON.parse(match[3] as string) as string;
      const label = match[2] === undefined ? undefined : (JSON.parse(match[2]) as string);
      return (image: Image): boolean =>
        label !== undefined
          ? image.labels[label] === value
          : match[1] === 'name'
            ? image.name === value
            : image.target?.digest === value;
    });
    return this.images.filter((image) => selectors.some((selects) => selects(image)));
  }

  labelsOf(name: string): Record<string, string> | undefined {
    return this.images.find((image) => image.name === name)?.labels;
  }

  pinnedNames(): string[] {
    return this.images
      .filter((image) => image.labels[PINNED_LABEL] === PINNED_VALUE)
      .map((image) => image.name)
      .sort();
  }
}

const DIGEST_API = `sha256:${'a1'.repeat(32)}`;
const DIGEST_OLD = `sha256:${'b2'.repeat(32)}`;
const DIGEST_HAND = `sha256:${'c3'.repeat(32)}`;
const DIGEST_CLI = `sha256:${'d4'.repeat(32)}`;
const API = `registry.example.com/team/api@${DIGEST_API}`;
const API_TAG = 'registry.example.com/team/api:1.4.0';
const OLD = `registry.example.com/team/old@${DIGEST_OLD}`;
const OLD_TAG = 'registry.example.com/team/old:0.9.0';
const HAND = `registry.example.com/team/hand@${DIGEST_HAND}`;
const CLI = `registry.example.com/team/cli@${DIGEST_CLI}`;

/** Every name containerd keeps for one image: the digest reference, a tag, the id record. */
function records(names: string[], digest: string, labels: Record<string, string> = {}): Image[] {
  return names.map((name) => ({ name, labels: { ...labels }, target: { digest } }));
}

const AGENT_PIN = { [PINNED_LABEL]: PINNED_VALUE, [PINNED_BY_LABEL]: 'agent' };
const CLI_PIN = { [PINNED_LABEL]: PINNED_VALUE, [PINNED_BY_LABEL]: 'pull' };
const HAND_PIN = { [PINNED_LABEL]: PINNED_VALUE };

let directory: string;
let endpoint: string;
let containerd: FakeContainerd;
const clients: ContainerdImages[] = [];

function pins(owner: 'agent' | 'pull' = 'agent'): ContainerdImages {
  const client = new ContainerdImages(endpoint, { owner, timeoutMs: 5000 });
  clients.push(client);
  return client;
}

before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'pullwarden-pins-'));
  endpoint = `unix://${join(directory, 'containerd.sock')}`;
  containerd = new FakeContainerd();
  await new Promise<void>((resolve, reject) => {
    containerd.server.bindAsync(endpoint, grpc.ServerCredentials.createInsecure(), (error) =>
      error === null ? resolve() : reject(error),
    );
  });
});

after(async () => {
  for (const client of clients) client.close();
  await new Promise<void>((resolve) => containerd.server.tryShutdown(() => resolve()));
  await rm(directory, { recursive: true, force: true });
});

beforeEach(() => {
  containerd.images = [];
  containerd.updates.length = 0;
  containerd.namespaces.length = 0;
  containerd.filters.length = 0;
  containerd.answered.length = 0;
  containerd.failWith = undefined;
});

describe('ContainerdImages asks containerd for the records it needs, not every image', () => {
  // A busy node: hundreds of images besides the ones a call is about.
  const others = (): Image[] =>
    Array.from({ length: 300 }, (_, index) => {
      const digest = `sha256:${index.toString(16).padStart(64, '0')}`;
      return {
        name: `registry.example.com/other/app${index}@${digest}`,
        labels: {},
        target: { digest },
      };
    });

  test('pinning by digest reads the records in one call; by tag, the named record then those sharing it', async () => {
    containerd.images = [...others(), ...records([API, API_TAG, DIGEST_API], DIGEST_API)];
    const result = await pins('agent').pin(API);
    assert.deepEqual(result.changed.sort(), [API, API_TAG, DIGEST_API].sort());
    assert.deepEqual(containerd.filters, [
      [`name==${JSON.stringify(API)}`, `target.digest==${JSON.stringify(DIGEST_API)}`],
    ]);
    assert.deepEqual(containerd.answered, [3]);
    containerd.filters.length = 0;
    containerd.answered.length = 0;
    assert.equal(await pins('agent').isPinned(API_TAG), true);
    assert.deepEqual(containerd.filters, [
      [`name==${JSON.stringify(API_TAG)}`],
      [`target.digest==${JSON.stringify(DIGEST_API)}`],
    ]);
    assert.deepEqual(containerd.answered, [1, 3]);
  });

  test("releasing reads the owner's pins and the kept names in one call", async () => {
    containerd.images = [
      ...others(),
      ...records([API, API_TAG], DIGEST_API, AGENT_PIN),
      ...records([OLD, OLD_TAG], DIGEST_OLD, AGENT_PIN),
      ...records([HAND], DIGEST_HAND, HAND_PIN),
    ];
    assert.deepEqual(
      (await pins('agent').releaseExcept(new Set([API]))).sort(),
      [OLD, OLD_TAG].sort(),
    );
    assert.deepEqual(containerd.filters, [
      [`labels.${JSON.stringify(PINNED_BY_LABEL)}=="agent"`, `name==${JSON.stringify(API)}`],
    ]);
    assert.deepEqual(containerd.answered, [4]);
    assert.deepEqual(containerd.pinnedNames(), [API, API_TAG, HAND].sort());
  });
});

describe('ContainerdImages.pin', () => {
  test("labels every record of the image with the pin and the owner, in the CRI's namespace", async () => {
    containerd.images = [
      ...records([API, API_TAG, DIGEST_API], DIGEST_API),
      ...records([OLD], DIGEST_OLD),
    ];
    const result = await pins('agent').pin(API);
    assert.deepEqual(result, { changed: [API, API_TAG, DIGEST_API], unchanged: [] });
    for (const name of [API, API_TAG, DIGEST_API]) {
      assert.deepEqual(containerd.labelsOf(name), AGENT_PIN, name);
    }
    assert.deepEqual(containerd.labelsOf(OLD), {});
    assert.deepEqual(containerd.updates[0]?.update_mask.paths, [
      `labels.${PINNED_LABEL}`,
      `labels.${PINNED_BY_LABEL}`,
    ]);
    assert.ok(containerd.namespaces.every((namespace) => namespace === 'k8s.io'));
  });

  test('a record pinned already, by anyone, is left as it is', async () => {
    containerd.images = [
      { name: API, labels: { ...HAND_PIN }, target: { digest: DIGEST_API } },
      { name: API_TAG, labels: {}, target: { digest: DIGEST_API } },
    ];
    const result = await pins('agent').pin(API);
    assert.deepEqual(result, { changed: [API_TAG], unchanged: [API] });
    assert.deepEqual(containerd.labelsOf(API), HAND_PIN);
  });

  test('an image containerd does not hold is NOT_FOUND', async () => {
    await assert.rejects(pins().pin(API), /NOT_FOUND/);
  });

  test('a runtime without containerd’s image service is PinUnsupportedError', async () => {
    containerd.failWith = grpc.status.UNIMPLEMENTED;
    await assert.rejects(pins().pin(API), PinUnsupportedError);
  });
});

describe('ContainerdImages.releaseExcept', () => {
  function node(): void {
    containerd.images = [
      ...records([API, API_TAG, DIGEST_API], DIGEST_API, AGENT_PIN),
      ...records([OLD, OLD_TAG, DIGEST_OLD], DIGEST_OLD, AGENT_PIN),
      ...records([HAND], DIGEST_HAND, HAND_PIN),
      ...records([CLI], DIGEST_CLI, CLI_PIN),
    ];
  }

  test("removes the owner's pins from every image not kept, on all its records; keeps a kept image's records", async () => {
    node();
    const released = await pins('agent').releaseExcept(new Set([API]));
    assert.deepEqual(released.sort(), [DIGEST_OLD, OLD, OLD_TAG].sort());
    for (const name of [OLD, OLD_TAG, DIGEST_OLD]) {
      assert.deepEqual(containerd.labelsOf(name), {}, name);
    }
    // Kept through any of its names: the tag and the id record share the kept target.
    for (const name of [API, API_TAG, DIGEST_API]) {
      assert.deepEqual(containerd.labelsOf(name), AGENT_PIN, name);
    }
    // Another owner's pin and a pin set by hand are never the agent's to release.
    assert.deepEqual(containerd.labelsOf(HAND), HAND_PIN);
    assert.deepEqual(containerd.labelsOf(CLI), CLI_PIN);
    assert.ok(containerd.updates.every((update) => update.update_mask.paths.length === 2));
    assert.ok(containerd.namespaces.every((namespace) => namespace === 'k8s.io'));
  });

  test("an empty set releases all of the owner's pins and only those", async () => {
    node();
    const released = await pins('agent').releaseExcept(new Set());
    assert.equal(released.length, 6);
    assert.deepEqual(containerd.pinnedNames(), [CLI, HAND].sort());
  });

  test('another owner releases only its own pins', async () => {
    node();
    assert.deepEqual(await pins('pull').releaseExcept(new Set()), [CLI]);
    assert.deepEqual(containerd.labelsOf(CLI), {});
    assert.deepEqual(containerd.labelsOf(API), AGENT_PIN);
  });

  test('a kept name containerd does not hold keeps nothing else, and nothing pinned means no update', async () => {
    containerd.images = [...records([API], DIGEST_API), ...records([OLD], DIGEST_OLD, AGENT_PIN)];
    assert.deepEqual(await pins('agent').releaseExcept(new Set([HAND])), [OLD]);
    containerd.updates.length = 0;
    assert.deepEqual(await pins('agent').releaseExcept(new Set()), []);
    assert.deepEqual(containerd.updates, []);
  });

  test('a record without a target is kept only by its own name', async () => {
    containerd.images = [
      { name: API, labels: { ...AGENT_PIN }, target: null },
      { name: OLD, labels: { ...AGENT_PIN }, target: null },
    ];
    assert.deepEqual(await pins('agent').releaseExcept(new Set([API])), [OLD]);
    assert.deepEqual(containerd.labelsOf(API), AGENT_PIN);
  });

  test('released pins stay released, and pinning again marks them the owner’s', async () => {
    node();
    const agent = pins('agent');
    await agent.releaseExcept(new Set());
    assert.deepEqual(await agent.releaseExcept(new Set()), []);
    await agent.pin(API);
    assert.deepEqual(containerd.labelsOf(API_TAG), AGENT_PIN);
    assert.equal(await agent.isPinned(API), true);
  });

  test('a runtime without containerd’s image service is PinUnsupportedError', async () => {
    containerd.failWith = grpc.status.UNIMPLEMENTED;
    await assert.rejects(pins().releaseExcept(new Set()), PinUnsupportedError);
  });
});

describe('ContainerdImages.unpin', () => {
  test("removes pullwarden's pins of either owner, never a pin set by hand", async () => {
    containerd.images = [
      { name: API, labels: { ...CLI_PIN }, target: { digest: DIGEST_API } },
      { name: API_TAG, labels: { ...AGENT_PIN }, target: { digest: DIGEST_API } },
      { name: DIGEST_API, labels: { ...HAND_PIN }, target: { digest: DIGEST_API } },
    ];
    const result = await pins('pull').unpin(API);
    assert.deepEqual(result, { changed: [API, API_TAG], unchanged: [DIGEST_API] });
    assert.deepEqual(containerd.pinnedNames(), [DIGEST_API]);
  });
});
