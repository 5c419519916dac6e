// The kubelet's image-pull messages read back into facts: event messages (reasons Pulling, Pulled, Failed,
// BackOff, ErrImageNeverPull, InspectFailed) and container waiting-state messages (ErrImagePull,
// ImagePullBackOff, ErrImageNeverPull, InvalidImageName, ...). The kubelet writes them in
// pkg/kubelet/images/image_manager.go:
//
//   pulling      := "Pulling image " quoted
//   pulled       := "Successfully pulled image " quoted " in " duration
//                   [ " (" duration " including waiting)" [ ". Image size: " digits " bytes." ] ]
//   present      := "Container image " quoted " already present on machine" [ " and can be accessed by the pod" ]
//   failed       := "Failed to pull image " quoted ": " runtime-error
//   backoff      := "Back-off pulling image " quoted [ ": " error-name ": " runtime-error ]
//   never-pull   := "Container image " quoted " is not present with pull policy of Never"
//   invalid-name := "Failed to apply default image tag " quoted ": " text
//   inspect      := "Failed to inspect image " quoted ": " text
//   unavailable  := "image pull failed for " image " because the registry is unavailable" [ ": " text ]
//   restated     := "Error: " error-name                  (reason Failed, from kuberuntime startContainer)
//   quoted       := a Go %q string
//   duration     := a Go time.Duration as String() prints it, e.g. "3.2s", "1m5.123s", "850ms"
//
// Any of them may be preceded by the event correlator's "(combined from similar events): ", and by a
// container field path and ": " as some event printers show it.

import type { ImageSiteKind } from '#shared/drift/model.ts';
import { tryParseGoDuration } from '#shared/kubelet/go-duration.ts';
import { clip } from '#shared/text/clip.ts';

export const PULL_FAILURE_CAUSES = [
  'authentication',
  'not-found',
  'rate-limited',
  'network',
  'unknown',
] as const;
export type PullFailureCause = (typeof PULL_FAILURE_CAUSES)[number];

export interface PullFailure {
  cause: PullFailureCause;
  /** One line, at most DETAIL_MAX_LENGTH characters, credentials removed; '' when the message says nothing. */
  detail: string;
}

export interface PulledImage {
  kind: 'pulled';
  image: string;
  /** Time the runtime spent pulling, rounded to the millisecond. */
  pullMs: number;
  /** Pull time including the wait in the kubelet's pull queue (kubelet 1.28 and later). */
  totalMs?: number;
  /** Image size the runtime reported (kubelet 1.30 and later; 0 when the runtime reports none). */
  sizeBytes?: number;
}

export interface PresentImage {
  kind: 'present';
  image: string;
}

export type PulledMessage = PulledImage | PresentImage;

/**
 * A pull event or waiting state, classified. `restated` marks the kubelet's `Error: <name>` event, which
 * repeats a failure already reported, with its cause, by the event before it.
 */
export type PullEvent =
  | { kind: 'pulling'; image: string }
  | PulledImage
  | PresentImage
  | {
      kind: 'failed';
      image: string | undefined;
      cause: PullFailureCause;
      detail: string;
      restated?: true;
    }
  | {
      kind: 'backoff';
      image: string | undefined;
      cause?: PullFailureCause;
      detail?: string;
      restated?: true;
    }
  | { kind: 'never-pull'; image: string | undefined; restated?: true }
  | { kind: 'invalid-name'; image: string | undefined; detail: string; restated?: true }
  | { kind: 'other' };

export const DETAIL_MAX_LENGTH = 200;

// Event messages are short; a waiting-state message carries one runtime error. Beyond this the text is
// not a kubelet message, and reading further only costs time.
const MESSAGE_SCAN_LIMIT = 32_768;

// ---------------------------------------------------------------------------------------------------
// Scanning

interface Cursor {
  readonly text: string;
  at: number;
}

function eat(cursor: Cursor, literal: string): boolean {
  if (!cursor.text.startsWith(literal, cursor.at)) return false;
  cursor.at += literal.length;
  return true;
}

function atEnd(cursor: Cursor): boolean {
  return cursor.at === cursor.text.length;
}

