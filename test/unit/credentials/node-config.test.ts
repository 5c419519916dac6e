import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  NodeConfigError,
  type PrePullSettings,
  parseNodeConfig,
} from '#shared/credentials/node-config.ts';
import { normalizeRuntimeEndpoint } from '#shared/cri/endpoint.ts';

// The node config: defaults, YAML and JSON alike, and one precise error per mistake.

const MINIMAL = {
  apiVersion: 'pullwarden.dev/v1',
  kind: 'NodeConfig',
  credentialProvider: { registries: [{ source: 'ecr' }] },
};

const PRE_PULL_DEFAULTS: PrePullSettings = {
  concurrency: 2,
  pullTimeout: 900,
  attempts: 4,
  backoff: 2,
  pin: false,
  disk: { minFreePercent: 15, minFreeBytes: 2 ** 30, expansionRatio: 2, onUnknownSize: 'pull' },
  registryEndpoints: [],
  agent: { interval: 60, stateFile: '/var/lib/pullwarden/agent-state.json', tagImages: true },
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
    assert.deepEqual(config.prePull, PRE_PULL_DEFAULTS);
    assert.deepEqual(Object.keys(config), ['apiVersion', 'kind', 'prePull', 'credentialProvider']);
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

describe('parseNodeConfig prePull', () => {
  async function prePull(value: unknown): Promise<PrePullSettings> {
    return (await parseNodeConfig(JSON.stringify({ ...MINIMAL, prePull: value }), 'node.json'))
      .prePull;
  }

  test('an empty section, or a YAML key without a value, gives the defaults', async () => {
    assert.deepEqual(await prePull({}), PRE_PULL_DEFAULTS);
    assert.deepEqual(await prePull({ disk: {}, agent: {} }), PRE_PULL_DEFAULTS);
    const yaml = [
      'apiVersion: pullwarden.dev/v1',
      'kind: NodeConfig',
      'prePull:',
      'credentialProvider:',
      '  registries: [{ source: ecr }]',
    ].join('\n');
    assert.deepEqual((await parseNodeConfig(yaml, 'node.yaml')).prePull, PRE_PULL_DEFAULTS);
  });

  test('every field is read', async () => {
    assert.deepEqual(
      await prePull({
        runtimeEndpoint: 'unix:///run/k3s/containerd/containerd.sock',
        concurrency: 4,
        pullTimeout: '10m',
        attempts: 6,
        backoff: '500ms',
        pin: true,
        disk: {
          minFreePercent: 12.5,
          minFreeBytes: '2Gi',
          expansionRatio: 1.5,
          path: '/var/lib/containerd',
          onUnknownSize: 'refuse',
        },
        registryEndpoints: [
          { host: 'registry.internal:5000', url: 'http://registry.internal:5000' },
          { host: '[::1]:5000', url: 'http://[::1]:5000/mirror' },
        ],
        agent: {
          server: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod',
          nodeGroup: 'general',
          auth: 'token',
          tokenFile: '/etc/pullwarden/agent-token',
          interval: '5m',
          stateFile: '/var/lib/pullwarden/state.json',
          tagImages: false,
        },
      }),
      {
        runtimeEndpoint: 'unix:///run/k3s/containerd/containerd.sock',
        concurrency: 4,
        pullTimeout: 600,
        attempts: 6,
        backoff: 0.5,
        pin: true,
        disk: {
          minFreePercent: 12.5,
          minFreeBytes: 2 ** 31,
          expansionRatio: 1.5,
          path: '/var/lib/containerd',
          onUnknownSize: 'refuse',
        },
        registryEndpoints: [
          { host: 'registry.internal:5000', url: 'http://registry.internal:5000' },
          { host: '[::1]:5000', url: 'http://[::1]:5000/mirror' },
        ],
        agent: {
          server: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod',
          nodeGroup: 'general',
          auth: 'token',
          tokenFile: '/etc/pullwarden/agent-token',
          interval: 300,
          stateFile: '/var/lib/pullwarden/state.json',
          tagImages: false,
        },
      },
    );
  });

  test('YAML and JSON give the same prePull section', async () => {
    const yaml = [
      'apiVersion: pullwarden.dev/v1',
      'kind: NodeConfig',
      'prePull:',
      '  concurrency: 3',
      '  pullTimeout: 1h',
      '  disk: { minFreeBytes: 500Mi, expansionRatio: 0 }',
      '  agent: { auth: iam, interval: 90s }',
      'credentialProvider:',
      '  registries: [{ source: ecr }]',
    ].join('\n');
    const fromYaml = await parseNodeConfig(yaml, 'node.yaml');
    const { parse } = await import('yaml');
    assert.deepEqual(await parseNodeConfig(JSON.stringify(parse(yaml)), 'node.json'), fromYaml);
    assert.equal(fromYaml.prePull.pullTimeout, 3600);
    assert.equal(fromYaml.prePull.disk.minFreeBytes, 500 * 2 ** 20);
    assert.equal(fromYaml.prePull.disk.expansionRatio, 0);
    assert.deepEqual(fromYaml.prePull.agent, {
      auth: 'iam',
      interval: 90,
      stateFile: '/var/lib/pullwarden/agent-state.json',
      tagImages: true,
    });
  });

  const quantities: [unknown, number][] = [
    ['2Gi', 2 * 2 ** 30],
    ['500Mi', 500 * 2 ** 20],
    ['1Ki', 1024],
    ['1Ti', 2 ** 40],
    ['1G', 1e9],
    ['750M', 750e6],
    ['64k', 64_000],
    ['2T', 2e12],
    ['4096', 4096],
    [1_073_741_824, 2 ** 30],
    [0, 0],
    ['0', 0],
  ];
  for (const [written, bytes] of quantities) {
    test(`disk.minFreeBytes ${JSON.stringify(written)} is ${bytes} bytes`, async () => {
      assert.equal((await prePull({ disk: { minFreeBytes: written } })).disk.minFreeBytes, bytes);
    });
  }

  test('a runtime endpoint may be written as a path or a unix URL', async () => {
    for (const endpoint of [
      '/run/containerd/containerd.sock',
      'unix:///run/containerd/containerd.sock',
    ]) {
      assert.equal((await prePull({ runtimeEndpoint: endpoint })).runtimeEndpoint, endpoint);
    }
  });

  test('every endpoint form the runtime accepts on the command line is accepted in the config', async () => {
    // normalizeRuntimeEndpoint (the --runtime-endpoint flag) takes unix:///p, unix:/p and /p.
    for (const endpoint of [
      '/run/containerd/containerd.sock',
      'unix:///run/containerd/containerd.sock',
      'unix:/run/containerd/containerd.sock',
    ]) {
      assert.equal(normalizeRuntimeEndpoint(endpoint), 'unix:///run/containerd/containerd.sock');
      const settings = await prePull({ runtimeEndpoint: endpoint }).catch((error: Error) => error);
      assert.ok(!(settings instanceof Error), `${endpoint}: ${String(settings)}`);
    }
  });

  const broken: [string, unknown, string][] = [
    ['a prePull that is not an object', [], 'prePull: must be an object'],
    ['an unknown field', { parallelism: 2 }, 'prePull: unknown field "parallelism"'],
    ['an unknown disk field', { disk: { minFree: 1 } }, 'prePull.disk: unknown field "minFree"'],
    ['an unknown agent field', { agent: { token: 'x' } }, 'prePull.agent: unknown field "token"'],
    ['concurrency 0', { concurrency: 0 }, 'prePull.concurrency: must be between 1 and 32'],
    ['concurrency 33', { concurrency: 33 }, 'prePull.concurrency: must be between 1 and 32'],
    [
      'a fractional concurrency',
      { concurrency: 1.5 },
      'prePull.concurrency: must be a whole number',
    ],
    ['a concurrency in quotes', { concurrency: '2' }, 'prePull.concurrency: must be a number'],
    ['attempts 0', { attempts: 0 }, 'prePull.attempts: must be between 1 and 10'],
    ['attempts 11', { attempts: 11 }, 'prePull.attempts: must be between 1 and 10'],
    [
      'a TCP runtime endpoint',
      { runtimeEndpoint: 'tcp://127.0.0.1:2375' },
      'prePull.runtimeEndpoint: must be a unix socket, e.g. unix:///run/containerd/containerd.sock',
    ],
    [
      'a relative runtime endpoint',
      { runtimeEndpoint: 'containerd.sock' },
      'prePull.runtimeEndpoint: must be a unix socket, e.g. unix:///run/containerd/containerd.sock',
    ],
    [
      'an empty runtime endpoint',
      { runtimeEndpoint: '' },
      'prePull.runtimeEndpoint: must be a non-empty string',
    ],
    [
      'a registry endpoint URL without a scheme',
      { registryEndpoints: [{ host: 'registry.internal:5000', url: 'registry.internal:5000' }] },
      'prePull.registryEndpoints[0].url: must be an http(s) URL',
    ],
    [
      'a registry endpoint host that is a URL',
      {
        registryEndpoints: [
          { host: 'registry.internal', url: 'http://registry.internal' },
          { host: 'https://mirror.internal', url: 'https://mirror.internal' },
        ],
      },
      'prePull.registryEndpoints[1].host: must be a registry host, e.g. registry.internal:5000',
    ],
    [
      'a registry endpoint with an unknown field',
      { registryEndpoints: [{ host: 'r.internal', url: 'http://r.internal', insecure: true }] },
      'prePull.registryEndpoints[0]: unknown field "insecure"',
    ],
    [
      'registry endpoints that are not a list',
      { registryEndpoints: { host: 'r.internal' } },
      'prePull.registryEndpoints: must be a list',
    ],
    [
      'an interval of 0s',
      { agent: { interval: '0s' } },
      'prePull.agent.interval: must be at least 1s',
    ],
    [
      'an interval in seconds as a number',
      { agent: { interval: 60 } },
      'prePull.agent.interval: must be a duration such as "6h", "5m" or "10s"',
    ],
    [
      'a pull timeout under 1s',
      { pullTimeout: '500ms' },
      'prePull.pullTimeout: must be at least 1s',
    ],
    ['a negative backoff', { backoff: '-1s' }, 'prePull.backoff: must not be negative'],
    [
      'an auth that is not iam or token',
      { agent: { auth: 'basic' } },
      'prePull.agent.auth: must be one of iam, token',
    ],
    [
      'a server that is not a URL',
      { agent: { server: 'pullwarden.internal' } },
      'prePull.agent.server: must be an http(s) URL',
    ],
    [
      'a bad node group',
      { agent: { nodeGroup: '-general' } },
      'prePull.agent.nodeGroup: must be a node group name',
    ],
    [
      'a byte count with a unit Kubernetes does not have',
      { disk: { minFreeBytes: '2GB' } },
      'prePull.disk.minFreeBytes: must be a byte count or a quantity such as "2Gi" or "500Mi"',
    ],
    [
      'a negative byte count',
      { disk: { minFreeBytes: -1 } },
      'prePull.disk.minFreeBytes: must be a byte count or a quantity such as "2Gi" or "500Mi"',
    ],
    [
      'a fractional byte count',
      { disk: { minFreeBytes: 1.5 } },
      'prePull.disk.minFreeBytes: must be a byte count or a quantity such as "2Gi" or "500Mi"',
    ],
    [
      'a byte count too large',
      { disk: { minFreeBytes: '99999999Ti' } },
      'prePull.disk.minFreeBytes: is too large',
    ],
    [
      'a percentage of 100',
      { disk: { minFreePercent: 100 } },
      'prePull.disk.minFreePercent: must be between 0 and 99',
    ],
    [
      'an expansion ratio above 20',
      { disk: { expansionRatio: 21 } },
      'prePull.disk.expansionRatio: must be between 0 and 20',
    ],
    [
      'an unknown-size policy that is neither pull nor refuse',
      { disk: { onUnknownSize: 'maybe' } },
      'prePull.disk.onUnknownSize: must be one of pull, refuse',
    ],
    ['a pin that is not a boolean', { pin: 'yes' }, 'prePull.pin: must be true or false'],
    [
      'an empty state file',
      { agent: { stateFile: '' } },
      'prePull.agent.stateFile: must be a non-empty string',
    ],
  ];
  for (const [name, value, message] of broken) {
    test(`rejects ${name}`, async () => {
      await assert.rejects(prePull(value), (error: Error) => {
        assert.ok(error instanceof NodeConfigError);
        assert.equal(error.message, `node.json: ${message}`);
        return true;
      });
    });
  }
});
