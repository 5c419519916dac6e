import { parseArgs } from 'node:util';
import { type CommandIo, oneOf, UsageError } from '#cmd/cli/io.ts';
import { table, writeOutput } from '#cmd/cli/output.ts';
import { EXIT_USAGE } from '#cmd/cli/program.ts';
import {
  getServiceJson,
  serviceEndpoint,
  serviceUrl,
  timeoutOption,
} from '#cmd/cli/service-request.ts';
import { oneLine } from '#shared/http/answer-text.ts';
import { NODE_GROUP_NAME } from '#shared/prepull/names.ts';
import { parseNodeGroupStatus } from '#shared/prepull/node-group-status.ts';
import {
  type ImageStatus,
  NODE_GROUP_STATUS_SCHEMA,
  type NodeGroupStatus,
  type NodePullFailure,
} from '#shared/prepull/node-report.ts';
import { compareText } from '#shared/text/order.ts';
import { plural } from '#shared/text/plural.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';

export const STATUS_USAGE = `Usage: pullwarden status --node-group <name> [options]

Shows how far a node group's nodes hold its warm set (GET /v1/nodegroups/<name>/status), from the
newest pre-pull report of each node: per image, the nodes that hold it, are pulling it, failed to pull
it (and why) or do not report it. Nodes whose newest report is older than
nodeGroups.reports.staleAfterSeconds are listed as stale and not counted.

Options:
  -g, --node-group <name>   the node group (required)
      --endpoint <url>      the pullwarden API (default: $PULLWARDEN_URL; --url is the same), e.g.
                            https://abc123.execute-api.eu-west-1.amazonaws.com or http://127.0.0.1:8787
  -f, --format <format>     text (default; one row per image, then failures by cause and stale
                            nodes) or json (the API's ${NODE_GROUP_STATUS_SCHEMA} document, with
                            the fields this version knows)
  -o, --output <file>       write the status to a file instead of stdout
      --token <token>       send Authorization: Bearer <token> (default: $PULLWARDEN_TOKEN), for a
                            gateway or proxy that asks for one; the local stack and IAM-authorised
                            routes do not. A token turns SigV4 signing off
      --sigv4, --no-sigv4   sign the request (AWS Signature Version 4, service execute-api; default:
                            on for *.amazonaws.com hosts) with credentials from the default AWS
                            chain, for the region of an execute-api host, else AWS_REGION
      --timeout <seconds>   give up on the request after this long (default: 30)
  -h, --help                show this help

Exit codes: 0 no fresh node failed to pull an image of the warm set, 1 at least one did, 2 usage or
request error.`;

const FORMATS = ['text', 'json'] as const;
type Format = (typeof FORMATS)[number];
// Wide enough for most registry/repository:tag names; longer ones lose the middle of their path.
const MAX_IMAGE_WIDTH = 60;
const DIGEST_CHARACTERS = 12;

/** `registry/repository:tag` without the digest (it has a column), fitted to the table. */
export function shortImage(image: string): string {
  // The names come from the service: what reaches the terminal is one line without control characters.
  const name = oneLine(image, 1024).replace(/@[^@]+$/, '');
  if (name.length <= MAX_IMAGE_WIDTH) return name;
  const segments = name.split('/');
  const last = segments.at(-1) as string;
  const elided = `${segments[0]}/…/${last}`;
  if (segments.length > 2 && elided.length <= MAX_IMAGE_WIDTH) return elided;
  return `…${name.slice(-(MAX_IMAGE_WIDTH - 1))}`;
}

/** The first hex characters of the digest's encoded part, as `docker images` shows image ids. */
export function shortDigest(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 1 + DIGEST_CHARACTERS);
}

function imageRow(image: ImageStatus, nodes: number): string[] {
  return [
    `${shortImage(image.image)}${image.inWarmSet ? '' : ' *'}`,
    shortDigest(image.digest),
    `${image.present.length}/${nodes}`,
    String(image.pulling.length),
    String(image.failed.length),
    image.inWarmSet ? String(image.missing.length) : '-',
    String(image.pinned),
  ];
}

function failureLines(images: readonly ImageStatus[]): string[] {
  const byCause = new Map<string, { image: ImageStatus; failure: NodePullFailure }[]>();
  for (const image of images) {
    for (const failure of image.failed) {
      const list = byCause.get(failure.cause) ?? [];
      list.push({ image, failure });
      byCause.set(failure.cause, list);
    }
  }
  if (byCause.size === 0) return [];
  const lines = ['', 'Failed pulls by cause:'];
  for (const [cause, failures] of [...byCause].sort(([a], [b]) => compareText(a, b))) {
    lines.push(`  ${cause} (${plural(failures.length, 'pull')}):`);
    const rows = failures.map(({ image, failure }) => [
      `    ${oneLine(failure.node, 80)}`,
      shortImage(image.image),
      `${failure.reason === undefined ? 'no reason given' : oneLine(failure.reason)}${
        failure.attempts === undefined ? '' : ` (${plural(failure.attempts, 'attempt')})`
      }`,
    ]);
    lines.push(table(rows));
  }
  return lines;
}

