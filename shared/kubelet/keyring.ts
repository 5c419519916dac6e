// What the kubelet does with an image once it has to pull it (pkg/credentialprovider/keyring.go and
// plugin/plugins.go):
//
//   image name       := the pod's image parsed by the normalising reference parser, tag and digest dropped
//                       (`nginx:1.27` → `docker.io/library/nginx`); providers see and match this name
//   provider chosen  := every provider with at least one `matchImages` entry that URLsMatch the name
//   keyring          := the `auth` maps of the chosen providers' responses, added in provider order; each key
//                       loses `http(s)://` and a `/v1/`·`/v2/` path, duplicates collapse (credentials under one
//                       key keep their insertion order) and the key index is sorted in reverse byte order
//   lookup(name)     := every key that URLsMatch the name, in index order; if none matched and the name is a
//                       Docker Hub name, the credentials stored under exactly `index.docker.io`
//
// URLsMatch itself lives in url-glob.ts; this module adds the lookup order, Go's url.Parse acceptance test
// (matchImages validation and keyring insertion both depend on it) and human-readable reasons for a miss.

import { parseImageReference } from '#shared/image/reference.ts';
import { labelMatches, normalizeAuthKey, urlsMatch } from './url-glob.ts';

/** Docker Hub's legacy host: the only key the Docker Hub fallback looks for. */
export const DEFAULT_REGISTRY_HOST = 'index.docker.io';

// ---------------------------------------------------------------------------------------------------------
// Go's url.Parse("https://" + text), reduced to whether it fails and why.
//
//   url        := "https://" authority path [ "?" query ] [ "#" fragment ]
//   authority  := [ userinfo "@" ] host [ ":" port ]       (userinfo ends at the last "@")
//   host       := reg-name | "[" ipv6 "]"
//   port       := digit*                                    (checked from the last ":" of the host)
// No control byte may appear anywhere; `%` must start a two-hex-digit escape in userinfo, path and fragment;
// in the host only `%25` or escapes of non-ASCII bytes are allowed, and only letters, digits, non-ASCII text
// and -_.~!$&'()*+,;=:[]<>" may appear. The query is not checked.
// ---------------------------------------------------------------------------------------------------------

const HOST_CHARACTER = /^[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]$/;
const USERINFO_CHARACTER = /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]$/;
const HEX = /^[0-9A-Fa-f]$/;

function escapeError(text: string, host: boolean): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '%') {
      const sequence = text.slice(i, i + 3);
      if (!HEX.test(text[i + 1] ?? '') || !HEX.test(text[i + 2] ?? '')) {
        return `invalid URL escape ${JSON.stringify(sequence)}`;
      }
      // Only non-ASCII bytes (or the IPv6 zone "%25") may be escaped in a host.
      if (host && Number.parseInt(text[i + 1] as string, 16) < 8 && sequence !== '%25') {
        return `invalid URL escape ${JSON.stringify(sequence)}`;
      }
      i += 2;
    } else if (host && c.charCodeAt(0) < 0x80 && !HOST_CHARACTER.test(c)) {
      return `invalid character ${JSON.stringify(c)} in host name`;
    }
  }
  return undefined;
}

function portError(colonPort: string): string | undefined {
  return colonPort === '' || /^:[0-9]*$/.test(colonPort)
    ? undefined
    : `invalid port ${JSON.stringify(colonPort)} after host`;
}

/**
 * Why Go's `url.Parse("https://" + text)` fails, or undefined when it succeeds. The kubelet refuses a
 * `matchImages` entry that fails here and silently drops an `auth` key that does.
 */
export function goUrlParseError(schemeless: string): string | undefined {
  const raw = `https://${schemeless}`;
  const fail = (reason: string) => `parse ${JSON.stringify(raw)}: ${reason}`;
  if ([...raw].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    return fail('net/url: invalid control character in URL');
  const hash = schemeless.indexOf('#');
  const beforeFragment = hash === -1 ? schemeless : schemeless.slice(0, hash);
  if (hash !== -1) {
    const fragment = escapeError(schemeless.slice(hash + 1), false);
    if (fragment !== undefined) return fail(fragment);
  }
  const query = beforeFragment.indexOf('?');
  const rest = query === -1 ? beforeFragment : beforeFragment.slice(0, query);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);

  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    if ([...userinfo].some((c) => !USERINFO_CHARACTER.test(c))) {
      return fail('net/url: invalid userinfo');
    }
    const escaped = escapeError(userinfo, false);
    if (escaped !== undefined) return fail(escaped);
  }
  const host = authority.slice(at + 1);
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close === -1) return fail("missing ']' in host");
    const port = portError(host.slice(close + 1));
    if (port !== undefined) return fail(port);
  } else {
    const colon = host.lastIndexOf(':');
    const port = colon === -1 ? undefined : portError(host.slice(colon));
    if (port !== undefined) return fail(port);
  }
  const hostError = escapeError(host, true);
  if (hostError !== undefined) return fail(hostError);
  const pathError = escapeError(path, false);
  return pathError === undefined ? undefined : fail(pathError);
}

