import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '#cmd/pullwarden/main.ts';
import { RULE_IDS } from '#shared/drift/model.ts';
import { cachedModules, compileCacheFolder } from '../support/compile-cache.ts';
import { runInProcess } from '../support/in-process-cli.ts';
import { runProcess } from '../support/process.ts';
import { validateSarif } from '../support/sarif-validator.ts';

// The CLI as users run it: `npx pullwarden …` starts bin/pullwarden.js with the pinned Node.js.

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin/pullwarden.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function pullwarden(
  args: readonly string[],
  stdin?: string,
  env: Record<string, string | undefined> = {},
): Promise<Run> {
  return runProcess(process.execPath, [bin, ...args], {
    cwd: root,
    // The compile cache of these runs stays in the scratch folder, not the user's cache directory.
    env: { ...process.env, NO_COLOR: '1', XDG_CACHE_HOME: join(scratch, 'cache'), ...env },
    ...(stdin === undefined ? {} : { stdin }),
  });
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-cli-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

// examples/pullwarden.yaml sits above examples/manifests/, so it is found without --config.
const EXAMPLES = ['drift', 'examples/manifests/'];

describe('pullwarden drift on the examples', () => {
  test('finds every rule a file can show (all but PW009) and exits 1, with the configuration found above the inputs', async () => {
    const run = await pullwarden([...EXAMPLES, '--format', 'json', '--verbose']);
    assert.match(run.stderr, /using configuration examples\/pullwarden\.yaml/);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as {
      kind: string;
      findings: { ruleId: string }[];
      problems: unknown[];
    };
    assert.equal(report.kind, 'DriftReport');
    assert.deepEqual(report.problems, []);
    // PW009 needs the registry's answer, which files cannot give.
    assert.deepEqual(
      [...new Set(report.findings.map((finding) => finding.ruleId))].sort(),
      RULE_IDS.filter((id) => id !== 'PW009'),
    );
  });

  test('text output groups by workload and ends with a summary', async () => {
    const run = await pullwarden([...EXAMPLES]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /Deployment prod-shop\/storefront/);
    assert.match(run.stdout, /examples\/manifests\/shop-frontend\.yaml:\d+/);
    assert.match(run.stdout, /\d+ findings? \(/);
    assert.ok(!run.stdout.includes('\u001b['), 'no colour when not on a terminal');
  });

  test('markdown output is a table', async () => {
    const run = await pullwarden([...EXAMPLES, '--format', 'markdown']);
    assert.match(run.stdout, /^\|.*Rule.*\|/m);
    assert.match(run.stdout, /PW004/);
  });

  test('SARIF output passes the SARIF validator with GitHub ingestion rules', async () => {
    const log = join(scratch, 'drift.sarif');
    const run = await pullwarden([...EXAMPLES, '--format', 'sarif', '--output', log]);
    assert.equal(run.code, 1, run.stderr);
    const sarif = JSON.parse(await readFile(log, 'utf8')) as {
      version: string;
      runs: {
        results: {
          ruleId: string;
          locations?: {
            physicalLocation?: { artifactLocation: { uri: string }; region: { startLine: number } };
          }[];
        }[];
      }[];
    };
    assert.equal(sarif.version, '2.1.0');
    const located = sarif.runs[0]?.results
      .filter((result) => result.ruleId === 'PW004')
      .map((result) => result.locations?.[0]?.physicalLocation)
      .find((location) => location?.artifactLocation.uri.endsWith('.yaml'));
    assert.equal(located?.artifactLocation.uri, 'examples/manifests/gpu-inference.yaml');
    assert.equal(located?.region.startLine, 22);
    const results = await validateSarif([log], join(scratch, 'validation.sarif'));
    const errors = results
      .filter((result) => result.level === 'error')
      .map((result) => `${result.ruleId}: ${result.message.id}`);
    assert.deepEqual(errors, []);
  });

  test('--fail-on never and --fail-on error change the exit code', async () => {
    assert.equal(
      (await pullwarden([...EXAMPLES, '--fail-on', 'never', '--format', 'json'])).code,
      0,
    );
    const onlyInfo = await pullwarden([
      ...EXAMPLES,
      '--rule',
      'PW006,PW007',
      '--fail-on',
      'warning',
      '--format',
      'json',
    ]);
    assert.equal(onlyInfo.code, 0, 'info findings are below the warning threshold');
    assert.equal(
      (await pullwarden([...EXAMPLES, '--rule', 'PW006', '--fail-on', 'info', '--format', 'json']))
        .code,
      1,
    );
  });
});

describe('pullwarden drift input handling', () => {
  test('a broken document is reported with file and document, the others are evaluated, exit 2', async () => {
    const file = join(scratch, 'mixed.yaml');
    await writeFile(
      file,
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: first}\nspec:\n  containers: [{name: a, image: nginx}]\n',
        'apiVersion: v1\nkind: Pod\nmetadata: {name: broken\nspec: {}\n',
        'apiVersion: v1\nkind: Pod\nmetadata: {name: third}\nspec:\n  containers: [{name: a, image: "redis:latest"}]\n',
      ].join('---\n'),
    );
    const run = await pullwarden(['drift', file, '--format', 'json']);
    assert.equal(run.code, 2);
    const report = JSON.parse(run.stdout) as {
      findings: { workload: { name: string } }[];
      problems: { file: string; document: number; line?: number }[];
    };
    assert.deepEqual(report.findings.map((finding) => finding.workload.name).sort(), [
      'first',
      'third',
    ]);
    assert.equal(report.problems.length, 1);
    assert.equal(report.problems[0]?.file, file);
    assert.equal(report.problems[0]?.document, 2);
    assert.match(
      run.stderr,
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, document 2, line \\d+`),
    );
  });

  test('reads a cluster dump from stdin', async () => {
    const dump = await readFile(join(root, 'examples/manifests/cluster-dump.json'), 'utf8');
    const run = await pullwarden(['drift', '-', '--format', 'json', '--rule', 'PW008'], dump);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as {
      findings: { ruleId: string; workload: { kind: string; name: string } }[];
    };
    assert.deepEqual(
      report.findings.map(
        (finding) => `${finding.ruleId} ${finding.workload.kind}/${finding.workload.name}`,
      ),
      ['PW008 Deployment/checkout'],
    );
  });

  describe('compile cache', () => {
    // stdin is always parsed on the parser threads, which start with the cache the CLI turned on.
    const args = ['drift', '-', '--format', 'json', '--rule', 'PW008'];
    let dump: string;
    before(async () => {
      dump = await readFile(join(root, 'examples/manifests/cluster-dump.json'), 'utf8');
    });
    const cacheEnv = (home: string, disable?: string) => ({
      XDG_CACHE_HOME: home,
      NODE_COMPILE_CACHE: undefined,
      NODE_DISABLE_COMPILE_CACHE: disable,
    });

    test("keeps compiled modules in a folder of the user's cache directory that only the user may open", async () => {
      const home = join(scratch, 'cache-private');
      const outputs: string[] = [];
      for (const run of ['first', 'cached']) {
        const result = await pullwarden(args, dump, cacheEnv(home));
        assert.equal(result.code, 1, `${run}: ${result.stderr}`);
        outputs.push(result.stdout);
      }
      assert.equal(outputs[1], outputs[0]);
      const folder = compileCacheFolder(home);
      assert.equal((await stat(folder)).mode & 0o777, 0o700);
      assert.ok((await cachedModules(folder)) > 0, 'no compiled modules were kept');
    });

    test('leaves alone a cache folder that others may write to', async () => {
      const home = join(scratch, 'cache-shared');
      const folder = compileCacheFolder(home);
      await mkdir(folder, { recursive: true });
      await chmod(folder, 0o777);
      const result = await pullwarden(args, dump, cacheEnv(home));
      assert.equal(result.code, 1, result.stderr);
      assert.deepEqual(await readdir(folder), []);
    });

    test('NODE_DISABLE_COMPILE_CACHE turns it off', async () => {
      const home = join(scratch, 'cache-disabled');
      const result = await pullwarden(args, dump, cacheEnv(home, '1'));
      assert.equal(result.code, 1, result.stderr);
      await assert.rejects(stat(join(home, 'pullwarden')), { code: 'ENOENT' });
    });
  });

  test('usage errors exit 2 with a hint', async () => {
    for (const args of [
      ['drift'],
      ['drift', '--format', 'xml', 'x.yaml'],
      ['drift', '--bogus', 'x'],
      ['nope'],
      ['drift', '--threads', '-1', 'x'],
    ]) {
      const run = await pullwarden(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.notEqual(run.stderr, '');
    }
  });

  test('a missing path and an invalid config exit 2 and say why', async () => {
    const missing = await pullwarden(['drift', join(scratch, 'absent.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stdout + missing.stderr, /no such file or directory/);
    const config = join(scratch, 'bad-config.yaml');
    await writeFile(
      config,
      'apiVersion: pullwarden.dev/v1\nkind: Config\nrules:\n  PW001:\n    severity: fatal\n',
    );
    const invalid = await pullwarden(['drift', 'examples/manifests', '--config', config]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /line 5: rules\.PW001\.severity/);
  });

  test('version and help', async () => {
    assert.match((await pullwarden(['version'])).stdout, /^pullwarden \d+\.\d+\.\d+ \(node v24\./);
    assert.match((await pullwarden(['drift', '--help'])).stdout, /Exit codes: 0/);
  });
});

describe('pullwarden drift progress', () => {
  // In-process, so stderr can claim to be a terminal.
  async function runWithTerminal(args: readonly string[], stderrIsTTY: boolean): Promise<string> {
    const run = await runInProcess(
      main,
      ['drift', ...args, '--fail-on', 'never', '--format', 'json'],
      { stderrIsTTY },
    );
    assert.equal(run.code, 0, run.stderr);
    return run.stderr;
  }
  const dump = join(root, 'examples/manifests/cluster-dump.json');

  test('shows bytes, share and objects read on a terminal, then clears the line', async () => {
    const stderr = await runWithTerminal([dump], true);
    const clearLine = '\r\u001b[2K';
    assert.ok(stderr.includes(`${clearLine}reading `), 'rewrites one terminal line');
    assert.match(
      stderr,
      /reading .*cluster-dump\.json: [\d.]+ (B|KiB) \/ [\d.]+ KiB \(\d+%\), \d+ objects/,
    );
    assert.ok(stderr.endsWith(clearLine), 'the progress line is cleared before the report');
  });

  test('stays quiet when stderr is not a terminal, unless asked', async () => {
    assert.equal(await runWithTerminal([dump], false), '');
    assert.match(await runWithTerminal([dump, '--progress'], false), /reading /);
    assert.doesNotMatch(await runWithTerminal([dump, '--no-progress'], true), /reading /);
  });
});
