import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseGoDuration } from '#shared/kubelet/go-duration.ts';
import { CACHE_KEY_TYPES } from './protocol.ts';

// The node binary's configuration (`--config` or PULLWARDEN_NODE_CONFIG, YAML or JSON): which registries
// the credential provider serves, from which source, and how it caches. Anything not listed gets no
// credentials, so a wide matchImages in the kubelet config cannot leak a token to another host.

const seconds = z.string().transform((text, context) => {
  try {
    return Number(parseGoDuration(text)) / 1e9;
  } catch (error) {
    context.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const ecrRegistry = z.strictObject({
  source: z.literal('ecr'),
  /** Only these accounts / regions (default: every ECR registry host, and ECR Public). */
  accounts: z.array(z.string().regex(/^\d{12}$/, 'must be a 12-digit account id')).optional(),
  regions: z.array(z.string().min(1)).optional(),
  public: z.boolean().default(true),
  /** API endpoint override: a VPC endpoint URL. */
  endpoint: z.url().optional(),
  stsEndpoint: z.url().optional(),
  serviceAccount: z
    .strictObject({
      /** Service account annotations naming the role to assume with the pod's token, first found wins. */
      roleAnnotations: z
        .array(z.string().min(1))
        .default(['eks.amazonaws.com/ecr-role-arn', 'eks.amazonaws.com/role-arn']),
      /** A role per registry account, used when no annotation names one. */
      accountRoles: z
        .record(z.string().regex(/^\d{12}$/), z.string().startsWith('arn:'))
        .default({}),
      /** When assuming the role fails: `fail` the exec, or use the `node` credentials. */
      onFailure: z.enum(['fail', 'node']).default('fail'),
    })
    .prefault({}),
});

const dockerConfigRegistry = z.strictObject({
  source: z.literal('docker-config'),
  /** Registries served, in the kubelet's matchImages syntax. */
  hosts: z.array(z.string().min(1)).min(1),
  /** A docker `config.json`; its `auths` keys are matched with the kubelet's keyring rules. */
  path: z.string().min(1),
});

export const nodeConfigSchema = z.strictObject({
  apiVersion: z.literal('pullwarden.dev/v1'),
  kind: z.literal('NodeConfig'),
  credentialProvider: z.strictObject({
    cacheKeyType: z.enum(CACHE_KEY_TYPES).default('Registry'),
    cacheDirectory: z.string().min(1).default('/var/lib/pullwarden/credentials'),
    maxCacheDuration: seconds.default(6 * 3600),
    safetyMargin: seconds.default(300),
    refreshBefore: seconds.default(3600),
    requestTimeout: seconds.default(10),
    registries: z.array(z.discriminatedUnion('source', [ecrRegistry, dockerConfigRegistry])).min(1),
    /** Mirrors and pull-through caches: pulls from `host` use the credentials of `registry`. */
    mirrors: z
      .array(z.strictObject({ host: z.string().min(1), registry: z.string().min(1) }))
      .default([]),
  }),
});

export type NodeConfig = z.infer<typeof nodeConfigSchema>;
export type RegistrySettings = NodeConfig['credentialProvider']['registries'][number];
export type EcrSettings = Extract<RegistrySettings, { source: 'ecr' }>;

export class NodeConfigError extends Error {
  override readonly name = 'NodeConfigError';
}

export async function parseNodeConfig(text: string, source: string): Promise<NodeConfig> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // YAML costs a module load on every exec; JSON (what the install script writes) does not.
    try {
      value = (await import('yaml')).parse(text);
    } catch (error) {
      throw new NodeConfigError(`${source}: not YAML or JSON: ${(error as Error).message}`);
    }
  }
  const parsed = nodeConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path
      .map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`))
      .join('')
      .replace(/^\./, '');
    throw new NodeConfigError(`${source}: ${path === '' ? '' : `${path}: `}${issue?.message}`);
  }
  return parsed.data;
}

export async function loadNodeConfig(path: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new NodeConfigError(
      `cannot read the node config ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  return parseNodeConfig(text, path);
}
