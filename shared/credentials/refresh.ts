import { createHash } from 'node:crypto';
import type { BrokeredRegistry } from '#shared/config/schema.ts';
import { describeSecretRef, type SecretResolver } from '#shared/config/secret-ref.ts';
import { type EcrRegistry, parseEcrRegistryHost } from '#shared/ecr/registry-host.ts';
import {
  type CredentialSource,
  describeMintError,
  type MintedCredential,
  mintWithRetries,
} from './answer.ts';
import { ecrSource } from './sources/ecr.ts';
import { gitHubAppSource } from './sources/github-app.ts';

// credential-refresh: keeps one credential per brokered registry in the credentials table, minted well
// before the previous one expires. Registries minted by the same identity (one ECR role in one region,
// one GitHub App installation with one scope) share one mint. A failure stays with its registries: the
// others are still refreshed, the failure is recorded next to the credential, and a credential close to
// expiry whose last refresh failed is reported as at risk (the alarm's metric).

/** What the table says about a registry's credential; never the password. */
export interface CredentialState {
  expiresAt: Date;
  mintedAt: Date;
  /** Identifies the settings it was minted with: a change of role or scope mints anew. */
  mintedBy: string;
}

export interface RefreshStatus {
  lastAttemptAt: string;
  lastSuccessAt?: string;
  lastError?: string;
  consecutiveFailures: number;
}

export interface BrokeredCredentialRecord {
  registry: string;
  source: BrokeredRegistry['source'];
  credential: MintedCredential & { expiresAt: Date };
  mintedAt: Date;
  mintedBy: string;
}

/** The credentials table, as credential-refresh uses it. */
export interface BrokeredCredentialStore {
  read(registry: string): Promise<{ credential?: CredentialState; status?: RefreshStatus }>;
  /** Writes unless a credential minted later is already there; says which happened. */
  write(record: BrokeredCredentialRecord): Promise<'written' | 'superseded'>;
  recordSuccess(registry: string, at: Date): Promise<RefreshStatus>;
  recordFailure(registry: string, at: Date, error: string): Promise<RefreshStatus>;
}

export interface RefreshDependencies {
  store: BrokeredCredentialStore;
  /** How to mint for an entry; entries whose sources share a cacheKey share one mint. */
  sourceFor(entry: BrokeredRegistry): CredentialSource;
  now(): Date;
  random(): number;
  sleep(ms: number): Promise<void>;
  /** Retries of one mint end this long after it started. */
  deadlineMs: number;
  maxAttempts: number;
}

export interface RegistryOutcome {
  registry: string;
  source: BrokeredRegistry['source'];
  outcome: 'minted' | 'fresh' | 'failed';
  /** Why a mint was needed, or why none was. */
  reason: string;
  expiresAt?: string;
  /** 0 when there is no valid credential. */
  minutesToExpiry: number;
  /** Close to expiry (or without a credential) and the last refresh failed. */
  atRisk: boolean;
  error?: string;
}

const MINUTE_MS = 60_000;
const MAX_ERROR_LENGTH = 500;

export function brokeredMintedBy(source: CredentialSource): string {
  return createHash('sha256').update(source.cacheKey).digest('hex').slice(0, 16);
}

function lifetimeMs(state: CredentialState): number {
  return Math.max(0, state.expiresAt.getTime() - state.mintedAt.getTime());
}

// A configured point beyond most of the lifetime would mint on every run: it is capped at 90%.
function refreshBeforeMs(entry: BrokeredRegistry, state: CredentialState): number {
  return entry.refreshBeforeMinutes === undefined
    ? lifetimeMs(state) / 2
    : Math.min(entry.refreshBeforeMinutes * MINUTE_MS, lifetimeMs(state) * 0.9);
}

