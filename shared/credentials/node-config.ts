import { parseGoDuration } from '#shared/kubelet/go-duration.ts';
import { NODE_GROUP_NAME } from '#shared/prepull/names.ts';
import { commonJsExports } from '#shared/runtime/commonjs.ts';
import { CACHE_KEY_TYPES, type CacheKeyType } from './protocol.ts';

// The node binary's configuration (`--config` or PULLWARDEN_NODE_CONFIG, YAML or JSON): which registries
// the credential provider serves, from which source, and how it caches. Anything not listed gets no
// credentials, so a wide matchImages in the kubelet config cannot leak a token to another host.
// Validated by hand rather than with a schema library: the kubelet runs this once per image pull, and
// loading one costs more than the whole cache-hit answer.

export interface EcrSettings {
  source: 'ecr';
  /** Only these accounts / regions (default: every ECR registry host). */
  accounts?: string[];
  regions?: string[];
  /** Also serve ECR Public (default true). */
  public: boolean;
  /** API endpoint override: a VPC endpoint URL. */
  endpoint?: string;
  stsEndpoint?: string;
  serviceAccount: {
    /** Service account annotations naming the role to assume with the pod's token, first found wins. */
    roleAnnotations: string[];
    /** A role per registry account, used when no annotation names one. */
    accountRoles: Record<string, string>;
    /** When assuming the role fails: `fail` the exec, or use the `node` credentials. */
    onFailure: 'fail' | 'node';
  };
}

export interface DockerConfigSettings {
  source: 'docker-config';
  /** Registries served, in the kubelet's matchImages syntax. */
  hosts: string[];
  /** A docker `config.json`; its `auths` keys are matched with the kubelet's keyring rules. */
  path: string;
}

export interface BrokeredSettings {
  source: 'brokered';
  /** Registries served, in the kubelet's matchImages syntax. */
  hosts: string[];
  /** The credentials table credential-refresh writes. */
  table: string;
  region: string;
  /** DynamoDB endpoint override (a VPC endpoint). */
  endpoint?: string;
}

export type RegistrySettings = EcrSettings | DockerConfigSettings | BrokeredSettings;

/** How `pullwarden-node pull` and `agent` pull through the container runtime. */
export interface PrePullSettings {
  /** `unix:///…`; detected from the usual containerd and CRI-O sockets when left out. */
  runtimeEndpoint?: string;
  /** Pulls in flight at once on this node. */
  concurrency: number;
  /** Seconds one pull attempt may take. */
  pullTimeout: number;
  /** Attempts per image, retrying only errors that can pass (network, rate limits, timeouts). */
  attempts: number;
  /** Seconds before the first retry; doubled each time, with jitter, at most 60 s. */
  backoff: number;
  /** Label pulled images `io.cri-containerd.pinned=pinned` (containerd only): image GC skips them. */
  pin: boolean;
  disk: {
    /** Keep at least this share of the image filesystem free after a pull. */
    minFreePercent: number;
    /** And at least this many bytes. */
    minFreeBytes: number;
    /** Unpacked size as a multiple of the compressed size the manifest declares. */
    expansionRatio: number;
    /** Where to measure free space; default: the runtime's image filesystem. */
    path?: string;
    /**
     * When the registry manifest cannot be read (the runtime may reach the registry through a mirror
     * or with credentials of its own): `pull` without the check, with a warning, or `refuse`.
     */
    onUnknownSize: 'pull' | 'refuse';
  };
  /** Base URLs for registries the manifest check reaches differently (plain HTTP, a mirror). */
  registryEndpoints: { host: string; url: string }[];
  agent: {
    /** The pullwarden API: the local stack's URL or the HTTP API's invoke URL. */
    server?: string;
    nodeGroup?: string;
    /** `iam`: SigV4 with the node's role; `token`: the node group's bearer token. */
    auth?: 'iam' | 'token';
    tokenFile?: string;
    /** Seconds between reconciles. */
    interval: number;
    stateFile: string;
    /** containerd: also name pulled images by the warm set's tags (default true). */
    tagImages: boolean;
  };
}

