import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { CommandIo } from '#cmd/cli/io.ts';
import { UsageError } from '#cmd/cli/io.ts';
import type { Command } from '#cmd/cli/program.ts';
import { serviceUrl } from '#cmd/cli/service-request.ts';
import { isAwsHost, reusableCredentials, signingRegion, signRequest } from '#cmd/cli/sigv4.ts';
import type { PrePullSettings } from '#shared/credentials/node-config.ts';
import { MAX_UNREACHABLE_RECONCILES, NodeAgent, runAgent } from '#shared/node/agent.ts';
import { AgentBusyError, lockAgentState } from '#shared/node/agent-state.ts';
import { type Authorize, HttpNodeApi } from '#shared/node/api-client.ts';
import { agentDependencies, openNodeServices } from '#shared/node/services.ts';
import { NODE_GROUP_NAME, NODE_NAME } from '#shared/prepull/names.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';
import {
  durationSeconds,
  nodeConfigWithOptions,
  RUNTIME_OPTIONS,
  RUNTIME_OPTIONS_USAGE,
  runNodeCommand,
} from './node-options.ts';

export const AGENT_USAGE = `Usage: pullwarden-node agent --node-group <name> [options]

Keeps the node group's warm set in the node's container runtime: reads
GET /v1/nodegroups/<name>/warmset (conditionally, with its ETag), pulls what the runtime lacks by
digest — again when the kubelet's image GC removed it — with the checks and limits of
'pullwarden-node pull', releases the images it added that left the warm set (removing its pins), and
reports to POST /v1/nodegroups/<name>/nodes/<node>/report. Images it did not add are never touched.

Options:
      --node-group <name>       the node group (default: prePull.agent.nodeGroup, $PULLWARDEN_NODE_GROUP)
      --server <url>            the pullwarden API (default: prePull.agent.server, $PULLWARDEN_SERVER)
      --node-name <name>        this node's Kubernetes name (default: $NODE_NAME, else the host name)
      --once                    reconcile once and exit: 0 when every image is present, 1 otherwise
      --interval <duration>     time between reconciles (default: prePull.agent.interval, 60s)
${RUNTIME_OPTIONS_USAGE}

Authorisation: SigV4 with the node's AWS credentials (prePull.agent.auth: iam, the default for
*.amazonaws.com servers), or the node group's bearer token (auth: token) from $PULLWARDEN_AGENT_TOKEN
or prePull.agent.tokenFile.

Exit codes: 0 stopped (SIGTERM) or, with --once, every image present; 1 an image is not present
(--once), or the runtime refused connections for 5 reconciles in a row (a restart reconnects to a
restarted runtime's new socket); 2 usage or config error.`;

