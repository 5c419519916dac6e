import { stat } from 'node:fs/promises';

// Where the container runtime listens. The order is the one crictl and the kubelet's documentation
// use: containerd first, then CRI-O, then the k3s and cri-dockerd locations.

export const WELL_KNOWN_RUNTIME_SOCKETS = [
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
  '/run/crio/crio.sock',
  '/var/run/crio/crio.sock',
  '/run/k3s/containerd/containerd.sock',
  '/var/run/cri-dockerd.sock',
] as const;

export class RuntimeEndpointError extends Error {
  override readonly name = 'RuntimeEndpointError';
}

/** `unix:///path`, `unix:/path` or `/path` → `unix:///path`; anything else is refused. */
export function normalizeRuntimeEndpoint(text: string): string {
  const path = text.startsWith('unix://')
    ? text.slice('unix://'.length)
    : text.startsWith('unix:')
      ? text.slice('unix:'.length)
      : text;
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new RuntimeEndpointError(
      `runtime endpoint ${JSON.stringify(text)} is not a unix socket path (unix:///run/containerd/containerd.sock)`,
    );
  }
  return `unix://${path}`;
}

export function socketPath(endpoint: string): string {
  return normalizeRuntimeEndpoint(endpoint).slice('unix://'.length);
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

/**
 * The endpoint to use: the one given (flag, config), else `CONTAINER_RUNTIME_ENDPOINT` as crictl reads
 * it, else the first well-known socket that exists.
 */
export async function detectRuntimeEndpoint(
  given: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  exists: (path: string) => Promise<boolean> = isSocket,
): Promise<string> {
  const chosen = given ?? (env.CONTAINER_RUNTIME_ENDPOINT || undefined);
  if (chosen !== undefined) return normalizeRuntimeEndpoint(chosen);
  for (const path of WELL_KNOWN_RUNTIME_SOCKETS) {
    if (await exists(path)) return `unix://${path}`;
  }
  throw new RuntimeEndpointError(
    `no container runtime socket found (looked at ${WELL_KNOWN_RUNTIME_SOCKETS.join(', ')}); name one with --runtime-endpoint or prePull.runtimeEndpoint`,
  );
}
