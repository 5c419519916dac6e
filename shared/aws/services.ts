import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { loadConfig as loadConfigFile, parseConfig } from '#shared/config/load.ts';
import { type Config, DEFAULT_CONFIG } from '#shared/config/schema.ts';
import {
  environmentSecretResolver,
  type SecretResolver,
  SecretUnavailableError,
} from '#shared/config/secret-ref.ts';
import type { PullCommandSender } from '#shared/prepull/dispatch.ts';
import { getStringFromEnv } from '#shared/runtime/env.ts';
import { DynamoCredentialsTable } from './credentials-table.ts';
import { DynamoStateStore } from './dynamo-state-store.ts';
import { DynamoFindingsStore } from './findings-store.ts';
import { DynamoInventory } from './inventory-store.ts';
import { SqsPrepullQueue } from './prepull-queue.ts';
import { DynamoPullTelemetry } from './pull-telemetry-store.ts';

// The side effects every function shares, created once per process from the environment:
// PULLWARDEN_STATE_TABLE, PULLWARDEN_PREPULL_QUEUE_URL, PULLWARDEN_CREDENTIALS_TABLE, and the configuration from
// PULLWARDEN_CONFIG_PARAMETER (SSM) or PULLWARDEN_CONFIG_FILE (the local stack). Endpoints come from the
// SDK's own settings (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_DYNAMODB), which is how the local stack
// points the same code at its emulators.

const CACHE_SECONDS = 300;

let dynamo: DynamoDBClient | undefined;
let sqs: SQSClient | undefined;
let ssm: SSMClient | undefined;
let store: DynamoStateStore | undefined;
let queue: SqsPrepullQueue | undefined;
let credentials: DynamoCredentialsTable | undefined;
let inventoryStore: DynamoInventory | undefined;
let findings: DynamoFindingsStore | undefined;
let telemetry: DynamoPullTelemetry | undefined;

function stateTableName(): string {
  return getStringFromEnv({ key: 'PULLWARDEN_STATE_TABLE' });
}

export function stateStore(): DynamoStateStore {
  dynamo ??= new DynamoDBClient({});
  store ??= new DynamoStateStore(dynamo, stateTableName());
  return store;
}

/** The cluster inventory (nodes, pods, workloads) kept from cluster events, in the state table. */
export function inventory(): DynamoInventory {
  dynamo ??= new DynamoDBClient({});
  inventoryStore ??= new DynamoInventory(dynamo, stateTableName());
  return inventoryStore;
}

/** Findings about the live cluster, in the state table; closed ones are kept `findings.retainClosedDays`. */
export function findingsStore(): DynamoFindingsStore {
  dynamo ??= new DynamoDBClient({});
  findings ??= new DynamoFindingsStore(dynamo, stateTableName(), async () => {
    return (await loadConfig()).findings.retainClosedDays;
  });
  return findings;
}

export function pullTelemetry(): DynamoPullTelemetry {
  dynamo ??= new DynamoDBClient({});
  telemetry ??= new DynamoPullTelemetry(dynamo, stateTableName());
  return telemetry;
}

/** The brokered credentials table (PULLWARDEN_CREDENTIALS_TABLE), written only by credential-refresh. */
export function credentialsTable(): DynamoCredentialsTable {
  dynamo ??= new DynamoDBClient({});
  credentials ??= new DynamoCredentialsTable(
    dynamo,
    getStringFromEnv({ key: 'PULLWARDEN_CREDENTIALS_TABLE' }),
  );
  return credentials;
}

export function prepullQueue(): SqsPrepullQueue {
  sqs ??= new SQSClient({});
  queue ??= new SqsPrepullQueue(sqs, getStringFromEnv({ key: 'PULLWARDEN_PREPULL_QUEUE_URL' }));
  return queue;
}

// Parsed once per configuration text: YAML and schema checks stay off every invocation's path.
let cachedConfig: { source: string; text?: string; config: Promise<Config> } | undefined;

export async function loadConfig(): Promise<Config> {
  const file = getStringFromEnv({ key: 'PULLWARDEN_CONFIG_FILE', defaultValue: '' });
  if (file !== '') {
    if (cachedConfig?.source !== file)
      cachedConfig = { source: file, config: loadConfigFile(file) };
    return cachedConfig.config;
  }
  const parameter = getStringFromEnv({ key: 'PULLWARDEN_CONFIG_PARAMETER', defaultValue: '' });
  if (parameter === '') return DEFAULT_CONFIG;
  // Powertools caches the parameter's text for CACHE_SECONDS; the parse is reused while it is unchanged.
  const text = await getParameter(parameter, { maxAge: CACHE_SECONDS });
  if (text === undefined) throw new Error(`SSM parameter ${parameter} has no value`);
  const source = `SSM parameter ${parameter}`;
  if (cachedConfig?.source !== source || cachedConfig.text !== text) {
    cachedConfig = {
      source,
      text,
      config: Promise.resolve().then(() => parseConfig(text, source)),
    };
  }
  return cachedConfig.config;
}

/** Environment variables, SSM SecureString parameters and Secrets Manager secrets, cached briefly. */
export const secretResolver: SecretResolver = environmentSecretResolver(process.env, {
  async resolve(ref) {
    const value =
      'ssm' in ref
        ? await getParameter(ref.ssm, { decrypt: true, maxAge: CACHE_SECONDS })
        : 'secretsManager' in ref
          ? await getSecret(ref.secretsManager, { maxAge: CACHE_SECONDS })
          : undefined;
    if (typeof value !== 'string' || value === '') {
      throw new SecretUnavailableError(ref, 'has no string value');
    }
    return value;
  },
});

/** SSM Run Command: the node group's instances run `pullwarden-node pull` with the pinned digest. */
export const ssmPullCommands: PullCommandSender = {
  async sendPullCommand({ nodeGroup, reference, settings, instanceIds }) {
    ssm ??= new SSMClient({});
    const result = await ssm.send(
      new SendCommandCommand({
        DocumentName: settings.document,
        ...(instanceIds === undefined
          ? {
              Targets: [
                { Key: `tag:${settings.targetTag.key}`, Values: [settings.targetTag.value] },
              ],
            }
          : { InstanceIds: [...instanceIds] }),
        Parameters: { image: [reference] },
        MaxConcurrency: settings.maxConcurrency,
        MaxErrors: settings.maxErrors,
        TimeoutSeconds: settings.timeoutSeconds,
        Comment: `pullwarden pre-pull for node group ${nodeGroup}`.slice(0, 100),
      }),
    );
    const id = result.Command?.CommandId;
    if (id === undefined) throw new Error('SSM SendCommand returned no command id');
    return id;
  },
};
