import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ConfigPathError,
  type CredentialProviderConfigReport,
  checkCredentialProviderConfig,
  loadCredentialProviderConfig,
  parseCredentialProviderConfig,
  qualifiedNameErrors,
} from '#shared/kubelet/credential-provider-config.ts';

const HEADER = 'apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\n';

/** A v1 config with one provider: the given YAML lines replace or extend the defaults. */
function provider(fields: Record<string, string | undefined> = {}): string {
  const defaults: Record<string, string | undefined> = {
    name: 'my-provider',
    apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
    matchImages: '["registry.example.com"]',
    defaultCacheDuration: '"1h"',
  };
  const merged = { ...defaults, ...fields };
  const lines = Object.entries(merged)
    .filter(([, value]) => value !== undefined)
    .map(([key, value], i) => `${i === 0 ? '  - ' : '    '}${key}: ${value}`);
  return `${HEADER}providers:\n${lines.join('\n')}\n`;
}

function check(text: string, file = 'config.yaml'): CredentialProviderConfigReport {
  return parseCredentialProviderConfig(text, file);
}

/** `path [code]` of every error. */
function errors(report: CredentialProviderConfigReport): string[] {
  return report.errors.map((d) => `${d.path} [${d.code}]`.trim());
}

function warnings(report: CredentialProviderConfigReport): string[] {
  return report.warnings.map((d) => `${d.path} [${d.code}]`.trim());
}

function only(report: CredentialProviderConfigReport, path: string): string {
  const found = report.errors.filter((d) => d.path === path);
  assert.equal(found.length, 1, JSON.stringify(report.errors, null, 1));
  return (found[0] as { message: string }).message;
}

describe('a valid config', () => {
  it('has no errors or warnings, and reads every field', () => {
    const report = check(
      `${HEADER}providers:
  - name: ecr-credential-provider
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - "*.dkr-ecr.*.on.aws"
      - "*.dkr.ecr-fips.*.amazonaws.com"
      - "*.dkr-ecr-fips.*.on.aws"
      - "public.ecr.aws"
      - "ecr-public.aws.com"
    defaultCacheDuration: "12h"
    args: [get-credentials]
    env:
      - name: AWS_REGION
        value: us-west-2
    tokenAttributes:
      serviceAccountTokenAudience: sts.amazonaws.com
      cacheType: ServiceAccount
      requireServiceAccount: false
      optionalServiceAccountAnnotationKeys: ["eks.amazonaws.com/ecr-role-arn"]
`,
    );
    assert.deepEqual(report.diagnostics, []);
    assert.equal(report.providers.length, 1);
    const [ecr] = report.providers;
    assert.equal(ecr?.name, 'ecr-credential-provider');
    assert.equal(ecr?.defaultCacheDuration, '12h');
    assert.deepEqual(ecr?.args, ['get-credentials']);
    assert.deepEqual(ecr?.env, [{ name: 'AWS_REGION', value: 'us-west-2' }]);
    assert.equal(ecr?.tokenAttributes?.requireServiceAccount, false);
  });

  it('accepts JSON, v1alpha1 and v1beta1 configs and every exec apiVersion', () => {
    for (const version of ['v1alpha1', 'v1beta1', 'v1']) {
      for (const exec of ['v1alpha1', 'v1beta1', 'v1']) {
        const json = JSON.stringify({
          apiVersion: `kubelet.config.k8s.io/${version}`,
          kind: 'CredentialProviderConfig',
          providers: [
            {
              name: 'p',
              apiVersion: `credentialprovider.kubelet.k8s.io/${exec}`,
              matchImages: ['registry.example.com'],
              defaultCacheDuration: '10m',
            },
          ],
        });
        assert.deepEqual(errors(check(json, 'c.json')), [], `${version}/${exec}`);
      }
    }
  });

  it('reads YAML as YAML 1.1, like the kubelet: "yes" is true', () => {
    const report = check(
      provider({
        apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
        tokenAttributes:
          '{serviceAccountTokenAudience: aud, cacheType: Token, requireServiceAccount: yes}',
      }),
    );
    assert.deepEqual(errors(report), []);
    assert.equal(report.providers[0]?.tokenAttributes?.requireServiceAccount, true);
  });
});

