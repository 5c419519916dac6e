// Image references as the distribution reference grammar defines them, with Docker Hub normalisation
// (github.com/distribution/reference: regexp.go, normalize.go):
//
//   reference        := name [ ":" tag ] [ "@" digest ]
//   name             := [ domain "/" ] path
//   domain           := host [ ":" port ]
//   host             := domain-name | "[" IPv6 "]"          (IPv4 is a domain-name)
//   domain-name      := component ( "." component )*
//   component        := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//   port             := [0-9]+
//   path             := path-component ( "/" path-component )*
//   path-component   := alnum ( separator alnum )*
//   alnum            := [a-z0-9]+
//   separator        := [_.] | "__" | [-]+
//   tag              := [\w][\w.-]{0,127}
//   digest           := algorithm ":" hex
//   algorithm        := alg-component ( [+._-] alg-component )*
//   alg-component    := [A-Za-z][A-Za-z0-9]*
//   hex              := [0-9a-fA-F]{32,}
//
// The first path segment is a domain only when it contains "." or ":", is "localhost", or has an upper-case
// letter; otherwise the name lives on Docker Hub. The scanner reports the offset of the first offending
// character so a user can find it in a long manifest line.

export const DOCKER_HUB = 'docker.io';
export const NAME_TOTAL_LENGTH_MAX = 255;
export const TAG_LENGTH_MAX = 128;

/** Registered digest algorithms and the length of their lower-case hex encoding. */
export const DIGEST_ALGORITHMS: Readonly<Record<string, number>> = {
  sha256: 64,
  sha384: 96,
  sha512: 128,
  blake3: 64,
};

const LEGACY_DOCKER_HUB = 'index.docker.io';
const OFFICIAL_REPOSITORY_PREFIX = 'library/';
const MESSAGE_INPUT_MAX = 300;

export class ImageReferenceError extends Error {
  override readonly name = 'ImageReferenceError';
  readonly input: string;
  readonly offset: number;
  readonly reason: string;

  constructor(input: string, offset: number, reason: string) {
    const shown =
      input.length > MESSAGE_INPUT_MAX ? `${input.slice(0, MESSAGE_INPUT_MAX)}…` : input;
    super(`invalid image reference ${JSON.stringify(shown)}: ${reason} at offset ${offset}`);
    this.input = input;
    this.offset = offset;
    this.reason = reason;
  }
}

export interface Digest {
  readonly algorithm: string;
  readonly encoded: string;
  /** `algorithm:encoded` */
  readonly value: string;
}

export interface ImageReference {
  /** The text as written. */
  readonly original: string;
  /** Registry with port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Path within the registry, e.g. `library/nginx`. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
  /** `registry/repository`: the "repository only" form the kubelet hands to credential providers. */
  readonly name: string;
  /** `name` in the short form people write: `nginx`, `myorg/app`, `ghcr.io/acme/app`. */
  readonly familiarName: string;
  /** Fully qualified: `name[:tag][@digest]`. */
  readonly canonical: string;
  /** Short form: `familiarName[:tag][@digest]`. */
  readonly familiar: string;
  /** Host without port; IPv6 hosts keep their brackets. */
  readonly registryHost: string;
  readonly registryPort: string | undefined;
}

// Character codes the scanner compares against.
const CHAR_HYPHEN = 45;
const CHAR_DOT = 46;
const CHAR_SLASH = 47;
const CHAR_ZERO = 48;
const CHAR_NINE = 57;
const CHAR_COLON = 58;
const CHAR_UPPER_A = 65;
const CHAR_UPPER_F = 70;
const CHAR_UPPER_Z = 90;
const CHAR_OPEN_BRACKET = 91;
const CHAR_CLOSE_BRACKET = 93;
const CHAR_UNDERSCORE = 95;
const CHAR_LOWER_A = 97;
const CHAR_LOWER_F = 102;
const CHAR_LOWER_Z = 122;

function isDigit(c: number): boolean {
  return c >= CHAR_ZERO && c <= CHAR_NINE;
}
function isLower(c: number): boolean {
  return c >= CHAR_LOWER_A && c <= CHAR_LOWER_Z;
}
function isUpper(c: number): boolean {
  return c >= CHAR_UPPER_A && c <= CHAR_UPPER_Z;
}
function isLowerAlnum(c: number): boolean {
  return isLower(c) || isDigit(c);
}
function isAlnum(c: number): boolean {
  return isLower(c) || isUpper(c) || isDigit(c);
}
function isHex(c: number): boolean {
  return (
    isDigit(c) ||
    (c >= CHAR_LOWER_A && c <= CHAR_LOWER_F) ||
    (c >= CHAR_UPPER_A && c <= CHAR_UPPER_F)
  );
}
function isWord(c: number): boolean {
  return isAlnum(c) || c === CHAR_UNDERSCORE;
}

