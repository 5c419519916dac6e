import { systemClock } from '#shared/admission/deadline.ts';
import type { AdmissionDependencies } from '#shared/admission/http.ts';
import { logger } from '#shared/aws/powertools.ts';
import { loadConfig, secretResolver } from '#shared/aws/services.ts';

export const sideEffects: AdmissionDependencies = {
  loadConfig,
  secrets: secretResolver,
  logger,
  clock: systemClock,
};