/** A quarter of the lifetime by default, and never before the refresh point: alarms follow attempts. */
function alarmBeforeMs(entry: BrokeredRegistry, state: CredentialState | undefined): number {
  if (entry.alarmBeforeMinutes !== undefined) return entry.alarmBeforeMinutes * MINUTE_MS;
  return state === undefined
    ? 0
    : Math.min(lifetimeMs(state) / 4, refreshBeforeMs(entry, state) / 2);
}

/** Why `entry` needs a new credential now, or undefined when the stored one is good for a while. */
export function refreshReason(
  entry: BrokeredRegistry,
  state: CredentialState | undefined,
  mintedBy: string,
  now: Date,
): string | undefined {
  if (state === undefined) return 'no credential yet';
  if (state.mintedBy !== mintedBy) return 'settings changed since it was minted';
  const left = state.expiresAt.getTime() - now.getTime();
  if (left <= 0) return 'expired';
  if (left <= refreshBeforeMs(entry, state)) {
    return `${Math.floor(left / MINUTE_MS)} min left, refreshing at ${Math.round(refreshBeforeMs(entry, state) / MINUTE_MS)}`;
  }
  return undefined;
}

function minutesLeft(state: CredentialState | undefined, now: Date): number {
  if (state === undefined) return 0;
  return Math.max(0, Math.floor((state.expiresAt.getTime() - now.getTime()) / MINUTE_MS));
}

function isAtRisk(
  entry: BrokeredRegistry,
  state: CredentialState | undefined,
  status: RefreshStatus | undefined,
  now: Date,
): boolean {
  if ((status?.consecutiveFailures ?? 0) === 0) return false;
  if (state === undefined) return true;
  return state.expiresAt.getTime() - now.getTime() <= alarmBeforeMs(entry, state);
}

interface Member {
  entry: BrokeredRegistry;
  state?: CredentialState;
  status?: RefreshStatus;
  /** Why it is due; undefined while its credential is good. */
  reason?: string | undefined;
}

/** What is known of a registry at `at`, whatever happened to it in this run. */
function standing(
  { entry, state }: Member,
  status: RefreshStatus | undefined,
  at: Date,
): Pick<RegistryOutcome, 'registry' | 'source' | 'expiresAt' | 'minutesToExpiry' | 'atRisk'> {
  return {
    registry: entry.registry,
    source: entry.source,
    ...(state === undefined ? {} : { expiresAt: state.expiresAt.toISOString() }),
    minutesToExpiry: minutesLeft(state, at),
    atRisk: isAtRisk(entry, state, status, at),
  };
}

function fresh(member: Member, at: Date): RegistryOutcome {
  return {
    ...standing(member, member.status, at),
    outcome: 'fresh',
    reason: 'valid until its refresh point',
  };
}

async function refreshGroup(
  source: CredentialSource,
  members: Member[],
  deps: RefreshDependencies,
): Promise<RegistryOutcome[]> {
  const mintedBy = brokeredMintedBy(source);
  const now = deps.now();
  for (const member of members) {
    member.reason = refreshReason(member.entry, member.state, mintedBy, now);
  }
  if (members.every((member) => member.reason === undefined)) {
    return members.map((member) => fresh(member, now));
  }

  let minted: MintedCredential;
  try {
    minted = await mintWithRetries(source, deps, deps, now.getTime());
    if (minted.expiresAt === undefined || minted.expiresAt.getTime() <= deps.now().getTime()) {
      throw new Error('the minted credential carries no future expiry');
    }
  } catch (error) {
    const text = describeMintError(error).slice(0, MAX_ERROR_LENGTH);
    const at = deps.now();
    return Promise.all(
      members.map(async (member): Promise<RegistryOutcome> => {
        if (member.reason === undefined) return fresh(member, at);
        const status = await deps.store
          .recordFailure(member.entry.registry, at, text)
          .catch(() => oneMoreFailure(member, at));
        return {
          ...standing(member, status, at),
          outcome: 'failed',
          reason: member.reason,
          error: text,
        };
      }),
    );
  }

  const mintedAt = deps.now();
  const expiresAt = minted.expiresAt as Date;
  // One new credential serves every registry of the identity: all of them take it, each on its own
  // (a table error for one leaves the others written).
  return Promise.all(
    members.map(async (member): Promise<RegistryOutcome> => {
      let written: 'written' | 'superseded';
      try {
        written = await deps.store.write({
          registry: member.entry.registry,
          source: member.entry.source,
          credential: { ...minted, expiresAt },
          mintedAt,
          mintedBy,
        });
      } catch (error) {
        return storeFailure(member, error, deps.now());
      }
      const state = { expiresAt, mintedAt, mintedBy };
      // The credential is stored; a status that could not be recorded does not make it at risk.
      const status = await deps.store
        .recordSuccess(member.entry.registry, mintedAt)
        .catch(() => undefined);
      return {
        ...standing({ ...member, state }, status, mintedAt),
        outcome: 'minted',
        reason:
          written === 'superseded'
            ? 'a credential minted later was already stored'
            : (member.reason ?? 'minted with another registry of the same identity'),
      };
    }),
  );
}

