import { z } from 'zod';

// Secrets are referenced from configuration, never written into it: an environment variable, an SSM
// SecureString parameter or a Secrets Manager secret.

const name = z.string().trim().min(1, 'must not be empty');

export const secretRefSchema = z.union(
  [
    z.strictObject({ env: name.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name') }),
    z.strictObject({ ssm: name.regex(/^\//, 'must be a parameter path starting with /') }),
    z.strictObject({ secretsManager: name }),
  ],
  { error: 'must be one of {env: NAME}, {ssm: /path}, {secretsManager: id}' },
);

export type SecretRef = z.infer<typeof secretRefSchema>;

/** Where a secret lives, for messages; never its value. */
export function describeSecretRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  if ('ssm' in ref) return `SSM parameter ${ref.ssm}`;
  return `Secrets Manager secret ${ref.secretsManager}`;
}

/** Resolves references to values; implementations cache and never log values. */
export interface SecretResolver {
  resolve(ref: SecretRef): Promise<string>;
}

export class SecretUnavailableError extends Error {
  override readonly name = 'SecretUnavailableError';
  constructor(ref: SecretRef, why: string) {
    super(`${describeSecretRef(ref)} ${why}`);
  }
}

/** Reads `{env}` references from an environment; other kinds go to `fallback`. */
export function environmentSecretResolver(
  env: Readonly<Record<string, string | undefined>>,
  fallback?: SecretResolver,
): SecretResolver {
  return {
    async resolve(ref) {
      if ('env' in ref) {
        const value = env[ref.env];
        if (value === undefined || value === '')
          throw new SecretUnavailableError(ref, 'is not set');
        return value;
      }
      if (fallback === undefined) throw new SecretUnavailableError(ref, 'cannot be read here');
      return fallback.resolve(ref);
    },
  };
}
