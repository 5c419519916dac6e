import { parseArgs } from 'node:util';
import { type CommandIo, commaValues, oneOf, UsageError } from '#cmd/cli/io.ts';
import { useColor, writeOutput } from '#cmd/cli/output.ts';
import { EXIT_USAGE } from '#cmd/cli/program.ts';
import { ruleList } from '#cmd/cli/rule-options.ts';
import {
  getServiceJson,
  serviceEndpoint,
  serviceUrl,
  timeoutOption,
} from '#cmd/cli/service-request.ts';
import { SEVERITIES, type Severity, severityAtLeast } from '#shared/drift/model.ts';
import { type FindingList, parseFindingList } from '#shared/findings/http.ts';
import { FINDING_STATUSES } from '#shared/findings/model.ts';
import { driftReportOf } from '#shared/findings/report.ts';
import { oneLine } from '#shared/http/answer-text.ts';
import { sortFindings } from '#shared/report/common.ts';
import { formatMarkdown } from '#shared/report/markdown.ts';
import { formatSarif } from '#shared/report/sarif.ts';
import { formatText } from '#shared/report/text.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';

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
  const url = serviceEndpoint(
    serviceUrl(values.url ?? io.env.PULLWARDEN_URL, 'url'),
    '/v1/findings',
    query,
  );
  const fail = (reason: string): number => {
    io.stderr.write(`pullwarden findings: GET ${url.href} ${reason}\n`);
    return EXIT_USAGE;
  };

  const answer = await getServiceJson({
    url,
    sigv4: values.sigv4,
    timeoutSeconds,
    userAgent: `pullwarden/${PULLWARDEN_VERSION}`,
    env: io.env,
  });
  if (!answer.ok) return fail(answer.reason);
  const parsed = parseFindingList(answer.document);
  if (!parsed.ok) return fail(`${answer.answered} with no FindingList (${oneLine(parsed.reason)})`);

  const color = useColor(io, values);
  await writeOutput(io, values.output, render(parsed.list, format, color, values.verbose));

  if (failOn === 'never') return 0;
  const threshold: Severity = failOn;
  const failing = parsed.list.findings.some(
    (finding) => finding.status === 'open' && severityAtLeast(finding.severity, threshold),
  );
  return failing ? 1 : 0;
}
