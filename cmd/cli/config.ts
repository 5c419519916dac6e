import { relative } from 'node:path';
import { ConfigError, discoverConfig, loadConfig } from '#shared/config/load.ts';
import type { Config } from '#shared/config/schema.ts';
import type { CommandIo } from './io.ts';

export interface ConfigChoice {
  /** `--config`, when given. */
  config: string | undefined;
  /** Where to look for pullwarden.yaml when neither `--config` nor `$PULLWARDEN_CONFIG` is set. */
  discoverFrom: readonly string[];
  /** Say on stderr which file was picked when the user did not name it. */
  announce: boolean;
}

/**
 * The configuration a command runs with: `--config`, else `$PULLWARDEN_CONFIG`, else the first
 * pullwarden.yaml found from `discoverFrom`, else the built-in defaults. An unusable configuration
 * is reported on stderr and gives `undefined`; the command then exits 2.
 */
export async function loadCommandConfig(
  io: CommandIo,
  choice: ConfigChoice,
): Promise<Config | undefined> {
  try {
    const path =
      choice.config ?? io.env.PULLWARDEN_CONFIG ?? (await discoverConfig(choice.discoverFrom));
    if (path !== undefined && choice.config === undefined && choice.announce) {
      io.stderr.write(`pullwarden: using configuration ${relative(process.cwd(), path)}\n`);
    }
    return await loadConfig(path);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`pullwarden: ${error.message}\n`);
      return undefined;
    }
    throw error;
  }
}
