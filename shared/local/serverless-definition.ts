import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { isIntrinsic, parseCloudFormationYaml } from './cloudformation-yaml.ts';

// The functions of serverless.yml and the events that trigger them, read so that the local stack wires
// exactly what deploys: the same routes, queues, rules and schedules, served by the same handler
// modules (`dist/functions/<name>/index.<export>` is built from `functions/<name>/handler.ts`).

export interface HttpRoute {
  method: string;
  /** API Gateway path template: `/webhooks/{source}`. */
  path: string;
}

export interface QueueTrigger {
  /** Logical id of the queue resource (`!GetAtt <id>.Arn`). */
  queue: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
}

export interface LocalFunction {
  name: string;
  /** Source module relative to the project root: `functions/<name>/handler.ts`. */
  module: string;
  exportName: string;
  timeoutSeconds: number;
  routes: HttpRoute[];
  queues: QueueTrigger[];
  eventPatterns: Record<string, unknown>[];
  /** `rate(…)` / `cron(…)` expressions. */
  schedules: string[];
}

const HANDLER = /^dist\/functions\/([a-z0-9-]+)\/index\.([A-Za-z_$][\w$]*)$/;

const eventSchema = z
  .object({
    httpApi: z.object({ method: z.string(), path: z.string() }).optional(),
    sqs: z
      .object({
        arn: z.unknown(),
        batchSize: z.number().int().min(1).max(10_000).default(10),
        functionResponseType: z.literal('ReportBatchItemFailures').optional(),
      })
      .optional(),
    eventBridge: z.object({ pattern: z.record(z.string(), z.unknown()) }).optional(),
    schedule: z
      .union([z.string(), z.object({ rate: z.union([z.string(), z.array(z.string())]) })])
      .optional(),
  })
  .loose();

const serverlessSchema = z.object({
  service: z.string(),
  custom: z.record(z.string(), z.unknown()).default({}),
  resources: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]).default([]),
  provider: z.object({ timeout: z.number().default(6) }).loose(),
  functions: z.record(
    z.string(),
    z
      .object({
        handler: z.string().regex(HANDLER, 'must be dist/functions/<name>/index.<export>'),
        timeout: z.number().optional(),
        events: z.array(eventSchema).default([]),
      })
      .loose(),
  ),
});

function queueLogicalId(arn: unknown, where: string): string {
  if (isIntrinsic(arn) && arn.intrinsic === '!GetAtt') {
    const [logicalId, attribute] = String(arn.value).split('.');
    if (logicalId !== undefined && attribute === 'Arn') return logicalId;
  }
  throw new Error(`${where}: an sqs event's arn must be !GetAtt <Queue>.Arn to run locally`);
}

export interface ServerlessDefinition {
  service: string;
  functions: LocalFunction[];
  /** `custom` values that are plain strings, for `\${self:custom.…}` in resource files. */
  customStrings: Record<string, string>;
  /** CloudFormation resource files included with `\${file(…)}`, relative to serverless.yml. */
  resourceFiles: string[];
}

const FILE_INCLUDE = /^\$\{file\(([^)]+)\)\}$/;

export async function readServerlessDefinition(file: string): Promise<ServerlessDefinition> {
  const parsed = serverlessSchema.safeParse(
    parseCloudFormationYaml(await readFile(file, 'utf8'), file),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const { service, custom, resources, provider, functions } = parsed.data;
  const customStrings = Object.fromEntries(
    Object.entries(custom).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
  const resourceFiles = (Array.isArray(resources) ? resources : []).flatMap((entry) => {
    const include = typeof entry === 'string' ? FILE_INCLUDE.exec(entry) : null;
    return include === null ? [] : [(include[1] as string).trim()];
  });
  const locals = Object.entries(functions).map(([name, definition]) => {
    const [, folder, exportName] = HANDLER.exec(definition.handler) as RegExpExecArray;
    const local: LocalFunction = {
      name,
      module: `functions/${folder}/handler.ts`,
      exportName: exportName as string,
      timeoutSeconds: definition.timeout ?? provider.timeout,
      routes: [],
      queues: [],
      eventPatterns: [],
      schedules: [],
    };
    for (const event of definition.events) {
      if (event.httpApi !== undefined) {
        local.routes.push({ method: event.httpApi.method.toUpperCase(), path: event.httpApi.path });
      }
      if (event.sqs !== undefined) {
        local.queues.push({
          queue: queueLogicalId(event.sqs.arn, `${file}: functions.${name}`),
          batchSize: event.sqs.batchSize,
          reportBatchItemFailures: event.sqs.functionResponseType === 'ReportBatchItemFailures',
        });
      }
      if (event.eventBridge !== undefined) local.eventPatterns.push(event.eventBridge.pattern);
      if (event.schedule !== undefined) {
        const rates = typeof event.schedule === 'string' ? event.schedule : event.schedule.rate;
        local.schedules.push(...(Array.isArray(rates) ? rates : [rates]));
      }
    }
    return local;
  });
  return { service, customStrings, functions: locals, resourceFiles };
}
