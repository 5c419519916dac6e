import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileCacheDirectory } from '#shared/runtime/compile-cache.js';

describe('compileCacheDirectory', () => {
  const cases: [string, NodeJS.ProcessEnv, string][] = [
    ['under ~/.cache by default', {}, '/home/ada/.cache/pullwarden/node-compile-cache'],
    [
      'under XDG_CACHE_HOME when it is absolute',
      { XDG_CACHE_HOME: '/var/cache/ada' },
      '/var/cache/ada/pullwarden/node-compile-cache',
    ],
    // The XDG base directory specification has relative paths ignored.
    [
      'not under a relative XDG_CACHE_HOME',
      { XDG_CACHE_HOME: 'cache' },
      '/home/ada/.cache/pullwarden/node-compile-cache',
    ],
    [
      'not under an empty XDG_CACHE_HOME',
      { XDG_CACHE_HOME: '' },
      '/home/ada/.cache/pullwarden/node-compile-cache',
    ],
  ];
  for (const [name, env, expected] of cases) {
    test(name, () => assert.equal(compileCacheDirectory(env, '/home/ada'), expected));
  }
});
