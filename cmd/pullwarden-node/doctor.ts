// `pullwarden-node doctor <check>`: checks of the node's credential-provider set-up that answer the way the
// kubelet would, without a kubelet. Each check is one entry of DOCTOR_CHECKS.

import { parseArgs } from 'node:util';
import { type CommandIo, oneOf, UsageError } from '#cmd/cli/io.ts';
import { type Command, isUsageError } from '#cmd/cli/program.ts';
import { tryParseImageReference } from '#shared/image/reference.ts';
import {
  ConfigPathError,
  type CredentialProvider,
  type CredentialProviderConfigReport,
  type Diagnostic,
  loadCredentialProviderConfig,
} from '#shared/kubelet/credential-provider-config.ts';
import { explainUrlsMatch, Keyring, selectProviders } from '#shared/kubelet/keyring.ts';
import { plural } from '#shared/text/plural.ts';
import { credentialsCheck } from './doctor-credentials.ts';

/** A doctor check: a Command plus the one-line synopsis DOCTOR_USAGE lists. */
export interface DoctorCheck extends Command {
  /** Arguments after the check's name, e.g. `<config> <image>`. */
  readonly synopsis: string;
}

const FORMATS = ['text', 'json'] as const;

async function loadConfig(path: string): Promise<CredentialProviderConfigReport> {
  try {
    return await loadCredentialProviderConfig(path);
  } catch (error) {
    // A path that is not there is a mistake on the command line, not a finding.
    if (error instanceof ConfigPathError) throw new UsageError(`cannot read ${error.message}`);
    throw error;
  }
}

/** `error: file:line: path: message`, the line a compiler would print. */
export function formatDiagnostic(diagnostic: Diagnostic): string {
  const line = diagnostic.line === undefined ? '' : `:${diagnostic.line}`;
  const path = diagnostic.path === '' ? '' : ` ${diagnostic.path}:`;
  return `${diagnostic.severity}: ${diagnostic.file}${line}:${path} ${diagnostic.message}`;
}

function providerJson(provider: CredentialProvider) {
  return {
    name: provider.name,
    file: provider.file,
    index: provider.index,
    apiVersion: provider.apiVersion,
    matchImages: provider.matchImages,
    defaultCacheDuration: provider.defaultCacheDuration ?? null,
    tokenAttributes: provider.tokenAttributes ?? null,
  };
}

function where(provider: CredentialProvider): string {
  return `${provider.file} providers[${provider.index}]`;
}

// ---------------------------------------------------------------------------------------------------------
// doctor kubelet-config
// ---------------------------------------------------------------------------------------------------------

export const KUBELET_CONFIG_USAGE = `Usage: pullwarden-node doctor kubelet-config [options] <file|dir>

Validates a kubelet CredentialProviderConfig (--image-credential-provider-config) with the kubelet's own
rules: strict fields, provider names, exec apiVersion, matchImages, defaultCacheDuration, tokenAttributes.
A directory is read like the kubelet reads it: its *.json, *.yaml and *.yml files, merged in name order.
Also warns about patterns that are valid but never match what they seem to (ports, host label counts,
*.amazonaws.cn, "/*" paths, ECR endpoints left out).

Options:
  -f, --format <format>   text (default: one "error:" or "warning:" line each, then a summary) or json
  -h, --help              show this help

Exit codes: 0 no errors (warnings allowed), 1 errors (the kubelet would not start), 2 usage error or
unreadable path.`;

