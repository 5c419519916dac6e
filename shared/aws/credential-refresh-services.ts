import { setTimeout as sleep } from 'node:timers/promises';
import { mintSourceFor, type RefreshDependencies } from '#shared/credentials/refresh.ts';
import { getStringFromEnv } from '#shared/runtime/env.ts';
import { credentialsTable, secretResolver } from './services.ts';

// credential-refresh's side effects. API endpoints follow the SDK's own variables
// (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_ENDPOINT_URL_STS): the ECR client is otherwise
// pointed at the API of each registry's own host form (FIPS, dual-stack), so the override is passed on.

function endpoint(key: string): string | undefined {
  const value = getStringFromEnv({ key, defaultValue: '' });
  return value === '' ? undefined : value;
}

export function credentialRefreshDependencies(): RefreshDependencies {
  const ecr = endpoint('AWS_ENDPOINT_URL_ECR');
  const ecrPublic = endpoint('AWS_ENDPOINT_URL_ECR_PUBLIC');
  const sts = endpoint('AWS_ENDPOINT_URL_STS');
  const now = () => new Date();
  return {
    store: credentialsTable(),
    sourceFor: (entry) =>
      mintSourceFor(entry, {
        secrets: secretResolver,
        fetch,
        now,
        requestTimeoutMs: 10_000,
        ...(ecr === undefined ? {} : { ecrEndpoint: ecr }),
        ...(ecrPublic === undefined ? {} : { ecrPublicEndpoint: ecrPublic }),
        ...(sts === undefined ? {} : { stsEndpoint: sts }),
      }),
    now,
    random: Math.random,
    sleep: (ms) => sleep(ms).then(() => undefined),
    // Three attempts within 40 s of the function's 60.
    deadlineMs: 40_000,
    maxAttempts: 3,
  };
}
