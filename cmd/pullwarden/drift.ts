import { parseArgs } from 'node:util';
import { loadCommandConfig } from '#cmd/cli/config.ts';
import { type CommandIo, oneOf, UsageError } from '#cmd/cli/io.ts';
import { useColor, writeOutput } from '#cmd/cli/output.ts';
import { ruleList } from '#cmd/cli/rule-options.ts';
import {
  type DriftReport,
  SEVERITIES,
  type Severity,
  severityAtLeast,
} from '#shared/drift/model.ts';
import { type Progress, runDrift } from '#shared/drift/run.ts';
import { expandInputs, STDIN } from '#shared/input/inputs.ts';
import { formatJsonChunks } from '#shared/report/json.ts';
import { formatMarkdown } from '#shared/report/markdown.ts';
import { formatSarif } from '#shared/report/sarif.ts';
import { formatText } from '#shared/report/text.ts';
import { formatBytes } from '#shared/text/bytes.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';

export const DRIFT_USAGE = `Usage: pullwarden drift [options] <path>...

Evaluates image pull policies of Kubernetes manifests and cluster dumps.
Paths are files, directories (searched for *.yaml, *.yml, *.json) or - for stdin.

Options:
  -c, --config <file>       pullwarden.yaml to use (default: $PULLWARDEN_CONFIG, else the first
                            pullwarden.yaml in or above the inputs' directory, up to the repository
                            root, else built-in defaults)
  -f, --format <format>     text (default), json, sarif or markdown
  -o, --output <file>       write the report to a file instead of stdout
      --fail-on <level>     exit 1 on findings at or above: info, warning (default), error, never
      --rule <id>           only these rules (repeatable or comma-separated, e.g. PW001,PW003)
      --skip-rule <id>      leave out these rules (repeatable or comma-separated)
  -n, --namespace <name>    only workloads in this namespace (repeatable)
  -v, --verbose             show the evidence behind each finding (text format)
      --color, --no-color   force colour on or off (default: on for a terminal, off with NO_COLOR)
      --progress, --no-progress
                            progress on stderr (default: on when stderr is a terminal)
      --threads <n>         threads that parse large JSON dumps (default: one per CPU, at most 8;
                            0 parses on the main thread only)
  -h, --help                show this help

Exit codes: 0 no findings at or above --fail-on, 1 findings, 2 usage or input error.`;

const FORMATS = ['text', 'json', 'sarif', 'markdown'] as const;
type Format = (typeof FORMATS)[number];
const FAIL_ON = [...SEVERITIES, 'never'] as const;

function progressReporter(io: CommandIo): { update(progress: Progress): void; clear(): void } {
  let last = 0;
  let shown = false;
  return {
    update(progress) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const size = progress.size;
      const share =
        size === undefined || size === 0
          ? ''
          : ` / ${formatBytes(size)} (${Math.floor((progress.bytes / size) * 100)}%)`;
      io.stderr.write(
        `\r\u001b[2Kreading ${progress.file}: ${formatBytes(progress.bytes)}${share}, ${progress.documents} objects`,
      );
      shown = true;
    },
    clear() {
      if (shown) io.stderr.write('\r\u001b[2K');
    },
  };
}

/** The report in pieces: a JSON report of a whole cluster is never built as one string. */
function render(
  report: DriftReport,
  format: Format,
  color: boolean,
  verbose: boolean,
): Iterable<string> {
  switch (format) {
    case 'json':
      return formatJsonChunks(report);
    case 'sarif':
      return [
        formatSarif(report, { toolVersion: PULLWARDEN_VERSION, baseDirectory: process.cwd() }),
      ];
    case 'markdown':
      return [formatMarkdown(report)];
    default:
      return [formatText(report, { color, verbose })];
  }
}

export async function driftCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    allowNegative: true,
    options: {
      config: { type: 'string', short: 'c' },
      format: { type: 'string', short: 'f', default: 'text' },
      output: { type: 'string', short: 'o' },
      'fail-on': { type: 'string', default: 'warning' },
      rule: { type: 'string', multiple: true },
      'skip-rule': { type: 'string', multiple: true },
      namespace: { type: 'string', short: 'n', multiple: true },
      verbose: { type: 'boolean', short: 'v', default: false },
      color: { type: 'boolean' },
      progress: { type: 'boolean' },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${DRIFT_USAGE}\n`);
    return 0;
  }
  const format = oneOf(FORMATS, values.format, 'format');
  const failOn = oneOf(FAIL_ON, values['fail-on'], 'fail-on');
  const rules = ruleList(values.rule, 'rule');
  const skipRules = ruleList(values['skip-rule'], 'skip-rule');
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 0 || threads > 64) {
      throw new UsageError(
        `--threads must be a whole number from 0 to 64 (got "${values.threads}")`,
      );
    }
  }
  if (positionals.length === 0) {
    throw new UsageError('give at least one file, directory or - for stdin');
  }
  if (positionals.filter((path) => path === STDIN).length > 1) {
    throw new UsageError('stdin (-) can be given only once');
  }

  const config = await loadCommandConfig(io, {
    config: values.config,
    discoverFrom: positionals.filter((path) => path !== STDIN),
    announce: values.verbose || io.stderrIsTTY,
  });
  if (config === undefined) return 2;

  const color = useColor(io, values);
  const showProgress = values.progress ?? io.stderrIsTTY;
  const progress = showProgress ? progressReporter(io) : undefined;

  const { files, problems } = await expandInputs(positionals);
  const report = await runDrift(config, files, {
    rules,
    skipRules,
    namespaces: values.namespace ?? [],
    problems,
    ...(threads === undefined ? {} : { threads }),
    ...(io.stdin === undefined ? {} : { stdin: io.stdin }),
    ...(progress === undefined
      ? {}
      : { onProgress: (update: Progress) => progress.update(update) }),
  });
  progress?.clear();

  const output = render(report, format, color, values.verbose);
  await writeOutput(io, values.output, output);

  for (const problem of report.problems) {
    const where = [
      problem.file,
      problem.document === undefined ? undefined : `document ${problem.document}`,
      problem.line === undefined ? undefined : `line ${problem.line}`,
    ]
      .filter((part) => part !== undefined)
      .join(', ');
    const path = problem.path === undefined ? '' : ` (${problem.path})`;
    if (format !== 'text' || values.output !== undefined)
      io.stderr.write(`pullwarden: ${where}${path}: ${problem.message}\n`);
  }
  if (report.problems.length > 0) return 2;
  if (failOn === 'never') return 0;
  const threshold: Severity = failOn;
  return report.findings.some((finding) => severityAtLeast(finding.severity, threshold)) ? 1 : 0;
}
