import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LocalStack, startLocalStack } from '#shared/local/stack.ts';
import { type RunningRegistry, startRegistry } from './registry.ts';

// The push path with real peers: the local stack serving `config`, and Debian's docker-registry (htpasswd
// auth) notifying its distribution webhook. What a test or benchmark of a push needs before it pushes.

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface PushPipelineOptions {
  /** pullwarden.yaml; its secrets are read from the environment (`secrets` are set there first). */
  config: string;
  secrets: Record<string, string>;
  username: string;
  password: string;
  /** The Authorization header value the registry sends with its notifications. */
  notifyAuthorization: string;
}

export interface PushPipeline {
  stack: LocalStack;
  registry: RunningRegistry;
  /** The stack's request and error lines, for a timeout's message. */
  logs: string[];
  stop(): Promise<void>;
}

export async function startPushPipeline(options: PushPipelineOptions): Promise<PushPipeline> {
  Object.assign(process.env, options.secrets, { POWERTOOLS_LOG_LEVEL: 'ERROR' });
  const scratch = await mkdtemp(join(tmpdir(), 'pullwarden-push-pipeline-'));
  const logs: string[] = [];
  await writeFile(join(scratch, 'pullwarden.yaml'), options.config);
  const stack = await startLocalStack({
    root,
    configFile: join(scratch, 'pullwarden.yaml'),
    port: 0,
    log: { info: (line) => logs.push(line), error: (line) => logs.push(`error: ${line}`) },
  });
  let registry: RunningRegistry;
  try {
    registry = await startRegistry({
      username: options.username,
      password: options.password,
      notifications: {
        url: `${stack.url}/webhooks/distribution`,
        headers: { Authorization: [options.notifyAuthorization] },
      },
    });
  } catch (error) {
    await stack.stop();
    await rm(scratch, { recursive: true, force: true });
    throw error;
  }
  return {
    stack,
    registry,
    logs,
    async stop() {
      await registry.stop();
      await stack.stop();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