/** The status a failed attempt leaves, when the table could not record it. */
function oneMoreFailure(member: Member, at: Date): RefreshStatus {
  return {
    lastAttemptAt: at.toISOString(),
    consecutiveFailures: (member.status?.consecutiveFailures ?? 0) + 1,
    ...(member.status?.lastSuccessAt === undefined
      ? {}
      : { lastSuccessAt: member.status.lastSuccessAt }),
  };
}

/** The table refused a write: counted as one more failed refresh of what is stored. */
function storeFailure(member: Member, error: unknown, at: Date): RegistryOutcome {
  return {
    ...standing(member, oneMoreFailure(member, at), at),
    outcome: 'failed',
    reason: member.reason ?? 'storing its credential failed',
    error: `storing the credential failed: ${describeMintError(error)}`.slice(0, MAX_ERROR_LENGTH),
  };
}

/** Refreshes every brokered registry that is due; one registry's failure never stops another's. */
export async function refreshBrokeredCredentials(
  entries: readonly BrokeredRegistry[],
  deps: RefreshDependencies,
): Promise<RegistryOutcome[]> {
  const groups = new Map<string, { source: CredentialSource; members: Member[] }>();
  const outcomes: RegistryOutcome[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      try {
        const source = deps.sourceFor(entry);
        const { credential, status } = await deps.store.read(entry.registry);
        const group = groups.get(source.cacheKey) ?? { source, members: [] };
        group.members.push({
          entry,
          ...(credential === undefined ? {} : { state: credential }),
          ...(status === undefined ? {} : { status }),
        });
        groups.set(source.cacheKey, group);
      } catch (error) {
        outcomes.push({
          registry: entry.registry,
          source: entry.source,
          outcome: 'failed',
          reason: 'reading its state failed',
          minutesToExpiry: 0,
          atRisk: true,
          error: describeMintError(error).slice(0, MAX_ERROR_LENGTH),
        });
      }
    }),
  );
  const refreshed = await Promise.all(
    // refreshGroup settles every table call itself: a group cannot take the others down.
    [...groups.values()].map(({ source, members }) => refreshGroup(source, members, deps)),
  );
  outcomes.push(...refreshed.flat());
  const order = new Map(entries.map((entry, index) => [entry.registry, index]));
  return outcomes.sort((a, b) => (order.get(a.registry) ?? 0) - (order.get(b.registry) ?? 0));
}

export interface RefreshMetric {
  name: 'MinutesToExpiry' | 'CredentialRefreshFailed' | 'CredentialsAtRisk';
  unit: 'Count' | 'None';
  value: number;
  /** Per-registry metrics carry the registry as a dimension. */
  dimensions?: { Registry: string };
}

