import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  answerCredentialRequest,
  type CredentialPolicy,
  type CredentialSource,
  CredentialUnavailableError,
  type MintedCredential,
} from '#shared/credentials/answer.ts';
import {
  CREDENTIAL_PROVIDER_API_VERSIONS,
  type CredentialProviderRequest,
} from '#shared/credentials/protocol.ts';
import { FileTokenCache } from '#shared/credentials/token-cache.ts';

// Answering one kubelet exec: cache hits without minting, refresh ahead of expiry, bounded retries,
// stale-if-error, recovery from a corrupted cache file, and the empty answer for foreign images.

const HOUR = 3_600_000;
const POLICY: CredentialPolicy = {
  cacheKeyType: 'Registry',
  maxCacheSeconds: 6 * 3600,
  staticCacheSeconds: 300,
  safetyMarginSeconds: 300,
  refreshBeforeSeconds: 3600,
  deadlineMs: 50_000,
  maxAttempts: 4,
};
const REQUEST: CredentialProviderRequest = {
  apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api',
};

let directory: string;
let clock: number;
let warnings: string[];
let sleeps: number[];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'pullwarden-answer-'));
  clock = Date.parse('2026-11-23T08:00:00Z');
  warnings = [];
  sleeps = [];
});
afterEach(() => rm(directory, { recursive: true, force: true }));

function deps() {
  return {
    cache: new FileTokenCache(directory),
    now: () => new Date(clock),
    random: () => 0.5,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock += ms;
    },
    warn: (line: string) => warnings.push(line),
  };
}

function source(
  results: (MintedCredential | Error)[],
  overrides: Partial<CredentialSource> = {},
): CredentialSource & { calls: number } {
  const fake: CredentialSource & { calls: number } = {
    calls: 0,
    cacheKey: 'ecr|aws|eu-west-1|node',
    authKeys: ['*.dkr.ecr.eu-west-1.amazonaws.com'],
    description: 'ECR eu-west-1 (node credentials)',
    cacheable: true,
    async mint() {
      const next = results[Math.min(fake.calls, results.length - 1)];
      fake.calls++;
      if (next instanceof Error) throw next;
      return next as MintedCredential;
    },
    retryable: (error: unknown) => (error as Error).name === 'ThrottlingException',
    ...overrides,
  };
  return fake;
}

const token = (password: string, hoursLeft: number): MintedCredential => ({
  username: 'AWS',
  password,
  expiresAt: new Date(clock + hoursLeft * HOUR),
});
const named = (name: string, message = name) => Object.assign(new Error(message), { name });

