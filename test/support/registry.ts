import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { runProcess } from './process.ts';

// A real CNCF Distribution registry (Debian package docker-registry, 2.8.x) as a child process, and
// an OCI image (or a multi-platform OCI image index) pushed to it with skopeo, so integration tests see
// the registry's own notifications and manifests.

export interface RegistryOptions {
  username: string;
  password: string;
  notifications?: { url: string; headers: Record<string, string[]> };
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>`, the registry host as it appears in image references. */
  host: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  stop(): Promise<void>;
}

export interface PushOptions {
  registryHost: string;
  repository: string;
  tag: string;
  username: string;
  password: string;
  /** Content of the single layer file; different seeds give different digests. Defaults to `repository:tag`. */
  seed?: string;
  /**
   * Instead: this many bytes of random content, in uncompressed tar layers of at most 64 MiB (random
   * bytes do not compress, and gzipping hundreds of megabytes would only slow the push down).
   */
  layerBytes?: number;
}

export interface IndexPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PushIndexOptions extends PushOptions {
  /** One image per platform; defaults to linux/amd64 and linux/arm64. */
  platforms?: IndexPlatform[];
}

export interface PushedIndex {
  /** The index digest. */
  digest: string;
  /** The platform manifests, in index order. */
  manifests: { digest: string; platform: IndexPlatform }[];
}

const REGISTRY_BINARY = 'docker-registry';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
const TAR_LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
const DEFAULT_PLATFORMS: IndexPlatform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'pullwarden-registry-'));
  try {
    const htpasswdPath = join(dir, 'htpasswd');
    await writeFile(htpasswdPath, await bcryptEntry(options.username, options.password), {
      mode: 0o600,
    });
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, stringify(registryConfig(dir, htpasswdPath, options)));
    return await launch(dir, configPath);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function registryConfig(dir: string, htpasswdPath: string, options: RegistryOptions) {
  return {
    version: '0.1',
    // `listening on` is logged at info level; it is how the port chosen for `:0` is learned.
    log: { level: 'info', formatter: 'text', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    // Port 0: the kernel picks a free port, so there is no race with a probe-and-close port.
    http: { addr: '127.0.0.1:0', secret: randomBytes(16).toString('hex') },
    auth: { htpasswd: { realm: 'pullwarden-test', path: htpasswdPath } },
    ...(options.notifications === undefined
      ? {}
      : {
          notifications: {
            endpoints: [
              {
                name: 'pullwarden',
                url: options.notifications.url,
                headers: options.notifications.headers,
                // Short timeout and backoff so a test sees the event (or its retry) quickly.
                timeout: '2s',
                threshold: 1,
                backoff: '200ms',
                // Blob pushes carry application/octet-stream; only manifest events matter here.
                ignoredmediatypes: ['application/octet-stream'],
              },
            ],
          },
        }),
  };
}

async function launch(dir: string, configPath: string): Promise<RunningRegistry> {
  // REGISTRY_* variables override the config file; keep the caller's environment out of it.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_')),
  );
  const child = spawn(REGISTRY_BINARY, ['serve', configPath], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);

  const stop = async () => {
    await terminate(child);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const host = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`docker-registry did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      const done = (fn: () => void) => {
        clearTimeout(timer);
        child.stderr.off('data', watch);
        child.off('error', failed);
        child.off('exit', exited);
        fn();
      };
      const watch = () => {
        const match = /listening on (127\.0\.0\.1:\d+)/.exec(output);
        if (match?.[1] !== undefined) done(() => resolve(match[1] as string));
      };
      const failed = (error: NodeJS.ErrnoException) =>
        done(() => reject(error.code === 'ENOENT' ? missing(REGISTRY_BINARY) : error));
      const exited = (code: number | null, signal: string | null) =>
        done(() => reject(new Error(`docker-registry exited early (${signal ?? code})`)));
      child.stderr.on('data', watch);
      child.once('error', failed);
      child.once('exit', exited);
    });
    const url = `http://${host}`;
    await waitForUnauthorized(url);
    return { host, url, stop };
  } catch (error) {
    await stop();
    const reason = error instanceof Error ? error.message : String(error);
    const log = output === '' ? '' : `\n--- docker-registry output ---\n${output}`;
    throw new Error(`${reason}${log}`, { cause: error });
  }
}

