import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import dynalite from 'dynalite';
import { startFauxqs } from 'fauxqs';

// The embedded AWS stand-ins of the local stack and the tests: dynalite (DynamoDB) and fauxqs (SQS),
// in this process, reached on loopback ports chosen by the system (fauxqs binds every interface; it
// offers no listen address). With a data directory both keep their state
// on disk (dynalite in LevelDB, fauxqs in SQLite), so a restarted local stack finds its queues and items.

export const LOCAL_REGION = 'eu-west-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
/** The account fauxqs puts in queue ARNs. */
export const LOCAL_ACCOUNT_ID = '000000000000';

export interface Emulators {
  dynamoEndpoint: string;
  sqsEndpoint: string;
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  stop(): Promise<void>;
}

export async function startEmulators(options: { dataDirectory?: string } = {}): Promise<Emulators> {
  const directory = options.dataDirectory;
  if (directory !== undefined) {
    await mkdir(join(directory, 'dynamodb'), { recursive: true });
    await mkdir(join(directory, 'sqs'), { recursive: true });
  }
  const dynamoServer = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(directory === undefined ? {} : { path: join(directory, 'dynamodb') }),
  });
  await new Promise<void>((resolve, reject) => {
    dynamoServer.once('error', reject);
    dynamoServer.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoEndpoint = `http://127.0.0.1:${(dynamoServer.address() as AddressInfo).port}`;
  const fauxqs = await startFauxqs({
    // No `host`: with one, fauxqs names queues `sqs.<region>.<host>`, which is no valid URL for an IP.
    port: 0,
    logger: false,
    ...(directory === undefined ? {} : { dataDir: join(directory, 'sqs') }),
  });
  const sqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const dynamo = new DynamoDBClient({ ...common, endpoint: dynamoEndpoint });
  const sqs = new SQSClient({ ...common, endpoint: sqsEndpoint });
  return {
    dynamoEndpoint,
    sqsEndpoint,
    dynamo,
    sqs,
    async stop() {
      dynamo.destroy();
      sqs.destroy();
      await fauxqs.stop();
      await new Promise<void>((resolve) => dynamoServer.close(() => resolve()));
    },
  };
}
