import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '#cmd/pullwarden-node/main.ts';
import { type CliRun, runInProcess } from '../support/in-process-cli.ts';

// `pullwarden-node doctor …` in-process, with the example configs under examples/kubelet/.

const root = fileURLToPath(new URL('../..', import.meta.url));
const GOOD = join(root, 'examples/kubelet/credential-provider-config.yaml');
const TRAPS = join(root, 'examples/kubelet/traps.yaml');
const DIRECTORY = join(root, 'examples/kubelet/config.d');

function doctor(...args: string[]): Promise<CliRun> {
  return runInProcess(main, ['doctor', ...args]);
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-doctor-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('pullwarden-node doctor', () => {
  test('is a pullwarden-node command whose help lists its checks', async () => {
    const run = await doctor('--help');
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: pullwarden-node doctor <check>/);
    assert.match(run.stdout, /^ {2}kubelet-config <file\|dir> +validate/m);
    assert.match(run.stdout, /^ {2}match <config> <image> +which providers/m);
    const listing = (await runInProcess(main, ['help'])).stdout;
    assert.match(listing, /^ {2}doctor +\S/m);
    const topic = await runInProcess(main, ['help', 'doctor']);
    assert.equal(topic.code, 0);
    assert.match(topic.stdout, /^Usage: pullwarden-node doctor <check>/);
    const none = await doctor();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name a check: kubelet-config, match/);
    const unknown = await doctor('vibes');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown check "vibes"/);
    const format = await doctor('kubelet-config', '--format', 'xml', GOOD);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /kubelet-config: --format must be one of text, json/);
    const arity = await doctor('kubelet-config');
    assert.equal(arity.code, 2);
    const missing = await doctor('kubelet-config', join(scratch, 'nope.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.yaml: no such file or directory/);
    const option = await doctor('match', '--nope', GOOD, 'nginx');
    assert.equal(option.code, 2);
    assert.match(option.stderr, /match: Unknown option '--nope'/);
    const image = await doctor('match', GOOD, 'Not An Image');
    assert.equal(image.code, 2);
    assert.match(image.stderr, /invalid image reference/);
  });
});

