import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type SecretRef, secretRefSchema } from '#shared/config/secret-ref.ts';

// Secrets for the local stack. Every reference in the configuration that the environment does not
// already answer gets a value kept in a file of its own under `<data>/secrets/` (mode 0600), generated
// once and reused after restarts, so a registry configured with it keeps working. Values are only ever
// written to those files, never printed: the start-up banner points at the file instead.

export interface LocalSecret {
  ref: SecretRef;
  /** The file holding the value; undefined when the environment variable is set. */
  file?: string;
  generated: boolean;
}

export interface LocalSecrets {
  entries: LocalSecret[];
  /** `{env}` references to set in the process environment. */
  environment: Record<string, string>;
  parameter(name: string): string | undefined;
  secret(id: string): string | undefined;
}

/** Every secret reference in a parsed configuration, each once. */
export function secretReferences(value: unknown, found = new Map<string, SecretRef>()) {
  if (Array.isArray(value)) {
    for (const item of value) secretReferences(item, found);
  } else if (typeof value === 'object' && value !== null) {
    const ref = secretRefSchema.safeParse(value);
    if (ref.success) found.set(JSON.stringify(ref.data), ref.data);
    else for (const item of Object.values(value)) secretReferences(item, found);
  }
  return [...found.values()];
}

function fileFor(directory: string, ref: SecretRef): string {
  const [kind, name] =
    'env' in ref
      ? ['env', ref.env]
      : 'ssm' in ref
        ? ['ssm', ref.ssm]
        : ['secretsManager', ref.secretsManager];
  // Each path segment becomes one directory level; nothing can climb out of the secrets folder.
  const segments = name
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) =>
      segment === '.' || segment === '..'
        ? encodeURIComponent(segment).replaceAll('.', '%2E')
        : encodeURIComponent(segment),
    );
  return join(directory, kind, ...segments);
}

export async function localSecrets(
  config: unknown,
  directory: string,
  environment: Readonly<Record<string, string | undefined>>,
): Promise<LocalSecrets> {
  const entries: LocalSecret[] = [];
  const env: Record<string, string> = {};
  const parameters = new Map<string, string>();
  const secrets = new Map<string, string>();
  for (const ref of secretReferences(config)) {
    if ('env' in ref && (environment[ref.env] ?? '') !== '') {
      entries.push({ ref, generated: false });
      continue;
    }
    const file = fileFor(directory, ref);
    let value = await readFile(file, 'utf8').then(
      (text) => text.trim(),
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return '';
        throw error;
      },
    );
    const generated = value === '';
    if (generated) {
      value = randomBytes(24).toString('base64url');
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(file, `${value}\n`, { mode: 0o600 });
    }
    entries.push({ ref, file, generated });
    if ('env' in ref) env[ref.env] = value;
    else if ('ssm' in ref) parameters.set(ref.ssm, value);
    else secrets.set(ref.secretsManager, value);
  }
  return {
    entries,
    environment: env,
    parameter: (name) => parameters.get(name),
    secret: (id) => secrets.get(id),
  };
}
