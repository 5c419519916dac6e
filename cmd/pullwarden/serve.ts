import { writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type CommandIo, UsageError } from '#cmd/cli/io.ts';
import { ConfigError } from '#shared/config/load.ts';
import type { SecretRef } from '#shared/config/secret-ref.ts';
import { describeSecretRef } from '#shared/config/secret-ref.ts';
import type { LocalSecret } from '#shared/local/local-secrets.ts';
import { sampleDistributionDelivery } from '#shared/local/sample-delivery.ts';
import { type LocalStack, LocalStackError, startLocalStack } from '#shared/local/stack.ts';
import { compareText } from '#shared/text/order.ts';
import { SERVE_USAGE } from './serve-usage.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

function port(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65_535) {
    throw new UsageError(`--port must be a port number from 0 to 65535 (got "${value}")`);
  }
  return parsed;
}

function shown(path: string): string {
  const relativePath = relative(process.cwd(), path);
  return relativePath !== '' && !relativePath.startsWith('..') && !isAbsolute(relativePath)
    ? relativePath
    : path;
}

/** A shell expression that yields a secret's value without the value appearing in the banner. */
function secretExpression(ref: SecretRef | undefined, secrets: readonly LocalSecret[]): string {
  const held = secrets.find((entry) => JSON.stringify(entry.ref) === JSON.stringify(ref));
  if (held?.file !== undefined) return `$(cat ${shown(held.file)})`;
  if (ref !== undefined && 'env' in ref) return `$${ref.env}`;
  return '<secret>';
}

async function banner(stack: LocalStack, configFile: string): Promise<string> {
  const lines: string[] = [];
  const where =
    stack.mode === 'aws'
      ? `AWS: table ${stack.tables.StateTable}, queue ${stack.queues.PrepullQueue?.url}`
      : `embedded DynamoDB (dynalite) and SQS (fauxqs), data in ${shown(stack.dataDirectory ?? '')}`;
  lines.push(`pullwarden local stack on ${stack.url} — ${where}`);
  lines.push(`config: ${shown(configFile)}`, '', 'Routes:');
  const width = Math.max(...stack.routes.map((route) => route.path.length));
  for (const route of [...stack.routes].sort((a, b) => compareText(a.path, b.path))) {
    lines.push(
      `  ${route.method.padEnd(5)} ${stack.url}${route.path.padEnd(width)}  → ${route.target}`,
    );
  }
  const consumers = stack.functions.flatMap((fn) =>
    fn.queues.map((queue) => `  ${queue.queue} → ${fn.name} (batches of ${queue.batchSize})`),
  );
  const rules = stack.functions
    .filter((fn) => fn.eventPatterns.length > 0)
    .map((fn) => `  POST ${stack.url}/events with a matching event → ${fn.name}`);
  if (consumers.length > 0) lines.push('', 'Queues:', ...consumers);
  if (rules.length > 0) lines.push('', 'EventBridge rules:', ...rules);
  const sources = Object.keys(stack.config.webhooks.sources);
  lines.push(
    '',
    `Webhook sources: ${sources.length === 0 ? 'none configured' : sources.join(', ')}`,
  );
  const generated = stack.secrets.filter((entry) => entry.file !== undefined);
  if (generated.length > 0) {
    lines.push(
      '',
      'Local secrets (values are in the files, 0600; edit a file and restart to change it):',
    );
    for (const entry of generated) {
      lines.push(`  ${describeSecretRef(entry.ref)} → ${shown(entry.file as string)}`);
    }
  }
  const distribution = stack.config.webhooks.sources.distribution;
  if (distribution !== undefined && stack.dataDirectory !== undefined) {
    const sample = sampleDistributionDelivery(stack.config);
    const sampleFile = join(stack.dataDirectory, 'sample-push.json');
    await writeFile(sampleFile, `${JSON.stringify(sample.body, null, 2)}\n`);
    const selected =
      sample.rule === undefined
        ? 'no rule selects it'
        : `rule ${sample.rule} selects ${sample.nodeGroups.join(', ')}`;
    lines.push(
      '',
      `Send a sample push of ${sample.image} (${selected}):`,
      `  curl -sS ${stack.url}/webhooks/distribution \\`,
      `    -H 'Content-Type: application/vnd.docker.distribution.events.v2+json' \\`,
      `    -H "${distribution.header ?? 'Authorization'}: ${secretExpression(distribution.token, stack.secrets)}" \\`,
      `    --data-binary @${shown(sampleFile)}`,
    );
    const group = sample.nodeGroups.find(
      (name) => stack.config.nodeGroups.groups[name]?.token !== undefined,
    );
    if (group !== undefined) {
      const token = stack.config.nodeGroups.groups[group]?.token;
      lines.push(
        `then read node group ${group}'s warm set:`,
        `  curl -sS ${stack.url}/v1/nodegroups/${group}/warmset -H "Authorization: Bearer ${secretExpression(token, stack.secrets)}"`,
        'and what its nodes hold, once an agent reports (pullwarden-node agent --node-group ' +
          `${group} --server ${stack.url}):`,
        `  node cmd/pullwarden/main.ts status --node-group ${group} --endpoint ${stack.url}`,
      );
    }
  }
  lines.push('', 'Ctrl-C stops.', '');
  return lines.join('\n');
}

function errorLine(message: string, error: unknown): string {
  if (error === undefined) return message;
  return `${message}: ${error instanceof Error ? error.message : String(error)}`;
}

export async function serveCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string', default: '.pullwarden' },
      ephemeral: { type: 'boolean', default: false },
      stage: { type: 'string', default: 'local' },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  if (!/^[a-z0-9-]{1,16}$/.test(values.stage)) {
    throw new UsageError('--stage must be 1 to 16 lower-case letters, digits or dashes');
  }
  const configFile = resolve(
    values.config ?? io.env.PULLWARDEN_CONFIG ?? join(PROJECT_ROOT, 'examples/pullwarden.yaml'),
  );
  const listenPort = port(values.port ?? io.env.PORT ?? '8787');
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      root: PROJECT_ROOT,
      configFile,
      host: values.host,
      port: listenPort,
      ...(values.ephemeral ? {} : { dataDirectory: resolve(values['data-dir']) }),
      stage: values.stage,
      log: {
        info: (message) => {
          if (!values.quiet) io.stdout.write(`${message}\n`);
        },
        error: (message, error) => io.stderr.write(`${errorLine(message, error)}\n`),
      },
    });
  } catch (error) {
    if (error instanceof LocalStackError || error instanceof ConfigError) {
      io.stderr.write(`pullwarden serve: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
  io.stdout.write(await banner(stack, configFile));
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  io.stdout.write('stopping…\n');
  await stack.stop();
  return 0;
}