describe('pullwarden-node doctor kubelet-config', () => {
  test('a clean config: a summary only, exit 0', async () => {
    const run = await doctor('kubelet-config', GOOD);
    assert.equal(run.code, 0, run.stdout);
    assert.equal(run.stdout, '0 errors, 0 warnings (1 file, 1 provider)\n');
  });

  test('errors and warnings one per line with file, line and path; exit 1', async () => {
    const run = await doctor('kubelet-config', TRAPS);
    assert.equal(run.code, 1);
    const out = lines(run.stdout);
    assert.equal(out.at(-1), '8 errors, 6 warnings (1 file, 2 providers)');
    const findings = out.slice(0, -1);
    assert.equal(findings.length, 14);
    for (const line of findings) assert.match(line, /^(error|warning): .*traps\.yaml:\d+: /);
    const expected = [
      /^warning: .*traps\.yaml:9: providers\[0\]\.matchImages\[0\]: "\*\.amazonaws\.com" has 3 host labels but private ECR hosts .* have 6/,
      /^warning: .*traps\.yaml:10: providers\[0\]\.matchImages\[1\]: China ECR hosts end in "\.amazonaws\.com\.cn"/,
      /^warning: .*traps\.yaml:11: providers\[0\]\.matchImages\[2\]: "\*\.dkr\.ecr\.\*\.on\.aws" has 6 host labels/,
      /^warning: .*traps\.yaml:12: providers\[0\]\.matchImages\[3\]: the pattern has port 5000/,
      /^warning: .*traps\.yaml:13: providers\[0\]\.matchImages\[4\]: the path "\/\*" is a plain string prefix/,
      /^warning: .*traps\.yaml:9: providers\[0\]\.matchImages: this ECR provider does not cover private ECR/,
      /^error: .*traps\.yaml:16: providers\[0\]\.tokenAttributes: annotation keys cannot be both required and optional: eks\.amazonaws\.com\/ecr-role-arn$/,
      /^error: .*traps\.yaml:16: providers\[0\]\.tokenAttributes\.cacheType: cacheType is required/,
      /^error: .*traps\.yaml:18: providers\[0\]\.tokenAttributes\.requiredServiceAccountAnnotationKeys: requireServiceAccount cannot be false/,
      /^error: .*traps\.yaml:19: providers\[0\]\.tokenAttributes\.optionalServiceAccountAnnotationKeys\[1\]: "-bad-": name part must consist/,
      /^error: .*traps\.yaml:20: providers\[1\]\.name: provider name cannot contain '\/'$/,
      /^error: .*traps\.yaml:20: providers\[1\]\.matchImages: at least 1 item in plugin's matchImages is required$/,
      /^error: .*traps\.yaml:22: providers\[1\]\.matchImage: unknown field \(did you mean "matchImages"\?\)$/,
      /^error: .*traps\.yaml:23: providers\[1\]\.defaultCacheDuration: expected a duration string such as "12h", got number 0/,
    ];
    for (const pattern of expected) {
      assert.ok(
        findings.some((line) => pattern.test(line)),
        `${pattern}\n${findings.join('\n')}`,
      );
    }
  });

  test('a directory: files merged in name order, other files reported as skipped; warnings alone exit 0', async () => {
    const run = await doctor('kubelet-config', DIRECTORY);
    assert.equal(run.code, 0);
    assert.deepEqual(lines(run.stdout), [
      `warning: ${join(DIRECTORY, 'README.md')}: not read: the kubelet reads only *.json, *.yaml, *.yml files from a config directory`,
      '0 errors, 1 warning (2 files, 2 providers)',
    ]);
  });

  test('--format json', async () => {
    const run = await doctor('kubelet-config', '--format', 'json', TRAPS);
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout) as {
      valid: boolean;
      files: string[];
      providers: { name: string; index: number }[];
      errors: { path: string; code: string; line: number }[];
      warnings: { code: string }[];
    };
    assert.equal(report.valid, false);
    assert.deepEqual(report.files, [TRAPS]);
    assert.deepEqual(
      report.providers.map((p) => p.name),
      ['ecr-credential-provider', 'gcp/auth-provider'],
    );
    assert.equal(report.errors.length, 8);
    assert.deepEqual(report.warnings.map((w) => w.code).sort(), [
      'amazonaws-cn',
      'ecr-missing-patterns',
      'label-count',
      'label-count',
      'path-glob',
      'port',
    ]);
    assert.ok(
      report.errors.some(
        (e) => e.path === 'providers[1].matchImage' && e.code === 'unknown-field' && e.line === 22,
      ),
    );
  });

  test('strict JSON: the docs example with trailing commas and no kind fails', async () => {
    const file = join(scratch, 'docs-example.json');
    await writeFile(
      file,
      '{\n  "providers": [\n    {\n      "name": "ecr-credential-provider",\n      "matchImages": ["*.dkr.ecr.*.amazonaws.com",],\n    },\n  ]\n}\n',
    );
    const run = await doctor('kubelet-config', file);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^error: .*docs-example\.json(:\d+)?: JSON: /m);
  });
});