// The registry answers 401 on /v2/ once the htpasswd access controller is serving requests.
async function waitForUnauthorized(url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = 'no response';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/v2/`);
      await response.body?.cancel();
      if (response.status === 401) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`GET ${url}/v2/ never answered 401 (last: ${last})`);
}

export async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

// Distribution only accepts bcrypt entries; htpasswd -i reads the password from stdin so it never
// shows on a command line.
async function bcryptEntry(username: string, password: string): Promise<string> {
  const { stdout } = await run('htpasswd', ['-niB', username], { input: password });
  const entry = stdout.trim();
  if (!entry.startsWith(`${username}:$2`))
    throw new Error(`htpasswd gave no bcrypt entry: ${entry}`);
  return `${entry}\n`;
}

export async function pushOciImage(options: PushOptions): Promise<{ digest: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pullwarden-push-'));
  try {
    const layout = join(dir, 'layout');
    await writeOciLayout(
      layout,
      options.tag,
      options.seed ?? `${options.repository}:${options.tag}`,
      options.layerBytes,
    );
    return { digest: await skopeoCopy(dir, layout, options, []) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pushes an OCI image index with one single-layer image per platform (`skopeo copy --all`). */
export async function pushOciIndex(options: PushIndexOptions): Promise<PushedIndex> {
  const dir = await mkdtemp(join(tmpdir(), 'pullwarden-push-'));
  try {
    const layout = join(dir, 'layout');
    const written = await writeOciIndexLayout(
      layout,
      options.tag,
      options.seed ?? `${options.repository}:${options.tag}`,
      options.platforms ?? DEFAULT_PLATFORMS,
    );
    const digest = await skopeoCopy(dir, layout, options, ['--all']);
    if (digest !== written.digest) {
      throw new Error(`skopeo pushed ${digest}, not the layout's index ${written.digest}`);
    }
    return written;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The manifest the registry serves for `repository:tag`, byte for byte (`skopeo inspect --raw`). */
export async function inspectRawManifest(options: Omit<PushOptions, 'seed'>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pullwarden-inspect-'));
  try {
    const authfile = await writeAuthfile(dir, options);
    const { stdout } = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--authfile',
      authfile,
      `docker://${options.registryHost}/${options.repository}:${options.tag}`,
    ]);
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeAuthfile(
  dir: string,
  options: Pick<PushOptions, 'registryHost' | 'username' | 'password'>,
): Promise<string> {
  const authfile = join(dir, 'auth.json');
  const auth = Buffer.from(`${options.username}:${options.password}`).toString('base64');
  await writeFile(authfile, JSON.stringify({ auths: { [options.registryHost]: { auth } } }), {
    mode: 0o600,
  });
  await chmod(authfile, 0o600);
  return authfile;
}

/** Copies the layout's `tag` to the registry; returns the digest skopeo reports for what it pushed. */
async function skopeoCopy(
  dir: string,
  layout: string,
  options: PushOptions,
  extraArgs: string[],
): Promise<string> {
  const authfile = await writeAuthfile(dir, options);
  const digestfile = join(dir, 'digest');
  await run('skopeo', [
    // No dependence on /etc/containers/policy.json, which may be absent for non-root users.
    '--insecure-policy',
    'copy',
    '--quiet',
    ...extraArgs,
    '--dest-tls-verify=false',
    '--dest-authfile',
    authfile,
    '--digestfile',
    digestfile,
    `oci:${layout}:${options.tag}`,
    `docker://${options.registryHost}/${options.repository}:${options.tag}`,
  ]);
  const digest = (await readFile(digestfile, 'utf8')).trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`skopeo wrote no digest: ${digest}`);
  return digest;
}

type Descriptor = { mediaType: string; digest: string; size: number };
type PutBlob = (mediaType: string, data: Buffer) => Promise<Descriptor>;

/** Writes an OCI image layout with one single-file layer; returns the manifest digest. */
export async function writeOciLayout(
  dir: string,
  tag: string,
  seed: string,
  layerBytes?: number,
): Promise<string> {
  const putBlob = await layoutBlobs(dir);
  const manifest = await putImage(
    putBlob,
    seed,
    { os: 'linux', architecture: 'amd64' },
    layerBytes,
  );
  await writeLayoutIndex(dir, manifest, tag);
  return manifest.digest;
}

