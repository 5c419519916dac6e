import { Logger } from '@aws-lambda-powertools/logger';

/** One logger for every function; settings come from POWERTOOLS_* environment variables. */
export const logger = new Logger({ serviceName: 'pullwarden' });
