import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type CommandIo, oneOf, UsageError } from '#cmd/cli/io.ts';
import { EXIT_USAGE } from '#cmd/cli/program.ts';
import {
  type AwsCredentials,
  defaultCredentials,
  isAwsHost,
  signingRegion,
  signRequest,
} from '#cmd/cli/sigv4.ts';
import { SEVERITIES, type Severity, severityAtLeast } from '#shared/drift/model.ts';
import { type FindingList, parseFindingList } from '#shared/findings/http.ts';
import { FINDING_STATUSES } from '#shared/findings/model.ts';
import { driftReportOf } from '#shared/findings/report.ts';
import { sortFindings } from '#shared/report/common.ts';
import { formatMarkdown } from '#shared/report/markdown.ts';
import { formatSarif } from '#shared/report/sarif.ts';
import { formatText } from '#shared/report/text.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';
import { ruleList } from './drift.ts';

export const FINDINGS_USAGE = `Usage: pullwarden findings [options]

Lists the findings pullwarden keeps about a live cluster (GET /v1/findings): what the drift sweep,
registry pushes and cluster events raised, open until they stop holding.

Options:
      --url <url>           the pullwarden API (default: $PULLWARDEN_URL), e.g.
                            https://abc123.execute-api.eu-west-1.amazonaws.com or https://host/stage
  -n, --namespace <name>    only findings in this namespace (repeatable or comma-separated)
      --rule <id>           only these rules (repeatable or comma-separated, e.g. PW001,PW009)
      --severity <level>    only findings at or above: info, warning, error
      --workload <glob>     only these workloads: Kind/name glob (Deployment/api-*) or a name glob
      --status <status>     open (default), closed or all
  -f, --format <format>     text (default), json, sarif or markdown; json is the API's FindingList,
                            with status, origin, firstSeenAt and lastSeenAt of each finding
  -o, --output <file>       write the report to a file instead of stdout
      --fail-on <level>     exit 1 on open findings at or above: info, warning (default), error,
                            never (closed findings never fail)
  -v, --verbose             show the evidence behind each finding (text format)
      --color, --no-color   force colour on or off (default: on for a terminal, off with NO_COLOR)
      --sigv4, --no-sigv4   sign the request (AWS Signature Version 4, service execute-api; default:
                            on for *.amazonaws.com hosts) with credentials from the default AWS
                            chain, for the region of an execute-api host, else AWS_REGION
      --timeout <seconds>   give up on the request after this long (default: 30)
  -h, --help                show this help

Exit codes: 0 no open findings at or above --fail-on, 1 findings, 2 usage or request error.`;

const FORMATS = ['text', 'json', 'sarif', 'markdown'] as const;
type Format = (typeof FORMATS)[number];
const FAIL_ON = [...SEVERITIES, 'never'] as const;
const STATUSES = [...FINDING_STATUSES, 'all'] as const;
const DEFAULT_TIMEOUT_SECONDS = 30;
// Enough for the service's reason in a message, not for a whole error page from a proxy.
const MAX_ERROR_TEXT = 300;

