import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { loadCommandConfig } from '#cmd/cli/config.ts';
import { type CommandIo, oneOf, UsageError } from '#cmd/cli/io.ts';
import { table } from '#cmd/cli/output.ts';
import { EXIT_USAGE } from '#cmd/cli/program.ts';
import type { Config } from '#shared/config/schema.ts';
import {
  effectiveTag,
  type ImageReference,
  ImageReferenceError,
  parseImageReference,
  tryParseImageReference,
} from '#shared/image/reference.ts';
import { type ImagePushed, imageReferenceOf, repositoryName } from '#shared/intake/model.ts';
import { pinnedReference } from '#shared/prepull/message.ts';
import {
  type InventoryQuery,
  type PlannedTarget,
  planPrepull,
  repositoryPatternMatches,
} from '#shared/prepull/plan.ts';
import { describeTagFilter, tagFilterMatches } from '#shared/prepull/tag-filter.ts';
import { plural } from '#shared/text/plural.ts';

export const PLAN_USAGE = `Usage: pullwarden plan --image <ref> [options]

Shows which node groups would receive a pre-pull request when <ref> is pushed, and why: the
configured prePull.rules and, with --inventory, the node groups that run the repository.

Options:
  -i, --image <ref>         the pushed image, e.g. registry.example.com/team/api:1.4.0 (without
                            tag or digest it means :latest; a digest is shown as the pinned one)
  -c, --config <file>       pullwarden.yaml to use (default: $PULLWARDEN_CONFIG, else the first
                            pullwarden.yaml in or above the current directory, up to the repository
                            root, else built-in defaults)
  -f, --format <format>     text (default) or json
      --inventory <file>    JSON or YAML mapping "registry/repository" to the node groups that run
                            it, used when prePull.followInventory is true (default: not consulted)
  -h, --help                show this help

Exit codes: 0 plan printed (also when nothing is planned), 2 usage or input error.`;

const FORMATS = ['text', 'json'] as const;

/** How dispatch would run the pre-pull; `configured`: the group is in nodeGroups.groups. */
type Executor =
  | { type: 'agent'; configured: boolean }
  | { type: 'ssm'; targetTag: { key: string; value: string }; document: string };

/** Whether the plan asked `--inventory`: only with prePull.followInventory and a tagged push. */
type InventoryUse = 'consulted' | 'not-consulted' | 'disabled';

interface PlanTarget extends PlannedTarget {
  executor: Executor;
}

/** The `--format json` document; keys are stable, `digest` and `note` appear only when set. */
interface PlanReport {
  image: string;
  registry: string;
  repository: string;
  /** `null` for a push by digest alone. */
  tag: string | null;
  digest?: string;
  inventory: InventoryUse;
  targets: PlanTarget[];
  note?: string;
}

/** An unusable `--inventory` file; reported like a configuration error (exit 2). */
class InventoryError extends Error {
  override readonly name = 'InventoryError';
}

const nodeGroupName = z.string().trim().min(1, 'must not be empty');

// Keys must already be in the form the planner queries (`repositoryName`), so a key never silently
// misses: `nginx` would be looked up as `docker.io/library/nginx`.
const repositoryKey = z.string().superRefine((key, context) => {
  const parsed = tryParseImageReference(key);
  if (parsed instanceof ImageReferenceError) {
    context.addIssue({ code: 'custom', message: parsed.message });
  } else if (parsed.tag !== undefined || parsed.digest !== undefined || parsed.name !== key) {
    context.addIssue({
      code: 'custom',
      message: `must be "registry/repository" without tag or digest: "${parsed.name}"`,
    });
  }
});

const inventorySchema = z.record(
  repositoryKey,
  z.array(nodeGroupName, { error: 'must be a list of node group names' }),
  { error: 'must be a mapping of "registry/repository" to a list of node groups' },
);

