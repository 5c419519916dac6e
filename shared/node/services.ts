import type { NodeConfig } from '#shared/credentials/node-config.ts';
import { CriImageRuntime, type ImageRuntime } from '#shared/cri/client.ts';
import { ContainerdImages, type PinOwner } from '#shared/cri/containerd-images.ts';
import { detectRuntimeEndpoint } from '#shared/cri/endpoint.ts';
import { imageFootprint, nodePlatform } from '#shared/registry/image-footprint.ts';
import type { AgentDependencies } from './agent.ts';
import { FileAgentState } from './agent-state.ts';
import type { NodeApi } from './api-client.ts';
import { measureImageFilesystem } from './disk.ts';
import { type PullDependencies, pullImages } from './pull.ts';
import { nodeCredentials } from './registry-credentials.ts';

// The real adapters behind `pullwarden-node pull` and `agent`: the CRI on the runtime's socket,
// containerd's image service for pins, the node config's credential sources, the registry for image
// sizes, and statfs for free space.

export class RuntimeUnreachableError extends Error {
  override readonly name = 'RuntimeUnreachableError';
}

export interface NodeServices {
  runtime: ImageRuntime;
  /** The runtime as CRI Version names it, e.g. `containerd 1.7.27`. */
  runtimeName: string;
  pull: PullDependencies;
  /** containerd's image service; undefined on other runtimes. */
  containerd?: ContainerdImages;
  close(): void;
}

// containerd reports the pin label to the kubelet from 1.7 on; earlier versions keep the label but the
// kubelet's GC does not see it.
function pinsReachKubelet(runtimeName: string, runtimeVersion: string): boolean {
  if (runtimeName !== 'containerd') return false;
  const match = /^v?(\d+)\.(\d+)/.exec(runtimeVersion);
  if (match === null) return true;
  return Number(match[1]) > 1 || (Number(match[1]) === 1 && Number(match[2]) >= 7);
}

export async function openNodeServices(
  config: NodeConfig,
  options: {
    /** Whose pins these are: the agent releases its own when images leave the warm set. */
    pinOwner: PinOwner;
    env: Readonly<Record<string, string | undefined>>;
    log(line: string): void;
  },
): Promise<NodeServices> {
  const settings = config.prePull;
  const endpoint = await detectRuntimeEndpoint(settings.runtimeEndpoint, options.env);
  const runtime = new CriImageRuntime(endpoint);
  let version: Awaited<ReturnType<ImageRuntime['version']>>;
  try {
    version = await runtime.version();
  } catch (error) {
    runtime.close();
    throw new RuntimeUnreachableError(
      `the container runtime at ${endpoint} does not answer: ${(error as Error).message}`,
    );
  }
  // containerd's image service is opened whether or not pinning is on: the agent releases the pins it
  // set earlier even after pinning was turned off.
  const pins =
    version.runtimeName === 'containerd'
      ? new ContainerdImages(endpoint, { owner: options.pinOwner })
      : undefined;
  if (settings.pin && pins === undefined) {
    options.log(`pinning needs containerd; ${version.runtimeName} images are pulled unpinned`);
  } else if (settings.pin && !pinsReachKubelet(version.runtimeName, version.runtimeVersion)) {
    options.log(
      `containerd ${version.runtimeVersion} keeps the pin label, but the kubelet's image GC honours it from containerd 1.7 on`,
    );
  }
  const endpoints = new Map(settings.registryEndpoints.map((entry) => [entry.host, entry.url]));
  const platform = nodePlatform();
  // Where the runtime keeps images does not change while it runs: asked once, measured every time.
  let mountpoints: string[] | undefined;
  const filesystems = async () => {
    if (mountpoints !== undefined) return mountpoints;
    try {
      mountpoints = (await runtime.imageFilesystems()).map((filesystem) => filesystem.mountpoint);
      return mountpoints;
    } catch {
      return [];
    }
  };
  const pull: PullDependencies = {
    runtime,
    ...(pins === undefined ? {} : { pins }),
    credentials: nodeCredentials(config, options.log),
    async footprint(image, credential) {
      const endpoint = endpoints.get(image.registry);
      const footprint = await imageFootprint({
        registry: image.registry,
        repository: image.repository,
        reference:
          image.digest === undefined ? { tag: image.tag ?? 'latest' } : { digest: image.digest },
        platform,
        ...(credential === undefined ? {} : { credentials: credential }),
        ...(endpoint === undefined ? {} : { endpoint }),
      });
      return {
        compressedBytes: footprint.compressedBytes,
        digest: footprint.digest,
      };
    },
    async space() {
      return measureImageFilesystem([
        ...(settings.disk.path === undefined ? [] : [settings.disk.path]),
        ...(await filesystems()),
        '/',
      ]);
    },
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    log: options.log,
  };
  return {
    runtime,
    runtimeName: `${version.runtimeName} ${version.runtimeVersion}`.trim(),
    pull,
    ...(pins === undefined ? {} : { containerd: pins }),
    close() {
      runtime.close();
      pins?.close();
    },
  };
}

/**
 * What the agent works with on this node: the opened services, the pulls as the node config sets
 * them, the state file it names, and pins and tags where containerd and the config allow them.
 */
export function agentDependencies(
  config: NodeConfig,
  services: NodeServices,
  wiring: { api: NodeApi; log(line: string): void },
): AgentDependencies {
  const settings = config.prePull;
  return {
    api: wiring.api,
    runtime: services.runtime,
    ...(services.pull.pins === undefined ? {} : { pins: services.pull.pins }),
    pin: settings.pin,
    ...(services.containerd !== undefined && settings.agent.tagImages
      ? { tags: services.containerd }
      : {}),
    pull: (images, onResult) => pullImages(images, settings, services.pull, onResult),
    state: new FileAgentState(settings.agent.stateFile, wiring.log),
    space: services.pull.space,
    now: () => Date.now(),
    log: wiring.log,
  };
}
