import { enableCompileCache } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { RegionTask } from './list-region.ts';
import type { ListWorkerData } from './parallel-list.ts';

// Worker thread entry: parses List regions sent by the main thread (see parallel-list.ts). A worker
// thread does not share the main thread's compile cache, so the parser's modules load after this
// thread turns on the same one, if the main thread uses one.

if (parentPort === null) throw new Error('list-worker must run as a worker thread');
const port = parentPort;
const { compileCacheDirectory } = workerData as ListWorkerData;
if (compileCacheDirectory !== undefined) enableCompileCache(compileCacheDirectory);
const { packRegionResult, transferList } = await import('./fold-codec.ts');
const { runRegionTask } = await import('./list-region.ts');
port.on('message', (task: RegionTask) => {
  const result = packRegionResult(runRegionTask(task));
  port.postMessage(result, transferList(result));
});