async function authorizer(
  server: URL,
  settings: PrePullSettings['agent'],
  env: Readonly<Record<string, string | undefined>>,
): Promise<Authorize> {
  const auth = settings.auth ?? (isAwsHost(server) ? 'iam' : 'token');
  if (auth === 'token') {
    let token = env.PULLWARDEN_AGENT_TOKEN?.trim();
    if (!token && settings.tokenFile !== undefined) {
      try {
        token = (await readFile(settings.tokenFile, 'utf8')).trim();
      } catch (error) {
        throw new UsageError(
          `cannot read prePull.agent.tokenFile ${settings.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
    }
    if (!token) {
      throw new UsageError(
        'the agent needs the node group token: set $PULLWARDEN_AGENT_TOKEN or prePull.agent.tokenFile (or auth: iam)',
      );
    }
    const header = `Bearer ${token}`;
    return async () => ({ authorization: header });
  }
  const region = signingRegion(server, env);
  if (region === undefined) {
    throw new UsageError(
      'signing needs a region: set AWS_REGION for a server that is not execute-api',
    );
  }
  const credentials = reusableCredentials(env);
  return async (request) =>
    signRequest(request, { credentials: await credentials(), region, service: 'execute-api' });
}

export async function agentCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      ...RUNTIME_OPTIONS,
      'node-group': { type: 'string' },
      server: { type: 'string' },
      'node-name': { type: 'string' },
      once: { type: 'boolean' },
      interval: { type: 'string' },
    },
  });
  if (values.help === true) {
    io.stdout.write(`${AGENT_USAGE}\n`);
    return 0;
  }
  const interval =
    values.interval === undefined ? undefined : durationSeconds(values.interval, 'interval');
  const config = await nodeConfigWithOptions(values, io.env);
  const settings = config.prePull.agent;
  const nodeGroup =
    values['node-group'] ??
    settings.nodeGroup ??
    (io.env.PULLWARDEN_NODE_GROUP?.trim() || undefined);
  if (nodeGroup === undefined) {
    throw new UsageError(
      'name the node group: --node-group, prePull.agent.nodeGroup or $PULLWARDEN_NODE_GROUP',
    );
  }
  if (!NODE_GROUP_NAME.test(nodeGroup)) {
    throw new UsageError(`--node-group "${nodeGroup}" is not a node group name`);
  }
  const serverText =
    values.server ?? settings.server ?? (io.env.PULLWARDEN_SERVER?.trim() || undefined);
  if (serverText === undefined) {
    throw new UsageError(
      'name the pullwarden API: --server, prePull.agent.server or $PULLWARDEN_SERVER',
    );
  }
  const server = serviceUrl(serverText, 'server');
  const node = (values['node-name'] ?? (io.env.NODE_NAME?.trim() || hostname())).toLowerCase();
  if (!NODE_NAME.test(node))
    throw new UsageError(`node name "${node}" is not a Kubernetes node name`);
  const authorize = await authorizer(server, settings, io.env);

  const log = (line: string) => io.stderr.write(`pullwarden-node agent: ${line}\n`);
  let unlock: () => Promise<void>;
  for (;;) {
    try {
      unlock = await lockAgentState(settings.stateFile);
      break;
    } catch (error) {
      if (!(error instanceof AgentBusyError)) throw error;
      // A one-off reconcile has nothing to add to a running agent; a long-running one waits its turn.
      if (values.once === true) {
        log(`${error.message}; nothing to do`);
        return 0;
      }
      log(`${error.message}; waiting`);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
  try {
    const services = await openNodeServices(config, {
      pinOwner: 'agent',
      env: io.env,
      log,
    });
    const agent = new NodeAgent(
      { nodeGroup, node, version: PULLWARDEN_VERSION, runtime: services.runtimeName },
      agentDependencies(config, services, {
        api: new HttpNodeApi(server.href, nodeGroup, authorize),
        log,
      }),
    );
    try {
      if (values.once === true) {
        const summary = await agent.reconcile();
        for (const result of summary.results) io.stdout.write(`${JSON.stringify(result)}\n`);
        log(
          `${summary.present}/${summary.desired} present (${summary.pulled} pulled, ${summary.failed} failed, ${summary.released} released${summary.reported ? '' : ', report not sent'})`,
        );
        return summary.failed === 0 ? 0 : 1;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      try {
        const ended = await runAgent(
          agent,
          (interval ?? settings.interval) * 1000,
          stop.signal,
          log,
        );
        if (ended === 'runtime-unreachable') {
          log(
            `the container runtime at ${services.runtime.endpoint} refused ${MAX_UNREACHABLE_RECONCILES} reconciles in a row; exiting so a restart reconnects`,
          );
          return 1;
        }
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      return 0;
    } finally {
      services.close();
    }
  } finally {
    await unlock();
  }
}

export const agentCommandDefinition: Command = {
  summary: "keep the node group's warm set in the container runtime, and report it",
  usage: AGENT_USAGE,
  run: (args, io) => runNodeCommand(io, 'agent', () => agentCommand(args, io)),
};
