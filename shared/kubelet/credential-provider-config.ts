// The kubelet's CredentialProviderConfig (--image-credential-provider-config), read and validated the way
// the kubelet does it (pkg/credentialprovider/plugin/config.go), plus warnings for patterns that are valid
// but never match what their author meant.
//
//   config    := { apiVersion: "kubelet.config.k8s.io/" ("v1alpha1" | "v1beta1" | "v1"),
//                  kind: "CredentialProviderConfig", providers: [ provider, … ] }
//   provider  := { name, matchImages: [ pattern, … ], defaultCacheDuration: go-duration,
//                  apiVersion: "credentialprovider.kubelet.k8s.io/" ("v1alpha1" | "v1beta1" | "v1"),
//                  args?: [ string, … ], env?: [ { name, value }, … ],
//                  tokenAttributes?: tokenAttrs }                       (tokenAttributes: config v1 only)
//   tokenAttrs := { serviceAccountTokenAudience, requireServiceAccount: bool, cacheType: "Token" | "ServiceAccount",
//                   requiredServiceAccountAnnotationKeys?: [ qualified-name, … ],
//                   optionalServiceAccountAnnotationKeys?: [ qualified-name, … ] }
//
// Decoding is strict (unknown and repeated fields are errors, a bare number is not a string or duration) and
// happens first; validation then runs on the config merged from every file. A directory contributes its
// *.json, *.yaml and *.yml files in name order. A JSON text (first non-blank character "{") is strict JSON;
// anything else is YAML 1.1, as the kubelet's go-yaml reads it (`yes` is a boolean there).

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Document, isMap, isNode, isScalar, LineCounter, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { formatGoDuration, GoDurationError, tryParseGoDuration } from './go-duration.ts';
import { goUrlParseError, type SchemelessParts, splitSchemeless } from './keyring.ts';
import { urlsMatch } from './url-glob.ts';

export const CONFIG_KIND = 'CredentialProviderConfig';
export const CONFIG_API_VERSIONS = [
  'kubelet.config.k8s.io/v1alpha1',
  'kubelet.config.k8s.io/v1beta1',
  'kubelet.config.k8s.io/v1',
] as const;
export const CONFIG_API_VERSION_V1 = 'kubelet.config.k8s.io/v1';

/** The exec protocol versions a provider may name; the kubelet still accepts all three. */
export const EXEC_API_VERSIONS = [
  'credentialprovider.kubelet.k8s.io/v1',
  'credentialprovider.kubelet.k8s.io/v1alpha1',
  'credentialprovider.kubelet.k8s.io/v1beta1',
] as const;
export const EXEC_API_VERSION_V1 = 'credentialprovider.kubelet.k8s.io/v1';

export const TOKEN_CACHE_TYPES = ['ServiceAccount', 'Token'] as const;

/** Extensions the kubelet reads from a config directory (compared as written). */
export const CONFIG_FILE_EXTENSIONS = ['.json', '.yaml', '.yml'] as const;

// ---------------------------------------------------------------------------------------------------------
// Qualified names (k8s.io/apimachinery validation.IsQualifiedName), which annotation keys must be.
//
//   qualified-name := [ prefix "/" ] name
//   prefix         := RFC 1123 subdomain, at most 253 characters
//   name           := [A-Za-z0-9] ( [-A-Za-z0-9_.]* [A-Za-z0-9] )?, at most 63 characters
// ---------------------------------------------------------------------------------------------------------

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_RULE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";