// ---------------------------------------------------------------------------------------------------------
// Matching, explained.
// ---------------------------------------------------------------------------------------------------------

/** A scheme-less URL split the way URLsMatch compares it. */
export interface SchemelessParts {
  /** Host without port (IPv6 without brackets when a port was split off, as net.SplitHostPort does). */
  readonly host: string;
  /** `host` split on ".": URLsMatch compares label by label. */
  readonly labels: readonly string[];
  /** Port digits, or "" when absent. */
  readonly port: string;
  /** Path with its leading "/", or "". */
  readonly path: string;
  /** Text after "?" or "#", which url.Parse keeps out of host and path. */
  readonly ignored: string;
}

/** Splits a pattern or image name like URLsMatch; undefined when Go's url.Parse would refuse it. */
export function splitSchemeless(text: string): SchemelessParts | undefined {
  if (goUrlParseError(text) !== undefined) return undefined;
  const cut = text.search(/[?#]/);
  const rest = cut === -1 ? text : text.slice(0, cut);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  let host = hostPort;
  let port = '';
  // net.SplitHostPort: "[v6]:port", or exactly one ":"; anything else keeps the whole text as the host.
  const close = hostPort.indexOf(']');
  if (hostPort.startsWith('[') && close !== -1 && hostPort[close + 1] === ':') {
    host = hostPort.slice(1, close);
    port = hostPort.slice(close + 2);
  } else if (!hostPort.startsWith('[')) {
    const colon = hostPort.indexOf(':');
    if (colon !== -1 && colon === hostPort.lastIndexOf(':')) {
      host = hostPort.slice(0, colon);
      port = hostPort.slice(colon + 1);
    }
  }
  return {
    host,
    labels: host.split('.'),
    port,
    path: slash === -1 ? '' : rest.slice(slash),
    ignored: cut === -1 ? '' : text.slice(cut),
  };
}

export interface MatchExplanation {
  readonly matches: boolean;
  /** One sentence: why it matches or the first check that failed, in URLsMatch's order. */
  readonly reason: string;
}

function describePort(port: string): string {
  return port === '' ? 'no port' : `port ${port}`;
}

/** URLsMatch(pattern, target) with the reason; the verdict is always url-glob's. */
export function explainUrlsMatch(pattern: string, target: string): MatchExplanation {
  const matches = urlsMatch(pattern, target);
  const glob = splitSchemeless(pattern);
  const image = splitSchemeless(target);
  if (glob === undefined) {
    return { matches, reason: `pattern is not a valid URL (${goUrlParseError(pattern)})` };
  }
  if (image === undefined) {
    return { matches, reason: `image is not a valid URL (${goUrlParseError(target)})` };
  }
  if (glob.port !== image.port) {
    return {
      matches,
      reason: `ports differ: pattern has ${describePort(glob.port)}, image has ${describePort(image.port)} (ports must be equal)`,
    };
  }
  if (glob.labels.length !== image.labels.length) {
    return {
      matches,
      reason: `host label counts differ: pattern host ${JSON.stringify(glob.host)} has ${glob.labels.length}, image host ${JSON.stringify(image.host)} has ${image.labels.length} ("*" matches exactly one label)`,
    };
  }
  if (!image.path.startsWith(glob.path)) {
    return {
      matches,
      reason: `path ${JSON.stringify(glob.path)} is not a prefix of ${JSON.stringify(image.path)} (a plain string prefix, no wildcards)`,
    };
  }
  for (let k = 0; k < glob.labels.length; k++) {
    const label = glob.labels[k] as string;
    const name = image.labels[k] as string;
    const verdict = labelMatches(label, name);
    if (verdict === undefined) {
      return { matches, reason: `host label ${JSON.stringify(label)} is a malformed glob` };
    }
    if (!verdict) {
      return {
        matches,
        reason: `host label ${k + 1} ${JSON.stringify(label)} does not match ${JSON.stringify(name)}`,
      };
    }
  }
  return { matches, reason: matches ? 'matches' : 'does not match' };
}

// ---------------------------------------------------------------------------------------------------------
// Provider selection.
// ---------------------------------------------------------------------------------------------------------

/**
 * The name the kubelet matches and sends to plugins: normalised repository without tag or digest
 * (`nginx:1.27` → `docker.io/library/nginx`). Throws ImageReferenceError.
 */
export function kubeletImageName(image: string): string {
  return parseImageReference(image).name;
}

export interface ProviderLike {
  readonly name: string;
  readonly matchImages: readonly string[];
}

export interface PatternVerdict extends MatchExplanation {
  readonly index: number;
  readonly pattern: string;
}

export interface ProviderSelection<P extends ProviderLike> {
  readonly provider: P;
  /** The kubelet execs this provider for the image. */
  readonly matched: boolean;
  /** The entry that decides it (the kubelet stops at the first match), if any. */
  readonly firstMatch: PatternVerdict | undefined;
  /** Every `matchImages` entry with its verdict, in order. */
  readonly patterns: readonly PatternVerdict[];
}

/**
 * For each provider, in config order, whether the kubelet would exec it for `imageName` (already in the
 * kubelet's normalised form, see kubeletImageName).
 */
export function selectProviders<P extends ProviderLike>(
  providers: readonly P[],
  imageName: string,
): ProviderSelection<P>[] {
  return providers.map((provider) => {
    const patterns = provider.matchImages.map((pattern, index) => ({
      index,
      pattern,
      ...explainUrlsMatch(pattern, imageName),
    }));
    const firstMatch = patterns.find((verdict) => verdict.matches);
    return { provider, matched: firstMatch !== undefined, firstMatch, patterns };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Keyring lookup.
// ---------------------------------------------------------------------------------------------------------

/**
 * Docker Hub names (isDefaultRegistryMatch): a single segment, a first segment of `docker.io` or
 * `index.docker.io`, or a first segment without "." or ":" (a Docker Hub namespace).
 */
export function isDefaultRegistryMatch(image: string): boolean {
  const slash = image.indexOf('/');
  const first = slash === -1 ? image : image.slice(0, slash);
  if (first === '') return false;
  if (slash === -1) return true;
  if (first === 'docker.io' || first === DEFAULT_REGISTRY_HOST) return true;
  return !/[.:]/.test(first);
}

/** Go's sort.Strings compares bytes; UTF-16 code units order supplementary characters differently. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export interface KeyringEntry<T> {
  /** The key as the plugin or docker config wrote it. */
  readonly key: string;
  /** The key the kubelet stores it under (normalizeAuthKey). */
  readonly storedKey: string;
  readonly value: T;
}

export interface KeyringLookup<T> {
  /** Credentials in the order the runtime tries them; the first is used first. */
  readonly entries: readonly KeyringEntry<T>[];
  /** `match`: keys matched the image; `docker-hub-fallback`: the `index.docker.io` entry was used. */
  readonly via: 'match' | 'docker-hub-fallback' | 'none';
}

/**
 * The kubelet's BasicDockerKeyring: add `auth` maps (one per provider response, in provider order), then
 * look up an image name. Keys Go's url.Parse refuses are dropped, as the kubelet logs and ignores them.
 */
export class Keyring<T> {
  readonly #creds = new Map<string, KeyringEntry<T>[]>();
  readonly #dropped: { key: string; reason: string }[] = [];
  #index: string[] = [];

  add(entries: Iterable<readonly [key: string, value: T]>): void {
    for (const [key, value] of entries) {
      // Add prepends https:// unless the key has a scheme; normalizeAuthKey strips it again.
      const hasScheme = key.startsWith('https://') || key.startsWith('http://');
      const problem = goUrlParseError(hasScheme ? key.replace(/^https?:\/\//, '') : key);
      if (problem !== undefined) {
        this.#dropped.push({ key, reason: problem });
        continue;
      }
      const storedKey = normalizeAuthKey(key);
      const list = this.#creds.get(storedKey) ?? [];
      list.push({ key, storedKey, value });
      this.#creds.set(storedKey, list);
    }
    this.#index = [...this.#creds.keys()].sort((a, b) => compareBytes(b, a));
  }

  /** Stored keys in lookup order (reverse byte order). */
  get index(): readonly string[] {
    return this.#index;
  }

  /** Every stored key in lookup order with the entries stored under it, in insertion order. */
  get stored(): readonly { storedKey: string; entries: readonly KeyringEntry<T>[] }[] {
    return this.#index.map((storedKey) => ({
      storedKey,
      entries: this.#creds.get(storedKey) ?? [],
    }));
  }

  /** Keys the kubelet would ignore, with url.Parse's complaint. */
  get dropped(): readonly { key: string; reason: string }[] {
    return this.#dropped;
  }

  lookup(imageName: string): KeyringLookup<T> {
    const entries: KeyringEntry<T>[] = [];
    for (const key of this.#index) {
      if (urlsMatch(key, imageName)) entries.push(...(this.#creds.get(key) ?? []));
    }
    if (entries.length > 0) return { entries, via: 'match' };
    const hub = this.#creds.get(DEFAULT_REGISTRY_HOST);
    if (hub !== undefined && isDefaultRegistryMatch(imageName)) {
      return { entries: hub, via: 'docker-hub-fallback' };
    }
    return { entries: [], via: 'none' };
  }
}

/** Shorthand: the stored keys that apply to `imageName`, in the order the kubelet tries them. */
export function lookupAuthKeys(keys: readonly string[], imageName: string): KeyringLookup<string> {
  const keyring = new Keyring<string>();
  keyring.add(keys.map((key) => [key, key] as const));
  return keyring.lookup(imageName);
}
