import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { type Config, configSchema, DEFAULT_CONFIG } from './schema.ts';

export interface ConfigIssue {
  /** Dotted field path, e.g. `rules.PW001.severity`; empty for the document itself. */
  path: string;
  message: string;
  line?: number;
}

/** The configuration is unusable; every issue names the field it is about. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly source: string;
  readonly issues: ConfigIssue[];

  constructor(source: string, issues: ConfigIssue[]) {
    super(
      `invalid configuration ${source}:\n${issues
        .map((issue) => {
          const where = issue.line === undefined ? '' : `line ${issue.line}: `;
          return `  ${where}${issue.path === '' ? '(document)' : issue.path}: ${issue.message}`;
        })
        .join('\n')}`,
    );
    this.source = source;
    this.issues = issues;
  }
}

/** `images[3].state`: a field path as errors name it. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

/** Parses and validates a `pullwarden.yaml` (YAML or JSON). Throws ConfigError. */
export function parseConfig(text: string, source: string): Config {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((error) => ({
        path: '',
        message: error.message.split('\n')[0] ?? error.message,
        line: lineCounter.linePos(error.pos[0]).line,
      })),
    );
  }
  const value: unknown = document.toJS();
  if (value === null || value === undefined) {
    throw new ConfigError(source, [{ path: '', message: 'the configuration is empty' }]);
  }
  const result = configSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(
      source,
      result.error.issues.map((issue) => {
        const path = issue.path as PropertyKey[];
        const node = document.getIn(path as unknown[], true);
        // For an unknown key the issue points at the parent; its position is still the best hint.
        const range = isNode(node) ? node.range : undefined;
        const located: ConfigIssue = { path: formatPath(path), message: issue.message };
        if (range) located.line = lineCounter.linePos(range[0]).line;
        return located;
      }),
    );
  }
  return result.data;
}

export async function loadConfig(path: string | undefined): Promise<Config> {
  if (path === undefined) return DEFAULT_CONFIG;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new ConfigError(path, [{ path: '', message: reason }]);
  }
  return parseConfig(text, path);
}

/** Names a configuration file may have when it is found rather than given. */
export const CONFIG_FILE_NAMES = [
  'pullwarden.yaml',
  'pullwarden.yml',
  '.pullwarden.yaml',
  '.pullwarden.yml',
];

/**
 * Finds the configuration that applies to `paths`: the first pullwarden.yaml in their common directory or
 * above it, stopping at the repository root (a directory holding `.git`) or the filesystem root.
 */
export async function discoverConfig(
  paths: readonly string[],
  cwd = process.cwd(),
): Promise<string | undefined> {
  if (paths.length === 0) return undefined;
  const directories = await Promise.all(
    paths.map(async (path) => {
      const absolute = resolve(cwd, path);
      const info = await stat(absolute).catch(() => undefined);
      return info?.isDirectory() === true ? absolute : dirname(absolute);
    }),
  );
  let directory = directories.reduce(commonDirectory);
  for (;;) {
    for (const name of CONFIG_FILE_NAMES) {
      const candidate = join(directory, name);
      if ((await stat(candidate).catch(() => undefined))?.isFile() === true) return candidate;
    }
    if (
      await stat(join(directory, '.git')).then(
        () => true,
        () => false,
      )
    )
      return undefined;
    const parent = dirname(directory);
    if (parent === directory) return undefined;
    directory = parent;
  }
}

function commonDirectory(a: string, b: string): string {
  const left = a.split(sep);
  const right = b.split(sep);
  let shared = 0;
  while (shared < left.length && shared < right.length && left[shared] === right[shared]) shared++;
  return left.slice(0, shared).join(sep) || sep;
}