async function loadInventory(path: string): Promise<Map<string, string[]>> {
  // Laid out like a configuration error: one indented line per issue.
  const invalid = (issues: readonly string[]) =>
    new InventoryError(
      `invalid inventory ${path}:\n${issues.map((issue) => `  ${issue}`).join('\n')}`,
    );
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw invalid([code === 'ENOENT' ? 'file not found' : String(error)]);
  }
  // YAML 1.2 reads JSON as well; the line counter lets every issue point at its line.
  const lineCounter = new LineCounter();
  const lineOf = (offset: number) => `line ${lineCounter.linePos(offset).line}: `;
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw invalid(
      document.errors.map(
        (error) => `${lineOf(error.pos[0])}${error.message.split('\n')[0] ?? error.message}`,
      ),
    );
  }
  const value: unknown = document.toJS();
  if (value === null || value === undefined) throw invalid(['the inventory is empty']);
  const result = inventorySchema.safeParse(value);
  if (!result.success) {
    throw invalid(
      result.error.issues.map((issue) => {
        const node = document.getIn(issue.path, true);
        const where = isNode(node) && node.range ? lineOf(node.range[0]) : '';
        const field =
          issue.path.length === 0
            ? '(document)'
            : issue.path.map((segment) => String(segment) || '""').join('.');
        // A bad key is wrapped in a generic "Invalid key in record"; its own message says more.
        const message =
          issue.code === 'invalid_key'
            ? (issue.issues[0]?.message ?? issue.message)
            : issue.message;
        return `${where}${field}: ${message}`;
      }),
    );
  }
  return new Map(Object.entries(result.data).map(([key, groups]) => [key, [...new Set(groups)]]));
}

function executorOf(config: Config, nodeGroup: string): Executor {
  const settings = config.nodeGroups.groups[nodeGroup];
  // Dispatch treats a node group without settings (or without ssm settings) as agent-driven.
  if (settings?.executor === 'ssm' && settings.ssm !== undefined) {
    return {
      type: 'ssm',
      targetTag: { key: settings.ssm.targetTag.key, value: settings.ssm.targetTag.value },
      document: settings.ssm.document,
    };
  }
  return { type: 'agent', configured: settings !== undefined };
}

/** Why nothing was planned, naming rules that take the repository but not the tag. */
function emptyPlanNote(
  push: Pick<ImagePushed, 'registry' | 'repository' | 'tag'>,
  config: Config,
  inventory: InventoryUse,
  plannerNote: string | undefined,
): string | undefined {
  // The planner's own note covers a push without a tag, which it decides before any rule.
  if (push.tag === undefined) return plannerNote;
  const name = repositoryName(push);
  const nearMisses = config.prePull.rules
    .filter(
      (rule) =>
        rule.images.some((pattern) => repositoryPatternMatches(pattern, name)) &&
        !tagFilterMatches(rule.tags, push.tag),
    )
    .map(
      (rule) =>
        `rule ${rule.name} takes ${name} but not tag ${push.tag} (${describeTagFilter(rule.tags)})`,
    );
  return [
    config.prePull.rules.length === 0
      ? 'no pre-pull rules are configured'
      : `no pre-pull rule selects ${name}:${push.tag}`,
    ...nearMisses,
    {
      consulted: `no node group in the inventory runs ${name}`,
      'not-consulted': 'inventory-following was not consulted (no --inventory file)',
      disabled: 'inventory-following is off (prePull.followInventory: false)',
    }[inventory],
  ].join('; ');
}

function executorLabel(executor: Executor): string {
  if (executor.type === 'ssm') {
    return `ssm (${executor.targetTag.key}=${executor.targetTag.value})`;
  }
  return executor.configured ? 'agent' : 'agent (default)';
}