function describe(input: string, offset: number): string {
  const codePoint = input.codePointAt(offset);
  return codePoint === undefined
    ? 'end of input'
    : `character ${JSON.stringify(String.fromCodePoint(codePoint))}`;
}

/** Throws at the first grammar violation; `fail` builds the error so callers can choose throw or return. */
class Scanner {
  readonly input: string;
  constructor(input: string) {
    this.input = input;
  }

  fail(offset: number, reason: string): never {
    throw new ImageReferenceError(this.input, offset, reason);
  }

  unexpected(offset: number, where: string): never {
    this.fail(offset, `unexpected ${describe(this.input, offset)} in ${where}`);
  }

  /** Validates `host[:port]` in [start, end); returns the offset of the port colon, or -1. */
  domain(start: number, end: number): number {
    const input = this.input;
    let i = start;
    if (input.charCodeAt(i) === CHAR_OPEN_BRACKET) {
      i++;
      const open = i;
      while (i < end && (isHex(input.charCodeAt(i)) || input.charCodeAt(i) === CHAR_COLON)) i++;
      if (i === open) this.fail(i, 'empty IPv6 address in registry host');
      if (i >= end || input.charCodeAt(i) !== CHAR_CLOSE_BRACKET) {
        this.fail(
          i,
          `unexpected ${describe(input, i)} in IPv6 registry host (expected hex digits, ":" or "]")`,
        );
      }
      i++;
    } else {
      for (;;) {
        const label = i;
        if (i >= end || !isAlnum(input.charCodeAt(i))) {
          this.fail(
            i,
            `registry host label must start with a letter or digit, found ${describe(input, i)}`,
          );
        }
        while (i < end && (isAlnum(input.charCodeAt(i)) || input.charCodeAt(i) === CHAR_HYPHEN))
          i++;
        if (input.charCodeAt(i - 1) === CHAR_HYPHEN) {
          this.fail(i - 1, `registry host label "${input.slice(label, i)}" must not end with "-"`);
        }
        if (i < end && input.charCodeAt(i) === CHAR_DOT) {
          i++;
          continue;
        }
        break;
      }
    }
    if (i === end) return -1;
    if (input.charCodeAt(i) !== CHAR_COLON) this.unexpected(i, 'registry host');
    const colon = i;
    i++;
    if (i === end) this.fail(i, 'empty registry port');
    while (i < end) {
      if (!isDigit(input.charCodeAt(i))) this.unexpected(i, 'registry port (expected digits)');
      i++;
    }
    return colon;
  }

  /** Validates `path-component ("/" path-component)*` in [start, end). */
  path(start: number, end: number): void {
    const input = this.input;
    let i = start;
    for (;;) {
      if (i >= end || input.charCodeAt(i) === CHAR_SLASH)
        this.fail(i, 'empty path component in repository name');
      this.alnumRun(i, end);
      while (i < end && isLowerAlnum(input.charCodeAt(i))) i++;
      while (i < end && input.charCodeAt(i) !== CHAR_SLASH) {
        const separator = i;
        const c = input.charCodeAt(i);
        if (c === CHAR_DOT) i++;
        else if (c === CHAR_UNDERSCORE)
          i += input.charCodeAt(i + 1) === CHAR_UNDERSCORE && i + 1 < end ? 2 : 1;
        else if (c === CHAR_HYPHEN) while (i < end && input.charCodeAt(i) === CHAR_HYPHEN) i++;
        else this.alnumRun(i, end);
        if (i >= end || !isLowerAlnum(input.charCodeAt(i))) {
          if (i < end && isUpper(input.charCodeAt(i)))
            this.fail(i, 'repository name must be lowercase');
          this.fail(
            i,
            `separator "${input.slice(separator, i)}" in repository name must be followed by a lowercase letter or digit, found ${describe(input, i)}`,
          );
        }
        while (i < end && isLowerAlnum(input.charCodeAt(i))) i++;
      }
      if (i === end) return;
      i++; // the slash
    }
  }

