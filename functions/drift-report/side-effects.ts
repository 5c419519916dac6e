import { logger } from '#shared/aws/powertools.ts';
import { loadConfig } from '#shared/aws/services.ts';
import type { DriftRequestSideEffects } from '#shared/drift/http.ts';

export const sideEffects: DriftRequestSideEffects = { loadConfig, logger };
