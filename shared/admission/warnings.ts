import type { Finding, ImageSiteKind, InputProblem } from '#shared/drift/model.ts';

// Admission warnings as the API server passes them on (k8s.io/apiserver endpoints/filters/warning.go):
// each becomes a `Warning: 299` header, so it must be one line without control characters; once the
// warnings of a request pass 4096 characters the API server cuts each to 256 and drops what still does
// not fit. Keeping within both limits here means nothing is cut arbitrarily: when findings do not fit,
// the last warning says how many more there are.

/** Characters (code points) per warning before the API server may truncate it. */
export const MAX_WARNING_LENGTH = 256;
/** Characters of all warnings of one request before the API server drops some. */
export const MAX_WARNINGS_LENGTH = 4096;
/** More lines than this are noise on a terminal, whatever their length. */
export const MAX_WARNINGS = 30;

const SITE_LABELS: Record<ImageSiteKind, string> = {
  container: 'container',
  initContainer: 'init container',
  ephemeralContainer: 'ephemeral container',
  imageVolume: 'image volume',
};

export function siteLabel(kind: ImageSiteKind, name: string): string {
  return `${SITE_LABELS[kind]} "${name}"`;
}

/** `PW003 container "api": registry.example.com/api:1.4 is a mutable tag …` */
export function findingWarning(finding: Finding): string {
  return `${finding.ruleId} ${siteLabel(finding.container.kind, finding.container.name)}: ${finding.message}`;
}

export function problemWarning(problem: InputProblem): string {
  return `pullwarden could not check ${problem.path ?? 'the object'}: ${problem.message}`;
}

export function omittedWarning(count: number): string {
  return `pullwarden: ${count} more finding${count === 1 ? '' : 's'} not shown`;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function codePoints(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** One line of printable text: control characters and line breaks become single spaces. */
export function singleLine(text: string): string {
  const clean = PRINTABLE_ASCII.test(text)
    ? text
    : text.toWellFormed().replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ');
  return clean.replace(/ {2,}/g, ' ').trim();
}

/** At most `max` code points, ending in … when cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = Array.from(text);
  return points.length <= max ? text : `${points.slice(0, max - 1).join('')}…`;
}

/** The warnings to send: cleaned, clipped, deduplicated, and within the API server's limits. */
export function fitWarnings(lines: readonly string[]): string[] {
  const unique = [
    ...new Set(lines.map((line) => clip(singleLine(line), MAX_WARNING_LENGTH))),
  ].filter((line) => line !== '');
  const lengths = unique.map(codePoints);
  const total = lengths.reduce((sum, length) => sum + length, 0);
  if (unique.length <= MAX_WARNINGS && total <= MAX_WARNINGS_LENGTH) return unique;
  const kept: string[] = [];
  let used = 0;
  for (let index = 0; index < unique.length; index++) {
    const remaining = unique.length - index - 1;
    const trailer = remaining === 0 ? 0 : codePoints(omittedWarning(remaining));
    const lines = kept.length + 1 + (remaining === 0 ? 0 : 1);
    if (lines > MAX_WARNINGS || used + (lengths[index] as number) + trailer > MAX_WARNINGS_LENGTH) {
      break;
    }
    kept.push(unique[index] as string);
    used += lengths[index] as number;
  }
  const omitted = unique.length - kept.length;
  if (omitted > 0) kept.push(omittedWarning(omitted));
  return kept;
}
