import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  compileJsonIndex,
  JSON_INDEX_MODULE,
  renderWasmModule,
} from '../../../scripts/build-wasm.ts';

test('the committed WebAssembly is what the AssemblyScript source compiles to', async () => {
  const committed = await readFile(JSON_INDEX_MODULE, 'utf8');
  const rebuilt = renderWasmModule(await compileJsonIndex());
  assert.ok(
    committed === rebuilt,
    'shared/input/json-index-wasm.ts is stale: run `npm run build:wasm` and commit the result',
  );
});