/** IsQualifiedName's messages for `value`; empty when it is a qualified name. */
export function qualifiedNameErrors(value: string): string[] {
  const parts = value.split('/');
  if (parts.length > 2) {
    return [
      `a qualified name ${QUALIFIED_NAME_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  const errors: string[] = [];
  const name = parts.length === 2 ? (parts[1] as string) : (parts[0] as string);
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix === '') errors.push('prefix part must be non-empty');
    else {
      if (prefix.length > 253) errors.push('prefix part must be no more than 253 characters');
      if (!DNS1123_SUBDOMAIN.test(prefix)) {
        errors.push(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
        );
      }
    }
  }
  if (name === '') errors.push('name part must be non-empty');
  else if (name.length > 63) errors.push('name part must be no more than 63 characters');
  if (!QUALIFIED_NAME.test(name)) errors.push(`name part ${QUALIFIED_NAME_RULE}`);
  return errors;
}

// ---------------------------------------------------------------------------------------------------------
// Results.
// ---------------------------------------------------------------------------------------------------------

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: Severity;
  /** Stable identifier, e.g. `unknown-field`, `required`, `port`, `label-count`. */
  readonly code: string;
  readonly file: string;
  /** 1-based line, when the text locates it. */
  readonly line?: number;
  /** Field path such as `providers[1].matchImages[0]`; "" for the file as a whole. */
  readonly path: string;
  readonly message: string;
}

export interface TokenAttributes {
  readonly serviceAccountTokenAudience: string;
  readonly requireServiceAccount: boolean | undefined;
  readonly cacheType: string;
  readonly requiredServiceAccountAnnotationKeys: readonly string[];
  readonly optionalServiceAccountAnnotationKeys: readonly string[];
}

/** A provider as far as it could be read; fields of the wrong type read as empty. */
export interface CredentialProvider {
  readonly name: string;
  readonly apiVersion: string;
  readonly matchImages: readonly string[];
  readonly defaultCacheDuration: string | undefined;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly tokenAttributes: TokenAttributes | undefined;
  /** The file that defines it and its index in that file's `providers`. */
  readonly file: string;
  readonly index: number;
}

export interface CredentialProviderConfigReport {
  /** Files read, in the order the kubelet merges them. */
  readonly files: readonly string[];
  /** Directory entries the kubelet does not read (wrong extension). */
  readonly skippedFiles: readonly string[];
  readonly providers: readonly CredentialProvider[];
  /** Errors and warnings in file order. */
  readonly diagnostics: readonly Diagnostic[];
  readonly errors: readonly Diagnostic[];
  readonly warnings: readonly Diagnostic[];
}

export interface ConfigSource {
  readonly file: string;
  readonly text: string;
}

// ---------------------------------------------------------------------------------------------------------
// Strict decoding: types and field names only (zod), validation follows separately like in the kubelet.
// Go decodes null into the zero value, so every field is nullish here and "required" is validation's job.
// ---------------------------------------------------------------------------------------------------------

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a timestamp';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function expected(what: string, hint = '') {
  return {
    error: (issue: { code?: string; input?: unknown }) =>
      issue.code === 'invalid_type'
        ? `expected ${what}, got ${jsonType(issue.input)}${hint}`
        : undefined,
  };
}

const QUOTE_HINT = ' (quote it)';
const goString = z.string(expected('a string', QUOTE_HINT));
const goBool = z.boolean(expected('true or false'));
const goDuration = z.string(
  expected('a duration string such as "12h"', '; a bare number is not a duration, quote it'),
);
const stringList = z.array(goString, expected('a list of strings'));

const envVarSchema = z.strictObject(
  { name: goString.nullish(), value: goString.nullish() },
  expected('an object with name and value'),
);

const tokenAttributesSchema = z.strictObject(
  {
    serviceAccountTokenAudience: goString.nullish(),
    requireServiceAccount: goBool.nullish(),
    requiredServiceAccountAnnotationKeys: stringList.nullish(),
    optionalServiceAccountAnnotationKeys: stringList.nullish(),
    cacheType: goString.nullish(),
  },
  expected('an object'),
);

const providerFields = {
  name: goString.nullish(),
  matchImages: stringList.nullish(),
  defaultCacheDuration: goDuration.nullish(),
  apiVersion: goString.nullish(),
  args: stringList.nullish(),
  env: z.array(envVarSchema, expected('a list of {name, value} objects')).nullish(),
};

// tokenAttributes exists only in kubelet.config.k8s.io/v1; older config versions reject it as unknown.
const providerSchemaV1 = z.strictObject(
  { ...providerFields, tokenAttributes: tokenAttributesSchema.nullish() },
  expected('an object'),
);
const providerSchemaBeta = z.strictObject(providerFields, expected('an object'));

function configSchema(provider: z.ZodType) {
  return z.strictObject(
    {
      apiVersion: goString.nullish(),
      kind: goString.nullish(),
      providers: z.array(provider, expected('a list of providers')).nullish(),
    },
    expected('a CredentialProviderConfig object'),
  );
}
const configSchemaV1 = configSchema(providerSchemaV1);
const configSchemaBeta = configSchema(providerSchemaBeta);

const KNOWN_FIELDS = [
  'apiVersion',
  'kind',
  'providers',
  ...Object.keys(providerSchemaV1.shape),
  ...Object.keys(envVarSchema.shape),
  ...Object.keys(tokenAttributesSchema.shape),
];

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

// Field names are case-sensitive in the kubelet's decoder, so `MatchImages` is a typo worth naming.
function suggestField(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = allowed.find((field) => field.toLowerCase() === lower);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestDistance = 3;
  for (const field of allowed) {
    const distance = editDistance(lower, field.toLowerCase());
    if (distance < bestDistance) {
      best = field;
      bestDistance = distance;
    }
  }
  return best;
}

type PathSegment = string | number;

export function formatFieldPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/** One file, read: its value, and where in the text each path is. */
interface DecodedFile {
  readonly file: string;
  readonly value: unknown;
  readonly lineOf: (path: readonly PathSegment[], key?: string) => number | undefined;
}

class Collector {
  readonly diagnostics: Diagnostic[] = [];

  add(
    severity: Severity,
    code: string,
    file: string,
    path: readonly PathSegment[],
    message: string,
    line: number | undefined,
  ): void {
    this.diagnostics.push({
      severity,
      code,
      file,
      ...(line === undefined ? {} : { line }),
      path: formatFieldPath(path),
      message,
    });
  }
}

function locator(document: Document | undefined, lineCounter: LineCounter): DecodedFile['lineOf'] {
  return (path, key) => {
    if (document === undefined) return undefined;
    if (key !== undefined) {
      const parent = path.length === 0 ? document.contents : document.getIn(path, true);
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === key);
        if (isNode(pair?.key) && pair.key.range) return lineCounter.linePos(pair.key.range[0]).line;
      }
    }
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? document.contents : document.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
}

// The yaml parser points at the start of a repeated key; the key runs to its ":".
function keyAt(text: string, offset: number): string {
  const key = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^:\n]*?)\s*:/.exec(text.slice(offset))?.[1];
  if (key === undefined) return text.slice(offset, offset + 1);
  return /^["']/.test(key) ? key.slice(1, -1) : key;
}

function decodeText(source: ConfigSource, out: Collector): DecodedFile | undefined {
  const { file, text } = source;
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, {
    version: '1.1',
    uniqueKeys: true,
    prettyErrors: false,
    lineCounter,
  });
  const list = Array.isArray(documents) ? documents : [];
  const document = list[0];
  const lineOf = locator(document, lineCounter);
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  let failed = false;
  for (const problem of list.flatMap((doc) => doc.errors)) {
    failed = true;
    const duplicate = problem.code === 'DUPLICATE_KEY';
    out.add(
      'error',
      duplicate ? 'duplicate-field' : 'syntax',
      file,
      [],
      duplicate
        ? `duplicate field ${JSON.stringify(keyAt(text, problem.pos[0]))} (the kubelet's strict decoder rejects repeated keys)`
        : `YAML: ${problem.message.split('\n')[0]}`,
      lineAt(problem.pos[0]),
    );
  }

  let value: unknown;
  if (/^\s*\{/.test(text)) {
    // The kubelet reads a text starting with "{" as JSON, so YAML's leniencies (trailing commas,
    // comments, unquoted strings) are errors there.
    try {
      value = JSON.parse(text);
    } catch (error) {
      const position = /position (\d+)/.exec((error as Error).message)?.[1];
      out.add(
        'error',
        'syntax',
        file,
        [],
        `JSON: ${(error as Error).message}`,
        position === undefined ? undefined : lineAt(Number(position)),
      );
      return undefined;
    }
  } else {
    if (failed) return undefined;
    if (list.length > 1) {
      out.add(
        'warning',
        'multiple-documents',
        file,
        [],
        `the file holds ${list.length} YAML documents, but the kubelet decodes one object per file; put each in its own file of a config directory`,
        list[1]?.range ? lineAt(list[1].range[0]) : undefined,
      );
    }
    value = document?.toJS() ?? null;
  }
  if (value === null || value === undefined) {
    out.add('error', 'required', file, [], "the file is empty: Object 'Kind' is missing", 1);
    return undefined;
  }
  return { file, value, lineOf };
}

function decodeIssues(decoded: DecodedFile, schema: z.ZodType, configV1: boolean, out: Collector) {
  const result = schema.safeParse(decoded.value);
  if (result.success) return;
  for (const issue of result.error.issues) {
    const path = issue.path as PathSegment[];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        let message = 'unknown field';
        if (key === 'tokenAttributes' && !configV1) {
          message += ` (tokenAttributes exists only in ${CONFIG_API_VERSION_V1} configs)`;
        } else {
          const suggestion = suggestField(key, KNOWN_FIELDS);
          if (suggestion !== undefined) message += ` (did you mean "${suggestion}"?)`;
        }
        out.add(
          'error',
          'unknown-field',
          decoded.file,
          [...path, key],
          message,
          decoded.lineOf(path, key),
        );
      }
    } else {
      out.add('error', 'type', decoded.file, path, issue.message, decoded.lineOf(path));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Validation (validateCredentialProviderConfig), on the raw decoded values so that one bad field does not
// hide the others; fields of the wrong type were reported by decoding and are skipped here.
// ---------------------------------------------------------------------------------------------------------

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function absent(value: unknown): boolean {
  return value === undefined || value === null;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

/** [index, text] of the string elements of a list, skipping the ill-typed ones. */
function stringEntries(value: unknown): [number, string][] {
  if (!Array.isArray(value)) return [];
  const entries: [number, string][] = [];
  value.forEach((item, index) => {
    if (typeof item === 'string') entries.push([index, item]);
  });
  return entries;
}

interface ProviderOrigin {
  readonly file: string;
  readonly path: string;
}

interface ValidationScope {
  readonly decoded: DecodedFile;
  readonly out: Collector;
  readonly names: Map<string, ProviderOrigin>;
  /** Older config versions have no tokenAttributes: decoding already rejected it there. */
  readonly configV1: boolean;
}

function validateProvider(raw: Raw, index: number, scope: ValidationScope): void {
  const { decoded, out, names, configV1 } = scope;
  const base: PathSegment[] = ['providers', index];
  const error = (path: readonly PathSegment[], code: string, message: string) =>
    out.add(
      'error',
      code,
      decoded.file,
      [...base, ...path],
      message,
      decoded.lineOf([...base, ...path]),
    );

  const name = raw.name;
  if (absent(name) || name === '') {
    error(
      ['name'],
      'required',
      'required: the kubelet runs <bin-dir>/<name> and does not start without it',
    );
  } else if (typeof name === 'string') {
    if (name.includes('/')) error(['name'], 'invalid', "provider name cannot contain '/'");
    if (name.includes(' ')) error(['name'], 'invalid', 'provider name cannot contain spaces');
    if (name === '.' || name === '..') {
      error(['name'], 'invalid', `provider name cannot be '${name}'`);
    }
    const first = names.get(name);
    if (first !== undefined) {
      error(
        ['name'],
        'duplicate',
        `duplicate provider name ${JSON.stringify(name)} (first defined at ${first.file} ${first.path})`,
      );
    } else names.set(name, { file: decoded.file, path: formatFieldPath(base) });
  }

  const apiVersion = raw.apiVersion;
  if (absent(apiVersion) || apiVersion === '') {
    error(['apiVersion'], 'required', `required: one of ${EXEC_API_VERSIONS.join(', ')}`);
  } else if (
    typeof apiVersion === 'string' &&
    !(EXEC_API_VERSIONS as readonly string[]).includes(apiVersion)
  ) {
    error(
      ['apiVersion'],
      'unsupported',
      `unsupported value ${JSON.stringify(apiVersion)}: supported values are ${EXEC_API_VERSIONS.join(', ')}`,
    );
  }

  const matchImages = raw.matchImages;
  if (absent(matchImages) || (Array.isArray(matchImages) && matchImages.length === 0)) {
    error(['matchImages'], 'required', "at least 1 item in plugin's matchImages is required");
  }
  for (const [i, pattern] of stringEntries(matchImages)) {
    const problem = goUrlParseError(pattern);
    if (problem !== undefined) {
      error(['matchImages', i], 'invalid', `match image is invalid: ${problem}`);
    }
  }

  const duration = raw.defaultCacheDuration;
  if (absent(duration)) error(['defaultCacheDuration'], 'required', 'required');
  else if (typeof duration === 'string') {
    const parsed = tryParseGoDuration(duration);
    if (parsed instanceof GoDurationError)
      error(['defaultCacheDuration'], 'invalid', parsed.message);
    else if (parsed < 0n) {
      error(['defaultCacheDuration'], 'invalid', 'must be greater than or equal to 0');
    }
  }

  const tokenAttributes = raw.tokenAttributes;
  if (configV1 && isRecord(tokenAttributes)) {
    validateTokenAttributes(tokenAttributes, apiVersion, (path, code, message) =>
      error(['tokenAttributes', ...path], code, message),
    );
  }
}

function validateTokenAttributes(
  raw: Raw,
  apiVersion: unknown,
  error: (path: readonly PathSegment[], code: string, message: string) => void,
): void {
  const audience = raw.serviceAccountTokenAudience;
  if (absent(audience) || audience === '') {
    error(['serviceAccountTokenAudience'], 'required', 'required');
  }
  if (absent(raw.requireServiceAccount)) {
    error(['requireServiceAccount'], 'required', 'required: set it to true or false explicitly');
  }
  // An absent apiVersion is "" to Go, which is not v1 either.
  const execVersion = absent(apiVersion) ? '' : apiVersion;
  if (typeof execVersion === 'string' && execVersion !== EXEC_API_VERSION_V1) {
    error(
      [],
      'forbidden',
      `tokenAttributes is only supported for ${EXEC_API_VERSION_V1} API version`,
    );
  }
  const required = stringEntries(raw.requiredServiceAccountAnnotationKeys);
  const optional = stringEntries(raw.optionalServiceAccountAnnotationKeys);
  if (raw.requireServiceAccount === false && required.length > 0) {
    error(
      ['requiredServiceAccountAnnotationKeys'],
      'forbidden',
      'requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys is set',
    );
  }
  for (const [field, keys] of [
    ['requiredServiceAccountAnnotationKeys', required],
    ['optionalServiceAccountAnnotationKeys', optional],
  ] as const) {
    const seen = new Set<string>();
    for (const [i, key] of keys) {
      // The rule is IsQualifiedName, except that case does not matter.
      for (const message of qualifiedNameErrors(key.toLowerCase())) {
        error([field, i], 'invalid', `${JSON.stringify(key)}: ${message}`);
      }
      if (seen.has(key)) error([field, i], 'duplicate', `duplicate value ${JSON.stringify(key)}`);
      seen.add(key);
    }
  }
  const optionalSet = new Set(optional.map(([, key]) => key));
  const both = [...new Set(required.map(([, key]) => key))].filter((key) => optionalSet.has(key));
  if (both.length > 0) {
    error(
      [],
      'invalid',
      `annotation keys cannot be both required and optional: ${both.sort().join(', ')}`,
    );
  }
  const cacheType = raw.cacheType;
  if (absent(cacheType) || cacheType === '') {
    error(
      ['cacheType'],
      'required',
      `cacheType is required to be set when tokenAttributes is specified; supported values are ${TOKEN_CACHE_TYPES.join(', ')}`,
    );
  } else if (
    typeof cacheType === 'string' &&
    !(TOKEN_CACHE_TYPES as readonly string[]).includes(cacheType)
  ) {
    error(
      ['cacheType'],
      'unsupported',
      `unsupported value ${JSON.stringify(cacheType)}: supported values are ${TOKEN_CACHE_TYPES.join(', ')}`,
    );
  }
}

function readProvider(raw: unknown, file: string, index: number): CredentialProvider {
  const record = isRecord(raw) ? raw : {};
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  const token = record.tokenAttributes;
  return {
    name: text(record.name),
    apiVersion: text(record.apiVersion),
    matchImages: strings(record.matchImages),
    defaultCacheDuration:
      typeof record.defaultCacheDuration === 'string' ? record.defaultCacheDuration : undefined,
    args: strings(record.args),
    env: (Array.isArray(record.env) ? record.env : [])
      .filter(isRecord)
      .map((entry) => ({ name: text(entry.name), value: text(entry.value) })),
    tokenAttributes: isRecord(token)
      ? {
          serviceAccountTokenAudience: text(token.serviceAccountTokenAudience),
          requireServiceAccount:
            typeof token.requireServiceAccount === 'boolean'
              ? token.requireServiceAccount
              : undefined,
          cacheType: text(token.cacheType),
          requiredServiceAccountAnnotationKeys: strings(token.requiredServiceAccountAnnotationKeys),
          optionalServiceAccountAnnotationKeys: strings(token.optionalServiceAccountAnnotationKeys),
        }
      : undefined,
    file,
    index,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Warnings: valid configurations that do not do what they look like they do (research §1.9, §2.2, §8.1).
// ---------------------------------------------------------------------------------------------------------

interface RegistryFamily {
  /** Literal trailing host labels, e.g. `amazonaws.com`. */
  readonly suffix: string;
  readonly what: string;
  /** Real hosts of this family; a pattern needs the label count of one of them. */
  readonly samples: readonly string[];
  readonly use: string;
  /** Only patterns that look like ECR patterns are checked (amazonaws.com hosts many other services). */
  readonly ecr: boolean;
}

const ACCOUNT = '123456789012';
const REGISTRY_FAMILIES: readonly RegistryFamily[] = [
  {
    suffix: 'amazonaws.com',
    what: 'private ECR hosts',
    samples: [
      `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`,
      `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`,
    ],
    use: '"*.dkr.ecr.*.amazonaws.com" (and "*.dkr.ecr-fips.*.amazonaws.com" for FIPS)',
    ecr: true,
  },
  {
    suffix: 'amazonaws.com.cn',
    what: 'China ECR hosts',
    samples: [`${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`],
    use: '"*.dkr.ecr.*.amazonaws.com.cn"',
    ecr: true,
  },
  {
    suffix: 'on.aws',
    what: 'dual-stack ECR hosts',
    samples: [`${ACCOUNT}.dkr-ecr.us-west-2.on.aws`, `${ACCOUNT}.dkr-ecr-fips.us-west-2.on.aws`],
    use: '"*.dkr-ecr.*.on.aws" (and "*.dkr-ecr-fips.*.on.aws" for FIPS)',
    ecr: true,
  },
  {
    suffix: 'on.amazonwebservices.com.cn',
    what: 'dual-stack China ECR hosts',
    samples: [`${ACCOUNT}.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn`],
    use: '"*.dkr-ecr.*.on.amazonwebservices.com.cn"',
    ecr: true,
  },
  {
    suffix: 'amazonaws.eu',
    what: 'EU sovereign cloud ECR hosts',
    samples: [`${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.eu`],
    use: '"*.dkr.ecr.*.amazonaws.eu"',
    ecr: true,
  },
  {
    suffix: 'c2s.ic.gov',
    what: 'ECR hosts',
    samples: [`${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`],
    use: '"*.dkr.ecr.*.c2s.ic.gov"',
    ecr: true,
  },
  {
    suffix: 'sc2s.sgov.gov',
    what: 'ECR hosts',
    samples: [`${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`],
    use: '"*.dkr.ecr.*.sc2s.sgov.gov"',
    ecr: true,
  },
  {
    suffix: 'cloud.adc-e.uk',
    what: 'ECR hosts',
    samples: [`${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk`],
    use: '"*.dkr.ecr.*.cloud.adc-e.uk"',
    ecr: true,
  },
  {
    suffix: 'csp.hci.ic.gov',
    what: 'ECR hosts',
    samples: [`${ACCOUNT}.dkr.ecr.us-isof-east-1.csp.hci.ic.gov`],
    use: '"*.dkr.ecr.*.csp.hci.ic.gov"',
    ecr: true,
  },
  {
    suffix: 'ecr.aws',
    what: 'the ECR Public host',
    samples: ['public.ecr.aws'],
    use: '"public.ecr.aws"',
    ecr: false,
  },
  {
    suffix: 'azurecr.io',
    what: 'ACR hosts',
    samples: ['myregistry.azurecr.io'],
    use: '"*.azurecr.io"',
    ecr: false,
  },
  {
    suffix: 'gcr.io',
    what: 'GCR hosts',
    samples: ['gcr.io', 'us.gcr.io'],
    use: '"gcr.io" and "*.gcr.io"',
    ecr: false,
  },
  {
    suffix: 'pkg.dev',
    what: 'Artifact Registry hosts',
    samples: ['us-docker.pkg.dev'],
    use: '"*.pkg.dev"',
    ecr: false,
  },
];

/** Endpoints an ECR provider should cover: the patterns EKS nodes are configured with (research §2.2). */
const ECR_ENDPOINTS: readonly {
  readonly what: string;
  readonly sample: string;
  readonly pattern: string;
  /** Only expected when the provider already covers this host (a partition it serves). */
  readonly when?: string;
}[] = [
  {
    what: 'private ECR',
    sample: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`,
    pattern: '*.dkr.ecr.*.amazonaws.com',
  },
  {
    what: 'dual-stack',
    sample: `${ACCOUNT}.dkr-ecr.us-east-1.on.aws`,
    pattern: '*.dkr-ecr.*.on.aws',
  },
  {
    what: 'FIPS',
    sample: `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`,
    pattern: '*.dkr.ecr-fips.*.amazonaws.com',
  },
  {
    what: 'dual-stack FIPS',
    sample: `${ACCOUNT}.dkr-ecr-fips.us-east-1.on.aws`,
    pattern: '*.dkr-ecr-fips.*.on.aws',
  },
  { what: 'ECR Public', sample: 'public.ecr.aws', pattern: 'public.ecr.aws' },
  { what: 'dual-stack ECR Public', sample: 'ecr-public.aws.com', pattern: 'ecr-public.aws.com' },
  {
    what: 'dual-stack China',
    sample: `${ACCOUNT}.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn`,
    pattern: '*.dkr-ecr.*.on.amazonwebservices.com.cn',
    when: `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`,
  },
];

const ECR_TOKEN_HOURS = 12n;

function hostPortOf(pattern: string): string {
  return pattern.split(/[/?#]/)[0] ?? '';
}

/** The host and port part of a pattern matches `host` (paths narrow a pattern, not its endpoint). */
function coversHost(patterns: readonly string[], host: string): boolean {
  return patterns.some((pattern) => urlsMatch(hostPortOf(pattern), host));
}

function looksLikeEcr(text: string): boolean {
  return /ecr|dkr/i.test(text);
}

function labelCountWarning(parts: SchemelessParts): string | undefined {
  const { labels } = parts;
  let family: RegistryFamily | undefined;
  for (const candidate of REGISTRY_FAMILIES) {
    const suffix = candidate.suffix.split('.');
    const tail = labels.slice(-suffix.length);
    if (labels.length >= suffix.length && tail.join('.') === candidate.suffix) {
      if (family === undefined || suffix.length > family.suffix.split('.').length)
        family = candidate;
    }
  }
  if (family === undefined) return undefined;
  const head = labels.slice(0, labels.length - family.suffix.split('.').length);
  if (family.ecr && !(looksLikeEcr(parts.host) || head.every((label) => /[*[]/.test(label)))) {
    return undefined;
  }
  const counts = family.samples.map((sample) => sample.split('.').length);
  if (counts.includes(labels.length)) return undefined;
  const sample = family.samples[0] as string;
  return `${JSON.stringify(parts.host)} has ${labels.length} host label${labels.length === 1 ? '' : 's'} but ${family.what} such as ${sample} have ${sample.split('.').length}; "*" matches exactly one label, so this pattern never matches them. Use ${family.use}`;
}

const IPV4 = /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/;

interface PatternIndex {
  /** Hosts listed with a port, and hosts listed without one, across the whole config. */
  readonly withPort: Set<string>;
  readonly withoutPort: Set<string>;
}

function patternWarnings(
  pattern: string,
  index: PatternIndex,
): { code: string; message: string }[] {
  const parts = splitSchemeless(pattern);
  if (parts === undefined) return []; // an error already
  if (pattern === '')
    return [{ code: 'empty-pattern', message: 'an empty pattern matches no image' }];
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(pattern);
  if (scheme !== null) {
    return [
      {
        code: 'scheme',
        message: `matchImages entries take no scheme: the kubelet reads this as host "${scheme[1]}" and the pattern matches nothing; write ${JSON.stringify(pattern.slice(scheme[0].length))}`,
      },
    ];
  }
  const warnings: { code: string; message: string }[] = [];
  const warn = (code: string, message: string) => warnings.push({ code, message });
  if (parts.ignored !== '') {
    warn(
      'query',
      `"?" and "#" start a URL query or fragment, so ${JSON.stringify(parts.ignored)} is ignored and the pattern is ${JSON.stringify(pattern.slice(0, pattern.length - parts.ignored.length))}; "?" is not a wildcard`,
    );
  }
  if (/[*[\]]/.test(parts.path)) {
    warn(
      'path-glob',
      `the path ${JSON.stringify(parts.path)} is a plain string prefix: "*" there is a literal character, so only images whose path starts with ${JSON.stringify(parts.path)} match; to cover every repository on the host, drop the path`,
    );
  }
  if (parts.port !== '' && !index.withoutPort.has(parts.host)) {
    warn(
      'port',
      `the pattern has port ${parts.port}, so it matches only images written with exactly "${parts.host}:${parts.port}"; "${parts.host}/…" without a port (or with another port) does not match. Add ${JSON.stringify(parts.host)} too if images also name the host without the port`,
    );
  }
  const addressLike =
    parts.host === 'localhost' || IPV4.test(parts.host) || parts.host.startsWith('[');
  if (parts.port === '' && addressLike && !index.withPort.has(parts.host)) {
    warn(
      'no-port',
      `the pattern has no port, so images such as "${parts.host}:5000/app" do not match (ports must be equal; a missing port is not a wildcard)`,
    );
  }
  if (parts.labels.every((label) => label === '*')) {
    const n = parts.labels.length;
    warn(
      'wildcard-only',
      `"*" matches exactly one host label, so this pattern matches only hosts with ${n} label${n === 1 ? ' (such as "localhost")' : 's'}, not every image; the kubelet has no catch-all pattern`,
    );
  }
  if (/[A-Z]/.test(parts.host)) {
    warn(
      'case',
      'host matching is case-sensitive and registry hosts in image names are normally lowercase',
    );
  }
  const last = parts.labels.slice(-2).join('.');
  if (last === 'amazonaws.cn') {
    warn(
      'amazonaws-cn',
      `China ECR hosts end in ".amazonaws.com.cn" (e.g. ${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn), so this pattern never matches them; use "*.dkr.ecr.*.amazonaws.com.cn"`,
    );
  } else {
    const labelCount = labelCountWarning(parts);
    if (labelCount !== undefined) warn('label-count', labelCount);
  }
  return warnings;
}

function providerWarnings(
  provider: CredentialProvider,
  index: PatternIndex,
  warn: (path: readonly PathSegment[], code: string, message: string) => void,
): void {
  const seen = new Map<string, number>();
  provider.matchImages.forEach((pattern, i) => {
    const first = seen.get(pattern);
    if (first !== undefined) {
      warn(['matchImages', i], 'duplicate-pattern', `same pattern as matchImages[${first}]`);
      return;
    }
    seen.set(pattern, i);
    for (const { code, message } of patternWarnings(pattern, index)) {
      warn(['matchImages', i], code, message);
    }
  });

  if (provider.name.includes('\\')) {
    warn(['name'], 'name-separator', "'\\' is a path separator on Windows nodes");
  }
  const envNames = new Map<string, number>();
  provider.env.forEach((entry, i) => {
    const first = envNames.get(entry.name);
    if (first !== undefined) {
      warn(
        ['env', i],
        'env-duplicate',
        `${JSON.stringify(entry.name)} is also set by env[${first}]; the last one wins`,
      );
    } else envNames.set(entry.name, i);
  });

  const duration =
    provider.defaultCacheDuration === undefined
      ? undefined
      : tryParseGoDuration(provider.defaultCacheDuration);
  if (duration === 0n) {
    warn(
      ['defaultCacheDuration'],
      'no-cache',
      'responses without cacheDuration are not cached, so the kubelet execs the plugin again for every pull that needs credentials',
    );
  }

  const ecr =
    looksLikeEcr(provider.name) ||
    provider.matchImages.some((pattern) => looksLikeEcr(hostPortOf(pattern)));
  if (!ecr) return;
  if (provider.apiVersion !== '' && provider.apiVersion !== EXEC_API_VERSION_V1) {
    warn(
      ['apiVersion'],
      'ecr-api-version',
      `the ECR credential provider accepts only ${EXEC_API_VERSION_V1} requests and fails every exec with ${JSON.stringify(provider.apiVersion)}`,
    );
  }
  if (typeof duration === 'bigint' && duration > ECR_TOKEN_HOURS * 3_600_000_000_000n) {
    warn(
      ['defaultCacheDuration'],
      'ecr-cache-duration',
      `ECR tokens are valid for ${ECR_TOKEN_HOURS} hours; when a response omits cacheDuration the kubelet keeps its token for ${formatGoDuration(duration)}, past its expiry`,
    );
  }
  const missing = ECR_ENDPOINTS.filter(
    (endpoint) =>
      (endpoint.when === undefined || coversHost(provider.matchImages, endpoint.when)) &&
      !coversHost(provider.matchImages, endpoint.sample),
  );
  if (missing.length > 0) {
    warn(
      ['matchImages'],
      'ecr-missing-patterns',
      `this ECR provider does not cover ${missing.map((endpoint) => `${endpoint.what} (${JSON.stringify(endpoint.pattern)}, e.g. ${endpoint.sample})`).join(', ')}; the kubelet pulls those images without credentials`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Entry points.
// ---------------------------------------------------------------------------------------------------------

export interface CheckOptions {
  /** Name for config-wide problems ("no providers"): the file or directory given. */
  readonly origin?: string;
  /** Directory entries the kubelet skips, reported as warnings. */
  readonly skippedFiles?: readonly string[];
}

/**
 * Decodes, merges and validates config texts in the order given (the kubelet's directory order), and adds
 * warnings. Never throws for bad input: every problem is a diagnostic.
 */
export function checkCredentialProviderConfig(
  sources: readonly ConfigSource[],
  options: CheckOptions = {},
): CredentialProviderConfigReport {
  const out = new Collector();
  const origin = options.origin ?? sources[0]?.file ?? '';
  const skippedFiles = options.skippedFiles ?? [];
  for (const file of skippedFiles) {
    out.add(
      'warning',
      'skipped-file',
      file,
      [],
      `not read: the kubelet reads only ${CONFIG_FILE_EXTENSIONS.map((ext) => `*${ext}`).join(', ')} files from a config directory`,
      undefined,
    );
  }
  const names = new Map<string, ProviderOrigin>();
  const providers: CredentialProvider[] = [];
  // The decoded file each provider comes from, for locating warnings.
  const owners: DecodedFile[] = [];
  let configsRead = 0;

  for (const source of sources) {
    const decoded = decodeText(source, out);
    if (decoded === undefined) continue;
    const value = decoded.value;
    const record = isRecord(value) ? value : undefined;
    const apiVersion = record?.apiVersion;
    const configV1 =
      typeof apiVersion !== 'string' ||
      !(CONFIG_API_VERSIONS as readonly string[]).includes(apiVersion) ||
      apiVersion === CONFIG_API_VERSION_V1;
    decodeIssues(decoded, configV1 ? configSchemaV1 : configSchemaBeta, configV1, out);
    if (record === undefined) continue;
    configsRead++;

    const error = (path: PathSegment[], code: string, message: string) =>
      out.add('error', code, decoded.file, path, message, decoded.lineOf(path));
    if (absent(record.kind) || record.kind === '') {
      error(['kind'], 'required', `Object 'Kind' is missing: set kind: ${CONFIG_KIND}`);
    } else if (typeof record.kind === 'string' && record.kind !== CONFIG_KIND) {
      error(
        ['kind'],
        'unsupported',
        `kind must be ${CONFIG_KIND}, got ${JSON.stringify(record.kind)}`,
      );
    }
    if (absent(apiVersion) || apiVersion === '') {
      error(['apiVersion'], 'required', `required: one of ${CONFIG_API_VERSIONS.join(', ')}`);
    } else if (
      typeof apiVersion === 'string' &&
      !(CONFIG_API_VERSIONS as readonly string[]).includes(apiVersion)
    ) {
      error(
        ['apiVersion'],
        'unsupported',
        `no kind ${CONFIG_KIND} is registered for version ${JSON.stringify(apiVersion)}: use one of ${CONFIG_API_VERSIONS.join(', ')}`,
      );
    }

    const list = Array.isArray(record.providers) ? record.providers : [];
    if (list.length === 0 && sources.length > 1) {
      out.add(
        'warning',
        'no-providers',
        decoded.file,
        ['providers'],
        'this file adds no providers',
        decoded.lineOf(['providers']),
      );
    }
    list.forEach((raw, i) => {
      if (isRecord(raw)) validateProvider(raw, i, { decoded, out, names, configV1 });
      providers.push(readProvider(raw, decoded.file, i));
      owners.push(decoded);
    });
  }

  if (providers.length === 0 && configsRead > 0) {
    out.add(
      'error',
      'required',
      origin,
      ['providers'],
      'at least 1 item in plugins is required',
      undefined,
    );
  }
  if (sources.length === 0) {
    out.add(
      'error',
      'no-files',
      origin,
      [],
      `no ${CONFIG_FILE_EXTENSIONS.map((ext) => `*${ext}`).join(', ')} files in the directory, so the kubelet finds no providers`,
      undefined,
    );
  }

  // Warnings need the whole config: whether a host is also listed with(out) a port anywhere.
  const index: PatternIndex = { withPort: new Set(), withoutPort: new Set() };
  for (const provider of providers) {
    for (const pattern of provider.matchImages) {
      const parts = splitSchemeless(pattern);
      if (parts !== undefined)
        (parts.port === '' ? index.withoutPort : index.withPort).add(parts.host);
    }
  }
  providers.forEach((provider, i) => {
    const decoded = owners[i] as DecodedFile;
    const base: PathSegment[] = ['providers', provider.index];
    providerWarnings(provider, index, (path, code, message) =>
      out.add(
        'warning',
        code,
        decoded.file,
        [...base, ...path],
        message,
        decoded.lineOf([...base, ...path]),
      ),
    );
  });

  const diagnostics = sortDiagnostics(out.diagnostics, [
    ...skippedFiles,
    ...sources.map((s) => s.file),
  ]);
  return {
    files: sources.map((source) => source.file),
    skippedFiles,
    providers,
    diagnostics,
    errors: diagnostics.filter((d) => d.severity === 'error'),
    warnings: diagnostics.filter((d) => d.severity === 'warning'),
  };
}

// File order first, then line; diagnostics without a line keep their place ahead of the file's others.
function sortDiagnostics(
  diagnostics: readonly Diagnostic[],
  files: readonly string[],
): Diagnostic[] {
  const rank = (file: string) => {
    const position = files.indexOf(file);
    return position === -1 ? files.length : position;
  };
  return diagnostics
    .map((diagnostic, order) => ({ diagnostic, order }))
    .sort(
      (a, b) =>
        rank(a.diagnostic.file) - rank(b.diagnostic.file) ||
        (a.diagnostic.line ?? 0) - (b.diagnostic.line ?? 0) ||
        a.order - b.order,
    )
    .map(({ diagnostic }) => diagnostic);
}

/** One config text (JSON or YAML). */
export function parseCredentialProviderConfig(
  text: string,
  file: string,
): CredentialProviderConfigReport {
  return checkCredentialProviderConfig([{ file, text }]);
}

/** The path given does not exist or cannot be read at all (the kubelet would not start either). */
export class ConfigPathError extends Error {
  override readonly name = 'ConfigPathError';
}

// Go's filepath.Ext: from the last "." of the name, so ".yaml" alone is a YAML file.
function goExtension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot === -1 ? '' : name.slice(dot);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Reads a config file, or a directory's config files in name order, and checks them together. */
export async function loadCredentialProviderConfig(
  path: string,
): Promise<CredentialProviderConfigReport> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new ConfigPathError(
      error.code === 'ENOENT' ? `${path}: no such file or directory` : `${path}: ${error.message}`,
    );
  });
  if (!info.isDirectory()) {
    const text = await readFile(path, 'utf8').catch((error: Error) => {
      throw new ConfigPathError(`${path}: ${error.message}`);
    });
    return checkCredentialProviderConfig([{ file: path, text }]);
  }
  const names = (await readdir(path)).sort(compareBytes);
  const sources: ConfigSource[] = [];
  const skippedFiles: string[] = [];
  const unreadable: Diagnostic[] = [];
  for (const name of names) {
    const file = join(path, name);
    const entry = await stat(file).catch(() => undefined);
    if (entry?.isDirectory() === true) continue;
    if (!(CONFIG_FILE_EXTENSIONS as readonly string[]).includes(goExtension(name))) {
      skippedFiles.push(file);
      continue;
    }
    try {
      sources.push({ file, text: await readFile(file, 'utf8') });
    } catch (error) {
      unreadable.push({
        severity: 'error',
        code: 'unreadable',
        file,
        path: '',
        message: `cannot read: ${(error as Error).message}`,
      });
    }
  }
  const report = checkCredentialProviderConfig(sources, { origin: path, skippedFiles });
  if (unreadable.length === 0) return report;
  const diagnostics = [...unreadable, ...report.diagnostics];
  return {
    ...report,
    diagnostics,
    errors: diagnostics.filter((d) => d.severity === 'error'),
  };
}