function commaValues(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((value) => value.split(','))
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** The API's base URL. It is never echoed back: whatever was typed may hold a secret. */
function serviceUrl(given: string | undefined): URL {
  if (given === undefined || given.trim() === '') {
    throw new UsageError('give the pullwarden API with --url <url> or $PULLWARDEN_URL');
  }
  let url: URL;
  try {
    url = new URL(given.trim());
  } catch {
    throw new UsageError('--url must be an http or https URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--url must be an http or https URL (got ${url.protocol})`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UsageError('--url must not carry a user name or password; the API takes SigV4');
  }
  return url;
}

/** RFC 3986 encoding, as SigV4 canonicalises a query: what is signed is exactly what is sent. */
function encodeQueryPart(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `<base>/v1/findings?…`; the base may carry a stage or a path prefix. */
function findingsUrl(base: URL, query: readonly (readonly [string, string])[]): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/findings`;
  url.hash = '';
  url.search = query
    .map(([name, value]) => `${encodeQueryPart(name)}=${encodeQueryPart(value)}`)
    .join('&');
  return url;
}

/** Text from a server or the network, made safe for one line of a terminal: no escapes, no bidi overrides. */
function oneLine(text: string, max = MAX_ERROR_TEXT): string {
  const flat = text
    .replace(/\s+/g, ' ')
    .replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The reason in an error answer: pullwarden's `error.message`, API Gateway's `message`, or the text. */
function errorReason(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown }; message?: unknown };
    const message = parsed.error?.message ?? parsed.message;
    if (typeof message === 'string') return oneLine(message);
  } catch {
    // Not JSON: the text itself is the best reason there is.
  }
  return oneLine(body);
}

/** Why fetch gave no answer: the timeout, or the network error under fetch's own "fetch failed". */
function requestFailure(error: unknown, timeoutSeconds: number): string {
  if ((error as { name?: unknown } | undefined)?.name === 'TimeoutError') {
    return `timed out after ${timeoutSeconds}s`;
  }
  const cause = (error as { cause?: unknown } | undefined)?.cause ?? error;
  // A refused dual-stack connect is an AggregateError with no message of its own.
  const details = cause as { message?: unknown; code?: unknown; errors?: { message?: unknown }[] };
  const message =
    (typeof details.message === 'string' && details.message !== '' && details.message) ||
    (typeof details.errors?.[0]?.message === 'string' && details.errors[0].message) ||
    (typeof details.code === 'string' && details.code) ||
    String(cause);
  return `failed: ${oneLine(message)}`;
}

type Answer = { status: number; statusText: string; body: string } | { failure: string };

async function get(
  url: URL,
  headers: Record<string, string>,
  timeoutSeconds: number,
): Promise<Answer> {
  try {
    const response = await fetch(url, {
      headers,
      // A redirect would carry a signature made for another URL; it is reported, not followed.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
    return {
      status: response.status,
      statusText: response.statusText,
      body: await response.text(),
    };
  } catch (error) {
    return { failure: requestFailure(error, timeoutSeconds) };
  }
}

/** The filter options as query parameters, checked here so a typo never reaches the service. */
function filterQuery(values: {
  namespace?: string[] | undefined;
  rule?: string[] | undefined;
  severity?: string | undefined;
  workload?: string | undefined;
  status?: string | undefined;
}): [string, string][] {
  const query: [string, string][] = [];
  const namespaces = [...new Set(commaValues(values.namespace))];
  if (namespaces.length > 0) query.push(['namespace', namespaces.join(',')]);
  const rules = [...new Set(ruleList(values.rule, 'rule'))];
  if (rules.length > 0) query.push(['rule', rules.join(',')]);
  if (values.severity !== undefined) {
    query.push(['severity', oneOf(SEVERITIES, values.severity, 'severity')]);
  }
  if (values.workload !== undefined) {
    if (values.workload.trim() === '') throw new UsageError('--workload must not be empty');
    query.push(['workload', values.workload.trim()]);
  }
  if (values.status !== undefined) query.push(['status', oneOf(STATUSES, values.status, 'status')]);
  return query;
}

function timeoutOption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UsageError(
      `--timeout must be a number of seconds above 0, at most 3600 (got "${value}")`,
    );
  }
  return seconds;
}

function render(list: FindingList, format: Format, color: boolean, verbose: boolean): string {
  if (format === 'json') {
    return `${JSON.stringify({ ...list, findings: sortFindings(list.findings) }, null, 2)}\n`;
  }
  const report = driftReportOf(list.findings);
  switch (format) {
    case 'sarif':
      return formatSarif(report, { toolVersion: PULLWARDEN_VERSION, baseDirectory: process.cwd() });
    case 'markdown':
      return formatMarkdown(report);
    default:
      return formatText(report, { color, verbose });
  }
}

export async function findingsCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    allowPositionals: false,
    strict: true,
    allowNegative: true,
    options: {
      url: { type: 'string' },
      namespace: { type: 'string', short: 'n', multiple: true },
      rule: { type: 'string', multiple: true },
      severity: { type: 'string' },
      workload: { type: 'string' },
      status: { type: 'string' },
      format: { type: 'string', short: 'f', default: 'text' },
      output: { type: 'string', short: 'o' },
      'fail-on': { type: 'string', default: 'warning' },
      verbose: { type: 'boolean', short: 'v', default: false },
      color: { type: 'boolean' },
      sigv4: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${FINDINGS_USAGE}\n`);
    return 0;
  }
  const format = oneOf(FORMATS, values.format, 'format');
  const failOn = oneOf(FAIL_ON, values['fail-on'], 'fail-on');
  const query = filterQuery(values);
  const timeoutSeconds = timeoutOption(values.timeout);
  const url = findingsUrl(serviceUrl(values.url ?? io.env.PULLWARDEN_URL), query);
  const fail = (reason: string): number => {
    io.stderr.write(`pullwarden findings: GET ${url.href} ${reason}\n`);
    return EXIT_USAGE;
  };

  let headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': `pullwarden/${PULLWARDEN_VERSION}`,
  };
  if (values.sigv4 ?? isAwsHost(url)) {
    const region = signingRegion(url, io.env);
    if (region === undefined) {
      throw new UsageError(
        `cannot tell which AWS region ${url.host} is in: set AWS_REGION, or use --no-sigv4`,
      );
    }
    let credentials: AwsCredentials;
    try {
      credentials = await defaultCredentials(io.env);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return fail(`not sent: no AWS credentials to sign with (${oneLine(reason)})`);
    }
    headers = await signRequest(
      { method: 'GET', url, headers },
      { credentials, region, service: 'execute-api' },
    );
  }

  const answer = await get(url, headers, timeoutSeconds);
  if ('failure' in answer) return fail(answer.failure);
  const { status, statusText, body } = answer;
  const answered = `answered ${status}${statusText === '' ? '' : ` ${oneLine(statusText, 60)}`}`;
  if (status < 200 || status > 299) {
    const reason = errorReason(body);
    return fail(reason === '' ? answered : `${answered}: ${reason}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    return fail(`${answered} with a body that is not JSON`);
  }
  const parsed = parseFindingList(document);
  if (!parsed.ok) return fail(`${answered} with no FindingList (${oneLine(parsed.reason)})`);

  const toTerminal = values.output === undefined && io.stdoutIsTTY;
  const color =
    values.color ?? (toTerminal && io.env.NO_COLOR === undefined && io.env.TERM !== 'dumb');
  const output = render(parsed.list, format, color, values.verbose);
  if (values.output === undefined) io.stdout.write(output);
  else await writeFile(values.output, output);

  if (failOn === 'never') return 0;
  const threshold: Severity = failOn;
  const failing = parsed.list.findings.some(
    (finding) => finding.status === 'open' && severityAtLeast(finding.severity, threshold),
  );
  return failing ? 1 : 0;
}