const SIMPLE_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['a', '\x07'],
  ['b', '\b'],
  ['f', '\f'],
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
  ['v', '\v'],
  ['\\', '\\'],
  ['"', '"'],
  ["'", "'"],
]);
const HEX_ESCAPE_WIDTHS: ReadonlyMap<string, number> = new Map([
  ['x', 2],
  ['u', 4],
  ['U', 8],
]);
const HEX = /^[0-9a-fA-F]+$/;
const OCTAL = /^[0-7]{3}$/;

// A byte escape (\xNN, \NNN) at or above 0x80 is one byte of a UTF-8 sequence Go could not print; it
// stands for a character we cannot rebuild byte by byte, so it reads as U+FFFD.
function byteEscape(value: number): string {
  return value < 0x80 ? String.fromCharCode(value) : '\uFFFD';
}

/** strconv.Unquote for a double-quoted string at the cursor; undefined when there is none. */
function readGoQuoted(cursor: Cursor): string | undefined {
  const { text } = cursor;
  if (text[cursor.at] !== '"') return undefined;
  let out = '';
  let i = cursor.at + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      cursor.at = i + 1;
      return out;
    }
    if (c === '\n') return undefined;
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const escaped = text[i + 1];
    if (escaped === undefined) return undefined;
    const simple = SIMPLE_ESCAPES.get(escaped);
    if (simple !== undefined) {
      out += simple;
      i += 2;
      continue;
    }
    const width = HEX_ESCAPE_WIDTHS.get(escaped);
    if (width !== undefined) {
      const digits = text.slice(i + 2, i + 2 + width);
      if (digits.length !== width || !HEX.test(digits)) return undefined;
      const value = Number.parseInt(digits, 16);
      if (escaped === 'x') out += byteEscape(value);
      else if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return undefined;
      else out += String.fromCodePoint(value);
      i += 2 + width;
      continue;
    }
    const octal = text.slice(i + 1, i + 4);
    if (!OCTAL.test(octal)) return undefined;
    const value = Number.parseInt(octal, 8);
    if (value > 0xff) return undefined;
    out += byteEscape(value);
    i += 4;
  }
  return undefined;
}

// time.Duration.String() writes digits, ".", and the units ns, µs, ms, s, m, h.
function isDurationChar(c: string): boolean {
  return isDigit(c) || (c >= 'a' && c <= 'z') || '.+-\u00b5\u03bc'.includes(c);
}

function readDurationNanos(cursor: Cursor): bigint | undefined {
  const { text } = cursor;
  let end = cursor.at;
  while (end < text.length && isDurationChar(text[end] as string)) end++;
  if (end === cursor.at) return undefined;
  const nanos = tryParseGoDuration(text.slice(cursor.at, end));
  if (typeof nanos !== 'bigint' || nanos < 0n) return undefined;
  cursor.at = end;
  return nanos;
}