describe('strict decoding', () => {
  it('names every unknown field with its path, and suggests the field meant', () => {
    const report = check(
      `${HEADER}extra: 1
providers:
  - name: p
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    MatchImages: ["registry.example.com"]
    matchImages: ["registry.example.com"]
    defaultCacheDuration: 1h
    unknownField: x
    env:
      - {name: A, value: b, valueFrom: c}
    tokenAttributes: {serviceAccountTokenAudience: a, cacheType: Token, requireServiceAccount: true, audience: x}
`,
    );
    assert.deepEqual(errors(report).sort(), [
      'extra [unknown-field]',
      'providers[0].MatchImages [unknown-field]',
      'providers[0].env[0].valueFrom [unknown-field]',
      'providers[0].tokenAttributes.audience [unknown-field]',
      'providers[0].unknownField [unknown-field]',
    ]);
    assert.match(only(report, 'providers[0].MatchImages'), /did you mean "matchImages"\?/);
    assert.equal(report.errors.find((d) => d.path === 'providers[0].unknownField')?.line, 10);
  });

  it('rejects tokenAttributes in v1alpha1 and v1beta1 configs as an unknown field', () => {
    for (const version of ['v1alpha1', 'v1beta1']) {
      const report = check(
        provider({
          tokenAttributes:
            '{serviceAccountTokenAudience: a, cacheType: Token, requireServiceAccount: true}',
        }).replace('kubelet.config.k8s.io/v1', `kubelet.config.k8s.io/${version}`),
      );
      assert.deepEqual(errors(report), ['providers[0].tokenAttributes [unknown-field]']);
      assert.match(
        only(report, 'providers[0].tokenAttributes'),
        /only in kubelet\.config\.k8s\.io\/v1/,
      );
    }
  });

  it('rejects repeated keys', () => {
    const report = check(
      provider({ name: 'a' }).replace('    apiVersion:', '    name: b\n    apiVersion:'),
    );
    assert.deepEqual(errors(report), ['[duplicate-field]']);
    assert.match(report.errors[0]?.message ?? '', /duplicate field "name"/);
    assert.equal(report.errors[0]?.line, 5);
  });

  it('rejects repeated keys in JSON too', () => {
    const report = check(
      '{"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "kind": "CredentialProviderConfig", "providers": []}',
      'c.json',
    );
    assert.ok(errors(report).includes('[duplicate-field]'));
    assert.match(
      report.errors.find((d) => d.code === 'duplicate-field')?.message ?? '',
      /duplicate field "kind"/,
    );
  });

  it('reads a text starting with "{" as strict JSON: trailing commas are errors', () => {
    const report = check(
      '{"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "providers": [],}',
      'c.json',
    );
    assert.deepEqual(errors(report), ['[syntax]']);
    assert.match(report.errors[0]?.message ?? '', /^JSON: /);
  });

  it('rejects wrong types with the value found', () => {
    const report = check(
      provider({
        name: '123',
        matchImages: 'registry.example.com',
        defaultCacheDuration: '0',
        args: '{a: b}',
        env: '[x]',
      }),
    );
    assert.deepEqual(errors(report).sort(), [
      'providers[0].args [type]',
      'providers[0].defaultCacheDuration [type]',
      'providers[0].env[0] [type]',
      'providers[0].matchImages [type]',
      'providers[0].name [type]',
    ]);
    assert.match(
      only(report, 'providers[0].name'),
      /expected a string, got number 123 \(quote it\)/,
    );
    assert.match(
      only(report, 'providers[0].defaultCacheDuration'),
      /a bare number is not a duration, quote it/,
    );
  });

  it('reports a syntax error with its line', () => {
    const report = check(`${HEADER}providers:\n  - name: [unclosed\n`);
    assert.equal(report.errors[0]?.code, 'syntax');
    assert.ok((report.errors[0]?.line ?? 0) >= 4);
  });

  it('reports an empty file', () => {
    assert.deepEqual(errors(check('# nothing\n')), ['[required]']);
  });
});