  private alnumRun(i: number, end: number): void {
    const c = this.input.charCodeAt(i);
    if (i < end && isLowerAlnum(c)) return;
    if (isUpper(c)) this.fail(i, 'repository name must be lowercase');
    this.unexpected(i, 'repository name');
  }

  tag(start: number, end: number): void {
    const input = this.input;
    if (start === end) this.fail(start, 'empty tag');
    if (!isWord(input.charCodeAt(start)))
      this.unexpected(start, 'tag (a tag starts with a letter, digit or "_")');
    for (let i = start + 1; i < end; i++) {
      const c = input.charCodeAt(i);
      if (!isWord(c) && c !== CHAR_DOT && c !== CHAR_HYPHEN) this.unexpected(i, 'tag');
    }
    if (end - start > TAG_LENGTH_MAX)
      this.fail(start + TAG_LENGTH_MAX, `tag exceeds ${TAG_LENGTH_MAX} characters`);
  }

  digest(start: number, end: number): Digest {
    const input = this.input;
    let i = start;
    for (;;) {
      const c = input.charCodeAt(i);
      if (i >= end || !(isLower(c) || isUpper(c))) {
        this.fail(i, `digest algorithm must start with a letter, found ${describe(input, i)}`);
      }
      while (i < end && isAlnum(input.charCodeAt(i))) i++;
      const next = input[i];
      if (next === '+' || next === '.' || next === '_' || next === '-') {
        i++;
        continue;
      }
      break;
    }
    if (i >= end || input.charCodeAt(i) !== CHAR_COLON) {
      this.fail(i, `expected ":" after the digest algorithm, found ${describe(input, i)}`);
    }
    const algorithm = input.slice(start, i);
    const hexStart = i + 1;
    for (let j = hexStart; j < end; j++) {
      if (!isHex(input.charCodeAt(j))) this.unexpected(j, 'digest (expected hex digits)');
    }
    const encoded = input.slice(hexStart, end);
    if (encoded.length < 32) this.fail(hexStart, 'digest must have at least 32 hex digits');
    const length = DIGEST_ALGORITHMS[algorithm];
    if (length === undefined || !Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) {
      this.fail(start, `unsupported digest algorithm "${algorithm}"`);
    }
    for (let j = hexStart; j < end; j++) {
      if (isUpper(input.charCodeAt(j))) this.fail(j, `${algorithm} digest must be lowercase hex`);
    }
    if (encoded.length !== length) {
      this.fail(
        hexStart,
        `${algorithm} digest must have ${length} hex digits, found ${encoded.length}`,
      );
    }
    return { algorithm, encoded, value: `${algorithm}:${encoded}` };
  }
}

const SIXTY_FOUR_HEX = /^[a-f0-9]{64}$/;

function isDomainSegment(segment: string): boolean {
  return (
    segment === 'localhost' ||
    segment.includes('.') ||
    segment.includes(':') ||
    segment !== segment.toLowerCase()
  );
}

function parse(input: string): ImageReference {
  const scanner = new Scanner(input);
  if (input.length === 0) scanner.fail(0, 'empty reference');
  if (SIXTY_FOUR_HEX.test(input)) {
    scanner.fail(0, 'a 64-character hex string is an image ID, not a repository name');
  }

  const at = input.indexOf('@');
  const nameEnd = at === -1 ? input.length : at;
  const digest = at === -1 ? undefined : scanner.digest(at + 1, input.length);

  const firstSlash = input.indexOf('/');
  const hasDomain =
    firstSlash !== -1 && firstSlash < nameEnd && isDomainSegment(input.slice(0, firstSlash));
  const pathStart = hasDomain ? firstSlash + 1 : 0;

  // The tag colon is the first ":" after the last "/"; a colon before that belongs to the registry port.
  const lastSlash = input.lastIndexOf('/', nameEnd - 1);
  const tagColonSearchFrom = Math.max(lastSlash + 1, pathStart);
  const tagColon = input.indexOf(':', tagColonSearchFrom);
  const hasTag = tagColon !== -1 && tagColon < nameEnd;
  const pathEnd = hasTag ? tagColon : nameEnd;

  let portColon = -1;
  if (hasDomain) portColon = scanner.domain(0, firstSlash);
  scanner.path(pathStart, pathEnd);
  if (hasTag) scanner.tag(tagColon + 1, nameEnd);

  let registry = hasDomain ? input.slice(0, firstSlash) : DOCKER_HUB;
  if (registry === LEGACY_DOCKER_HUB) registry = DOCKER_HUB;
  let repository = input.slice(pathStart, pathEnd);
  if (registry === DOCKER_HUB && !repository.includes('/'))
    repository = OFFICIAL_REPOSITORY_PREFIX + repository;

  const name = `${registry}/${repository}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    const added = name.length - pathEnd;
    scanner.fail(
      Math.max(0, NAME_TOTAL_LENGTH_MAX - added),
      `repository name exceeds ${NAME_TOTAL_LENGTH_MAX} characters (${name.length} as ${registry}/…)`,
    );
  }

  const tag = hasTag ? input.slice(tagColon + 1, nameEnd) : undefined;
  const familiarName = familiarNameOf(registry, repository);
  const suffix = `${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest.value}`}`;
  const hostEnd = hasDomain && portColon !== -1 ? portColon : registry.length;
  return {
    original: input,
    registry,
    repository,
    tag,
    digest: digest?.value,
    name,
    familiarName,
    canonical: name + suffix,
    familiar: familiarName + suffix,
    registryHost: registry.slice(0, hostEnd),
    registryPort:
      hasDomain && portColon !== -1 ? input.slice(portColon + 1, firstSlash) : undefined,
  };
}

