import { readFile } from 'node:fs/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { isIntrinsic, parseCloudFormationYaml } from './cloudformation-yaml.ts';

// Creates the tables and queues of a CloudFormation resources file (as `serverless.yml` includes it) in
// DynamoDB- and SQS-compatible emulators, so the local stack runs against the resources that deploy.
// Serverless variables are substituted; `!GetAtt X.Arn` between queues resolves to the created ARN.

export interface ProvisionedResources {
  /** Logical id → table name. */
  tables: Record<string, string>;
  /** Logical id → queue URL. */
  queues: Record<string, { url: string; arn: string }>;
}

// Serverless Framework variables only; `\${AWS::Region}` and other !Sub references stay for CloudFormation.
const SERVERLESS_VARIABLE = /\$\{\s*((?:self|sls|opt|env):[^}]+)\}/g;

async function readResources(
  file: string,
  variables: Readonly<Record<string, string>>,
): Promise<Record<string, { Type: string; Properties: Record<string, unknown> }>> {
  const text = (await readFile(file, 'utf8')).replace(
    SERVERLESS_VARIABLE,
    (whole, name: string) => {
      const value = variables[name.trim()];
      if (value === undefined) throw new Error(`${file}: no value for ${whole}`);
      return value;
    },
  );
  const parsed = parseCloudFormationYaml(text, file) as { Resources?: Record<string, never> };
  return parsed.Resources ?? {};
}

function attribute(value: unknown, queues: ProvisionedResources['queues']): unknown {
  if (isIntrinsic(value)) {
    const { intrinsic, value: target } = value;
    const [logicalId, name] = String(target).split('.');
    const queue = logicalId === undefined ? undefined : queues[logicalId];
    if (intrinsic === '!GetAtt' && name === 'Arn' && queue !== undefined) return queue.arn;
    throw new Error(`cannot resolve ${intrinsic} ${String(target)} locally`);
  }
  return value;
}

async function untilActive(dynamo: DynamoDBClient, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const described = await dynamo
      .send(new DescribeTableCommand({ TableName: name }))
      .catch((error: { name?: string }) => {
        if (error.name === 'ResourceNotFoundException') return undefined;
        throw error;
      });
    if (described?.Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`table ${name} did not become ACTIVE within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function provision(
  file: string,
  variables: Readonly<Record<string, string>>,
  clients: { dynamo: DynamoDBClient; sqs: SQSClient; sqsEndpoint?: string },
): Promise<ProvisionedResources> {
  const resources = await readResources(file, variables);
  const provisioned: ProvisionedResources = { tables: {}, queues: {} };
  // Queues without a redrive policy first: they are the dead-letter targets of the others.
  const queues = Object.entries(resources)
    .filter(([, resource]) => resource.Type === 'AWS::SQS::Queue')
    .sort(
      ([, a], [, b]) =>
        Number('RedrivePolicy' in a.Properties) - Number('RedrivePolicy' in b.Properties),
    );
  for (const [logicalId, { Properties: properties }] of queues) {
    const attributes: Record<string, string> = {};
    for (const key of [
      'FifoQueue',
      'ContentBasedDeduplication',
      'VisibilityTimeout',
      'MessageRetentionPeriod',
    ]) {
      if (properties[key] !== undefined) attributes[key] = String(properties[key]);
    }
    if (properties.RedrivePolicy !== undefined) {
      const redrive = properties.RedrivePolicy as Record<string, unknown>;
      attributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: attribute(redrive.deadLetterTargetArn, provisioned.queues),
        maxReceiveCount: Number(redrive.maxReceiveCount),
      });
    }
    const created = await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: String(properties.QueueName),
        Attributes: attributes,
      }),
    );
    // A queue restored from disk keeps the URL of the port it was created on; the path names it.
    const url =
      clients.sqsEndpoint === undefined
        ? (created.QueueUrl as string)
        : new URL(new URL(created.QueueUrl as string).pathname, clients.sqsEndpoint).href;
    const read = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    provisioned.queues[logicalId] = { url, arn: read.Attributes?.QueueArn as string };
  }
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::DynamoDB::Table') continue;
    const properties = resource.Properties;
    const name = String(properties.TableName);
    const exists = await clients.dynamo.send(new DescribeTableCommand({ TableName: name })).then(
      () => true,
      (error: { name?: string }) => {
        if (error.name === 'ResourceNotFoundException') return false;
        throw error;
      },
    );
    if (!exists) {
      await clients.dynamo.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: properties.AttributeDefinitions as never,
          KeySchema: properties.KeySchema as never,
        }),
      );
      // Creation finishes asynchronously, as on AWS; the first write must not race it.
      await untilActive(clients.dynamo, name);
    }
    provisioned.tables[logicalId] = name;
  }
  return provisioned;
}
