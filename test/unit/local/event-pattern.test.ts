import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventPatternMatches } from '#shared/local/event-pattern.ts';

// EventBridge pattern matching as the local event bus applies serverless.yml's rules.

const ecrPush = {
  source: 'aws.ecr',
  'detail-type': 'ECR Image Action',
  detail: { result: 'SUCCESS', 'action-type': 'PUSH', 'image-tag': 'v1.2.0', size: 120 },
  resources: [],
};

const cases: [string, Record<string, unknown>, boolean][] = [
  ['equal values', { source: ['aws.ecr'], 'detail-type': ['ECR Image Action'] }, true],
  ['one of several values', { source: ['aws.ec2', 'aws.ecr'] }, true],
  ['a different value', { source: ['aws.ec2'] }, false],
  ['nested fields', { detail: { result: ['SUCCESS'] } }, true],
  ['a nested mismatch', { detail: { result: ['FAILURE'] } }, false],
  ['a missing field', { detail: { missing: ['x'] } }, false],
  ['prefix', { detail: { 'image-tag': [{ prefix: 'v1.' }] } }, true],
  ['suffix', { detail: { 'image-tag': [{ suffix: '.1' }] } }, false],
  ['anything-but', { detail: { 'action-type': [{ 'anything-but': ['DELETE'] }] } }, true],
  ['anything-but excluding it', { detail: { 'action-type': [{ 'anything-but': 'PUSH' }] } }, false],
  ['exists', { detail: { 'image-tag': [{ exists: true }] } }, true],
  ['exists: false on a present field', { detail: { 'image-tag': [{ exists: false }] } }, false],
  ['exists: false on an absent field', { detail: { 'image-digest': [{ exists: false }] } }, true],
  ['equals-ignore-case', { detail: { result: [{ 'equals-ignore-case': 'success' }] } }, true],
  ['numeric range', { detail: { size: [{ numeric: ['>', 100, '<=', 120] }] } }, true],
  ['numeric out of range', { detail: { size: [{ numeric: ['<', 100] }] } }, false],
];

for (const [name, pattern, expected] of cases) {
  test(`${name}: ${expected ? 'matches' : 'does not match'}`, () => {
    assert.equal(eventPatternMatches(pattern, ecrPush), expected);
  });
}

test('the rule serverless.yml deploys for ECR pushes', () => {
  const rule = {
    source: ['aws.ecr'],
    'detail-type': ['ECR Image Action'],
    detail: { result: ['SUCCESS'] },
  };
  assert.equal(eventPatternMatches(rule, ecrPush), true);
  assert.equal(
    eventPatternMatches(rule, { ...ecrPush, detail: { ...ecrPush.detail, result: 'FAILURE' } }),
    false,
  );
});

test('an unsupported filter is an error, not a silent mismatch', () => {
  assert.throws(
    () => eventPatternMatches({ source: [{ wildcard: 'aws.*' }] }, ecrPush),
    /not supported/,
  );
});