export function formatStatusText(status: NodeGroupStatus): string {
  const nodes = status.nodes.length;
  const warm = status.images.filter((image) => image.inWarmSet).length;
  const lines = [
    `Node group ${oneLine(status.nodeGroup, 128)}: ${plural(nodes, 'node')} reporting, ${status.staleNodes.length} stale; ${plural(warm, 'image')} in the warm set (at ${status.generatedAt})`,
  ];
  if (status.images.length === 0) {
    lines.push('', 'The warm set is empty and no node reports an image.');
  } else {
    lines.push(
      '',
      table([
        ['IMAGE', 'DIGEST', 'PRESENT', 'PULLING', 'FAILED', 'MISSING', 'PINNED'],
        ...status.images.map((image) => imageRow(image, nodes)),
      ]),
    );
    if (status.images.some((image) => !image.inWarmSet)) {
      lines.push('* no longer in the warm set; nodes still report it');
    }
  }
  lines.push(...failureLines(status.images));
  if (status.staleNodes.length > 0) {
    lines.push(
      '',
      `Stale nodes (no report in the last ${status.staleAfterSeconds}s; not counted above):`,
      table(
        status.staleNodes.map((node) => [
          `  ${oneLine(node.node, 80)}`,
          `last report received ${node.receivedAt}`,
        ]),
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The endpoint from --endpoint, its alias --url, or the environment. */
function endpointOption(values: { endpoint?: string; url?: string }, io: CommandIo): URL {
  if (values.endpoint !== undefined && values.url !== undefined) {
    throw new UsageError('give the API with --endpoint or --url, not both');
  }
  const option = values.url === undefined ? 'endpoint' : 'url';
  return serviceUrl(values.endpoint ?? values.url ?? io.env.PULLWARDEN_URL, option);
}

export async function statusCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    allowPositionals: false,
    strict: true,
    allowNegative: true,
    options: {
      'node-group': { type: 'string', short: 'g' },
      endpoint: { type: 'string' },
      url: { type: 'string' },
      format: { type: 'string', short: 'f', default: 'text' },
      output: { type: 'string', short: 'o' },
      token: { type: 'string' },
      sigv4: { type: 'boolean' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${STATUS_USAGE}\n`);
    return 0;
  }
  const nodeGroup = values['node-group'];
  if (nodeGroup === undefined) throw new UsageError('--node-group is required');
  if (!NODE_GROUP_NAME.test(nodeGroup)) {
    throw new UsageError(
      `--node-group must be a node group name: letters, digits, ".", "_" and "-", at most 128 (got "${oneLine(nodeGroup, 80)}")`,
    );
  }
  const format: Format = oneOf(FORMATS, values.format, 'format');
  const timeoutSeconds = timeoutOption(values.timeout);
  const token = values.token ?? (io.env.PULLWARDEN_TOKEN || undefined);
  if (token !== undefined && values.sigv4 === true) {
    throw new UsageError('--token and --sigv4 both need the Authorization header; choose one');
  }
  const url = serviceEndpoint(
    endpointOption(values, io),
    `/v1/nodegroups/${encodeURIComponent(nodeGroup)}/status`,
  );
  const fail = (reason: string): number => {
    io.stderr.write(`pullwarden status: GET ${url.href} ${reason}\n`);
    return EXIT_USAGE;
  };

  const answer = await getServiceJson(
    {
      url,
      sigv4: token === undefined ? values.sigv4 : false,
      timeoutSeconds,
      userAgent: `pullwarden/${PULLWARDEN_VERSION}`,
      env: io.env,
    },
    token === undefined ? {} : { authorization: `Bearer ${token}` },
  );
  if (!answer.ok) return fail(answer.reason);
  const parsed = parseNodeGroupStatus(answer.document);
  if (!parsed.ok) {
    return fail(
      `${answer.answered} with no ${NODE_GROUP_STATUS_SCHEMA} (${oneLine(parsed.reason)})`,
    );
  }
  const { status } = parsed;

  const output =
    format === 'json' ? `${JSON.stringify(status, null, 2)}\n` : formatStatusText(status);
  await writeOutput(io, values.output, output);

  const failed = status.images.some((image) => image.inWarmSet && image.failed.length > 0);
  return failed ? 1 : 0;
}
