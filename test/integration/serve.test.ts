import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../support/process.ts';

// `npm start` as a user meets it: `pullwarden serve` prints a banner with ready-to-paste commands,
// serves them, stops on SIGTERM, and finds its state again after a restart.

const root = fileURLToPath(new URL('../..', import.meta.url));
let scratch: string;
const children = new Set<ChildProcess>();
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-serve-'));
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(scratch, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  banner: string;
  output: () => string;
}

function serve(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, ['cmd/pullwarden/main.ts', 'serve', ...args], {
    cwd: root,
    env: { ...process.env, PORT: '0', POWERTOOLS_LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${output}`)), 30_000);
    const check = () => {
      if (output.includes('Ctrl-C stops.')) {
        clearTimeout(timer);
        resolve({ child, banner: output, output: () => output });
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output}`));
    });
  });
}

function stop(running: Running): Promise<number | null> {
  return new Promise((resolve) => {
    running.child.removeAllListeners('exit');
    running.child.on('exit', (code) => resolve(code));
    running.child.kill('SIGTERM');
  });
}

/** Follows the banner's curl lines: the URL, the header and the body file it names. */
async function sendSample(banner: string): Promise<Response> {
  const url = /curl -sS (http:\/\/\S+\/webhooks\/distribution)/.exec(banner)?.[1];
  const header = /-H "Authorization: \$\(cat (\S+)\)"/.exec(banner)?.[1];
  const body = /--data-binary @(\S+)/.exec(banner)?.[1];
  assert.ok(url && header && body, `banner lacks the sample curl:\n${banner}`);
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/vnd.docker.distribution.events.v2+json',
      authorization: (
        await readFile(join(root, header), 'utf8').catch(() => readFile(header, 'utf8'))
      ).trim(),
    },
    body: await readFile(body.startsWith('/') ? body : join(root, body)),
  });
}

async function warmSet(banner: string): Promise<{ images: { digest: string }[] }> {
  const found = /curl -sS (\S+\/warmset) -H "Authorization: Bearer \$\(cat (\S+)\)"/.exec(banner);
  assert.ok(found, `banner lacks the warm set curl:\n${banner}`);
  const tokenFile = found[2] as string;
  const token = (
    await readFile(tokenFile.startsWith('/') ? tokenFile : join(root, tokenFile), 'utf8')
  ).trim();
  const response = await fetch(found[1] as string, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return (await response.json()) as { images: { digest: string }[] };
}

test('pullwarden serve: banner, sample push, warm set, SIGTERM, restart with the same state', async () => {
  const dataDir = join(scratch, 'data');
  const args = ['--config', 'examples/pullwarden.yaml', '--data-dir', dataDir];
  const first = await serve(args);
  assert.match(first.banner, /pullwarden local stack on http:\/\/127\.0\.0\.1:\d+/);
  assert.match(
    first.banner,
    /POST +http:\/\/127\.0\.0\.1:\d+\/webhooks\/\{source\} +→ registryWebhook/,
  );
  assert.match(first.banner, /rule team-releases selects general, gpu/);

  const tokenFile = /-H "Authorization: \$\(cat (\S+)\)"/.exec(first.banner)?.[1] as string;
  const token = (await readFile(tokenFile, 'utf8')).trim();
  assert.ok(token.length >= 32);
  assert.ok(!first.banner.includes(token), 'the banner shows where the token is, never the token');

  const accepted = await sendSample(first.banner);
  assert.equal(accepted.status, 202);
  const digest = ((await accepted.json()) as { events: { digest: string }[] }).events[0]?.digest;
  let images: { digest: string }[] = [];
  for (let i = 0; i < 100 && images.length === 0; i++) {
    images = (await warmSet(first.banner)).images;
    if (images.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(
    images.map((image) => image.digest),
    [digest],
  );
  // gpu's request is its own FIFO group and may be dispatched after general's
  for (let i = 0; i < 100 && !first.output().includes('ssm SendCommand'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(first.output(), /ssm SendCommand pullwarden-prepull → tag:eks:nodegroup-name=gpu/);
  assert.equal(await stop(first), 0);

  const second = await serve(args);
  assert.deepEqual(
    (await warmSet(second.banner)).images.map((image) => image.digest),
    [digest],
    'the warm set survives a restart',
  );
  assert.equal(
    (await readFile(tokenFile, 'utf8')).trim(),
    token,
    'the generated token is kept across restarts',
  );
  const again = await sendSample(second.banner);
  assert.equal(again.status, 200, 'the same delivery after a restart is a duplicate');
  assert.equal(await stop(second), 0);
});

test('pullwarden serve refuses a bad config with exit 2 and starts nothing', async () => {
  const run = await runProcess(
    process.execPath,
    ['cmd/pullwarden/main.ts', 'serve', '--ephemeral', '--config', 'examples/manifests'],
    { cwd: root },
  );
  assert.equal(run.code, 2);
  assert.match(run.stderr, /pullwarden serve: /);
});
