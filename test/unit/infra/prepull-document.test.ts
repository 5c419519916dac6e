import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseConfig } from '#shared/config/load.ts';
import { parseNodeConfig } from '#shared/credentials/node-config.ts';
import { parseImageReference } from '#shared/image/reference.ts';
import { parseCloudFormationYaml } from '#shared/local/cloudformation-yaml.ts';
import { pinnedReference } from '#shared/prepull/message.ts';

// infra/cloudformation/prepull-document.yml, the Run Command document of `executor: ssm` node groups:
// its parameter admits digest-pinned references and nothing a shell would read as more than a word,
// and it runs the binary and node config where install.sh puts them.

const root = fileURLToPath(new URL('../../..', import.meta.url));

interface DocumentResource {
  Type: string;
  Properties: {
    Name: string;
    DocumentType: string;
    UpdateMethod?: string;
    Content: {
      schemaVersion: string;
      parameters: Record<
        string,
        { type: string; allowedPattern?: string; interpolationType?: string }
      >;
      mainSteps: {
        action: string;
        inputs: { runCommand: string[]; timeoutSeconds?: string };
      }[];
    };
  };
}

const template = parseCloudFormationYaml(
  await readFile(`${root}/infra/cloudformation/prepull-document.yml`, 'utf8'),
  'prepull-document.yml',
) as { Resources: Record<string, DocumentResource> };
const document = template.Resources.PrepullDocument as DocumentResource;
const parameter = document.Properties.Content.parameters.image;
const pattern = new RegExp(parameter?.allowedPattern ?? '(?!)');

const HEX64 = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';

const ACCEPTED = [
  `docker.io/library/nginx@sha256:${HEX64}`,
  `123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api@sha256:${HEX64}`,
  `registry.internal:5000/platform/base/images/python@sha256:${HEX64}`,
  `localhost:5000/app@sha256:${HEX64}`,
  `[::1]:5000/app@sha256:${HEX64}`,
  `ghcr.io/acme/my_app__worker/x.y-z--w@sha256:${HEX64}`,
  `Registry.Example.COM/app@sha256:${HEX64}`,
  `registry.example.com/app@sha512:${HEX64}${HEX64}`,
];

const REJECTED = [
  `registry.example.com/app@sha256:${HEX64};reboot`,
  `registry.example.com/app@sha256:${HEX64}$(reboot)`,
  `registry.example.com/$(reboot)/app@sha256:${HEX64}`,
  `registry.example.com/\`reboot\`@sha256:${HEX64}`,
  `registry.example.com/app@sha256:${HEX64} --pin`,
  `registry.example.com/app@sha256:${HEX64}\nreboot`,
  `registry.example.com/app@sha256:${HEX64}\n`,
  `registry.example.com/app'@sha256:${HEX64}`,
  `registry.example.com/app"@sha256:${HEX64}`,
  `registry.example.com/app|sh@sha256:${HEX64}`,
  `registry.example.com/app&@sha256:${HEX64}`,
  `registry.example.com/app>x@sha256:${HEX64}`,
  `registry.example.com/app\\@sha256:${HEX64}`,
  `registry.example.com/app*@sha256:${HEX64}`,
  `-registry.example.com/app@sha256:${HEX64}`,
  `--config=/tmp/x/app@sha256:${HEX64}`,
  // Tags, with or without a digest, and short or upper-case digests.
  'registry.example.com/app:1.0',
  'registry.example.com/app',
  `registry.example.com/app:1.0@sha256:${HEX64}`,
  `registry.example.com/app@sha256:${HEX64.slice(1)}`,
  `registry.example.com/app@sha256:${HEX64.toUpperCase()}`,
  `registry.example.com/app@md5:${HEX64}`,
  // Docker Hub short forms and upper-case repositories are not what dispatch sends.
  `nginx@sha256:${HEX64}`,
  `registry.example.com/App@sha256:${HEX64}`,
  '',
];