const kubeletConfigCheck: DoctorCheck = {
  summary: 'validate a CredentialProviderConfig file or directory as the kubelet does',
  synopsis: '<file|dir>',
  usage: KUBELET_CONFIG_USAGE,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: 'string', short: 'f', default: 'text' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.stdout.write(`${KUBELET_CONFIG_USAGE}\n`);
      return 0;
    }
    const format = oneOf(FORMATS, values.format, 'format');
    if (positionals.length !== 1) {
      throw new UsageError('give exactly one config file or directory');
    }
    const path = positionals[0] as string;
    const report = await loadConfig(path);
    if (format === 'json') {
      io.stdout.write(
        `${JSON.stringify(
          {
            path,
            valid: report.errors.length === 0,
            files: report.files,
            skippedFiles: report.skippedFiles,
            providers: report.providers.map(providerJson),
            errors: report.errors,
            warnings: report.warnings,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      for (const diagnostic of report.diagnostics)
        io.stdout.write(`${formatDiagnostic(diagnostic)}\n`);
      io.stdout.write(
        `${plural(report.errors.length, 'error')}, ${plural(report.warnings.length, 'warning')} (${plural(report.files.length, 'file')}, ${plural(report.providers.length, 'provider')})\n`,
      );
    }
    return report.errors.length > 0 ? 1 : 0;
  },
};

// ---------------------------------------------------------------------------------------------------------
// doctor match
// ---------------------------------------------------------------------------------------------------------

export const MATCH_USAGE = `Usage: pullwarden-node doctor match [options] <config> <image>

Shows which credential providers the kubelet execs for an image, and why each other provider does not
match. The image is normalised first, as the kubelet does (nginx:1.27 → docker.io/library/nginx); that
name is what matchImages and auth keys are matched against and what the plugin receives.

With --auth-keys, also shows which keys of a plugin response's "auth" map the kubelet would use, in the
order it tries them (keys reverse-sorted, every matching key kept; the Docker Hub fallback to
"index.docker.io" when nothing matches).

Options:
      --auth-keys <keys>  comma-separated auth keys of a simulated plugin response (repeatable)
  -f, --format <format>   text (default) or json
  -h, --help              show this help

Exit codes: 0 a provider is exec'd (and, with --auth-keys, a key applies), 1 none is, or the config has
errors, 2 usage error or unreadable path.`;

interface KeyVerdict {
  key: string;
  storedKey: string;
  matches: boolean;
  reason: string;
}

const matchCheck: DoctorCheck = {
  summary: 'which providers and auth keys the kubelet uses for an image',
  synopsis: '<config> <image>',
  usage: MATCH_USAGE,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        'auth-keys': { type: 'string', multiple: true },
        format: { type: 'string', short: 'f', default: 'text' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.stdout.write(`${MATCH_USAGE}\n`);
      return 0;
    }
    const format = oneOf(FORMATS, values.format, 'format');
    if (positionals.length !== 2)
      throw new UsageError('give a config file or directory and an image');
    const [configPath, image] = positionals as [string, string];
    const reference = tryParseImageReference(image);
    if (reference instanceof Error) throw new UsageError(reference.message);
    const authKeys = (values['auth-keys'] ?? [])
      .flatMap((value) => value.split(','))
      .map((key) => key.trim())
      .filter((key) => key !== '');

    const report = await loadConfig(configPath);
    const name = reference.name;
    const selections = selectProviders(report.providers, name);
    const execs = selections.filter((selection) => selection.matched).map((s) => s.provider.name);

    const keyring = new Keyring<number>();
    keyring.add(authKeys.map((key, i) => [key, i] as const));
    const lookup = keyring.lookup(name);
    const verdicts: KeyVerdict[] = keyring.stored.flatMap(({ storedKey, entries }) => {
      const { matches, reason } = explainUrlsMatch(storedKey, name);
      return entries.map((entry) => ({ key: entry.key, storedKey, matches, reason }));
    });
    const used = lookup.entries.map((entry) => entry.key);

    const ok =
      report.errors.length === 0 && execs.length > 0 && (authKeys.length === 0 || used.length > 0);

    if (format === 'json') {
      io.stdout.write(
        `${JSON.stringify(
          {
            image,
            kubeletImage: name,
            exec: execs,
            providers: selections.map((selection) => ({
              ...providerJson(selection.provider),
              exec: selection.matched,
              firstMatch: selection.firstMatch ?? null,
              patterns: selection.patterns,
            })),
            authKeys:
              authKeys.length === 0
                ? null
                : {
                    order: verdicts,
                    dropped: keyring.dropped,
                    via: lookup.via,
                    first: used[0] ?? null,
                    matching: used,
                  },
            errors: report.errors,
            warnings: report.warnings,
          },
          null,
          2,
        )}\n`,
      );
      return ok ? 0 : 1;
    }

    const out = (line = '') => io.stdout.write(`${line}\n`);
    for (const diagnostic of report.errors) out(formatDiagnostic(diagnostic));
    if (report.errors.length > 0) {
      out('the kubelet refuses to start with this configuration; assuming it started anyway:');
    }
    out(`image: ${image}`);
    out(`kubelet image name: ${name} (matched against matchImages and auth keys, sent to plugins)`);
    out();
    for (const selection of selections) {
      const provider = selection.provider;
      const label = `provider ${provider.name === '' ? '(unnamed)' : provider.name} (${where(provider)})`;
      if (selection.firstMatch !== undefined) {
        const match = selection.firstMatch;
        out(
          `${label}: exec'd: matchImages[${match.index}] ${JSON.stringify(match.pattern)} matches`,
        );
        continue;
      }
      out(`${label}: not exec'd`);
      if (selection.patterns.length === 0) out('  no matchImages');
      for (const verdict of selection.patterns) {
        out(
          `  matchImages[${verdict.index}] ${JSON.stringify(verdict.pattern)}: ${verdict.reason}`,
        );
      }
    }
    out(
      execs.length === 0
        ? 'the kubelet execs no provider for this image'
        : `the kubelet execs: ${execs.join(', ')}`,
    );

    if (authKeys.length > 0) {
      out();
      if (execs.length === 0)
        out("(no provider is exec'd for this image, so no response would exist)");
      out('auth keys in the order the kubelet tries them (stored keys, reverse-sorted):');
      verdicts.forEach((verdict, i) => {
        const stored = verdict.key === verdict.storedKey ? '' : ` (stored as ${verdict.storedKey})`;
        out(
          `  ${i + 1}. ${verdict.key}${stored}: ${verdict.matches ? 'matches' : `no: ${verdict.reason}`}`,
        );
      });
      for (const dropped of keyring.dropped) {
        out(`  ${dropped.key}: ignored by the kubelet: ${dropped.reason}`);
      }
      if (lookup.via === 'docker-hub-fallback') {
        out(
          `no key matches, but ${name} is a Docker Hub image, so the kubelet uses the credentials stored under "index.docker.io" (Docker Hub fallback)`,
        );
      }
      if (used.length === 0) out('no key applies: the kubelet pulls without these credentials');
      else {
        out(`first key used: ${used[0]}`);
        out(`matching keys in order: ${used.join(', ')}`);
      }
    }
    if (report.warnings.length > 0) {
      out();
      out(
        `note: ${plural(report.warnings.length, 'configuration warning')}; see pullwarden-node doctor kubelet-config ${configPath}`,
      );
    }
    return ok ? 0 : 1;
  },
};

