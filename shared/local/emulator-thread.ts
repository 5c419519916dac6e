import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import { startFauxqs } from 'fauxqs';

// Runs dynalite (DynamoDB) and fauxqs (SQS) on a thread of their own, so the emulators and the functions
// calling them use both cores. Posts the endpoints once listening; stops on 'stop'.

export interface EmulatorThreadData {
  dataDirectory?: string;
}

export type EmulatorThreadMessage =
  | { kind: 'ready'; dynamoEndpoint: string; sqsEndpoint: string }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped' };

async function start({ dataDirectory }: EmulatorThreadData) {
  if (dataDirectory !== undefined) {
    await mkdir(join(dataDirectory, 'dynamodb'), { recursive: true });
    await mkdir(join(dataDirectory, 'sqs'), { recursive: true });
  }
  const dynamoServer = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dataDirectory === undefined ? {} : { path: join(dataDirectory, 'dynamodb') }),
  });
  await new Promise<void>((resolve, reject) => {
    dynamoServer.once('error', reject);
    dynamoServer.listen(0, '127.0.0.1', () => resolve());
  });
  const fauxqs = await startFauxqs({
    // No `host`: with one, fauxqs names queues `sqs.<region>.<host>`, which is no valid URL for an IP.
    port: 0,
    logger: false,
    ...(dataDirectory === undefined ? {} : { dataDir: join(dataDirectory, 'sqs') }),
  });
  return {
    dynamoEndpoint: `http://127.0.0.1:${(dynamoServer.address() as AddressInfo).port}`,
    sqsEndpoint: `http://127.0.0.1:${fauxqs.port}`,
    async stop() {
      await fauxqs.stop();
      dynamoServer.closeAllConnections?.();
      await new Promise<void>((resolve) => dynamoServer.close(() => resolve()));
    },
  };
}

const port = parentPort;
if (port !== null) {
  const post = (message: EmulatorThreadMessage) => port.postMessage(message);
  try {
    const running = await start(workerData as EmulatorThreadData);
    port.once('message', async () => {
      await running.stop();
      post({ kind: 'stopped' });
      port.close();
    });
    post({
      kind: 'ready',
      dynamoEndpoint: running.dynamoEndpoint,
      sqsEndpoint: running.sqsEndpoint,
    });
  } catch (error) {
    post({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
    port.close();
  }
}
