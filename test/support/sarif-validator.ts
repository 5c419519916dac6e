import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type { Log, Result } from 'sarif';

// Microsoft's SARIF Multitool, with its GitHub ingestion rules. The npm wrapper runs it through a shell,
// which splits `Sarif;Gh` at the `;`; the package's main export is the native binary, called directly.
export const SARIF_MULTITOOL: string = createRequire(import.meta.url)('@microsoft/sarif-multitool');

/** Validates SARIF logs; returns the validator's results (it exits 0 even when it finds errors). */
export async function validateSarif(files: readonly string[], output: string): Promise<Result[]> {
  await promisify(execFile)(
    SARIF_MULTITOOL,
    [
      'validate',
      '--rule-kind',
      'Sarif;Gh',
      ...files,
      '--output',
      output,
      '--log',
      'ForceOverwrite',
    ],
    { timeout: 55_000 },
  );
  const log = JSON.parse(await readFile(output, 'utf8')) as Log;
  return log.runs[0]?.results ?? [];
}
