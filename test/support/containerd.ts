import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missing, run, terminate } from './registry.ts';

// A real containerd (Debian's package) for tests: its own root, state and socket in a temporary
// folder, the CRI plugin off, and `ctr` to talk to it. Needs root, as containerd does.

export interface RunningContainerd {
  address: string;
  /** Runs `ctr` against this containerd. */
  ctr(args: string[]): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<RunningContainerd> {
  const directory = await mkdtemp(join(tmpdir(), 'pullwarden-containerd-'));
  const address = join(directory, 'containerd.sock');
  const config = join(directory, 'config.toml');
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${join(directory, 'root')}"`,
      `state = "${join(directory, 'state')}"`,
      // Pulls need content, images and a snapshotter; nothing here runs containers.
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${join(directory, 'containerd-ttrpc.sock')}"`,
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('containerd', ['--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString('utf8');
  });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? missing('containerd') : error),
    );
    child.once('exit', (code) => reject(new Error(`containerd exited with ${code}:\n${log}`)));
  });
  const ctr = (args: string[]) => run('ctr', ['--address', address, ...args]);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ready = await Promise.race([
      ctr(['version']).then(
        () => true,
        () => false,
      ),
      failed,
    ]);
    if (ready) break;
    if (Date.now() > deadline) {
      await terminate(child);
      throw new Error(`containerd did not answer on ${address} within 15 s:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  failed.catch(() => undefined);
  return {
    address,
    ctr,
    async stop() {
      await terminate(child);
      await rm(directory, { recursive: true, force: true });
    },
  };
}
