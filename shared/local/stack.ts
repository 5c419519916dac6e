import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { ConfigError, loadConfig } from '#shared/config/load.ts';
import type { Config } from '#shared/config/schema.ts';
import {
  type ControlPlaneStandIn,
  type SentCommand,
  startControlPlaneStandIn,
} from './control-plane.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators } from './emulators.ts';
import { eventPatternMatches } from './event-pattern.ts';
import { type HttpApiRoute, HttpApiRouter, httpApiListener } from './http-api.ts';
import { lambdaContext } from './lambda-context.ts';
import { type LocalSecret, localSecrets } from './local-secrets.ts';
import { provision } from './provision.ts';
import { type LocalFunction, readServerlessDefinition } from './serverless-definition.ts';
import { startSqsEventSource } from './sqs-event-source.ts';

// The whole of pullwarden in one process: serverless.yml's functions behind an API Gateway HTTP API
// adapter, SQS event sources, EventBridge rules and schedules, on embedded DynamoDB and SQS emulators
// provisioned from the resource files that deploy. With PULLWARDEN_STATE_TABLE and
// PULLWARDEN_PREPULL_QUEUE_URL set it uses those AWS resources (the SDK's usual credentials, region and
// endpoints) and starts no emulator.

export interface LocalStackOptions {
  /** The project root: serverless.yml, functions/, infra/. */
  root: string;
  configFile: string;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Emulator state and generated secrets; undefined keeps everything in a temporary folder. */
  dataDirectory?: string;
  stage?: string;
  log: LocalStackLog;
}

export interface LocalStackLog {
  info(message: string): void;
  error(message: string, error?: unknown): void;
}

type Invoke = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalStack {
  url: string;
  mode: 'emulated' | 'aws';
  /** Where emulator state and generated secrets live (emulated mode). */
  dataDirectory?: string;
  config: Config;
  routes: readonly { method: string; path: string; target: string }[];
  functions: readonly LocalFunction[];
  queues: Record<string, { url: string; arn: string }>;
  tables: Record<string, string>;
  secrets: readonly LocalSecret[];
  /** SSM commands sent by executors (emulated mode only). */
  commands: readonly SentCommand[];
  /** Delivers an EventBridge event to the functions whose rules match; returns their names. */
  putEvent(event: Record<string, unknown>): Promise<string[]>;
  /** Runs a scheduled function now, as its next tick would; resolves to what it returned. */
  runSchedule(functionName: string): Promise<unknown>;
  stop(): Promise<void>;
}

export class LocalStackError extends Error {
  override readonly name = 'LocalStackError';
}

const RATE = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/;
const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

