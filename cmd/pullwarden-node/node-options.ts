import { type CommandIo, UsageError } from '#cmd/cli/io.ts';
import {
  loadNodeConfig,
  type NodeConfig,
  NodeConfigError,
} from '#shared/credentials/node-config.ts';
import { RuntimeCallError } from '#shared/cri/client.ts';
import { PinUnsupportedError } from '#shared/cri/containerd-images.ts';
import { RuntimeEndpointError } from '#shared/cri/endpoint.ts';
import { parseGoDuration } from '#shared/kubelet/go-duration.ts';
import { NodeApiError } from '#shared/node/api-client.ts';
import { RuntimeUnreachableError } from '#shared/node/services.ts';

// Options `pull`, `unpin` and `agent` share: where the node config is, which runtime to talk to, and
// command-line overrides of the config's prePull settings.

export const DEFAULT_NODE_CONFIG = '/etc/pullwarden/node.json';

export const RUNTIME_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'runtime-endpoint': { type: 'string' },
  concurrency: { type: 'string' },
  timeout: { type: 'string' },
  attempts: { type: 'string' },
  pin: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const RUNTIME_OPTIONS_USAGE = `  -c, --config <file>           node config (default: $PULLWARDEN_NODE_CONFIG, else ${DEFAULT_NODE_CONFIG})
      --runtime-endpoint <url>  CRI socket, e.g. unix:///run/containerd/containerd.sock (default:
                                prePull.runtimeEndpoint, $CONTAINER_RUNTIME_ENDPOINT, else the first of the
                                usual containerd and CRI-O sockets that exists)
      --concurrency <n>         pulls in flight at once (default: prePull.concurrency, 2)
      --timeout <duration>      time one pull attempt may take, e.g. 15m (default: prePull.pullTimeout)
      --attempts <n>            attempts per image; only failures that can pass are retried (default 4)
      --pin                     label pulled images io.cri-containerd.pinned=pinned so the kubelet's
                                image GC keeps them (containerd; default: prePull.pin)
  -h, --help                    show this help`;

interface RuntimeOptionValues {
  config?: string;
  'runtime-endpoint'?: string;
  concurrency?: string;
  timeout?: string;
  attempts?: string;
  pin?: boolean;
}

function wholeNumber(text: string, option: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`--${option} must be a whole number from 1 to ${max} (got "${text}")`);
  }
  return Number(text);
}

export function durationSeconds(text: string, option: string): number {
  let nanoseconds: bigint;
  try {
    nanoseconds = parseGoDuration(text);
  } catch {
    throw new UsageError(`--${option} must be a duration such as 30s, 15m or 1h (got "${text}")`);
  }
  if (nanoseconds < 1_000_000_000n) throw new UsageError(`--${option} must be at least 1s`);
  return Number(nanoseconds) / 1e9;
}

/** The node config with the command line's overrides applied. */
export async function nodeConfigWithOptions(
  values: RuntimeOptionValues,
  env: Readonly<Record<string, string | undefined>>,
): Promise<NodeConfig> {
  // Checked before the config is read, so a bad option is a usage error whatever the config says.
  const concurrency =
    values.concurrency === undefined
      ? undefined
      : wholeNumber(values.concurrency, 'concurrency', 32);
  const attempts =
    values.attempts === undefined ? undefined : wholeNumber(values.attempts, 'attempts', 10);
  const timeout =
    values.timeout === undefined ? undefined : durationSeconds(values.timeout, 'timeout');
  const config = await loadNodeConfig(
    values.config ?? (env.PULLWARDEN_NODE_CONFIG?.trim() || DEFAULT_NODE_CONFIG),
  );
  const prePull = config.prePull;
  return {
    ...config,
    prePull: {
      ...prePull,
      ...(values['runtime-endpoint'] === undefined
        ? {}
        : { runtimeEndpoint: values['runtime-endpoint'] }),
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(attempts === undefined ? {} : { attempts }),
      ...(timeout === undefined ? {} : { pullTimeout: timeout }),
      ...(values.pin === true ? { pin: true } : {}),
    },
  };
}

/**
 * Runs a node command: a bad config or runtime endpoint is one line and exit 2; an unusable runtime,
 * API or file (the state, the lock) one line and exit 1; usage errors go to the program's handler.
 */
export async function runNodeCommand(
  io: CommandIo,
  command: string,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof NodeConfigError || error instanceof RuntimeEndpointError) {
      io.stderr.write(`pullwarden-node ${command}: ${error.message}\n`);
      return 2;
    }
    if (
      error instanceof RuntimeUnreachableError ||
      error instanceof NodeApiError ||
      error instanceof RuntimeCallError ||
      error instanceof PinUnsupportedError ||
      (error instanceof Error && (error as NodeJS.ErrnoException).syscall !== undefined)
    ) {
      io.stderr.write(`pullwarden-node ${command}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