/** The figures operators watch: minutes left per registry, failures, and the alarm's at-risk count. */
export function refreshMetrics(outcomes: readonly RegistryOutcome[]): RefreshMetric[] {
  return [
    ...outcomes.flatMap((outcome): RefreshMetric[] => [
      {
        name: 'MinutesToExpiry',
        unit: 'None',
        value: outcome.minutesToExpiry,
        dimensions: { Registry: outcome.registry },
      },
      {
        name: 'CredentialRefreshFailed',
        unit: 'Count',
        value: outcome.outcome === 'failed' ? 1 : 0,
        dimensions: { Registry: outcome.registry },
      },
    ]),
    // Always sent, 0 included: the alarm treats a missing figure (the schedule stopped) as a breach.
    {
      name: 'CredentialsAtRisk',
      unit: 'Count',
      value: outcomes.filter((outcome) => outcome.atRisk).length,
    },
  ];
}

export interface RefreshSummary {
  minted: number;
  fresh: number;
  failed: number;
  atRisk: number;
  registries: RegistryOutcome[];
}

export interface RefreshLog {
  info(message: string, extra: Record<string, unknown>): void;
  error(message: string, extra: Record<string, unknown>): void;
}

/** One scheduled run: the brokered registries of the configuration, refreshed, logged and measured. */
export async function handleCredentialRefresh(deps: {
  loadConfig(): Promise<{ credentials: { brokered: BrokeredRegistry[] } }>;
  /** Built only when a registry is brokered: a cluster without any needs no credentials table. */
  dependencies(): RefreshDependencies;
  log: RefreshLog;
  publish(metrics: RefreshMetric[]): void;
}): Promise<RefreshSummary> {
  const { brokered } = (await deps.loadConfig()).credentials;
  const outcomes =
    brokered.length === 0 ? [] : await refreshBrokeredCredentials(brokered, deps.dependencies());
  for (const outcome of outcomes) {
    if (outcome.outcome === 'failed')
      deps.log.error('refreshing a brokered credential failed', { ...outcome });
    else deps.log.info(`brokered credential ${outcome.outcome}`, { ...outcome });
  }
  deps.publish(refreshMetrics(outcomes));
  const count = (outcome: RegistryOutcome['outcome']) =>
    outcomes.filter((entry) => entry.outcome === outcome).length;
  return {
    minted: count('minted'),
    fresh: count('fresh'),
    failed: count('failed'),
    atRisk: outcomes.filter((entry) => entry.atRisk).length,
    registries: outcomes,
  };
}

export interface MintSourceOptions {
  secrets: SecretResolver;
  fetch: typeof fetch;
  now(): Date;
  requestTimeoutMs: number;
  /** API endpoint overrides (VPC endpoints; stand-ins in tests and the local stack). */
  ecrEndpoint?: string;
  ecrPublicEndpoint?: string;
  stsEndpoint?: string;
}

/** How credential-refresh mints for a configured registry. */
export function mintSourceFor(
  entry: BrokeredRegistry,
  options: MintSourceOptions,
): CredentialSource {
  if (entry.source === 'github-app') {
    return gitHubAppSource(entry.registry, entry, {
      privateKey: () => options.secrets.resolve(entry.privateKey),
      privateKeySource: describeSecretRef(entry.privateKey),
      fetch: options.fetch,
      now: options.now,
      requestTimeoutMs: options.requestTimeoutMs,
    });
  }
  // The schema admits only hosts of the ECR grammar here.
  const registry = parseEcrRegistryHost(entry.registry) as EcrRegistry;
  const endpoint = registry.kind === 'public' ? options.ecrPublicEndpoint : options.ecrEndpoint;
  return ecrSource(
    registry,
    entry.registry,
    {
      kind: 'role',
      roleArn: entry.roleArn,
      sessionName: 'pullwarden-credential-refresh',
      ...(entry.externalId === undefined ? {} : { externalId: entry.externalId }),
    },
    {
      requestTimeoutMs: options.requestTimeoutMs,
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(options.stsEndpoint === undefined ? {} : { stsEndpoint: options.stsEndpoint }),
    },
  );
}
