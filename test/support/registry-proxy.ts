import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback proxy in front of a test registry that misbehaves on purpose: it can answer the first
// requests of the container runtime with 503, and hold each runtime request a while so pulls in flight
// overlap and can be counted. Only requests whose User-Agent names containerd are affected; the agent's
// own manifest reads pass straight through.

export interface RegistryProxyOptions {
  /** The registry behind, e.g. `http://127.0.0.1:5000`. */
  target: string;
  /**
   * Fail this many pull attempts of the runtime: every manifest request is answered 503 until then.
   * Requests less than 150 ms after the last refused one belong to the same attempt (containerd falls
   * back from HEAD to GET at once); retries come later, after a backoff.
   */
  failPulls?: number;
  /** Hold every runtime manifest request this long before forwarding it. */
  holdMs?: number;
}

export interface RunningRegistryProxy {
  /** `127.0.0.1:<port>`: the registry host images name when pulled through the proxy. */
  host: string;
  url: string;
  /** Pull attempts refused so far. */
  readonly failed: number;
  /** The most runtime manifest requests that were in flight at once. */
  readonly maxInFlight: number;
  /** Runtime manifest requests seen. */
  readonly manifestRequests: number;
  stop(): Promise<void>;
}

const ATTEMPT_GAP_MS = 150;

function fromRuntime(request: IncomingMessage): boolean {
  return /containerd/i.test(request.headers['user-agent'] ?? '');
}

export async function startRegistryProxy(
  options: RegistryProxyOptions,
): Promise<RunningRegistryProxy> {
  const target = new URL(options.target);
  let failed = 0;
  let lastRefusal = Number.NEGATIVE_INFINITY;
  let inFlight = 0;
  let maxInFlight = 0;
  let manifestRequests = 0;
  const server = createServer(async (request, response) => {
    const manifest = fromRuntime(request) && /\/manifests\//.test(request.url ?? '');
    if (manifest) {
      manifestRequests += 1;
      const now = performance.now();
      const sameAttempt = now - lastRefusal < ATTEMPT_GAP_MS;
      if (sameAttempt || failed < (options.failPulls ?? 0)) {
        if (!sameAttempt) failed += 1;
        lastRefusal = now;
        response.writeHead(503, { 'content-type': 'text/plain' });
        response.end('registry overloaded');
        return;
      }
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, options.holdMs ?? 0));
    }
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: target.host },
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
        answer.once('end', () => {
          if (manifest) inFlight -= 1;
        });
      },
    );
    upstream.once('error', () => {
      if (manifest) inFlight -= 1;
      response.destroy();
    });
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    get failed() {
      return failed;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get manifestRequests() {
      return manifestRequests;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
