import { parentPort } from 'node:worker_threads';
import { packRegionResult, transferList } from './fold-codec.ts';
import { type RegionTask, runRegionTask } from './list-region.ts';

// Worker thread entry: parses List regions sent by the main thread (see parallel-list.ts).

if (parentPort === null) throw new Error('list-worker must run as a worker thread');
const port = parentPort;
port.on('message', (task: RegionTask) => {
  const result = packRegionResult(runRegionTask(task));
  port.postMessage(result, transferList(result));
});
