import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '#shared/config/load.ts';

// The `credentials.brokered` section: what credential-refresh mints. Every rejected entry names its field.

const HEADER = 'apiVersion: pullwarden.dev/v1\nkind: Config\ncredentials:\n  brokered:\n';

function issues(entries: string): string[] {
  try {
    parseConfig(`${HEADER}${entries}`, 'test.yaml');
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
}

const ECR =
  '    - source: ecr\n      registry: 444455556666.dkr.ecr.us-west-2.amazonaws.com\n      roleArn: arn:aws:iam::444455556666:role/pullwarden-registry-pull\n';
const GITHUB =
  '    - source: github-app\n      appId: 123\n      installationId: 45\n      privateKey: { secretsManager: pullwarden/dev/github-app }\n';

describe('credentials.brokered', () => {
  test('hosts are kept in lower case, as nodes look them up', () => {
    const config = parseConfig(
      `${HEADER}${ECR.replace('444455556666.dkr.ecr.us-west-2.amazonaws.com', '444455556666.DKR.ecr.us-west-2.amazonaws.com')}`,
      'test.yaml',
    );
    assert.equal(
      config.credentials.brokered[0]?.registry,
      '444455556666.dkr.ecr.us-west-2.amazonaws.com',
    );
  });

  test('defaults: GHCR, least-privilege permissions, x-access-token', () => {
    const config = parseConfig(`${HEADER}${ECR}${GITHUB}`, 'test.yaml');
    assert.deepEqual(config.credentials.brokered, [
      {
        source: 'ecr',
        registry: '444455556666.dkr.ecr.us-west-2.amazonaws.com',
        roleArn: 'arn:aws:iam::444455556666:role/pullwarden-registry-pull',
      },
      {
        source: 'github-app',
        registry: 'ghcr.io',
        appId: '123',
        installationId: 45,
        privateKey: { secretsManager: 'pullwarden/dev/github-app' },
        apiUrl: 'https://api.github.com',
        permissions: { packages: 'read' },
        username: 'x-access-token',
      },
    ]);
    assert.deepEqual(
      parseConfig(HEADER.replace('  brokered:\n', '  brokered: []\n'), 't').credentials,
      {
        brokered: [],
      },
    );
  });

  const rejected: [string, string, RegExp][] = [
    [
      'a spoofed ECR host',
      ECR.replace('amazonaws.com\n', 'amazonaws.com.evil.example\n'),
      /^credentials\.brokered\[0\]\.registry: must be an ECR registry host/,
    ],
    [
      'a non-ECR host for source ecr',
      ECR.replace('444455556666.dkr.ecr.us-west-2.amazonaws.com', 'ghcr.io'),
      /^credentials\.brokered\[0\]\.registry: must be an ECR registry host/,
    ],
    [
      'a role ARN that is not one',
      ECR.replace('role/pullwarden-registry-pull', 'user/someone'),
      /^credentials\.brokered\[0\]\.roleArn: must be an IAM role ARN/,
    ],
    [
      'an inline private key',
      GITHUB.replace(
        '{ secretsManager: pullwarden/dev/github-app }',
        '"-----BEGIN RSA PRIVATE KEY-----"',
      ),
      /^credentials\.brokered\[0\]\.privateKey: must be one of \{env: NAME\}/,
    ],
    [
      'an unknown source',
      '    - source: gcr\n      registry: gcr.io\n',
      /^credentials\.brokered\[0\]\.source: source must be ecr or github-app/,
    ],
    [
      'an unknown field',
      `${ECR}      region: us-west-2\n`,
      /^credentials\.brokered\[0\]: Unrecognized key: "region"/,
    ],
    [
      'a permission level GitHub does not have',
      `${GITHUB}      permissions: { packages: admin }\n`,
      /^credentials\.brokered\[0\]\.permissions\.packages: /,
    ],
    [
      'an alarm point after the refresh point',
      `${GITHUB}      refreshBeforeMinutes: 20\n      alarmBeforeMinutes: 30\n`,
      /^credentials\.brokered\[0\]\.alarmBeforeMinutes: alarmBeforeMinutes must be less than refreshBeforeMinutes/,
    ],
    [
      'a role ARN with a path (the function may assume only pullwarden-registry-* at the root)',
      ECR.replace('role/pullwarden-registry-pull', 'role/team/pullwarden-registry-pull'),
      /^credentials\.brokered\[0\]\.roleArn: must be an IAM role ARN without a path/,
    ],
    [
      'a GitHub API over plain http off loopback',
      `${GITHUB}      apiUrl: http://github.example.com/api/v3\n`,
      /^credentials\.brokered\[0\]\.apiUrl: must be https \(plain http only on loopback\)/,
    ],
    [
      'one registry brokered twice, in another case',
      `${GITHUB}${GITHUB.replace('appId: 123', 'appId: 123\n      registry: GHCR.io')}`,
      /^credentials\.brokered\[1\]\.registry: ghcr\.io is already brokered by entry 0/,
    ],
    [
      'one registry brokered twice',
      `${GITHUB}${GITHUB}`,
      /^credentials\.brokered\[1\]\.registry: ghcr\.io is already brokered by entry 0/,
    ],
  ];
  for (const [name, entries, expected] of rejected) {
    test(`rejects ${name}`, () => {
      const found = issues(entries);
      assert.ok(
        found.some((issue) => expected.test(issue)),
        `expected ${expected}, got ${JSON.stringify(found)}`,
      );
    });
  }
});
