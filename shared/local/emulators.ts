import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import dynalite from 'dynalite';
import { startFauxqs } from 'fauxqs';

// The embedded AWS stand-ins of the local stack and the tests: dynalite (DynamoDB) and fauxqs (SQS),
// in this process, on loopback ports chosen by the system.

export const LOCAL_REGION = 'eu-west-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface Emulators {
  dynamoEndpoint: string;
  sqsEndpoint: string;
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  stop(): Promise<void>;
}

export async function startEmulators(options: { dataDirectory?: string } = {}): Promise<Emulators> {
  const dynamoServer = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.dataDirectory === undefined ? {} : { path: options.dataDirectory }),
  });
  await new Promise<void>((resolve, reject) => {
    dynamoServer.once('error', reject);
    dynamoServer.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoEndpoint = `http://127.0.0.1:${(dynamoServer.address() as AddressInfo).port}`;
  const fauxqs = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
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
