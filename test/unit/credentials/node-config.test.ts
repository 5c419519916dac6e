import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NodeConfigError, parseNodeConfig } from '#shared/credentials/node-config.ts';

// The node config: defaults, YAML and JSON alike, and one precise error per mistake.

const MINIMAL = {
  apiVersion: 'pullwarden.dev/v1',
  kind: 'NodeConfig',
  credentialProvider: { registries: [{ source: 'ecr' }] },
};

describe('parseNodeConfig', () => {
  test('fills the defaults', async () => {
    const config = await parseNodeConfig(JSON.stringify(MINIMAL), 'node.json');
    assert.deepEqual(config.credentialProvider, {
      cacheKeyType: 'Registry',
      cacheDirectory: '/var/lib/pullwarden/credentials',
      maxCacheDuration: 21_600,
      staticCacheDuration: 300,
      safetyMargin: 300,
      refreshBefore: 3600,
      requestTimeout: 10,
      registries: [
        {
          source: 'ecr',
          public: true,
          serviceAccount: {
            roleAnnotations: ['eks.amazonaws.com/ecr-role-arn'],
            accountRoles: {},
            onFailure: 'fail',
          },
        },
      ],
      mirrors: [],
    });
  });

  test('YAML and JSON give the same configuration', async () => {
    const yaml = [
      'apiVersion: pullwarden.dev/v1',
      'kind: NodeConfig',
      'credentialProvider:',
      '  cacheKeyType: Image',
      '  maxCacheDuration: 1h30m',
      '  registries:',
      '    - source: ecr',
      '      accounts: ["123456789012"]',
      '      regions: [eu-west-1]',
      '      serviceAccount:',
      '        onFailure: node',
      '        accountRoles: { "123456789012": "arn:aws:iam::123456789012:role/pull" }',
      '    - source: docker-config',
      '      hosts: [registry.internal:5000]',
      '      path: /etc/pullwarden/docker-config.json',
      '  mirrors:',
      '    - { host: mirror.internal, registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com }',
    ].join('\n');
    const fromYaml = await parseNodeConfig(yaml, 'node.yaml');
    const { parse } = await import('yaml');
    const fromJson = await parseNodeConfig(JSON.stringify(parse(yaml)), 'node.json');
    assert.deepEqual(fromYaml, fromJson);
    assert.equal(fromYaml.credentialProvider.maxCacheDuration, 5400);
    assert.equal(fromYaml.credentialProvider.cacheKeyType, 'Image');
  });

  const broken: [string, unknown, string][] = [
    ['a wrong kind', { ...MINIMAL, kind: 'Config' }, 'node.json: kind: must be NodeConfig'],
    ['an unknown field', { ...MINIMAL, extra: 1 }, 'node.json: unknown field "extra"'],
    [
      'no registries',
      { ...MINIMAL, credentialProvider: { registries: [] } },
      'node.json: credentialProvider.registries: must list at least one registry',
    ],
    [
      'an unknown source',
      { ...MINIMAL, credentialProvider: { registries: [{ source: 'gcr' }] } },
      'node.json: credentialProvider.registries[0].source: must be ecr, docker-config or brokered',
    ],
    [
      'a bad account',
      { ...MINIMAL, credentialProvider: { registries: [{ source: 'ecr', accounts: ['12345'] }] } },
      'node.json: credentialProvider.registries[0].accounts[0]: must be a 12-digit account id',
    ],
    [
      'a docker-config field on ecr',
      { ...MINIMAL, credentialProvider: { registries: [{ source: 'ecr', path: '/x' }] } },
      'node.json: credentialProvider.registries[0]: unknown field "path"',
    ],
    [
      'a docker config without hosts',
      {
        ...MINIMAL,
        credentialProvider: { registries: [{ source: 'docker-config', hosts: [], path: '/x' }] },
      },
      'node.json: credentialProvider.registries[0].hosts: must name at least one registry',
    ],
    [
      'a bad duration',
      {
        ...MINIMAL,
        credentialProvider: { ...MINIMAL.credentialProvider, safetyMargin: '5 minutes' },
      },
      'node.json: credentialProvider.safetyMargin: time: unknown unit " minutes" in duration "5 minutes"',
    ],
    [
      'a number for a duration',
      { ...MINIMAL, credentialProvider: { ...MINIMAL.credentialProvider, safetyMargin: 300 } },
      'node.json: credentialProvider.safetyMargin: must be a duration such as "6h", "5m" or "10s"',
    ],
    [
      'a negative duration',
      { ...MINIMAL, credentialProvider: { ...MINIMAL.credentialProvider, refreshBefore: '-1h' } },
      'node.json: credentialProvider.refreshBefore: must not be negative',
    ],
    [
      'a bad cache key type',
      {
        ...MINIMAL,
        credentialProvider: { ...MINIMAL.credentialProvider, cacheKeyType: 'registry' },
      },
      'node.json: credentialProvider.cacheKeyType: must be one of Registry, Image',
    ],
    [
      'a role that is not an ARN',
      {
        ...MINIMAL,
        credentialProvider: {
          registries: [
            { source: 'ecr', serviceAccount: { accountRoles: { '123456789012': 'pull-role' } } },
          ],
        },
      },
      'node.json: credentialProvider.registries[0].serviceAccount.accountRoles.123456789012: must be an IAM role ARN',
    ],
    [
      'a bad endpoint',
      {
        ...MINIMAL,
        credentialProvider: { registries: [{ source: 'ecr', endpoint: 'ecr.local' }] },
      },
      'node.json: credentialProvider.registries[0].endpoint: must be an http(s) URL',
    ],
  ];
  for (const [name, value, message] of broken) {
    test(`rejects ${name}`, async () => {
      await assert.rejects(parseNodeConfig(JSON.stringify(value), 'node.json'), (error: Error) => {
        assert.ok(error instanceof NodeConfigError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }

  test('text that is neither YAML nor JSON is named as such', async () => {
    await assert.rejects(parseNodeConfig('a: [1,', 'node.yaml'), /node\.yaml: not YAML or JSON: /);
  });
});
