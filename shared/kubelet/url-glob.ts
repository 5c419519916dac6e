// The kubelet's image matching for `matchImages` and credential keys (pkg/credentialprovider/keyring.go):
// both sides are parsed as `https://<text>`; ports must be string-equal; hosts must have the same number of
// dot-separated labels, each matched by Go's filepath.Match; the pattern's path must be a plain string prefix
// of the target's path. A `?` therefore starts the URL query and never acts as a wildcard.

interface SchemelessUrl {
  readonly labels: readonly string[];
  readonly port: string;
  readonly path: string;
}

function parseSchemeless(text: string): SchemelessUrl | undefined {
  let rest = text;
  const fragment = rest.indexOf('#');
  if (fragment !== -1) rest = rest.slice(0, fragment);
  const query = rest.indexOf('?');
  if (query !== -1) rest = rest.slice(0, query);
  const slash = rest.indexOf('/');
  let authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  const userinfo = authority.lastIndexOf('@');
  if (userinfo !== -1) authority = authority.slice(userinfo + 1);
  const { host, port } = splitHostPort(authority);
  // url.Parse refuses these, so the kubelet never matches such a pattern or image.
  if (INVALID_HOST_CHARACTER.test(host) || !/^[0-9]*$/.test(port)) return undefined;
  return { labels: host.split('.'), port, path };
}

// Go's url.Parse accepts in a host only letters, digits, non-ASCII text and -_.~!$&'()*+,;=:[]<>"
// (percent escapes aside, which registry names never need).
const INVALID_HOST_CHARACTER = /[^A-Za-z0-9\u0080-\uffff\-_.~!$&'()*+,;=:[\]<>"]/u;

// net.SplitHostPort semantics: a host without a port keeps the whole authority and an empty port.
function splitHostPort(authority: string): { host: string; port: string } {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close !== -1 && authority[close + 1] === ':') {
      return { host: authority.slice(1, close), port: authority.slice(close + 2) };
    }
    return { host: authority, port: '' };
  }
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || authority.indexOf(':') !== colon) return { host: authority, port: '' };
  return { host: authority.slice(0, colon), port: authority.slice(colon + 1) };
}

/** Go's filepath.Match for one host label (no separators occur inside a label). Undefined = bad pattern. */
export function labelMatches(pattern: string, name: string): boolean | undefined {
  const compiled = compileLabel(pattern);
  return compiled === undefined ? undefined : compiled.test(name);
}

const compiledLabels = new Map<string, RegExp | null>();

function compileLabel(pattern: string): RegExp | undefined {
  const cached = compiledLabels.get(pattern);
  if (cached !== undefined) return cached ?? undefined;
  let source = '^';
  let i = 0;
  let bad = false;
  while (i < pattern.length && !bad) {
    const c = pattern[i] as string;
    if (c === '*') {
      source += '[^/]*';
      i++;
    } else if (c === '?') {
      source += '[^/]';
      i++;
    } else if (c === '\\') {
      if (i + 1 >= pattern.length) bad = true;
      else source += escapeLiteral(pattern[i + 1] as string);
      i += 2;
    } else if (c === '[') {
      const parsed = characterClass(pattern, i + 1);
      if (parsed === undefined) bad = true;
      else {
        source += parsed.source;
        i = parsed.next;
      }
    } else {
      source += escapeLiteral(c);
      i++;
    }
  }
  const compiled = bad ? null : new RegExp(`${source}$`, 'u');
  compiledLabels.set(pattern, compiled);
  return compiled ?? undefined;
}

function escapeLiteral(char: string): string {
  return char.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function escapeClassMember(char: string): string {
  return char.replace(/[\\^\]-]/g, '\\$&');
}

// `[` [`^`] { char | char `-` char }+ `]`, with `\` escapes, as filepath.Match defines it.
function characterClass(
  pattern: string,
  start: number,
): { source: string; next: number } | undefined {
  let i = start;
  let negated = false;
  if (pattern[i] === '^') {
    negated = true;
    i++;
  }
  let body = '';
  let ranges = 0;
  for (;;) {
    if (i >= pattern.length) return undefined;
    if (pattern[i] === ']' && ranges > 0) break;
    const low = classChar(pattern, i);
    if (low === undefined) return undefined;
    i = low.next;
    let high = low;
    if (pattern[i] === '-') {
      const upper = classChar(pattern, i + 1);
      if (upper === undefined) return undefined;
      high = upper;
      i = upper.next;
      if (high.char < low.char) return undefined;
    }
    body +=
      high === low
        ? escapeClassMember(low.char)
        : `${escapeClassMember(low.char)}-${escapeClassMember(high.char)}`;
    ranges++;
  }
  return { source: `[${negated ? '^/' : ''}${body}]`, next: i + 1 };
}

function classChar(pattern: string, i: number): { char: string; next: number } | undefined {
  const c = pattern[i];
  if (c === undefined || c === '-' || c === ']') return undefined;
  if (c === '\\') {
    const escaped = pattern[i + 1];
    return escaped === undefined ? undefined : { char: escaped, next: i + 2 };
  }
  return { char: c, next: i + 1 };
}

/** True when `target` (an image name without scheme) matches `pattern` by the kubelet's rules. */
export function urlsMatch(pattern: string, target: string): boolean {
  const glob = parseSchemeless(pattern);
  const image = parseSchemeless(target);
  if (glob === undefined || image === undefined) return false;
  if (glob.port !== image.port) return false;
  if (glob.labels.length !== image.labels.length) return false;
  if (!image.path.startsWith(glob.path)) return false;
  for (let k = 0; k < glob.labels.length; k++) {
    if (labelMatches(glob.labels[k] as string, image.labels[k] as string) !== true) return false;
  }
  return true;
}

/**
 * A docker-config `auths` key as the kubelet's keyring stores it: scheme stripped, and a `/v1/` or `/v2/`
 * path (docker's registry API roots) reduced to the host.
 */
export function normalizeAuthKey(key: string): string {
  const value = key.replace(/^https?:\/\//, '');
  const slash = value.indexOf('/');
  if (slash === -1) return value;
  const host = value.slice(0, slash);
  let path = value.slice(slash);
  if (path.startsWith('/v1/') || path.startsWith('/v2/')) path = path.slice(3);
  return path.length > 0 && path !== '/' ? host + path : host;
}