export interface NodeConfig {
  apiVersion: 'pullwarden.dev/v1';
  kind: 'NodeConfig';
  prePull: PrePullSettings;
  credentialProvider: {
    cacheKeyType: CacheKeyType;
    cacheDirectory: string;
    /** Durations in seconds (written as Go durations: 6h, 5m, 10s). */
    maxCacheDuration: number;
    /** How long the kubelet may keep credentials that do not expire (a docker config). */
    staticCacheDuration: number;
    safetyMargin: number;
    refreshBefore: number;
    requestTimeout: number;
    registries: RegistrySettings[];
    /** Mirrors and pull-through caches: pulls from `host` use the credentials of `registry`. */
    mirrors: { host: string; registry: string }[];
  };
}

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
      value = commonJsExports(await import('yaml')).parse(text);
    } catch (error) {
      throw new NodeConfigError(`${source}: not YAML or JSON: ${(error as Error).message}`);
    }
  }
  return readNodeConfig(value, source);
}

export async function loadNodeConfig(path: string): Promise<NodeConfig> {
  let text: string;
  try {
    // Read at every kubelet exec: node:fs through getBuiltinModule keeps fs/promises unloaded.
    text = process.getBuiltinModule('node:fs').readFileSync(path, 'utf8');
  } catch (error) {
    throw new NodeConfigError(
      `cannot read the node config ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  return parseNodeConfig(text, path);
}

type Fields = Record<string, unknown>;

/** Reads one config value at a time; the first problem stops with its field path. */
class ConfigReader {
  readonly source: string;

  constructor(source: string) {
    this.source = source;
  }

  fail(path: string, message: string): never {
    throw new NodeConfigError(`${this.source}: ${path === '' ? '' : `${path}: `}${message}`);
  }

  object(value: unknown, path: string, allowed: readonly string[]): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, 'must be an object');
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(path, `unknown field "${key}"`);
    }
    return value as Fields;
  }

  string(value: unknown, path: string, rule?: { pattern: RegExp; message: string }): string {
    if (typeof value !== 'string' || value === '') this.fail(path, 'must be a non-empty string');
    if (rule !== undefined && !rule.pattern.test(value)) this.fail(path, rule.message);
    return value;
  }

  optionalString(value: unknown, path: string, rule?: { pattern: RegExp; message: string }) {
    return value === undefined ? undefined : this.string(value, path, rule);
  }

  strings(value: unknown, path: string, rule?: { pattern: RegExp; message: string }): string[] {
    if (!Array.isArray(value)) this.fail(path, 'must be a list');
    return value.map((item, index) => this.string(item, `${path}[${index}]`, rule));
  }

  boolean(value: unknown, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') this.fail(path, 'must be true or false');
    return value;
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T)) this.fail(path, `must be one of ${allowed.join(', ')}`);
    return value as T;
  }

  number(
    value: unknown,
    path: string,
    range: { min: number; max: number; integer?: boolean },
    fallback: number,
  ): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(path, 'must be a number');
    if (range.integer === true && !Number.isInteger(value))
      this.fail(path, 'must be a whole number');
    if (value < range.min || value > range.max) {
      this.fail(path, `must be between ${range.min} and ${range.max}`);
    }
    return value;
  }

  /** A byte count, or a Kubernetes quantity such as "2Gi", "500Mi" or "1G". */
  bytes(value: unknown, path: string, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
    const match = typeof value === 'string' ? /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(value) : null;
    if (match === null)
      this.fail(path, 'must be a byte count or a quantity such as "2Gi" or "500Mi"');
    const unit = match[2] === undefined ? 1 : (QUANTITY_UNITS[match[2]] ?? 1);
    const bytes = Number(match[1]) * unit;
    if (!Number.isSafeInteger(bytes)) this.fail(path, 'is too large');
    return bytes;
  }

  seconds(value: unknown, path: string, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'string')
      this.fail(path, 'must be a duration such as "6h", "5m" or "10s"');
    try {
      const nanoseconds = parseGoDuration(value);
      if (nanoseconds < 0n) this.fail(path, 'must not be negative');
      return Number(nanoseconds) / 1e9;
    } catch (error) {
      if (error instanceof NodeConfigError) throw error;
      return this.fail(path, (error as Error).message);
    }
  }
}

const QUANTITY_UNITS: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
};

const ACCOUNT = { pattern: /^\d{12}$/, message: 'must be a 12-digit account id' };
const URL_RULE = { pattern: /^https?:\/\/[^\s/]+/, message: 'must be an http(s) URL' };

function readRegistry(reader: ConfigReader, value: unknown, path: string): RegistrySettings {
  const ecrFields = [
    'source',
    'accounts',
    'regions',
    'public',
    'endpoint',
    'stsEndpoint',
    'serviceAccount',
  ];
  const source = reader.object(value, path, [
    ...ecrFields,
    'hosts',
    'path',
    'table',
    'region',
  ]).source;
  if (source === 'docker-config') {
    const fields = reader.object(value, path, ['source', 'hosts', 'path']);
    const hosts = reader.strings(fields.hosts, `${path}.hosts`);
    if (hosts.length === 0) reader.fail(`${path}.hosts`, 'must name at least one registry');
    return { source, hosts, path: reader.string(fields.path, `${path}.path`) };
  }
  if (source === 'brokered') {
    const fields = reader.object(value, path, ['source', 'hosts', 'table', 'region', 'endpoint']);
    const hosts = reader.strings(fields.hosts, `${path}.hosts`);
    if (hosts.length === 0) reader.fail(`${path}.hosts`, 'must name at least one registry');
    const endpoint = reader.optionalString(fields.endpoint, `${path}.endpoint`, URL_RULE);
    return {
      source,
      hosts,
      table: reader.string(fields.table, `${path}.table`),
      region: reader.string(fields.region, `${path}.region`),
      ...(endpoint === undefined ? {} : { endpoint }),
    };
  }
  if (source !== 'ecr') reader.fail(`${path}.source`, 'must be ecr, docker-config or brokered');
  const fields = reader.object(value, path, ecrFields);
  const account =
    fields.serviceAccount === undefined
      ? {}
      : reader.object(fields.serviceAccount, `${path}.serviceAccount`, [
          'roleAnnotations',
          'accountRoles',
          'onFailure',
        ]);
  const rolesPath = `${path}.serviceAccount.accountRoles`;
  const roles =
    account.accountRoles === undefined
      ? {}
      : reader.object(account.accountRoles, rolesPath, Object.keys(account.accountRoles as object));
  const accountRoles: Record<string, string> = {};
  for (const [id, arn] of Object.entries(roles)) {
    reader.string(id, rolesPath, ACCOUNT);
    accountRoles[id] = reader.string(arn, `${rolesPath}.${id}`, {
      pattern: /^arn:aws[\w-]*:iam::\d{12}:role\//,
      message: 'must be an IAM role ARN',
    });
  }
  const endpoint = reader.optionalString(fields.endpoint, `${path}.endpoint`, URL_RULE);
  const stsEndpoint = reader.optionalString(fields.stsEndpoint, `${path}.stsEndpoint`, URL_RULE);
  return {
    source,
    ...(fields.accounts === undefined
      ? {}
      : { accounts: reader.strings(fields.accounts, `${path}.accounts`, ACCOUNT) }),
    ...(fields.regions === undefined
      ? {}
      : { regions: reader.strings(fields.regions, `${path}.regions`) }),
    public: reader.boolean(fields.public, `${path}.public`, true),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(stsEndpoint === undefined ? {} : { stsEndpoint }),
    serviceAccount: {
      roleAnnotations:
        account.roleAnnotations === undefined
          ? ['eks.amazonaws.com/ecr-role-arn']
          : reader.strings(account.roleAnnotations, `${path}.serviceAccount.roleAnnotations`),
      accountRoles,
      onFailure: reader.oneOf(
        account.onFailure,
        `${path}.serviceAccount.onFailure`,
        ['fail', 'node'] as const,
        'fail',
      ),
    },
  };
}

function readNodeConfig(value: unknown, source: string): NodeConfig {
  const reader = new ConfigReader(source);
  const top = reader.object(value, '', ['apiVersion', 'kind', 'credentialProvider', 'prePull']);
  if (top.apiVersion !== 'pullwarden.dev/v1')
    reader.fail('apiVersion', 'must be pullwarden.dev/v1');
  if (top.kind !== 'NodeConfig') reader.fail('kind', 'must be NodeConfig');
  const path = 'credentialProvider';
  const settings = reader.object(top.credentialProvider, path, [
    'cacheKeyType',
    'cacheDirectory',
    'maxCacheDuration',
    'staticCacheDuration',
    'safetyMargin',
    'refreshBefore',
    'requestTimeout',
    'registries',
    'mirrors',
  ]);
  const registries: unknown[] = Array.isArray(settings.registries) ? settings.registries : [];
  if (registries.length === 0) reader.fail(`${path}.registries`, 'must list at least one registry');
  const mirrors =
    settings.mirrors === undefined
      ? []
      : Array.isArray(settings.mirrors)
        ? settings.mirrors
        : reader.fail(`${path}.mirrors`, 'must be a list');
  return {
    apiVersion: 'pullwarden.dev/v1',
    kind: 'NodeConfig',
    prePull: readPrePull(reader, top.prePull ?? {}),
    credentialProvider: {
      // Global would let one registry's answer stand for every image the provider matches.
      cacheKeyType: reader.oneOf(
        settings.cacheKeyType,
        `${path}.cacheKeyType`,
        CACHE_KEY_TYPES.filter((type) => type !== 'Global'),
        'Registry',
      ),
      cacheDirectory:
        settings.cacheDirectory === undefined
          ? '/var/lib/pullwarden/credentials'
          : reader.string(settings.cacheDirectory, `${path}.cacheDirectory`),
      maxCacheDuration: reader.seconds(
        settings.maxCacheDuration,
        `${path}.maxCacheDuration`,
        6 * 3600,
      ),
      staticCacheDuration: reader.seconds(
        settings.staticCacheDuration,
        `${path}.staticCacheDuration`,
        300,
      ),
      safetyMargin: reader.seconds(settings.safetyMargin, `${path}.safetyMargin`, 300),
      refreshBefore: reader.seconds(settings.refreshBefore, `${path}.refreshBefore`, 3600),
      requestTimeout: reader.seconds(settings.requestTimeout, `${path}.requestTimeout`, 10),
      registries: registries.map((entry, index) =>
        readRegistry(reader, entry, `${path}.registries[${index}]`),
      ),
      mirrors: mirrors.map((entry, index) => {
        const fields = reader.object(entry, `${path}.mirrors[${index}]`, ['host', 'registry']);
        return {
          host: reader.string(fields.host, `${path}.mirrors[${index}].host`),
          registry: reader.string(fields.registry, `${path}.mirrors[${index}].registry`),
        };
      }),
    },
  };
}

const HOST_RULE = {
  pattern: /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/,
  message: 'must be a registry host, e.g. registry.internal:5000',
};

function readPrePull(reader: ConfigReader, value: unknown): PrePullSettings {
  const path = 'prePull';
  const fields = reader.object(value, path, [
    'runtimeEndpoint',
    'concurrency',
    'pullTimeout',
    'attempts',
    'backoff',
    'pin',
    'disk',
    'registryEndpoints',
    'agent',
  ]);
  const disk = reader.object(fields.disk ?? {}, `${path}.disk`, [
    'minFreePercent',
    'minFreeBytes',
    'expansionRatio',
    'path',
    'onUnknownSize',
  ]);
  const agent = reader.object(fields.agent ?? {}, `${path}.agent`, [
    'server',
    'nodeGroup',
    'auth',
    'tokenFile',
    'interval',
    'stateFile',
    'tagImages',
  ]);
  const endpoints =
    fields.registryEndpoints === undefined
      ? []
      : Array.isArray(fields.registryEndpoints)
        ? fields.registryEndpoints
        : reader.fail(`${path}.registryEndpoints`, 'must be a list');
  const runtimeEndpoint = reader.optionalString(fields.runtimeEndpoint, `${path}.runtimeEndpoint`, {
    pattern: /^(unix:(\/\/)?)?\/[^\0]+$/,
    message: 'must be a unix socket, e.g. unix:///run/containerd/containerd.sock',
  });
  const diskPath = reader.optionalString(disk.path, `${path}.disk.path`);
  const server = reader.optionalString(agent.server, `${path}.agent.server`, URL_RULE);
  const nodeGroup = reader.optionalString(agent.nodeGroup, `${path}.agent.nodeGroup`, {
    pattern: NODE_GROUP_NAME,
    message: 'must be a node group name',
  });
  const tokenFile = reader.optionalString(agent.tokenFile, `${path}.agent.tokenFile`);
  const pullTimeout = reader.seconds(fields.pullTimeout, `${path}.pullTimeout`, 15 * 60);
  if (pullTimeout < 1) reader.fail(`${path}.pullTimeout`, 'must be at least 1s');
  const interval = reader.seconds(agent.interval, `${path}.agent.interval`, 60);
  if (interval < 1) reader.fail(`${path}.agent.interval`, 'must be at least 1s');
  return {
    ...(runtimeEndpoint === undefined ? {} : { runtimeEndpoint }),
    concurrency: reader.number(
      fields.concurrency,
      `${path}.concurrency`,
      { min: 1, max: 32, integer: true },
      2,
    ),
    pullTimeout,
    attempts: reader.number(
      fields.attempts,
      `${path}.attempts`,
      { min: 1, max: 10, integer: true },
      4,
    ),
    backoff: reader.seconds(fields.backoff, `${path}.backoff`, 2),
    pin: reader.boolean(fields.pin, `${path}.pin`, false),
    disk: {
      // The kubelet starts collecting images above 85 % use (imageGCHighThresholdPercent): filling the
      // disk past that would have it evict never-used images, the pre-pulled ones first.
      minFreePercent: reader.number(
        disk.minFreePercent,
        `${path}.disk.minFreePercent`,
        { min: 0, max: 99 },
        15,
      ),
      minFreeBytes: reader.bytes(disk.minFreeBytes, `${path}.disk.minFreeBytes`, 2 ** 30),
      expansionRatio: reader.number(
        disk.expansionRatio,
        `${path}.disk.expansionRatio`,
        { min: 0, max: 20 },
        2,
      ),
      ...(diskPath === undefined ? {} : { path: diskPath }),
      onUnknownSize: reader.oneOf(
        disk.onUnknownSize,
        `${path}.disk.onUnknownSize`,
        ['pull', 'refuse'] as const,
        'pull',
      ),
    },
    registryEndpoints: endpoints.map((entry, index) => {
      const at = `${path}.registryEndpoints[${index}]`;
      const endpoint = reader.object(entry, at, ['host', 'url']);
      return {
        host: reader.string(endpoint.host, `${at}.host`, HOST_RULE),
        url: reader.string(endpoint.url, `${at}.url`, URL_RULE),
      };
    }),
    agent: {
      ...(server === undefined ? {} : { server }),
      ...(nodeGroup === undefined ? {} : { nodeGroup }),
      ...(agent.auth === undefined
        ? {}
        : {
            auth: reader.oneOf(agent.auth, `${path}.agent.auth`, ['iam', 'token'] as const, 'iam'),
          }),
      ...(tokenFile === undefined ? {} : { tokenFile }),
      interval,
      stateFile:
        agent.stateFile === undefined
          ? '/var/lib/pullwarden/agent-state.json'
          : reader.string(agent.stateFile, `${path}.agent.stateFile`),
      tagImages: reader.boolean(agent.tagImages, `${path}.agent.tagImages`, true),
    },
  };
}