describe('top-level validation', () => {
  it('requires kind and apiVersion and at least one provider', () => {
    const report = check('providers: []\n');
    assert.deepEqual(errors(report).sort(), [
      'apiVersion [required]',
      'kind [required]',
      'providers [required]',
    ]);
    assert.equal(only(report, 'providers'), 'at least 1 item in plugins is required');
  });

  it('rejects another kind or config apiVersion', () => {
    const report = check(
      provider()
        .replace('kind: CredentialProviderConfig', 'kind: KubeletConfiguration')
        .replace('kubelet.config.k8s.io/v1\n', 'kubelet.config.k8s.io/v2\n'),
    );
    assert.deepEqual(errors(report).sort(), ['apiVersion [unsupported]', 'kind [unsupported]']);
  });
});

describe('provider validation', () => {
  const cases: [string, Record<string, string | undefined>, string, RegExp][] = [
    ['a missing name', { name: undefined }, 'providers[0].name [required]', /required/],
    ['an empty name', { name: '""' }, 'providers[0].name [required]', /required/],
    ['a name with "/"', { name: 'bin/ecr' }, 'providers[0].name [invalid]', /cannot contain '\/'/],
    [
      'a name with a space',
      { name: '"ecr provider"' },
      'providers[0].name [invalid]',
      /cannot contain spaces/,
    ],
    ['the name "."', { name: '"."' }, 'providers[0].name [invalid]', /cannot be '\.'/],
    ['the name ".."', { name: '".."' }, 'providers[0].name [invalid]', /cannot be '\.\.'/],
    [
      'a missing apiVersion',
      { apiVersion: undefined },
      'providers[0].apiVersion [required]',
      /required/,
    ],
    [
      'an unknown apiVersion',
      { apiVersion: 'credentialprovider.kubelet.k8s.io/v2' },
      'providers[0].apiVersion [unsupported]',
      /supported values are credentialprovider\.kubelet\.k8s\.io\/v1, /,
    ],
    [
      'missing matchImages',
      { matchImages: undefined },
      'providers[0].matchImages [required]',
      /at least 1 item/,
    ],
    [
      'empty matchImages',
      { matchImages: '[]' },
      'providers[0].matchImages [required]',
      /at least 1 item/,
    ],
    [
      'null matchImages',
      { matchImages: 'null' },
      'providers[0].matchImages [required]',
      /at least 1 item/,
    ],
    [
      'a pattern Go cannot parse',
      { matchImages: '["registry.io", "bad host.io"]' },
      'providers[0].matchImages[1] [invalid]',
      /match image is invalid: .*invalid character " " in host name/,
    ],
    [
      'a pattern with a bad port',
      { matchImages: '["registry.io:abc"]' },
      'providers[0].matchImages[0] [invalid]',
      /invalid port ":abc" after host/,
    ],
    [
      'a missing defaultCacheDuration',
      { defaultCacheDuration: undefined },
      'providers[0].defaultCacheDuration [required]',
      /required/,
    ],
    [
      'a defaultCacheDuration that is not a Go duration',
      { defaultCacheDuration: '"12 hours"' },
      'providers[0].defaultCacheDuration [invalid]',
      /time: unknown unit " hours" in duration "12 hours"/,
    ],
    [
      'a day unit',
      { defaultCacheDuration: '1d' },
      'providers[0].defaultCacheDuration [invalid]',
      /unknown unit "d"/,
    ],
    [
      'an empty defaultCacheDuration',
      { defaultCacheDuration: '""' },
      'providers[0].defaultCacheDuration [invalid]',
      /time: invalid duration ""/,
    ],
    [
      'a negative defaultCacheDuration',
      { defaultCacheDuration: '"-1m"' },
      'providers[0].defaultCacheDuration [invalid]',
      /must be greater than or equal to 0/,
    ],
  ];
  for (const [what, fields, expected, message] of cases) {
    it(`rejects ${what}`, () => {
      const report = check(provider(fields));
      assert.deepEqual(errors(report), [expected]);
      assert.match(report.errors[0]?.message ?? '', message);
    });
  }

  it('accepts "0", "300ms", "1.5h" and "1h2m3.5s" as defaultCacheDuration', () => {
    for (const duration of ['"0"', '300ms', '1.5h', '1h2m3.5s', '"0s"']) {
      assert.deepEqual(errors(check(provider({ defaultCacheDuration: duration }))), [], duration);
    }
  });

  it('rejects a duplicate provider name and says where the first is', () => {
    const text = `${provider({ name: 'dup' })}  - name: dup
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    matchImages: ["other.example.com"]
    defaultCacheDuration: 1h
`;
    const report = check(text);
    assert.deepEqual(errors(report), ['providers[1].name [duplicate]']);
    assert.match(only(report, 'providers[1].name'), /first defined at config\.yaml providers\[0\]/);
  });

  it('reports every error, not only the first', () => {
    const report = check(
      provider({
        name: '"a b/c"',
        apiVersion: undefined,
        matchImages: '[]',
        defaultCacheDuration: '"-5s"',
      }),
    );
    assert.deepEqual(errors(report), [
      'providers[0].name [invalid]',
      'providers[0].name [invalid]',
      'providers[0].apiVersion [required]',
      'providers[0].matchImages [required]',
      'providers[0].defaultCacheDuration [invalid]',
    ]);
  });
});