function formatPlanText(report: PlanReport, inventoryFile: string | undefined): string {
  const name = `${report.registry}/${report.repository}`;
  const digest =
    report.digest === undefined
      ? `resolved from the registry at push time; nodes pull ${name}@<digest>`
      : `${report.digest} (pinned: nodes pull ${pinnedReference({
          image: {
            registry: report.registry,
            repository: report.repository,
            digest: report.digest,
          },
        })})`;
  const inventory = {
    consulted: `consulted (${inventoryFile})`,
    'not-consulted':
      inventoryFile === undefined
        ? 'not consulted (no --inventory file)'
        : 'not consulted (a push without a tag is not planned)',
    disabled: `not followed (prePull.followInventory: false)${
      inventoryFile === undefined ? '' : `; ${inventoryFile} ignored`
    }`,
  }[report.inventory];
  const lines = [
    `Image:      ${report.image}`,
    `Registry:   ${report.registry}`,
    `Repository: ${report.repository}`,
    `Tag:        ${report.tag ?? '(none: pushed by digest)'}`,
    `Digest:     ${digest}`,
    `Inventory:  ${inventory}`,
    '',
  ];
  if (report.targets.length === 0) {
    lines.push(`Nothing planned: ${report.note ?? 'no rule selects this image'}.`);
  } else {
    lines.push(
      table([
        ['NODE GROUP', 'SELECTED BY', 'PRIORITY', 'EXECUTOR', 'WHY'],
        ...report.targets.map((target) => [
          target.nodeGroup,
          target.selectedBy,
          String(target.priority),
          executorLabel(target.executor),
          target.why,
        ]),
      ]),
      '',
      `${plural(report.targets.length, 'node group')} would receive a pre-pull request.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function planCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    allowPositionals: false,
    strict: true,
    options: {
      image: { type: 'string', short: 'i' },
      config: { type: 'string', short: 'c' },
      format: { type: 'string', short: 'f', default: 'text' },
      inventory: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${PLAN_USAGE}\n`);
    return 0;
  }
  const format = oneOf(FORMATS, values.format, 'format');
  if (values.image === undefined) throw new UsageError('--image is required');
  let reference: ImageReference;
  try {
    reference = parseImageReference(values.image);
  } catch (error) {
    if (error instanceof ImageReferenceError) throw new UsageError(error.message);
    throw error;
  }

  const config = await loadCommandConfig(io, {
    config: values.config,
    discoverFrom: [process.cwd()],
    announce: io.stderrIsTTY,
  });
  if (config === undefined) return EXIT_USAGE;

  let inventory = new Map<string, string[]>();
  if (values.inventory !== undefined) {
    try {
      inventory = await loadInventory(values.inventory);
    } catch (error) {
      if (error instanceof InventoryError) {
        io.stderr.write(`pullwarden: ${error.message}\n`);
        return EXIT_USAGE;
      }
      throw error;
    }
  }
  // The planner asks the inventory only when following it is on and the push has a tag.
  let asked = false;
  const query: InventoryQuery = {
    nodeGroupsRunning: async (repository) => {
      asked = true;
      return inventory.get(repository) ?? [];
    },
  };

  // A push names a tag, or a digest alone; `docker push host/app` pushes `latest`.
  const tag = effectiveTag(reference);
  const push = {
    registry: reference.registry,
    repository: reference.repository,
    ...(tag === undefined ? {} : { tag }),
  };
  const plan = await planPrepull(push, config, query);
  const inventoryUse: InventoryUse = !config.prePull.followInventory
    ? 'disabled'
    : asked && values.inventory !== undefined
      ? 'consulted'
      : 'not-consulted';
  const note =
    plan.targets.length > 0 ? undefined : emptyPlanNote(push, config, inventoryUse, plan.note);
  const report: PlanReport = {
    image: imageReferenceOf({
      ...push,
      ...(reference.digest === undefined ? {} : { digest: reference.digest }),
    }),
    registry: reference.registry,
    repository: reference.repository,
    tag: tag ?? null,
    ...(reference.digest === undefined ? {} : { digest: reference.digest }),
    inventory: inventoryUse,
    targets: plan.targets.map((target) => ({
      ...target,
      executor: executorOf(config, target.nodeGroup),
    })),
    ...(note === undefined ? {} : { note }),
  };
  io.stdout.write(
    format === 'json'
      ? `${JSON.stringify(report, null, 2)}\n`
      : formatPlanText(report, values.inventory),
  );
  return 0;
}