describe('pullwarden-node doctor match', () => {
  test("an ECR image: the ECR provider is exec'd, the other is not and says why", async () => {
    const run = await doctor(
      'match',
      DIRECTORY,
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1',
    );
    assert.equal(run.code, 0, run.stdout);
    const out = lines(run.stdout);
    assert.equal(out[0], 'image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1');
    assert.match(
      out[1] ?? '',
      /^kubelet image name: 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/team\/app /,
    );
    assert.ok(
      out.includes(
        `provider ecr-credential-provider (${join(DIRECTORY, '10-ecr.yaml')} providers[0]): exec'd: matchImages[0] "*.dkr.ecr.*.amazonaws.com" matches`,
      ),
    );
    assert.ok(
      out.includes(
        `provider hub-mirror (${join(DIRECTORY, '20-mirror.json')} providers[0]): not exec'd`,
      ),
    );
    assert.ok(
      out.includes(
        '  matchImages[0] "docker.io": host label counts differ: pattern host "docker.io" has 2, image host "123456789012.dkr.ecr.us-east-1.amazonaws.com" has 6 ("*" matches exactly one label)',
      ),
    );
    assert.ok(out.includes('the kubelet execs: ecr-credential-provider'));
  });

  test('--auth-keys: reverse-sorted order, first key and every matching key', async () => {
    const run = await doctor(
      'match',
      DIRECTORY,
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1',
      '--auth-keys',
      '*.dkr.ecr.us-east-1.amazonaws.com,public.ecr.aws',
      '--auth-keys',
      'https://123456789012.dkr.ecr.us-east-1.amazonaws.com',
    );
    assert.equal(run.code, 0);
    const out = lines(run.stdout);
    const start = out.indexOf(
      'auth keys in the order the kubelet tries them (stored keys, reverse-sorted):',
    );
    assert.notEqual(start, -1, run.stdout);
    assert.deepEqual(out.slice(start + 1, start + 6), [
      '  1. public.ecr.aws: no: host label counts differ: pattern host "public.ecr.aws" has 3, image host "123456789012.dkr.ecr.us-east-1.amazonaws.com" has 6 ("*" matches exactly one label)',
      '  2. https://123456789012.dkr.ecr.us-east-1.amazonaws.com (stored as 123456789012.dkr.ecr.us-east-1.amazonaws.com): matches',
      '  3. *.dkr.ecr.us-east-1.amazonaws.com: matches',
      'first key used: https://123456789012.dkr.ecr.us-east-1.amazonaws.com',
      'matching keys in order: https://123456789012.dkr.ecr.us-east-1.amazonaws.com, *.dkr.ecr.us-east-1.amazonaws.com',
    ]);
  });

  test('a Docker Hub image: normalised, and the index.docker.io fallback', async () => {
    const run = await doctor(
      'match',
      DIRECTORY,
      'nginx:1.27',
      '--auth-keys',
      'https://index.docker.io/v1/,quay.io',
    );
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^kubelet image name: docker\.io\/library\/nginx /m);
    assert.match(
      run.stdout,
      /provider hub-mirror .*: exec'd: matchImages\[0\] "docker\.io" matches/,
    );
    assert.match(
      run.stdout,
      /no key matches, but docker\.io\/library\/nginx is a Docker Hub image, so the kubelet uses the credentials stored under "index\.docker\.io" \(Docker Hub fallback\)/,
    );
    assert.match(run.stdout, /^first key used: https:\/\/index\.docker\.io\/v1\/$/m);
  });

  test('no provider matches: every pattern explained, exit 1', async () => {
    const run = await doctor('match', GOOD, 'localhost:5000/app:dev');
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /matchImages\[4\] "public\.ecr\.aws": ports differ: pattern has no port, image has port 5000/,
    );
    assert.match(run.stdout, /^the kubelet execs no provider for this image$/m);
  });

  test('no auth key applies: exit 1', async () => {
    const run = await doctor(
      'match',
      GOOD,
      'public.ecr.aws/nginx/nginx:stable',
      '--auth-keys',
      'quay.io',
    );
    assert.equal(run.code, 1);
    assert.match(run.stdout, /matchImages\[4\] "public\.ecr\.aws" matches/);
    assert.match(run.stdout, /^no key applies: the kubelet pulls without these credentials$/m);
  });

  test('a config with errors: printed first, exit 1', async () => {
    const run = await doctor('match', TRAPS, 'registry.example.com:5000/app');
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^error: .*traps\.yaml:20: providers\[1\]\.name: /m);
    assert.match(run.stdout, /^the kubelet refuses to start with this configuration/m);
    assert.match(
      run.stdout,
      /provider ecr-credential-provider .*: exec'd: matchImages\[3\] "registry\.example\.com:5000" matches/,
    );
  });

  test('--format json', async () => {
    const run = await doctor(
      'match',
      '--format',
      'json',
      DIRECTORY,
      'docker.io/library/nginx',
      '--auth-keys',
      'docker.io,docker.io/library',
    );
    assert.equal(run.code, 0);
    const result = JSON.parse(run.stdout) as {
      kubeletImage: string;
      exec: string[];
      providers: {
        name: string;
        exec: boolean;
        patterns: { matches: boolean; reason: string }[];
      }[];
      authKeys: { via: string; first: string; matching: string[]; order: { key: string }[] };
    };
    assert.equal(result.kubeletImage, 'docker.io/library/nginx');
    assert.deepEqual(result.exec, ['hub-mirror']);
    assert.deepEqual(
      result.providers.map((p) => [p.name, p.exec]),
      [
        ['ecr-credential-provider', false],
        ['hub-mirror', true],
      ],
    );
    assert.equal(result.authKeys.via, 'match');
    assert.equal(result.authKeys.first, 'docker.io/library');
    assert.deepEqual(result.authKeys.matching, ['docker.io/library', 'docker.io']);
  });
});