describe('tokenAttributes validation', () => {
  function token(attributes: string, apiVersion = 'credentialprovider.kubelet.k8s.io/v1') {
    return check(provider({ apiVersion, tokenAttributes: attributes }));
  }
  const base =
    'serviceAccountTokenAudience: aud, cacheType: ServiceAccount, requireServiceAccount: true';

  it('accepts a complete set', () => {
    const report = token(
      `{${base}, requiredServiceAccountAnnotationKeys: [example.com/role], optionalServiceAccountAnnotationKeys: [Example.COM/Other, plain-key]}`,
    );
    assert.deepEqual(errors(report), []);
  });

  const cases: [string, string, string[], RegExp?][] = [
    [
      'a missing audience',
      '{cacheType: Token, requireServiceAccount: true}',
      ['providers[0].tokenAttributes.serviceAccountTokenAudience [required]'],
    ],
    [
      'an empty audience',
      '{serviceAccountTokenAudience: "", cacheType: Token, requireServiceAccount: true}',
      ['providers[0].tokenAttributes.serviceAccountTokenAudience [required]'],
    ],
    [
      'requireServiceAccount left unset',
      '{serviceAccountTokenAudience: a, cacheType: Token}',
      ['providers[0].tokenAttributes.requireServiceAccount [required]'],
      /set it to true or false explicitly/,
    ],
    [
      'a missing cacheType',
      '{serviceAccountTokenAudience: a, requireServiceAccount: true}',
      ['providers[0].tokenAttributes.cacheType [required]'],
      /supported values are ServiceAccount, Token/,
    ],
    [
      'an unknown cacheType',
      '{serviceAccountTokenAudience: a, requireServiceAccount: true, cacheType: token}',
      ['providers[0].tokenAttributes.cacheType [unsupported]'],
    ],
    [
      'required keys with requireServiceAccount: false',
      '{serviceAccountTokenAudience: a, requireServiceAccount: false, cacheType: Token, requiredServiceAccountAnnotationKeys: [a.io/b]}',
      ['providers[0].tokenAttributes.requiredServiceAccountAnnotationKeys [forbidden]'],
      /requireServiceAccount cannot be false/,
    ],
    [
      'a key that is not a qualified name',
      `{${base}, optionalServiceAccountAnnotationKeys: [ok.io/key, "-bad"]}`,
      ['providers[0].tokenAttributes.optionalServiceAccountAnnotationKeys[1] [invalid]'],
      /"-bad": name part must consist of alphanumeric characters/,
    ],
    [
      'a key with two slashes',
      `{${base}, requiredServiceAccountAnnotationKeys: [a.io/b/c]}`,
      ['providers[0].tokenAttributes.requiredServiceAccountAnnotationKeys[0] [invalid]'],
      /optional DNS subdomain prefix/,
    ],
    [
      'a duplicate key',
      `{${base}, requiredServiceAccountAnnotationKeys: [a.io/b, a.io/b]}`,
      ['providers[0].tokenAttributes.requiredServiceAccountAnnotationKeys[1] [duplicate]'],
    ],
    [
      'a key both required and optional',
      `{${base}, requiredServiceAccountAnnotationKeys: [a.io/b, a.io/c], optionalServiceAccountAnnotationKeys: [a.io/c, a.io/b]}`,
      ['providers[0].tokenAttributes [invalid]'],
      /cannot be both required and optional: a\.io\/b, a\.io\/c/,
    ],
  ];
  for (const [what, attributes, expected, message] of cases) {
    it(`rejects ${what}`, () => {
      const report = token(attributes);
      assert.deepEqual(errors(report), expected);
      if (message !== undefined) assert.match(report.errors[0]?.message ?? '', message);
    });
  }

  it('is only supported with exec apiVersion v1', () => {
    for (const exec of ['v1alpha1', 'v1beta1']) {
      const report = token(`{${base}}`, `credentialprovider.kubelet.k8s.io/${exec}`);
      assert.deepEqual(errors(report), ['providers[0].tokenAttributes [forbidden]']);
      assert.match(
        report.errors[0]?.message ?? '',
        /only supported for credentialprovider\.kubelet\.k8s\.io\/v1 API version/,
      );
    }
  });

  it('checks qualified names case-insensitively, but duplicates case-sensitively', () => {
    assert.deepEqual(
      errors(token(`{${base}, optionalServiceAccountAnnotationKeys: [A.IO/B, a.io/b]}`)),
      [],
    );
  });
});

