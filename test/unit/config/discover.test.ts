import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { discoverConfig } from '#shared/config/load.ts';

// Layout:  outer/pullwarden.yaml  outer/repo/.git/  outer/repo/pullwarden.yaml
//          outer/repo/apps/shop/  outer/repo/apps/search/.pullwarden.yml  outer/bare/nested/

describe('discoverConfig', () => {
  let outer: string;
  before(async () => {
    outer = await mkdtemp(join(tmpdir(), 'pullwarden-discover-'));
    for (const dir of [
      'repo/.git',
      'repo/apps/shop',
      'repo/apps/search',
      'bare/nested',
      'norepo/deep',
    ]) {
      await mkdir(join(outer, dir), { recursive: true });
    }
    await writeFile(
      join(outer, 'pullwarden.yaml'),
      'apiVersion: pullwarden.dev/v1\nkind: Config\n',
    );
    await writeFile(
      join(outer, 'repo/pullwarden.yaml'),
      'apiVersion: pullwarden.dev/v1\nkind: Config\n',
    );
    await writeFile(
      join(outer, 'repo/apps/search/.pullwarden.yml'),
      'apiVersion: pullwarden.dev/v1\nkind: Config\n',
    );
    await writeFile(join(outer, 'repo/apps/shop/deploy.yaml'), 'kind: Pod\n');
    await mkdir(join(outer, 'norepo/.git'));
  });
  after(async () => {
    await rm(outer, { recursive: true, force: true });
  });

  const cases: [string, string[], string | undefined][] = [
    [
      'walks up from a directory to the repository root',
      ['repo/apps/shop'],
      'repo/pullwarden.yaml',
    ],
    ['starts from the directory of a file', ['repo/apps/shop/deploy.yaml'], 'repo/pullwarden.yaml'],
    [
      'prefers the nearest file, dotted names included',
      ['repo/apps/search'],
      'repo/apps/search/.pullwarden.yml',
    ],
    [
      'uses the common directory of several inputs',
      ['repo/apps/search', 'repo/apps/shop'],
      'repo/pullwarden.yaml',
    ],
    ['goes above a directory that is not a repository', ['bare/nested'], 'pullwarden.yaml'],
    ['stops at the repository root', ['norepo/deep'], undefined],
    ['finds nothing without inputs', [], undefined],
  ];
  for (const [name, inputs, expected] of cases) {
    test(name, async () => {
      const found = await discoverConfig(inputs, outer);
      assert.equal(found, expected === undefined ? undefined : join(outer, expected));
    });
  }
});