function nanosToMillis(nanos: bigint): number {
  return Number((nanos + 500_000n) / 1_000_000n);
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function readDigits(cursor: Cursor): number | undefined {
  const { text } = cursor;
  let end = cursor.at;
  while (isDigit(text[end])) end++;
  if (end === cursor.at) return undefined;
  const value = Number(text.slice(cursor.at, end));
  if (!Number.isSafeInteger(value)) return undefined;
  cursor.at = end;
  return value;
}

const COMBINED_EVENTS_PREFIX = '(combined from similar events): ';
const FIELD_PATH_PREFIX = /^spec\.(?:containers|initContainers|ephemeralContainers)\{[^{}\s]*\}: /;

/** The message without the prefixes event printers and the event correlator put before it. */
function eventBody(message: string): string {
  // A cut through a word could leave half a credential that no longer looks like one: drop that word.
  let body =
    message.length > MESSAGE_SCAN_LIMIT
      ? message.slice(0, MESSAGE_SCAN_LIMIT).replace(/\S*$/, '')
      : message;
  const fieldPath = FIELD_PATH_PREFIX.exec(body);
  if (fieldPath !== null) body = body.slice(fieldPath[0].length);
  if (body.startsWith(COMBINED_EVENTS_PREFIX)) body = body.slice(COMBINED_EVENTS_PREFIX.length);
  return body;
}

// ---------------------------------------------------------------------------------------------------
// Pulled

function readPulled(cursor: Cursor): PulledImage | undefined {
  const image = readGoQuoted(cursor);
  if (image === undefined || image === '' || !eat(cursor, ' in ')) return undefined;
  const pull = readDurationNanos(cursor);
  if (pull === undefined) return undefined;
  const pulled: PulledImage = { kind: 'pulled', image, pullMs: nanosToMillis(pull) };
  if (atEnd(cursor)) return pulled;
  if (!eat(cursor, ' (')) return undefined;
  const total = readDurationNanos(cursor);
  if (total === undefined || !eat(cursor, ' including waiting)')) return undefined;
  pulled.totalMs = nanosToMillis(total);
  if (atEnd(cursor)) return pulled;
  if (!eat(cursor, '. Image size: ')) return undefined;
  const size = readDigits(cursor);
  if (size === undefined || !eat(cursor, ' bytes.') || !atEnd(cursor)) return undefined;
  pulled.sizeBytes = size;
  return pulled;
}

function readPresent(cursor: Cursor): PresentImage | undefined {
  const image = readGoQuoted(cursor);
  if (image === undefined || image === '' || !eat(cursor, ' already present on machine')) {
    return undefined;
  }
  // kubelet 1.33 and later say "and can be accessed by the pod" when KubeletEnsureSecretPulledImages
  // verified the pod's credentials against the ones the image was pulled with.
  if (atEnd(cursor) || (eat(cursor, ' and can be accessed by the pod') && atEnd(cursor))) {
    return { kind: 'present', image };
  }
  return undefined;
}

/**
 * The message of a `Pulled` event: a pull with its duration (and, from newer kubelets, the wait and the
 * image size), or an image already on the node. undefined for anything else, including the pre-1.19
 * `Successfully pulled image "x"` that carries no duration.
 */
export function parsePulledMessage(message: string): PulledMessage | undefined {
  const cursor: Cursor = { text: eventBody(message), at: 0 };
  if (eat(cursor, 'Successfully pulled image ')) return readPulled(cursor);
  if (eat(cursor, 'Container image ')) return readPresent(cursor);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// The image a message names

// Phrases followed by the image as Go quotes it. "pulling image" is how older kubelets wrote it.
const QUOTED_IMAGE_LEADS = [
  'Pulling image ',
  'pulling image ',
  'Successfully pulled image ',
  'Container image ',
  'Failed to pull image ',
  'Back-off pulling image ',
  'Failed to inspect image ',
  'Failed to apply default image tag ',
] as const;
const REGISTRY_UNAVAILABLE = /^image pull failed for (\S+) because the /;

/** The image a kubelet pull message names; undefined when the message names none. */
export function imageInMessage(message: string): string | undefined {
  const body = eventBody(message);
  for (const lead of QUOTED_IMAGE_LEADS) {
    if (!body.startsWith(lead)) continue;
    const image = readGoQuoted({ text: body, at: lead.length });
    return image === '' ? undefined : image;
  }
  return REGISTRY_UNAVAILABLE.exec(body)?.[1];
}

// ---------------------------------------------------------------------------------------------------
// Credentials and noise out of a message

const TOKEN_SCHEMES = /(Bearer|Basic)([\s:=]+)(?!(?:Bearer|Basic)\b|realm=)([^\s"'<>,;]+)/gi;
// Schemes are short; bounding them keeps the scan linear on long runs of letters.
const URL_USERINFO = /([a-z][a-z0-9+.-]{0,31}:\/\/)([^\s/?#@]*)@/gi;
const URL = /[a-z][a-z0-9+.-]{0,31}:\/\/[^\s"'<>]*/gi;
const SENTENCE_PUNCTUATION = ':,.;)';
const SECRET_ASSIGNMENT =
  /(password|passwd|pwd|secret|token|api[_-]?key|credentials?)(\s*=\s*)(?!\[redacted\])[^\s&"',;]+/gi;
const SECRET_JSON_FIELD =
  /("(?:auth|password|identitytoken|registrytoken|access_token|refresh_token)"\s*:\s*)"[^"]*"/gi;
const DIGEST = /\b(sha256|sha384|sha512):([0-9a-f]{12})[0-9a-f]{20,}/gi;

// "Basic" is also an English word: "no basic auth credentials" names no credential.
const BASIC_PROSE = /^(?:auth|authentication|authorization|access|credentials?)$/i;

function redactToken(match: string, scheme: string, separator: string, token: string): string {
  const prose = scheme.toLowerCase() === 'basic' && BASIC_PROSE.test(token);
  return prose ? match : `${scheme}${separator}[redacted]`;
}

// Any userinfo in an http(s) URL is a credential; for other schemes (CRI-O's docker://name@digest) only a
// user:password pair is.
function redactUserinfo(match: string, scheme: string, userinfo: string): string {
  const http = /^https?:\/\/$/i.test(scheme);
  return http || userinfo.includes(':') ? `${scheme}[redacted]@` : match;
}

/**
 * Removes what may be a credential from a message: `Bearer`/`Basic` tokens, URL userinfo, `password=…`
 * style assignments, auth fields of JSON, and URL query strings (presigned layer URLs carry signatures).
 */
export function redactCredentials(text: string): string {
  return text
    .replace(TOKEN_SCHEMES, redactToken)
    .replace(URL_USERINFO, redactUserinfo)
    .replace(SECRET_JSON_FIELD, '$1"[redacted]"')
    .replace(SECRET_ASSIGNMENT, '$1$2[redacted]')
    .replace(URL, withoutQuery);
}

function withoutQuery(url: string): string {
  const query = url.search(/[?#]/);
  if (query < 0) return url;
  // Punctuation closing the URL belongs to the sentence ("...?scope=x: 401 Unauthorized").
  let end = url.length;
  while (end > query && SENTENCE_PUNCTUATION.includes(url[end - 1] as string)) end--;
  return url.slice(0, query) + url.slice(end);
}

const LINE_BREAK = /[\r\n\u2028\u2029]/;

/** One line: CRI-O lists several errors on separate lines ("errors:\n a\n b" reads "errors: a; b"). */
function singleLine(text: string): string {
  const printable = text.replace(/\p{Cc}/gu, (c) => (/\s/.test(c) ? c : ' '));
  const joined = printable.replace(/\s+/g, (run: string, offset: number) =>
    LINE_BREAK.test(run) && printable[offset - 1] !== ':' ? '; ' : ' ',
  );
  let start = 0;
  let end = joined.length;
  while (start < end && (joined[start] === ' ' || joined[start] === ';')) start++;
  while (end > start && (joined[end - 1] === ' ' || joined[end - 1] === ';')) end--;
  return joined.slice(start, end);
}

function scrub(text: string): string {
  return redactCredentials(singleLine(text)).replace(DIGEST, '$1:$2\u2026');
}

// ---------------------------------------------------------------------------------------------------
// Pull failures

// The kubelet's own error names (pkg/kubelet/images/types.go, k8s.io/cri-api/pkg/errors).
const KUBELET_ERROR_NAMES = [
  'ErrImagePull',
  'ImagePullBackOff',
  'ImageInspectError',
  'ErrImageNeverPull',
  'InvalidImageName',
  'RegistryUnavailable',
  'SignatureValidationFailed',
] as const;
type KubeletErrorName = (typeof KUBELET_ERROR_NAMES)[number];

function isKubeletErrorName(name: string): name is KubeletErrorName {
  return (KUBELET_ERROR_NAMES as readonly string[]).includes(name);
}

const ERROR_NAME_PREFIX = new RegExp(`^(${KUBELET_ERROR_NAMES.join('|')})(?:: |$)`);
const RESTATED_PREFIX = new RegExp(`^Error: (?=(?:${KUBELET_ERROR_NAMES.join('|')})$)`);
const GRPC_STATUS_PREFIX = /^rpc error: code = (\w+) desc = /;
const DOCKER_DAEMON_PREFIX = /^Error response from daemon: /;
const KUBELET_QUOTED_WRAPPERS = [
  'Failed to pull image ',
  'Back-off pulling image ',
  'Failed to inspect image ',
] as const;

interface RuntimeError {
  /** The runtime's own words, without the kubelet's and gRPC's wrappers. */
  text: string;
  errorName: KubeletErrorName | undefined;
  grpcCode: string | undefined;
}

function stripQuotedWrapper(text: string): string | undefined {
  for (const lead of KUBELET_QUOTED_WRAPPERS) {
    if (!text.startsWith(lead)) continue;
    const cursor: Cursor = { text, at: lead.length };
    if (readGoQuoted(cursor) === undefined) return undefined;
    if (atEnd(cursor)) return '';
    return eat(cursor, ': ') ? text.slice(cursor.at) : undefined;
  }
  return undefined;
}

function runtimeError(message: string): RuntimeError {
  let text = eventBody(message);
  let errorName: KubeletErrorName | undefined;
  let grpcCode: string | undefined;
  // Each pass removes one wrapper; there are at most a handful.
  for (let pass = 0; pass < 8; pass++) {
    const unwrapped = stripQuotedWrapper(text);
    if (unwrapped !== undefined) {
      text = unwrapped;
      continue;
    }
    const restated = RESTATED_PREFIX.exec(text);
    if (restated !== null) {
      text = text.slice(restated[0].length);
      continue;
    }
    const name = ERROR_NAME_PREFIX.exec(text);
    if (name !== null && isKubeletErrorName(name[1] as string)) {
      errorName = name[1] as KubeletErrorName;
      text = text.slice(name[0].length);
      continue;
    }
    const grpc = GRPC_STATUS_PREFIX.exec(text);
    if (grpc !== null) {
      grpcCode = grpc[1];
      text = text.slice(grpc[0].length);
      continue;
    }
    const daemon = DOCKER_DAEMON_PREFIX.exec(text);
    if (daemon !== null) {
      text = text.slice(daemon[0].length);
      continue;
    }
    break;
  }
  return { text, errorName, grpcCode };
}

type SignalSource = PullFailureCause | 'runtime-unreachable';

interface SignalGroup {
  source: SignalSource;
  patterns: readonly RegExp[];
}

// HTTP statuses as containerd ("401 Unauthorized", "unexpected status code [manifests 1]: 403 Forbidden"),
// containers/image ("StatusCode: 404", "invalid status code from registry 403 (Forbidden)") and dockerd
// print them.
function httpStatus(codes: string, phrases: string): readonly RegExp[] {
  return [
    new RegExp(`\\b(?:${codes}) (?:${phrases})\\b`, 'i'),
    new RegExp(`\\bstatus ?code(?: from registry)?:? (?:${codes})\\b`, 'i'),
  ];
}

// Precedence, strongest first; within the winning group the earliest match anchors the detail.
//  1. The container runtime's own socket failing: nothing after it came from a registry.
//  2. Rate limiting: Docker Hub's 429 text invites "authenticating", which must not read as an auth error.
//  3. Authentication: registries answer 401/403 for repositories that do not exist to hide them, so
//     "denied ... does not exist" is an authorization answer. Docker Hub's ambiguous
//     "pull access denied, repository does not exist or may require authorization: ... insufficient_scope"
//     is classified here: the registry refused access, which is all it said; the detail keeps its words.
//  4. Not found: the registry answered and has no such name or manifest.
//  5. Network: DNS, TCP, TLS and timeouts, and 5xx answers (the registry is up in name only). Any registry
//     answer above proves the network carried the request, so these rank last.
const SIGNAL_GROUPS: readonly SignalGroup[] = [
  {
    source: 'runtime-unreachable',
    patterns: [/\bdial unix\b/i],
  },
  {
    source: 'rate-limited',
    patterns: [
      /toomanyrequests/i,
      /\btoo many requests\b/i,
      /\brate[- ]?limit/i,
      ...httpStatus('429', 'too many requests'),
    ],
  },
  {
    source: 'authentication',
    patterns: [
      ...httpStatus('401|403', 'unauthorized|forbidden'),
      /\bunauthori[sz]ed\b/i,
      /\bnot authori[sz]ed\b/i,
      /\bauthentication required\b/i,
      /\bauthori[sz]ation failed\b/i,
      /\b(?:pull access|access|requested access to the resource is) denied\b/i,
      /(?<!permission )\bdenied: /i,
      /(?:^|: )denied$/i,
      /\bpermission "[^"]*" denied\b/i,
      /\bno basic auth credentials\b/i,
      /\binsufficient[_ ]scope\b/i,
      /\bincorrect username or password\b/i,
      /\binvalid username\/password\b/i,
      /\bauthorization token has expired\b/i,
      /\bforbidden\b/i,
    ],
  },
  {
    source: 'not-found',
    patterns: [
      ...httpStatus('404', 'not found'),
      /\bmanifest[ _]unknown\b/i,
      /\bname[ _]unknown\b/i,
      /\bblob[ _]unknown\b/i,
      /\bnot known to registry\b/i,
      /\bnot found\b/i,
      /\bdoes not exist\b/i,
    ],
  },
  {
    source: 'network',
    patterns: [
      ...httpStatus(
        '500|502|503|504',
        'internal server error|bad gateway|service unavailable|gateway time-?out',
      ),
      /\bdial (?:tcp|udp)\d?\b/i,
      /\bno such host\b/i,
      /\bserver misbehaving\b/i,
      /\btemporary failure in name resolution\b/i,
      /\bi\/o timeout\b/i,
      /\bconnection refused\b/i,
      /\bconnection reset\b/i,
      /\bbroken pipe\b/i,
      /\bnetwork is unreachable\b/i,
      /\bno route to host\b/i,
      /\btls handshake timeout\b/i,
      /\btls: /i,
      /\bx509: /i,
      /\bcertificate signed by unknown authority\b/i,
      /\bcontext deadline exceeded\b/i,
      /\brequest canceled while waiting for connection\b/i,
      /\bClient\.Timeout exceeded\b/i,
      /\bserver gave HTTP response to HTTPS client\b/i,
      /\bproxyconnect\b/i,
      /\bunexpected EOF\b/i,
      /\bregistry is unavailable\b/i,
      /\bRegistryUnavailable\b/,
    ],
  },
];

// When the text names no cause, the error's own kind may: the kubelet's error name, then the gRPC code.
const ERROR_NAME_CAUSES: ReadonlyMap<string, PullFailureCause> = new Map([
  ['RegistryUnavailable', 'network'],
]);
const GRPC_CODE_CAUSES: ReadonlyMap<string, PullFailureCause> = new Map([
  ['NotFound', 'not-found'],
  ['Unauthenticated', 'authentication'],
  ['PermissionDenied', 'authentication'],
  ['DeadlineExceeded', 'network'],
]);

function strongestSignal(text: string): { cause: PullFailureCause; at: number } | undefined {
  for (const group of SIGNAL_GROUPS) {
    let at: number | undefined;
    for (const pattern of group.patterns) {
      const match = pattern.exec(text);
      if (match !== null && (at === undefined || match.index < at)) at = match.index;
    }
    if (at === undefined) continue;
    const cause = group.source === 'runtime-unreachable' ? 'unknown' : group.source;
    return { cause, at };
  }
  return undefined;
}

// The kubelet, containerd, CRI-O and dockerd wrap the answer in "what I was doing" clauses; a summary
// starts after them.
const GENERIC_CLAUSES: readonly RegExp[] = [
  /^failed to pull and unpack image "[^"]*": /,
  /^failed to pull image "[^"]*": /,
  /^failed to resolve (?:reference|image) "[^"]*": /,
  /^failed to resolve image: /,
  /^failed to copy: /,
  /^httpReadSeeker: /,
  /^failed open: /,
  /^failed to do request: /,
  /^failed to authorize: /,
  /^failed to fetch (?:anonymous|oauth) token: /,
  /^initializing source \S+: /,
  /^pinging container registry \S+: /,
  /^image pull failed for \S+ because the registry is unavailable: /,
  /^Error response from daemon: /,
];
// A segment shorter than this ("401 Unauthorized", "not found") reads better with the clause before it.
const TERSE_DETAIL = 48;
const SEGMENT_SEPARATOR = ': ';
const ERROR_SEPARATOR = '; ';

function genericClausesEnd(text: string): number {
  let end = 0;
  for (let pass = 0; pass < GENERIC_CLAUSES.length * 2; pass++) {
    const rest = text.slice(end);
    const clause = GENERIC_CLAUSES.map((pattern) => pattern.exec(rest)).find((m) => m !== null);
    if (clause === undefined || clause === null || clause[0].length === rest.length) break;
    end += clause[0].length;
  }
  return end;
}

/** Start of the ": "-separated segment holding `at`, not before `floor`. */
function segmentStart(text: string, at: number, floor: number): number {
  if (at < SEGMENT_SEPARATOR.length) return floor;
  const separator = text.lastIndexOf(SEGMENT_SEPARATOR, at - SEGMENT_SEPARATOR.length);
  return separator < 0 ? floor : Math.max(floor, separator + SEGMENT_SEPARATOR.length);
}

/** Start of the error holding `at`: CRI-O's separate errors end up joined by "; ". */
function errorStart(text: string, at: number, floor: number): number {
  if (at < ERROR_SEPARATOR.length) return floor;
  const separator = text.lastIndexOf(ERROR_SEPARATOR, at - ERROR_SEPARATOR.length);
  return separator < 0 ? floor : Math.max(floor, separator + ERROR_SEPARATOR.length);
}

// From the segment that holds the signal to the end, reaching back over terse segments but not into the
// error before it.
function summarize(text: string, at: number | undefined): string {
  const floor = genericClausesEnd(text);
  if (at === undefined || at <= floor) return clip(text.slice(floor), DETAIL_MAX_LENGTH);
  const limit = errorStart(text, at, floor);
  let start = segmentStart(text, at, limit);
  while (start > limit && text.length - start < TERSE_DETAIL) {
    start = segmentStart(text, start - SEGMENT_SEPARATOR.length, limit);
  }
  return clip(text.slice(start), DETAIL_MAX_LENGTH);
}

/**
 * Why an image pull failed, from a `Failed` event (`Failed to pull image "x": …`), a `BackOff` event or
 * ImagePullBackOff message (`Back-off pulling image "x"`, with the last error appended by kubelet 1.32 and
 * later), or an ErrImagePull waiting message (the runtime's error alone). Understands what containerd,
 * CRI-O and dockershim say for Docker Hub, ECR, GHCR, GCR/Artifact Registry, Quay, Harbor and Distribution.
 */
export function classifyPullFailure(message: string): PullFailure {
  const { text, errorName, grpcCode } = runtimeError(message);
  const clean = scrub(text);
  const signal = strongestSignal(clean);
  if (signal !== undefined) return { cause: signal.cause, detail: summarize(clean, signal.at) };
  const fallback =
    (errorName === undefined ? undefined : ERROR_NAME_CAUSES.get(errorName)) ??
    (grpcCode === undefined ? undefined : GRPC_CODE_CAUSES.get(grpcCode));
  return { cause: fallback ?? 'unknown', detail: clean === '' ? '' : summarize(clean, undefined) };
}

// ---------------------------------------------------------------------------------------------------
// Events and waiting states

function failedEvent(message: string, restated?: true): PullEvent {
  const { cause, detail } = classifyPullFailure(message);
  const event: PullEvent = { kind: 'failed', image: imageInMessage(message), cause, detail };
  if (restated) event.restated = true;
  return event;
}

function backOffEvent(message: string): PullEvent {
  const image = imageInMessage(message);
  const event: PullEvent = { kind: 'backoff', image };
  // The BackOff event itself never carries the cause; the ImagePullBackOff waiting message does from 1.32.
  const { text } = runtimeError(message);
  if (text !== '') {
    const { cause, detail } = classifyPullFailure(message);
    event.cause = cause;
    event.detail = detail;
  }
  return event;
}

function invalidNameEvent(message: string): PullEvent {
  const body = eventBody(message);
  const lead = 'Failed to apply default image tag ';
  let reason = body;
  if (body.startsWith(lead)) {
    const cursor: Cursor = { text: body, at: lead.length };
    if (readGoQuoted(cursor) !== undefined && eat(cursor, ': ')) reason = body.slice(cursor.at);
  }
  return {
    kind: 'invalid-name',
    image: imageInMessage(message),
    detail: clip(scrub(reason), DETAIL_MAX_LENGTH),
  };
}

// The `Error: <name>` event kuberuntime records after every failed EnsureImageExists.
function restatedEvent(name: KubeletErrorName): PullEvent {
  switch (name) {
    case 'ErrImagePull':
    case 'ImageInspectError':
    case 'SignatureValidationFailed':
      return { kind: 'failed', image: undefined, cause: 'unknown', detail: '', restated: true };
    case 'RegistryUnavailable':
      return { kind: 'failed', image: undefined, cause: 'network', detail: '', restated: true };
    case 'ImagePullBackOff':
      return { kind: 'backoff', image: undefined, restated: true };
    case 'ErrImageNeverPull':
      return { kind: 'never-pull', image: undefined, restated: true };
    case 'InvalidImageName':
      return { kind: 'invalid-name', image: undefined, detail: '', restated: true };
  }
}

function startsWithAny(body: string, leads: readonly string[]): boolean {
  return leads.some((lead) => body.startsWith(lead));
}

// Event reasons (pkg/kubelet/events/event.go) and the waiting reasons the kubelet sets for images
// (pkg/kubelet/images/types.go). Event reasons Failed and BackOff are shared with container start
// failures, so their message decides; a waiting reason decides by itself.
const READERS: ReadonlyMap<string, (message: string, body: string) => PullEvent> = new Map<
  string,
  (message: string, body: string) => PullEvent
>([
  [
    'Pulling',
    (message, body) => {
      const image = imageInMessage(message);
      return startsWithAny(body, ['Pulling image ', 'pulling image ']) && image !== undefined
        ? { kind: 'pulling', image }
        : { kind: 'other' };
    },
  ],
  ['Pulled', (message) => parsePulledMessage(message) ?? { kind: 'other' }],
  [
    'Failed',
    (message, body) => {
      if (body.startsWith('Failed to pull image ')) return failedEvent(message);
      const restated = /^Error: (\w+)$/.exec(body)?.[1];
      if (restated !== undefined && isKubeletErrorName(restated)) {
        return restatedEvent(restated);
      }
      return { kind: 'other' };
    },
  ],
  [
    'BackOff',
    (message, body) =>
      body.startsWith('Back-off pulling image ') ? backOffEvent(message) : { kind: 'other' },
  ],
  ['ErrImageNeverPull', (message) => ({ kind: 'never-pull', image: imageInMessage(message) })],
  [
    'InspectFailed',
    (message, body) => {
      if (body.startsWith('Failed to apply default image tag ')) return invalidNameEvent(message);
      if (body.startsWith('Failed to inspect image ')) return failedEvent(message);
      return { kind: 'other' };
    },
  ],
  ['ErrImagePull', (message) => failedEvent(message)],
  ['ImageInspectError', (message) => failedEvent(message)],
  ['RegistryUnavailable', (message) => failedEvent(message)],
  ['SignatureValidationFailed', (message) => failedEvent(message)],
  ['ImagePullBackOff', (message) => backOffEvent(message)],
  ['InvalidImageName', (message) => invalidNameEvent(message)],
]);

/**
 * Classifies a kubelet image event (`reason`, `message`) or a container waiting state (`reason`, `message`)
 * into what happened to the image. `other` for reasons and messages that are not about pulling.
 */
export function pullEventKind(reason: string, message: string): PullEvent {
  const read = READERS.get(reason);
  return read === undefined ? { kind: 'other' } : read(message, eventBody(message));
}

// ---------------------------------------------------------------------------------------------------
// Field paths

// GenerateContainerRef (pkg/kubelet/container/ref.go):
//   field-path := "spec." collection "{" name "}"
//   collection := "containers" | "initContainers" | "ephemeralContainers"
//   name       := a DNS-1123 label, as API validation requires of container names
// The kubelet falls back to "spec.containers[<index>]" for a nameless container and to
// "implicitly required container <name>" for one outside the spec; neither names a container of the pod.
const CONTAINER_FIELD_PATH =
  /^spec\.(containers|initContainers|ephemeralContainers)\{([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\}$/;
const SITE_KINDS: ReadonlyMap<string, ImageSiteKind> = new Map([
  ['containers', 'container'],
  ['initContainers', 'initContainer'],
  ['ephemeralContainers', 'ephemeralContainer'],
]);

/** The container an event's involvedObject.fieldPath (regarding.fieldPath) refers to. */
export function containerOfFieldPath(
  fieldPath: string,
): { kind: ImageSiteKind; name: string } | undefined {
  const match = CONTAINER_FIELD_PATH.exec(fieldPath);
  if (match === null) return undefined;
  const kind = SITE_KINDS.get(match[1] as string);
  return kind === undefined ? undefined : { kind, name: match[2] as string };
}
