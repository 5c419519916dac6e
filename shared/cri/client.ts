import * as grpc from '@grpc/grpc-js';
import { type Codec, criMethod } from './proto.ts';

// A client for the CRI image service over the runtime's unix socket: what the kubelet itself calls to
// pull, inspect and list images. Every call carries a deadline, so a stuck runtime fails the call
// instead of hanging the agent.

export interface RuntimeVersion {
  runtimeName: string;
  runtimeVersion: string;
  apiVersion: string;
}

export interface RuntimeImage {
  /** The image id: the config digest, e.g. `sha256:…`. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Size the runtime reports (unpacked, for containerd). */
  size: number;
  /** The kubelet's image GC never removes a pinned image. */
  pinned: boolean;
}

export interface ImageFilesystem {
  mountpoint: string;
  usedBytes: number;
}

/** CRI AuthConfig; only the fields a credential source fills are set. */
export interface RuntimeAuth {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

/** The image service as the pre-pull code uses it; tests may substitute their own. */
export interface ImageRuntime {
  readonly endpoint: string;
  version(): Promise<RuntimeVersion>;
  /** Pulls `image` and returns the runtime's reference for it (the image id). */
  pullImage(image: string, auth: RuntimeAuth | undefined, timeoutMs: number): Promise<string>;
  /** The image when the runtime holds it, undefined when not. */
  imageStatus(image: string): Promise<RuntimeImage | undefined>;
  listImages(): Promise<RuntimeImage[]>;
  imageFilesystems(): Promise<ImageFilesystem[]>;
  removeImage(image: string): Promise<void>;
  close(): void;
}

/** A runtime call that failed; `code` is the gRPC status name (UNAVAILABLE, NOT_FOUND, ...). */
export class RuntimeCallError extends Error {
  override readonly name = 'RuntimeCallError';
  readonly code: string;
  readonly method: string;

  constructor(method: string, code: string, detail: string) {
    // grpc-js appends an empty "Resolution note" to connection failures.
    const text = detail.replace(/\.?\s*Resolution note:\s*$/, '');
    super(`${method}: ${code}${text === '' ? '' : `: ${text}`}`);
    this.code = code;
    this.method = method;
  }
}

// ListImages on a busy node can exceed gRPC's 4 MiB default; the kubelet allows 16 MiB.
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

interface WireImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: number;
  pinned: boolean;
}

interface WireFilesystem {
  fs_id?: { mountpoint: string } | null;
  used_bytes?: { value: number } | null;
}

const VERSION = criMethod<{ version: string }, Record<string, string>>('RuntimeService', 'Version');
const PULL = criMethod<
  { image: { image: string }; auth?: Record<string, string> },
  { image_ref: string }
>('ImageService', 'PullImage');
const STATUS = criMethod<{ image: { image: string } }, { image?: WireImage | null }>(
  'ImageService',
  'ImageStatus',
);
const LIST = criMethod<Record<string, never>, { images: WireImage[] }>(
  'ImageService',
  'ListImages',
);
const FS_INFO = criMethod<Record<string, never>, { image_filesystems: WireFilesystem[] }>(
  'ImageService',
  'ImageFsInfo',
);
const REMOVE = criMethod<{ image: { image: string } }, Record<string, never>>(
  'ImageService',
  'RemoveImage',
);

/** A unary gRPC channel to one unix socket, with a deadline on every call. */
export class UnixSocketChannel {
  readonly endpoint: string;
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;

  constructor(endpoint: string, timeoutMs: number) {
    this.endpoint = endpoint;
    this.#timeoutMs = timeoutMs;
    this.#client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
  }

  call<Request, Response>(
    method: { path: string; request: Codec<Request>; response: Codec<Response> },
    request: Request,
    options: { timeoutMs?: number; metadata?: Record<string, string> } = {},
  ): Promise<Response> {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
    const name = method.path.slice(method.path.lastIndexOf('/') + 1);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        method.path,
        (value: Request) => method.request.serialize(value),
        (bytes: Buffer) => method.response.deserialize(bytes),
        request,
        metadata,
        { deadline: Date.now() + (options.timeoutMs ?? this.#timeoutMs) },
        (error, response) => {
          if (error !== null) {
            reject(
              new RuntimeCallError(
                name,
                grpc.status[error.code] ?? String(error.code),
                error.details,
              ),
            );
          } else if (response === undefined) {
            reject(new RuntimeCallError(name, 'INTERNAL', 'the runtime sent no response'));
          } else {
            resolve(response);
          }
        },
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

export class CriImageRuntime implements ImageRuntime {
  readonly endpoint: string;
  readonly #channel: UnixSocketChannel;

  /** `endpoint`: `unix:///path/to.sock`; `timeoutMs`: every call but PullImage, which gets its own. */
  constructor(endpoint: string, timeoutMs = 30_000) {
    this.endpoint = endpoint;
    this.#channel = new UnixSocketChannel(endpoint, timeoutMs);
  }

  async version(): Promise<RuntimeVersion> {
    const answer = await this.#channel.call(VERSION, { version: 'v1' });
    return {
      runtimeName: answer.runtime_name ?? '',
      runtimeVersion: answer.runtime_version ?? '',
      apiVersion: answer.runtime_api_version ?? '',
    };
  }

  async pullImage(image: string, auth: RuntimeAuth | undefined, timeoutMs: number) {
    const wireAuth =
      auth === undefined
        ? undefined
        : {
            ...(auth.username === undefined ? {} : { username: auth.username }),
            ...(auth.password === undefined ? {} : { password: auth.password }),
            ...(auth.identityToken === undefined ? {} : { identity_token: auth.identityToken }),
            ...(auth.registryToken === undefined ? {} : { registry_token: auth.registryToken }),
          };
    const answer = await this.#channel.call(
      PULL,
      { image: { image }, ...(wireAuth === undefined ? {} : { auth: wireAuth }) },
      { timeoutMs },
    );
    return answer.image_ref;
  }

  async imageStatus(image: string): Promise<RuntimeImage | undefined> {
    const answer = await this.#channel.call(STATUS, { image: { image } });
    // The CRI answers a missing image with an empty status, not an error.
    return answer.image === null || answer.image === undefined || answer.image.id === ''
      ? undefined
      : imageOf(answer.image);
  }

  async listImages(): Promise<RuntimeImage[]> {
    return (await this.#channel.call(LIST, {})).images.map(imageOf);
  }

  async imageFilesystems(): Promise<ImageFilesystem[]> {
    const answer = await this.#channel.call(FS_INFO, {});
    return answer.image_filesystems.map((filesystem) => ({
      mountpoint: filesystem.fs_id?.mountpoint ?? '',
      usedBytes: filesystem.used_bytes?.value ?? 0,
    }));
  }

  async removeImage(image: string): Promise<void> {
    await this.#channel.call(REMOVE, { image: { image } });
  }

  close(): void {
    this.#channel.close();
  }
}

function imageOf(image: WireImage): RuntimeImage {
  return {
    id: image.id,
    repoTags: image.repo_tags,
    repoDigests: image.repo_digests,
    size: image.size,
    pinned: image.pinned,
  };
}
