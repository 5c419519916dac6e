import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { logger } from '#shared/aws/powertools.ts';
import { parseConfig } from '#shared/config/load.ts';
import { DEFAULT_CONFIG } from '#shared/config/schema.ts';
import type { DriftRequestSideEffects } from '#shared/drift/http.ts';
import { getStringFromEnv } from '#shared/runtime/env.ts';

const CONFIG_CACHE_SECONDS = 300;

const parameterName = getStringFromEnv({ key: 'PULLWARDEN_CONFIG_PARAMETER', defaultValue: '' });

export const sideEffects: DriftRequestSideEffects = {
  async loadConfig() {
    if (parameterName === '') return DEFAULT_CONFIG;
    const text = await getParameter(parameterName, { maxAge: CONFIG_CACHE_SECONDS });
    if (text === undefined) throw new Error(`SSM parameter ${parameterName} has no value`);
    return parseConfig(text, `SSM parameter ${parameterName}`);
  },
  logger,
};
