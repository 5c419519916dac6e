import { Worker } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { EmulatorThreadData, EmulatorThreadMessage } from './emulator-thread.ts';

// The embedded AWS stand-ins of the local stack and the tests: dynalite (DynamoDB) and fauxqs (SQS), on
// a thread of this process (emulator-thread.ts), reached on loopback ports chosen by the system (fauxqs
// binds every interface; it offers no listen address). With a data directory both keep their state on
// disk (dynalite in LevelDB, fauxqs in SQLite), so a restarted local stack finds its queues and items.

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
  const data: EmulatorThreadData =
    options.dataDirectory === undefined ? {} : { dataDirectory: options.dataDirectory };
  const worker = new Worker(new URL('./emulator-thread.ts', import.meta.url), { workerData: data });
  const next = () =>
    new Promise<EmulatorThreadMessage>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the emulator thread exited with ${code}`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (message: EmulatorThreadMessage) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        resolve(message);
      });
    });
  const ready = await next();
  if (ready.kind !== 'ready') {
    await worker.terminate();
    throw new Error(
      `the emulators could not start: ${ready.kind === 'failed' ? ready.message : ready.kind}`,
    );
  }
  const { dynamoEndpoint, sqsEndpoint } = ready;
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
      const stopped = next();
      worker.postMessage('stop');
      await stopped.catch(() => undefined);
      await worker.terminate();
    },
  };
}