describe('the pullwarden-prepull SSM document', () => {
  test('is a schema 2.2 Command document with the name the ssm executor uses by default', () => {
    assert.equal(document.Type, 'AWS::SSM::Document');
    assert.equal(document.Properties.DocumentType, 'Command');
    assert.equal(document.Properties.Content.schemaVersion, '2.2');
    // A named document cannot be replaced in place by CloudFormation.
    assert.equal(document.Properties.UpdateMethod, 'NewVersion');
    const config = parseConfig(
      'apiVersion: pullwarden.dev/v1\nkind: Config\nnodeGroups:\n  groups:\n    gpu:\n      executor: ssm\n      ssm:\n        targetTag: {key: "eks:nodegroup-name", value: gpu}\n',
      'pullwarden.yaml',
    );
    assert.equal(document.Properties.Name, config.nodeGroups.groups.gpu?.ssm?.document);
  });

  test('takes one String parameter, image, as SendCommand sends it', () => {
    assert.deepEqual(Object.keys(document.Properties.Content.parameters), ['image']);
    assert.equal(parameter?.type, 'String');
    assert.equal(parameter?.interpolationType, 'ENV_VAR');
    assert.match(parameter?.allowedPattern ?? '', /^\^.*\$$/, 'anchored at both ends');
  });

  test('admits digest-pinned references, with ports, IPv6 hosts and nested paths', () => {
    for (const reference of ACCEPTED) assert.match(reference, pattern);
  });

  test('refuses shell metacharacters, whitespace, options, tags and short digests', () => {
    for (const reference of REJECTED)
      assert.doesNotMatch(reference, pattern, JSON.stringify(reference));
  });

  const hostComponent = fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,10}[A-Za-z0-9])?$/);
  const pathComponent = fc.stringMatching(
    /^[a-z0-9]{1,6}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,6}){0,2}$/,
  );
  const reference = fc
    .record({
      host: fc.array(hostComponent, { minLength: 2, maxLength: 4 }).map((parts) => parts.join('.')),
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      path: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
      hex: fc.stringMatching(/^[a-f0-9]{64}$/),
    })
    .map(({ host, port, path, hex }) =>
      pinnedReference({
        image: {
          registry: port === undefined ? host : `${host}:${port}`,
          repository: path.join('/'),
          digest: `sha256:${hex}`,
        },
      }),
    );

  test('admits every reference dispatch builds for a digest, each a canonical reference', () => {
    fc.assert(
      fc.property(reference, (text) => {
        assert.match(text, pattern);
        const parsed = parseImageReference(text);
        assert.equal(parsed.canonical, text);
        assert.ok(parsed.digest !== undefined && parsed.tag === undefined);
      }),
    );
  });

  test('refuses such a reference with any character outside the grammar put anywhere in it', () => {
    const outside = fc.constantFrom(...' \t\n\r;&|$`\'"\\(){}<>*?!#~=%,^'.split(''));
    fc.assert(
      fc.property(reference, outside, fc.nat(), (text, character, at) => {
        const position = at % (text.length + 1);
        assert.doesNotMatch(text.slice(0, position) + character + text.slice(position), pattern);
      }),
    );
  });

  test('runs pullwarden-node pull with the node config, the image quoted, where install.sh puts them', async () => {
    const [step] = document.Properties.Content.mainSteps;
    assert.equal(step?.action, 'aws:runShellScript');
    const script = step?.inputs.runCommand.join('\n') ?? '';
    const install = await readFile(`${root}/infra/node/install.sh`, 'utf8');
    const binDir = /^bin_dir=(\S+)$/m.exec(install)?.[1];
    assert.equal(binDir, '/etc/eks/image-credential-provider');
    assert.match(
      script,
      /^exec \/etc\/eks\/image-credential-provider\/pullwarden-node pull --config \/etc\/pullwarden\/node\.json "\$SSM_image"$/m,
    );
    assert.match(install, /\$target_etc\/node\.json/);
    // Older SSM agents substitute {{ image }} into the script text: only ever inside single quotes.
    for (const use of script.matchAll(/.?\{\{\s*image\s*\}\}.?/g))
      assert.match(use[0], /^'\{\{\s*image\s*\}\}'$/);
    assert.doesNotMatch(parameter?.allowedPattern ?? '', /'/);
    // Enough time for every attempt of a pull at the node config's defaults.
    const defaults = await parseNodeConfig(
      '{"apiVersion":"pullwarden.dev/v1","kind":"NodeConfig","credentialProvider":{"registries":[{"source":"ecr"}]}}',
      'defaults',
    );
    assert.ok(
      Number(step?.inputs.timeoutSeconds) >=
        defaults.prePull.attempts * defaults.prePull.pullTimeout,
    );
  });
});
