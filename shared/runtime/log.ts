// The structured logger the domain writes to: Powertools' Logger on Lambda and in the local stack, a
// recorder in tests. Extra fields are merged into the JSON line; secrets never go in them.

export interface StructuredLog {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** An error as a log field: its name and message (never its stack or other properties). */
export function describeError(error: unknown): { name: string; message: string } | string {
  return error instanceof Error ? { name: error.name, message: error.message } : String(error);
}