describe('qualifiedNameErrors', () => {
  const valid = [
    'key',
    'example.com/key',
    'a',
    'My.Name_1-2',
    `${'a'.repeat(63)}`,
    'eks.amazonaws.com/ecr-role-arn',
  ];
  for (const name of valid) {
    it(`accepts ${name}`, () => assert.deepEqual(qualifiedNameErrors(name), []));
  }
  const invalid: [string, RegExp][] = [
    ['', /name part must be non-empty/],
    ['/key', /prefix part must be non-empty/],
    ['example.com/', /name part must be non-empty/],
    ['-key', /name part must consist/],
    ['key_', /name part must consist/],
    ['Example.com/key', /prefix part a lowercase RFC 1123 subdomain/],
    [`${'a'.repeat(64)}`, /no more than 63 characters/],
    ['a/b/c', /a qualified name must consist/],
  ];
  for (const [name, message] of invalid) {
    it(`rejects ${JSON.stringify(name)}`, () => {
      assert.match(qualifiedNameErrors(name).join('; '), message);
    });
  }
});

describe('warnings', () => {
  function warned(
    patterns: string[],
    fields: Record<string, string> = {},
  ): CredentialProviderConfigReport {
    return check(provider({ matchImages: JSON.stringify(patterns), ...fields }));
  }

  it('flags a pattern with a port, unless the host is also listed without one', () => {
    assert.deepEqual(warnings(warned(['registry.example.com:5000'])), [
      'providers[0].matchImages[0] [port]',
    ]);
    assert.deepEqual(warnings(warned(['registry.example.com:5000', 'registry.example.com'])), []);
  });

  it('flags localhost and IP patterns without a port, unless also listed with one', () => {
    assert.deepEqual(warnings(warned(['localhost', '10.0.0.1'])), [
      'providers[0].matchImages[0] [no-port]',
      'providers[0].matchImages[1] [no-port]',
    ]);
    assert.deepEqual(warnings(warned(['localhost', 'localhost:5000'])), []);
  });

  it('flags host label counts that no ECR, ACR, GCR or Artifact Registry host has', () => {
    const report = warned([
      '*.amazonaws.com',
      '*.*.amazonaws.com',
      '*.dkr.ecr.*.on.aws',
      '*.*.gcr.io',
      'azurecr.io',
      '*.dkr.ecr.*.amazonaws.com',
      'gcr.io',
      '*.gcr.io',
      '*.s3.amazonaws.com.cn',
    ]);
    assert.deepEqual(
      warnings(report).filter((w) => w.endsWith('[label-count]')),
      [0, 1, 2, 3, 4].map((i) => `providers[0].matchImages[${i}] [label-count]`),
    );
    assert.match(
      report.warnings[0]?.message ?? '',
      /"\*\.amazonaws\.com" has 3 host labels but private ECR hosts such as 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com have 6; .*Use "\*\.dkr\.ecr\.\*\.amazonaws\.com"/,
    );
    assert.match(report.warnings[2]?.message ?? '', /Use "\*\.dkr-ecr\.\*\.on\.aws"/);
  });

  it('leaves amazonaws.com patterns alone when they do not look like ECR', () => {
    assert.deepEqual(warnings(warned(['my-mirror.s3.amazonaws.com'])), []);
  });

  it('flags *.amazonaws.cn', () => {
    const report = warned(['*.dkr.ecr.*.amazonaws.cn']);
    assert.ok(warnings(report).includes('providers[0].matchImages[0] [amazonaws-cn]'));
    assert.match(
      report.warnings.find((w) => w.code === 'amazonaws-cn')?.message ?? '',
      /end in "\.amazonaws\.com\.cn"/,
    );
  });

  it('flags wildcards in the path, which is a plain prefix', () => {
    assert.deepEqual(warnings(warned(['registry.example.com/*', 'quay.example.com/team/[ab]'])), [
      'providers[0].matchImages[0] [path-glob]',
      'providers[0].matchImages[1] [path-glob]',
    ]);
  });

  it('flags "?" patterns, schemes, catch-all attempts, upper case, empty and repeated patterns', () => {
    const report = warned(['quay.i?', 'https://quay.io', '*', 'Quay.io', '', 'ghcr.io', 'ghcr.io']);
    assert.deepEqual(warnings(report), [
      'providers[0].matchImages[0] [query]',
      'providers[0].matchImages[1] [scheme]',
      'providers[0].matchImages[2] [wildcard-only]',
      'providers[0].matchImages[3] [case]',
      'providers[0].matchImages[4] [empty-pattern]',
      'providers[0].matchImages[6] [duplicate-pattern]',
    ]);
  });

  it('flags an ECR provider that leaves out dual-stack, FIPS or ECR Public endpoints', () => {
    const report = check(
      provider({ name: 'ecr-credential-provider', matchImages: '["*.dkr.ecr.*.amazonaws.com"]' }),
    );
    assert.deepEqual(warnings(report), ['providers[0].matchImages [ecr-missing-patterns]']);
    const message = report.warnings[0]?.message ?? '';
    for (const pattern of [
      '*.dkr-ecr.*.on.aws',
      '*.dkr.ecr-fips.*.amazonaws.com',
      '*.dkr-ecr-fips.*.on.aws',
      'public.ecr.aws',
      'ecr-public.aws.com',
    ]) {
      assert.ok(message.includes(`"${pattern}"`), pattern);
    }
    assert.ok(!message.includes('on.amazonwebservices.com.cn'), 'China only when China is served');
  });

  it('expects the China dual-stack pattern once China ECR is matched', () => {
    const report = check(
      provider({
        name: 'ecr-credential-provider',
        matchImages: JSON.stringify([
          '*.dkr.ecr.*.amazonaws.com',
          '*.dkr-ecr.*.on.aws',
          '*.dkr.ecr-fips.*.amazonaws.com',
          '*.dkr-ecr-fips.*.on.aws',
          'public.ecr.aws',
          'ecr-public.aws.com',
          '*.dkr.ecr.*.amazonaws.com.cn',
        ]),
      }),
    );
    assert.match(report.warnings[0]?.message ?? '', /dual-stack China/);
  });

  it('flags an ECR provider with a non-v1 exec apiVersion or a cache longer than the token', () => {
    const report = check(
      provider({
        name: 'ecr-credential-provider',
        apiVersion: 'credentialprovider.kubelet.k8s.io/v1beta1',
        defaultCacheDuration: '13h',
      }),
    );
    assert.ok(warnings(report).includes('providers[0].apiVersion [ecr-api-version]'));
    assert.ok(warnings(report).includes('providers[0].defaultCacheDuration [ecr-cache-duration]'));
  });

  it('flags a zero defaultCacheDuration, duplicate env names and a backslash in the name', () => {
    const report = check(
      provider({
        name: '"win\\\\provider"',
        defaultCacheDuration: '"0"',
        env: '[{name: A, value: "1"}, {name: A, value: "2"}]',
      }),
    );
    assert.deepEqual(warnings(report).sort(), [
      'providers[0].defaultCacheDuration [no-cache]',
      'providers[0].env[1] [env-duplicate]',
      'providers[0].name [name-separator]',
    ]);
  });

  it('warns about several YAML documents in one file', () => {
    const report = check(`${provider()}---\n${provider({ name: 'other' })}`);
    assert.deepEqual(warnings(report), ['[multiple-documents]']);
  });
});