// Go's familiarizeName drops `docker.io/` unconditionally; here the short form must parse back to the same
// name, so Docker Hub paths whose first segment reads as a registry ("a.b/c", "localhost/c") keep
// `docker.io/`, and an official image named by 64 hex digits (an image ID on its own) keeps `library/`.
function familiarNameOf(registry: string, repository: string): string {
  if (registry !== DOCKER_HUB) return `${registry}/${repository}`;
  if (repository.startsWith(OFFICIAL_REPOSITORY_PREFIX)) {
    const rest = repository.slice(OFFICIAL_REPOSITORY_PREFIX.length);
    if (!rest.includes('/') && !SIXTY_FOUR_HEX.test(rest)) return rest;
  }
  const firstSegment = repository.slice(0, repository.indexOf('/'));
  return isDomainSegment(firstSegment) ? `${registry}/${repository}` : repository;
}

/** Parses and normalises an image reference; throws `ImageReferenceError`. */
export function parseImageReference(input: string): ImageReference {
  return parse(input);
}

/** Like `parseImageReference`, but returns the error instead of throwing it. */
export function tryParseImageReference(input: string): ImageReference | ImageReferenceError {
  try {
    return parse(input);
  } catch (error) {
    if (error instanceof ImageReferenceError) return error;
    throw error;
  }
}

/** Parsed references by input; workloads repeat the same few images across thousands of pods. */
const remembered = new Map<string, ImageReference | ImageReferenceError>();
const REMEMBERED_LIMIT = 4096;

/** tryParseImageReference for inputs that repeat: the last few thousand distinct ones are kept. */
export function tryParseImageReferenceCached(input: string): ImageReference | ImageReferenceError {
  let parsed = remembered.get(input);
  if (parsed === undefined) {
    if (remembered.size >= REMEMBERED_LIMIT) remembered.clear();
    parsed = tryParseImageReference(input);
    remembered.set(input, parsed);
  }
  return parsed;
}

/** The fully qualified form: `docker.io/library/nginx:1.27`. */
export function normalizeImageReference(input: string): string {
  return parse(input).canonical;
}

/** True when `input` is already in fully qualified form. */
export function isCanonicalImageReference(input: string): boolean {
  const parsed = tryParseImageReference(input);
  return !(parsed instanceof Error) && parsed.canonical === input;
}

/** The tag a reference resolves: as written, or `latest` when it names neither tag nor digest. */
export function effectiveTag(
  reference: Pick<ImageReference, 'tag' | 'digest'>,
): string | undefined {
  return reference.tag ?? (reference.digest === undefined ? 'latest' : undefined);
}

export function isDockerHub(reference: Pick<ImageReference, 'registry'>): boolean {
  return reference.registry === DOCKER_HUB;
}

/** Parses a digest on its own (`sha256:<64 hex>`); throws `ImageReferenceError`. */
export function parseDigest(input: string): Digest {
  const scanner = new Scanner(input);
  if (input.length === 0) scanner.fail(0, 'empty digest');
  return scanner.digest(0, input.length);
}
