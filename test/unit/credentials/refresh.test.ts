import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrokeredRegistry } from '#shared/config/schema.ts';
import { type CredentialState, refreshReason } from '#shared/credentials/refresh.ts';

// When credential-refresh mints: table-driven over the stored credential's age, its settings and the
// configured refresh point.

const MINUTE = 60_000;
const T0 = new Date('2026-11-23T10:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * MINUTE);
const entry = (refreshBeforeMinutes?: number): BrokeredRegistry => ({
  source: 'ecr',
  registry: '444455556666.dkr.ecr.us-west-2.amazonaws.com',
  roleArn: 'arn:aws:iam::444455556666:role/pullwarden-registry-pull',
  ...(refreshBeforeMinutes === undefined ? {} : { refreshBeforeMinutes }),
});
const hour: CredentialState = { mintedAt: T0, expiresAt: at(60), mintedBy: 'm' };
const twelveHours: CredentialState = { mintedAt: T0, expiresAt: at(720), mintedBy: 'm' };

describe('refreshReason', () => {
  const vectors: [
    string,
    BrokeredRegistry,
    CredentialState | undefined,
    string,
    Date,
    string | undefined,
  ][] = [
    ['nothing stored', entry(), undefined, 'm', T0, 'no credential yet'],
    [
      'another identity minted it',
      entry(),
      hour,
      'other',
      at(1),
      'settings changed since it was minted',
    ],
    ['just minted', entry(), hour, 'm', at(0), undefined],
    ['before half-life', entry(), hour, 'm', at(29), undefined],
    ['at half-life', entry(), hour, 'm', at(30), '30 min left, refreshing at 30'],
    ['12 h token at 5 h', entry(), twelveHours, 'm', at(300), undefined],
    ['12 h token at 6 h', entry(), twelveHours, 'm', at(360), '360 min left, refreshing at 360'],
    ['explicit point not reached', entry(120), twelveHours, 'm', at(599), undefined],
    [
      'explicit point reached',
      entry(120),
      twelveHours,
      'm',
      at(600),
      '120 min left, refreshing at 120',
    ],
    ['a point beyond the lifetime is capped at 90%', entry(90), hour, 'm', at(5), undefined],
    ['the capped point reached', entry(90), hour, 'm', at(6), '54 min left, refreshing at 54'],
    ['expired', entry(), hour, 'm', at(61), 'expired'],
    ['expires exactly now', entry(), hour, 'm', at(60), 'expired'],
  ];
  for (const [name, settings, state, mintedBy, now, expected] of vectors) {
    test(name, () => {
      assert.equal(refreshReason(settings, state, mintedBy, now), expected);
    });
  }
});