describe('answerCredentialRequest', () => {
  test('an image the node config does not serve gets no credentials and 0s', async () => {
    const answer = await answerCredentialRequest(REQUEST, undefined, POLICY, deps());
    assert.deepEqual(answer, {
      kind: 'CredentialProviderResponse',
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      cacheKeyType: 'Registry',
      cacheDuration: '0s',
      auth: {},
    });
  });

  test('a miss mints once, caches 0600, and caps cacheDuration', async () => {
    const ecr = source([token('p1', 12)]);
    const answer = await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    assert.equal(ecr.calls, 1);
    assert.equal(answer.cacheDuration, '6h0m0s');
    assert.deepEqual(answer.auth, {
      '*.dkr.ecr.eu-west-1.amazonaws.com': { username: 'AWS', password: 'p1' },
    });
    const file = new FileTokenCache(directory).pathOf(ecr.cacheKey);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(directory)).isDirectory(), true);
  });

  test('a fresh cached token is answered without minting', async () => {
    const ecr = source([token('p1', 12), token('p2', 12)]);
    await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    clock += 2 * HOUR;
    const answer = await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    assert.equal(ecr.calls, 1);
    assert.equal(answer.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password, 'p1');
  });

  test('cacheDuration is the remaining life minus the margin when that is below the cap', async () => {
    const ecr = source([token('p1', 2)]);
    const answer = await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    assert.equal(answer.cacheDuration, '1h55m0s');
  });

  test('a token close to expiry is refreshed ahead of time', async () => {
    const ecr = source([token('p1', 12), token('p2', 12)]);
    await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    clock += 11 * HOUR;
    const answer = await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    assert.equal(ecr.calls, 2);
    assert.equal(answer.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password, 'p2');
  });

  test('a one-hour token is reused until half its life, then refreshed', async () => {
    const brokered = source([token('p1', 1), token('p2', 1)]);
    await answerCredentialRequest(REQUEST, brokered, POLICY, deps());
    clock += 20 * 60_000;
    await answerCredentialRequest(REQUEST, brokered, POLICY, deps());
    assert.equal(brokered.calls, 1, 'still fresh with 40 of 60 minutes left');
    clock += 20 * 60_000;
    const answer = await answerCredentialRequest(REQUEST, brokered, POLICY, deps());
    assert.equal(brokered.calls, 2, 'refreshed with 20 of 60 minutes left');
    assert.equal(answer.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password, 'p2');
  });

  test('throttling is retried with backoff; a refusal is not', async () => {
    const throttled = source([
      named('ThrottlingException'),
      named('ThrottlingException'),
      token('p1', 12),
    ]);
    await answerCredentialRequest(REQUEST, throttled, POLICY, deps());
    assert.equal(throttled.calls, 3);
    assert.equal(sleeps.length, 2);
    const refused = source([named('AccessDeniedException', 'not allowed')], {
      cacheKey: 'ecr|aws|eu-west-1|role',
    });
    await assert.rejects(
      answerCredentialRequest(REQUEST, refused, POLICY, deps()),
      (error: Error) =>
        error instanceof CredentialUnavailableError &&
        error.message === 'ECR eu-west-1 (node credentials): AccessDeniedException: not allowed',
    );
    assert.equal(refused.calls, 1);
  });

  test('when minting fails, a still-valid cached token is served and the failure is reported', async () => {
    const ecr = source([token('p1', 12), named('ThrottlingException', 'Rate exceeded')]);
    await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    clock += 11.5 * HOUR;
    const answer = await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    assert.equal(answer.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password, 'p1');
    // 30 min left minus the 5 min margin, minus the 1.75 s spent on three retries
    assert.equal(answer.cacheDuration, '24m58s');
    assert.equal(ecr.calls, 5);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] as string,
      /Rate exceeded; serving the cached token, valid until 2026-11-23T20:00:00.000Z/,
    );
    assert.doesNotMatch(warnings[0] as string, /p1/);
  });

  test('when minting fails and the cached token is too old, the exec fails', async () => {
    const ecr = source([token('p1', 12), named('InternalServerError')]);
    await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    clock += 11.95 * HOUR;
    await assert.rejects(
      answerCredentialRequest(REQUEST, ecr, POLICY, deps()),
      CredentialUnavailableError,
    );
  });

  test('a corrupted cache file is reported and replaced', async () => {
    const ecr = source([token('p1', 12)]);
    const file = new FileTokenCache(directory).pathOf(ecr.cacheKey);
    await writeFile(file, '{"version":1,"key":"ecr|aws|eu-west-1|node","usern');
    const answer = await answerCredentialRequest(REQUEST, ecr, POLICY, deps());
    assert.equal(answer.auth['*.dkr.ecr.eu-west-1.amazonaws.com']?.password, 'p1');
    assert.deepEqual(warnings, [
      'the cached token for ECR eu-west-1 (node credentials) was unreadable; replacing it',
    ]);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).password, 'p1');
  });

  test('static credentials are read on every exec and cached by the kubelet briefly', async () => {
    const static_ = source([{ username: 'u', password: 'p' }], { cacheable: false });
    const first = await answerCredentialRequest(REQUEST, static_, POLICY, deps());
    await answerCredentialRequest(REQUEST, static_, POLICY, deps());
    assert.equal(static_.calls, 2);
    assert.equal(first.cacheDuration, '5m0s');
  });

  test('the response echoes every supported apiVersion', async () => {
    for (const apiVersion of CREDENTIAL_PROVIDER_API_VERSIONS) {
      const answer = await answerCredentialRequest(
        { ...REQUEST, apiVersion },
        undefined,
        POLICY,
        deps(),
      );
      assert.equal(answer.apiVersion, apiVersion);
    }
  });
});