// ---------------------------------------------------------------------------------------------------------
// doctor
// ---------------------------------------------------------------------------------------------------------

/** The checks, in the order the usage lists them; DOCTOR_USAGE and dispatch both read this table. */
export const DOCTOR_CHECKS: Readonly<Record<string, DoctorCheck>> = {
  'kubelet-config': kubeletConfigCheck,
  match: matchCheck,
  credentials: credentialsCheck,
};

function doctorUsage(): string {
  const entries = Object.entries(DOCTOR_CHECKS).map(([name, check]): [string, string] => [
    `${name} ${check.synopsis}`,
    check.summary,
  ]);
  const width = Math.max(...entries.map(([synopsis]) => synopsis.length));
  return `Usage: pullwarden-node doctor <check> [options] <args>

Checks the node's kubelet credential-provider set-up the way the kubelet itself reads and uses it.

Checks:
${entries.map(([synopsis, summary]) => `  ${synopsis.padEnd(width)}  ${summary}`).join('\n')}

Run 'pullwarden-node doctor <check> --help' for a check's options and exit codes.`;
}

export const DOCTOR_USAGE = doctorUsage();

export const doctorCommand: Command = {
  summary: 'check the kubelet credential-provider configuration and image matching',
  usage: DOCTOR_USAGE,
  async run(args: readonly string[], io: CommandIo) {
    const [name, ...rest] = args;
    if (name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write(`${DOCTOR_USAGE}\n`);
      return 0;
    }
    if (name === undefined) {
      throw new UsageError(`name a check: ${Object.keys(DOCTOR_CHECKS).join(', ')}`);
    }
    const check = Object.hasOwn(DOCTOR_CHECKS, name) ? DOCTOR_CHECKS[name] : undefined;
    if (check === undefined) {
      throw new UsageError(
        `unknown check "${name}"; the checks are ${Object.keys(DOCTOR_CHECKS).join(', ')}`,
      );
    }
    try {
      return await check.run(rest, io);
    } catch (error) {
      // Name the check, so the hint printed with the usage error points at the right help.
      if (isUsageError(error)) {
        throw new UsageError(
          `${name}: ${(error as Error).message} (see 'pullwarden-node doctor ${name} --help')`,
        );
      }
      throw error;
    }
  },
};