/**
 * Writes an OCI image layout whose `tag` names an image index with one single-file-layer image per
 * platform (each layer's content is the seed and the platform, so every child differs).
 */
export async function writeOciIndexLayout(
  dir: string,
  tag: string,
  seed: string,
  platforms: IndexPlatform[],
): Promise<PushedIndex> {
  const putBlob = await layoutBlobs(dir);
  const manifests: PushedIndex['manifests'] = [];
  const entries: (Descriptor & { platform: IndexPlatform })[] = [];
  for (const platform of platforms) {
    const name = [platform.os, platform.architecture, platform.variant ?? ''].join('/');
    const manifest = await putImage(putBlob, `${seed} ${name}`, platform);
    manifests.push({ digest: manifest.digest, platform });
    entries.push({ ...manifest, platform });
  }
  const index = await putBlob(
    INDEX_TYPE,
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_TYPE, manifests: entries })),
  );
  await writeLayoutIndex(dir, index, tag);
  return { digest: index.digest, manifests };
}

async function layoutBlobs(dir: string): Promise<PutBlob> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  return async (mediaType, data) => {
    const hex = sha256(data);
    await writeFile(join(blobs, hex), data);
    return { mediaType, digest: `sha256:${hex}`, size: data.length };
  };
}

const RANDOM_LAYER_BYTES = 64 * 1024 * 1024;

async function putImage(
  putBlob: PutBlob,
  seed: string,
  platform: IndexPlatform,
  layerBytes?: number,
): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  if (layerBytes === undefined) {
    const tar = tarOneFile('seed.txt', Buffer.from(`${seed}\n`, 'utf8'));
    layers.push(await putBlob(LAYER_TYPE, gzipSync(tar)));
    diffIds.push(`sha256:${sha256(tar)}`);
  } else {
    for (let offset = 0, index = 0; offset < layerBytes; offset += RANDOM_LAYER_BYTES, index += 1) {
      const size = Math.min(RANDOM_LAYER_BYTES, layerBytes - offset);
      const tar = tarOneFile(`data-${index}.bin`, randomBytes(size));
      layers.push(await putBlob(TAR_LAYER_TYPE, tar));
      diffIds.push(`sha256:${sha256(tar)}`);
    }
  }
  const config = await putBlob(
    CONFIG_TYPE,
    Buffer.from(
      JSON.stringify({
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant === undefined ? {} : { variant: platform.variant }),
        config: {},
        rootfs: { type: 'layers', diff_ids: diffIds },
      }),
    ),
  );
  return putBlob(
    MANIFEST_TYPE,
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config, layers })),
  );
}

/** The layout's index.json, naming `descriptor` as `tag`. */
async function writeLayoutIndex(dir: string, descriptor: Descriptor, tag: string): Promise<void> {
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: INDEX_TYPE,
      manifests: [{ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
}

// A ustar archive by hand: one 512-byte header, the data padded to 512, then two zero blocks.
function tarOneFile(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => {
    header.write(value, offset, length, 'ascii');
  };
  const octal = (offset: number, length: number, value: number) =>
    field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, data.length);
  octal(136, 12, 0);
  field(148, 8, ' '.repeat(8)); // checksum is computed with its own field as spaces
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const PACKAGES: Record<string, string> = {
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
  skopeo: 'skopeo',
  containerd: 'containerd',
  ctr: 'containerd',
};

/** The error for a peer that is not installed, naming the Debian package that provides it. */
export function missing(command: string): Error {
  const pkg = PACKAGES[command] ?? command;
  return new Error(
    `${command} is not installed: install the Debian package ${pkg} (apt-get install -y --no-install-recommends ${pkg})`,
  );
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export async function run(
  command: string,
  args: string[],
  options: { input?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  const result = await runProcess(command, args, { stdin: options.input ?? '' }).catch(
    (error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? missing(command) : error;
    },
  );
  if (result.code !== 0) {
    throw new Error(`${command} failed (${result.signal ?? result.code}):\n${result.stderr}`);
  }
  return result;
}