describe('directories', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pullwarden-cpc-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function directory(name: string, files: Record<string, string>): Promise<string> {
    const path = join(dir, name);
    await mkdir(path);
    for (const [file, text] of Object.entries(files)) {
      if (text === '/') await mkdir(join(path, file));
      else await writeFile(join(path, file), text);
    }
    return path;
  }

  it('merges *.json, *.yaml and *.yml in name order and skips other files', async () => {
    const path = await directory('merge', {
      'b.yaml': provider({ name: 'b' }),
      'a.json': JSON.stringify({
        apiVersion: 'kubelet.config.k8s.io/v1',
        kind: 'CredentialProviderConfig',
        providers: [
          {
            name: 'a',
            apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
            matchImages: ['a.example.com'],
            defaultCacheDuration: '1h',
          },
        ],
      }),
      'C.yml': provider({ name: 'c' }),
      '.hidden.yaml': provider({ name: 'hidden' }),
      'notes.txt': 'not a config',
      'd.YAML': provider({ name: 'upper' }),
      'sub.yaml': '/',
    });
    const report = await loadCredentialProviderConfig(path);
    assert.deepEqual(
      report.providers.map((p) => p.name),
      ['hidden', 'c', 'a', 'b'],
    );
    assert.deepEqual(
      report.files.map((file) => file.slice(path.length + 1)),
      ['.hidden.yaml', 'C.yml', 'a.json', 'b.yaml'],
    );
    assert.deepEqual(
      report.skippedFiles.map((file) => file.slice(path.length + 1)),
      ['d.YAML', 'notes.txt'],
    );
    assert.deepEqual(
      report.warnings.map((w) => w.code),
      ['skipped-file', 'skipped-file'],
    );
    assert.deepEqual(report.errors, []);
  });

  it('rejects a provider name used in two files, in the later file', async () => {
    const path = await directory('dup', {
      '10-a.yaml': provider({ name: 'ecr' }),
      '20-b.yaml': provider({ name: 'ecr' }),
    });
    const report = await loadCredentialProviderConfig(path);
    assert.equal(report.errors.length, 1);
    assert.equal(report.errors[0]?.file, join(path, '20-b.yaml'));
    assert.equal(report.errors[0]?.path, 'providers[0].name');
    assert.match(report.errors[0]?.message ?? '', /first defined at .*10-a\.yaml providers\[0\]/);
  });

  it('needs a provider somewhere, not in every file', async () => {
    const path = await directory('empty-one', {
      'a.yaml': `${HEADER}providers: []\n`,
      'b.yaml': provider(),
    });
    const report = await loadCredentialProviderConfig(path);
    assert.deepEqual(report.errors, []);
    assert.deepEqual(
      report.warnings.map((w) => w.code),
      ['no-providers'],
    );
  });

  it('is an error without any config file', async () => {
    const path = await directory('none', { 'README.md': 'x' });
    const report = await loadCredentialProviderConfig(path);
    assert.deepEqual(
      report.errors.map((d) => d.code),
      ['no-files'],
    );
  });

  it('locates errors in each file', async () => {
    const path = await directory('errors', {
      'a.yaml': provider({ defaultCacheDuration: '"1 h"' }),
      'b.yaml': provider({ name: 'other', matchImages: '[]' }),
    });
    const report = await loadCredentialProviderConfig(path);
    assert.deepEqual(
      report.errors.map((d) => [d.file.slice(path.length + 1), d.line, d.path]),
      [
        ['a.yaml', 7, 'providers[0].defaultCacheDuration'],
        ['b.yaml', 6, 'providers[0].matchImages'],
      ],
    );
  });

  it('throws ConfigPathError for a path that does not exist', async () => {
    await assert.rejects(loadCredentialProviderConfig(join(dir, 'missing.yaml')), ConfigPathError);
  });
});

describe('checkCredentialProviderConfig', () => {
  it('merges sources in the order given', () => {
    const report = checkCredentialProviderConfig([
      { file: 'one.yaml', text: provider({ name: 'one' }) },
      { file: 'two.yaml', text: provider({ name: 'two' }) },
    ]);
    assert.deepEqual(
      report.providers.map((p) => `${p.file}:${p.name}`),
      ['one.yaml:one', 'two.yaml:two'],
    );
  });
});
