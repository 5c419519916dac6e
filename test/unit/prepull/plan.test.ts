import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { configSchema } from '#shared/config/schema.ts';
import { deduplicationId } from '#shared/prepull/message.ts';
import { planPrepull, repositoryPatternMatches } from '#shared/prepull/plan.ts';
import { type TagFilter, tagFilterMatches } from '#shared/prepull/tag-filter.ts';

describe('repository patterns', () => {
  const vectors: [string, string, boolean][] = [
    ['registry.example.com/team/*', 'registry.example.com/team/api', true],
    ['registry.example.com/team/*', 'registry.example.com/team/sub/api', false],
    ['registry.example.com/team/**', 'registry.example.com/team/sub/api', true],
    ['*.dkr.ecr.*.amazonaws.com/**', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api', true],
    ['docker.io/library/nginx', 'docker.io/library/nginx', true],
    ['docker.io/library/nginx', 'docker.io/library/nginx-extra', false],
    ['localhost:5000/app?', 'localhost:5000/app1', true],
    ['registry.example.com/a.b', 'registry.example.com/aXb', false],
  ];
  for (const [pattern, name, expected] of vectors) {
    test(`${pattern} ${expected ? 'matches' : 'does not match'} ${name}`, () => {
      assert.equal(repositoryPatternMatches(pattern, name), expected);
    });
  }
});

describe('tag filters', () => {
  const vectors: [TagFilter, string | undefined, boolean][] = [
    ['any', undefined, true],
    [{ glob: 'v1.*' }, 'v1.4', true],
    [{ glob: 'v1.*' }, undefined, false],
    [{ regex: '^release-\\d+$' }, 'release-42', true],
    [{ regex: '^release-\\d+$' }, 'release-42-rc', false],
    [{ semver: '>=1.2.0 <2', includePrerelease: false }, 'v1.4.2', true],
    [{ semver: '>=1.2.0 <2', includePrerelease: false }, '2.0.0', false],
    [{ semver: '>=1.2.0 <2', includePrerelease: false }, '1.5.0-rc.1', false],
    [{ semver: '>=1.2.0-0 <2', includePrerelease: true }, '1.5.0-rc.1', true],
    [{ semver: '*', includePrerelease: false }, 'latest', false],
  ];
  for (const [filter, tag, expected] of vectors) {
    test(`${JSON.stringify(filter)} on ${tag ?? '(no tag)'} → ${expected}`, () => {
      assert.equal(tagFilterMatches(filter, tag), expected);
    });
  }
});

describe('planPrepull', () => {
  const config = configSchema.parse({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'Config',
    prePull: {
      rules: [
        {
          name: 'all-team',
          images: ['registry.example.com/team/*'],
          nodeGroups: ['general', 'spot'],
        },
        {
          name: 'gpu-releases',
          images: ['registry.example.com/team/ml-*'],
          tags: { semver: '>=1' },
          nodeGroups: ['gpu', 'spot'],
          priority: 10,
        },
      ],
    },
  });
  const inventory = (groups: string[]) => ({ nodeGroupsRunning: async () => groups });

  test('the highest priority rule names each node group; inventory adds the rest, last', async () => {
    const plan = await planPrepull(
      { registry: 'registry.example.com', repository: 'team/ml-train', tag: '1.2.0' },
      config,
      inventory(['arm', 'spot']),
    );
    assert.deepEqual(
      plan.targets.map((t) => [t.nodeGroup, t.selectedBy]),
      [
        ['gpu', 'gpu-releases'],
        ['spot', 'gpu-releases'],
        ['general', 'all-team'],
        ['arm', 'inventory'],
      ],
    );
  });

  test('untagged pushes are not planned, and say why', async () => {
    const plan = await planPrepull(
      { registry: 'registry.example.com', repository: 'team/api' },
      config,
      inventory(['arm']),
    );
    assert.deepEqual(plan.targets, []);
    assert.match(plan.note ?? '', /without a tag/);
  });

  test('config errors name the field', () => {
    const result = configSchema.safeParse({
      apiVersion: 'pullwarden.dev/v1',
      kind: 'Config',
      prePull: {
        rules: [{ name: 'x', images: ['team/*'], tags: { semver: 'not a range' }, nodeGroups: [] }],
      },
      webhooks: { sources: { github: {} } },
    });
    assert.equal(result.success, false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.')).sort();
    assert.deepEqual(paths, [
      'prePull.rules.0.images.0',
      'prePull.rules.0.nodeGroups',
      'prePull.rules.0.tags.semver',
      'webhooks.sources.github',
    ]);
  });
});

test('deduplication ids: stable, distinct per node group, digest and joining node, within SQS limits', () => {
  const id = (nodeGroup: string, digest: string, node?: string) =>
    deduplicationId({
      nodeGroup,
      image: { registry: 'r', repository: 'x', digest },
      ...(node === undefined ? {} : { node: { name: node } }),
    });
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }),
      fc.string({ minLength: 1 }),
      fc.string({ minLength: 1 }),
      fc.string({ minLength: 1 }),
      (group, a, b, node) => {
        assert.equal(id(group, a), id(group, a));
        assert.match(id(group, a), /^[0-9a-f]{64}$/);
        if (a !== b) assert.notEqual(id(group, a), id(group, b));
        // A node-join request never collapses into the push request for the same digest.
        assert.notEqual(id(group, a, node), id(group, a));
        assert.equal(id(group, a, node), id(group, a, node));
      },
    ),
  );
});
