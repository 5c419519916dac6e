// Configuration from the environment, read once at start-up; a missing or malformed value stops the
// process with an error that names the variable (never its value, which may be a secret).

export class MissingEnvironmentVariableError extends Error {
  override readonly name = 'MissingEnvironmentVariableError';
  readonly variable: string;
  constructor(variable: string) {
    super(`environment variable ${variable} is required but not set`);
    this.variable = variable;
  }
}

export class InvalidEnvironmentVariableError extends Error {
  override readonly name = 'InvalidEnvironmentVariableError';
  readonly variable: string;
  constructor(variable: string, expected: string) {
    super(`environment variable ${variable} must be ${expected}`);
    this.variable = variable;
  }
}

type Environment = Readonly<Record<string, string | undefined>>;

interface Options<T> {
  readonly key: string;
  readonly defaultValue?: T;
  /** Defaults to `process.env`. */
  readonly env?: Environment;
}

function raw(name: string, env: Environment): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function getStringFromEnv(options: Options<string>): string {
  const name = options.key;
  const value = raw(name, options.env ?? process.env);
  if (value !== undefined) return value;
  if (options.defaultValue !== undefined) return options.defaultValue;
  throw new MissingEnvironmentVariableError(name);
}

export function getNumberFromEnv(
  options: Options<number> & { min?: number; max?: number },
): number {
  const name = options.key;
  const value = raw(name, options.env ?? process.env);
  if (value === undefined) {
    if (options.defaultValue !== undefined) return options.defaultValue;
    throw new MissingEnvironmentVariableError(name);
  }
  const parsed = Number(value);
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY } = options;
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    const range = Number.isFinite(min) || Number.isFinite(max) ? ` between ${min} and ${max}` : '';
    throw new InvalidEnvironmentVariableError(name, `a number${range}`);
  }
  return parsed;
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

export function getBooleanFromEnv(options: Options<boolean>): boolean {
  const name = options.key;
  const value = raw(name, options.env ?? process.env)?.toLowerCase();
  if (value === undefined) {
    if (options.defaultValue !== undefined) return options.defaultValue;
    throw new MissingEnvironmentVariableError(name);
  }
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new InvalidEnvironmentVariableError(name, 'true or false');
}
