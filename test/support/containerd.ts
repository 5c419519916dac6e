import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missing, run, terminate } from './registry.ts';

// A real containerd (Debian's package) for tests: its own root, state and socket in a temporary
// folder, and `ctr` to talk to it. Needs root, as containerd does. With `cri`, the CRI plugin serves
// the image service the kubelet uses, unpacking with the native snapshotter (overlay mounts are not
// available everywhere tests run) and reaching the listed plain-HTTP registries through hosts.toml.

export interface ContainerdOptions {
  /** Serve the CRI (runtime.v1) on the same socket. */
  cri?: boolean;
  /** Registries (`host:port`) the CRI reaches over plain HTTP. */
  plainHttpRegistries?: string[];
}

export interface RunningContainerd {
  /** The socket path. */
  address: string;
  /** `unix://` + the socket path, as CRI clients name it. */
  endpoint: string;
  /** Runs `ctr` against this containerd (namespace `default` unless the args name one). */
  ctr(args: string[]): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function startContainerd(options: ContainerdOptions = {}): Promise<RunningContainerd> {
  const directory = await mkdtemp(join(tmpdir(), 'pullwarden-containerd-'));
  const address = join(directory, 'containerd.sock');
  const config = join(directory, 'config.toml');
  const hostsDirectory = join(directory, 'certs.d');
  for (const host of options.plainHttpRegistries ?? []) {
    await mkdir(join(hostsDirectory, host), { recursive: true });
    await writeFile(
      join(hostsDirectory, host, 'hosts.toml'),
      [
        `server = "http://${host}"`,
        `[host."http://${host}"]`,
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'),
    );
  }
  const unused = [
    'io.containerd.snapshotter.v1.btrfs',
    'io.containerd.snapshotter.v1.zfs',
    'io.containerd.snapshotter.v1.devmapper',
    'io.containerd.snapshotter.v1.aufs',
    ...(options.cri === true ? [] : ['io.containerd.grpc.v1.cri']),
  ];
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${join(directory, 'root')}"`,
      `state = "${join(directory, 'state')}"`,
      `disabled_plugins = ${JSON.stringify(unused)}`,
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${join(directory, 'containerd-ttrpc.sock')}"`,
      '[metrics]',
      '  address = ""',
      ...(options.cri === true
        ? [
            '[plugins."io.containerd.grpc.v1.cri"]',
            '  disable_tcp_service = true',
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            '[plugins."io.containerd.grpc.v1.cri".containerd]',
            '  snapshotter = "native"',
            '[plugins."io.containerd.grpc.v1.cri".registry]',
            `  config_path = "${hostsDirectory}"`,
          ]
        : []),
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
    endpoint: `unix://${address}`,
    ctr,
    async stop() {
      await terminate(child);
      await rm(directory, { recursive: true, force: true });
    },
  };
}