function rateMilliseconds(expression: string): number | undefined {
  const rate = RATE.exec(expression.trim());
  if (rate === null) return undefined;
  return Number(rate[1]) * (UNIT_MS[(rate[2] as string).replace(/s$/, '')] as number);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const root = resolve(options.root);
  const configFile = resolve(options.configFile);
  const stage = options.stage ?? 'local';
  const { log } = options;
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => log.error('stopping the local stack', error));
    }
  };

  try {
    const config = await loadConfig(configFile);
    const definition = await readServerlessDefinition(join(root, 'serverless.yml'));
    const useAws =
      (process.env.PULLWARDEN_STATE_TABLE ?? '') !== '' &&
      (process.env.PULLWARDEN_PREPULL_QUEUE_URL ?? '') !== '';
    const queues: LocalStack['queues'] = {};
    const tables: LocalStack['tables'] = {};
    let secrets: LocalSecret[] = [];
    let controlPlane: ControlPlaneStandIn | undefined;
    let sqs: SQSClient;
    let region: string;
    let dataDirectory: string | undefined;

    if (useAws) {
      region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? '';
      if (region === '') throw new LocalStackError('AWS_REGION must be set to use AWS resources');
      sqs = new SQSClient({});
      cleanups.push(async () => sqs.destroy());
      const url = process.env.PULLWARDEN_PREPULL_QUEUE_URL as string;
      const attributes = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
      );
      queues.PrepullQueue = { url, arn: attributes.Attributes?.QueueArn as string };
      tables.StateTable = process.env.PULLWARDEN_STATE_TABLE as string;
    } else {
      region = LOCAL_REGION;
      const directory =
        options.dataDirectory === undefined
          ? await mkdtemp(join(tmpdir(), 'pullwarden-local-'))
          : resolve(options.dataDirectory);
      dataDirectory = directory;
      if (options.dataDirectory === undefined) {
        cleanups.push(() => rm(directory, { recursive: true, force: true }));
      }
      const emulators = await startEmulators({ dataDirectory: join(directory, 'aws') });
      cleanups.push(() => emulators.stop());
      sqs = emulators.sqs;
      const variables: Record<string, string> = {
        'self:service': definition.service,
        'sls:stage': stage,
      };
      for (const [key, value] of Object.entries(definition.customStrings)) {
        variables[`self:custom.${key}`] = value.replace(
          /\$\{([^}]+)\}/g,
          (whole, name: string) => variables[name.trim()] ?? whole,
        );
      }
      for (const file of definition.resourceFiles) {
        const provisioned = await provision(join(root, file), variables, emulators);
        Object.assign(queues, provisioned.queues);
        Object.assign(tables, provisioned.tables);
      }
      const held = await localSecrets(config, join(directory, 'secrets'), process.env);
      secrets = held.entries;
      controlPlane = await startControlPlaneStandIn({
        region,
        parameter: held.parameter,
        secret: held.secret,
        onCommand: (command) =>
          log.info(
            `ssm SendCommand ${command.documentName} → ${
              command.instanceIds?.join(',') ??
              command.targets.map((target) => `${target.Key}=${target.Values.join(',')}`).join(' ')
            } ${JSON.stringify(command.parameters)} (command ${command.commandId})`,
          ),
      });
      cleanups.push(() => (controlPlane as ControlPlaneStandIn).stop());
      const table = tables.StateTable;
      const queue = queues.PrepullQueue;
      if (table === undefined || queue === undefined) {
        throw new LocalStackError('the resource files define no StateTable or PrepullQueue');
      }
      Object.assign(process.env, held.environment, {
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint,
        AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
        AWS_ENDPOINT_URL_SSM: controlPlane.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: controlPlane.endpoint,
        PULLWARDEN_STATE_TABLE: table,
        PULLWARDEN_PREPULL_QUEUE_URL: queue.url,
        ...(tables.CredentialsTable === undefined
          ? {}
          : { PULLWARDEN_CREDENTIALS_TABLE: tables.CredentialsTable }),
      });
      delete process.env.AWS_SESSION_TOKEN;
      delete process.env.AWS_PROFILE;
    }
    // Handlers read these when first imported, which happens below.
    delete process.env.PULLWARDEN_CONFIG_PARAMETER;
    Object.assign(process.env, {
      PULLWARDEN_CONFIG_FILE: configFile,
      // No IAM authorizer in front of the local API: node agents present their node group's token.
      PULLWARDEN_API_AUTH: 'token',
      POWERTOOLS_SERVICE_NAME: definition.service,
      // The handlers log what they measure; EMF blobs on the terminal would only repeat it.
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    });

    const invokers = new Map<string, Invoke>();
    for (const fn of definition.functions) {
      const module = (await import(pathToFileURL(join(root, fn.module)).href)) as Record<
        string,
        unknown
      >;
      const handler = module[fn.exportName];
      if (typeof handler !== 'function') {
        throw new LocalStackError(`${fn.module} exports no function ${fn.exportName}`);
      }
      invokers.set(fn.name, handler as Invoke);
    }
    const invoke = (fn: LocalFunction, event: unknown) =>
      (invokers.get(fn.name) as Invoke)(event, lambdaContext(fn.name, fn.timeoutSeconds, region));

    // What EventBridge Scheduler hands a function on each tick.
    const runScheduled = (fn: LocalFunction) =>
      invoke(fn, {
        version: '0',
        id: crypto.randomUUID(),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '000000000000',
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region,
        resources: [],
        detail: {},
      });

    const putEvent = async (event: Record<string, unknown>): Promise<string[]> => {
      const full = {
        version: '0',
        id: crypto.randomUUID(),
        account: '000000000000',
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region,
        resources: [],
        detail: {},
        ...event,
      };
      const matched = definition.functions.filter((fn) =>
        fn.eventPatterns.some((pattern) => eventPatternMatches(pattern, full)),
      );
      await Promise.all(matched.map((fn) => invoke(fn, full)));
      return matched.map((fn) => fn.name);
    };

    const routes: HttpApiRoute[] = definition.functions.flatMap((fn) =>
      fn.routes.map((route) => ({
        ...route,
        target: fn.name,
        invoke: (event) => invoke(fn, event) as ReturnType<HttpApiRoute['invoke']>,
      })),
    );
    routes.push({
      method: 'GET',
      path: '/healthz',
      target: 'local stack',
      invoke: async () => ({
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'ok', mode: useAws ? 'aws' : 'emulated' }),
      }),
    });
    routes.push({
      method: 'POST',
      path: '/events',
      target: 'local event bus',
      invoke: async (event) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(event.body ?? '');
        } catch {
          parsed = undefined;
        }
        const entries = Array.isArray(parsed) ? parsed : [parsed];
        if (entries.some((entry) => typeof entry !== 'object' || entry === null)) {
          return {
            statusCode: 400,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              message: 'the body must be an EventBridge event or an array of them',
            }),
          };
        }
        const delivered = [];
        for (const entry of entries as Record<string, unknown>[]) {
          delivered.push({ matched: await putEvent(entry) });
        }
        return {
          statusCode: 200,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ delivered }),
        };
      },
    });
    const router = new HttpApiRouter(routes);

    for (const fn of definition.functions) {
      for (const trigger of fn.queues) {
        const queue = queues[trigger.queue];
        if (queue === undefined) {
          throw new LocalStackError(
            `${fn.name} consumes ${trigger.queue}, which is not provisioned`,
          );
        }
        const source = startSqsEventSource(
          sqs,
          {
            queueUrl: queue.url,
            queueArn: queue.arn,
            region,
            batchSize: trigger.batchSize,
            reportBatchItemFailures: trigger.reportBatchItemFailures,
            consumer: (event) => invoke(fn, event) as never,
            target: fn.name,
          },
          {
            batch: ({ target, records, failed, ms }) =>
              log.info(
                `sqs ${trigger.queue} → ${target}: ${records} record(s)${failed > 0 ? `, ${failed} failed` : ''} in ${ms.toFixed(1)} ms`,
              ),
            error: (message, error) => log.error(message, error),
          },
        );
        cleanups.push(() => source.stop());
      }
      for (const expression of fn.schedules) {
        const every = rateMilliseconds(expression);
        if (every === undefined) {
          log.info(`${fn.name}: schedule ${expression} is not run locally (only rate(…) is)`);
          continue;
        }
        const timer = setInterval(() => {
          runScheduled(fn).catch((error: unknown) =>
            log.error(`${fn.name} (schedule) failed`, error),
          );
        }, every);
        timer.unref();
        cleanups.push(async () => clearInterval(timer));
      }
    }

    const server: Server = createServer(
      httpApiListener(router, {
        request: ({ method, path, status, ms, target }) =>
          log.info(
            `${method} ${path} ${status} ${ms.toFixed(1)} ms${target === undefined ? '' : ` → ${target}`}`,
          ),
        error: (message, error) => log.error(message, error),
      }),
    );
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new LocalStackError(
                `${host}:${options.port} is in use; choose another with PORT or --port`,
              )
            : error,
        ),
      );
      server.listen(options.port, host, () => resolveListen());
    });
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    });
    const address = server.address() as AddressInfo;
    const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

    return {
      url: `http://${urlHost}:${address.port}`,
      mode: useAws ? 'aws' : 'emulated',
      ...(dataDirectory === undefined ? {} : { dataDirectory }),
      config,
      routes: router.all.map(({ method, path, target }) => ({ method, path, target })),
      functions: definition.functions,
      queues,
      tables,
      secrets,
      commands: controlPlane?.commands ?? [],
      putEvent,
      runSchedule: async (functionName) => {
        const fn = definition.functions.find((candidate) => candidate.name === functionName);
        if (fn === undefined || fn.schedules.length === 0) {
          throw new LocalStackError(`${functionName} is not a scheduled function`);
        }
        return runScheduled(fn);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    if (error instanceof LocalStackError || error instanceof ConfigError) throw error;
    throw new LocalStackError(`the local stack could not start: ${errorText(error)}`, {
      cause: error,
    });
  }
}
