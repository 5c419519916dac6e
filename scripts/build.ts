// npm run build — esbuild bundles: one per Lambda function (functions/<name>/handler.ts →
// dist/functions/<name>/index.mjs) and one per binary (dist/pullwarden/, dist/pullwarden-node/).
// Warnings fail the build: a warning here is usually a broken import that would only fail at run time.
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// Bundled CommonJS dependencies call require(); ESM output has none unless we make one.
const REQUIRE_SHIM =
  "import { createRequire as __pullwardenCreateRequire } from 'node:module'; const require = __pullwardenCreateRequire(import.meta.url);";

export interface Artifact {
  readonly name: string;
  readonly entryPoints: Readonly<Record<string, string>>;
  readonly outdir: string;
  /** Packages left out of the bundle because the runtime provides them. */
  readonly external?: readonly string[];
  /**
   * Modules loaded with import() go to chunks of their own, read only when a command needs them: the
   * chunks' names, relative to `outdir`.
   */
  readonly chunkNames?: string;
}

// The nodejs24.x Lambda runtime ships AWS SDK v3; bundling it again would triple every function.
const LAMBDA_RUNTIME_PACKAGES = ['@aws-sdk/*'];

export async function listArtifacts(root = ROOT, outdir = join(root, 'dist')): Promise<Artifact[]> {
  const artifacts: Artifact[] = [];
  const functions = await readdir(join(root, 'functions'), { withFileTypes: true });
  for (const entry of functions.sort((a, b) => a.name.localeCompare(b.name))) {
    const handler = join(root, 'functions', entry.name, 'handler.ts');
    if (entry.isDirectory() && existsSync(handler)) {
      artifacts.push({
        name: `functions/${entry.name}`,
        entryPoints: { index: handler },
        outdir: join(outdir, 'functions', entry.name),
        external: LAMBDA_RUNTIME_PACKAGES,
      });
    }
  }
  artifacts.push({
    name: 'pullwarden',
    entryPoints: {
      // As from source: the launcher turns the compile cache on, then loads the CLI (cli.mjs), so that
      // the CLI is compiled once and read from the cache on every later run.
      pullwarden: join(root, 'bin/pullwarden.js'),
      cli: join(root, 'cmd/pullwarden/main.ts'),
      // parallel list parsing starts this file in worker threads, next to the binary
      'list-worker': join(root, 'shared/drift/list-worker.ts'),
    },
    outdir: join(outdir, 'pullwarden'),
    // the local stack (`pullwarden serve`) needs the source tree; the binary points there instead
    external: ['./serve.ts'],
    // Beside the entries: the worker's file is found relative to the module that starts it.
    chunkNames: '[name]-[hash]',
  });
  artifacts.push({
    name: 'pullwarden-node',
    entryPoints: { 'pullwarden-node': join(root, 'cmd/pullwarden-node/main.ts') },
    outdir: join(outdir, 'pullwarden-node'),
    // The kubelet starts the credential provider once per pull: it must not parse the AWS SDK, YAML
    // or the doctor's checks unless it uses them.
    chunkNames: 'chunks/[name]-[hash]',
  });
  return artifacts;
}

export interface BuiltArtifact extends Artifact {
  readonly bytes: number;
}

export async function buildArtifacts(
  artifacts: readonly Artifact[],
  root = ROOT,
): Promise<BuiltArtifact[]> {
  const built: BuiltArtifact[] = [];
  for (const artifact of artifacts) {
    await rm(artifact.outdir, { recursive: true, force: true });
    const options: BuildOptions = {
      absWorkingDir: root,
      entryPoints: { ...artifact.entryPoints },
      outdir: artifact.outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: 'esm',
      minify: true,
      sourcemap: 'linked',
      sourcesContent: false,
      legalComments: 'linked',
      banner: { js: REQUIRE_SHIM },
      metafile: true,
      logLevel: 'silent',
      external: [...(artifact.external ?? [])],
      ...(artifact.chunkNames === undefined
        ? {}
        : { splitting: true, chunkNames: artifact.chunkNames }),
    };
    const result = await build(options);
    if (result.warnings.length > 0) {
      const text = result.warnings
        .map((warning) => `${warning.location?.file ?? ''}: ${warning.text}`)
        .join('\n');
      throw new Error(`esbuild warnings in ${artifact.name}:\n${text}`);
    }
    if (result.metafile === undefined)
      throw new Error(`esbuild wrote no metafile for ${artifact.name}`);
    built.push({ ...artifact, bytes: outputBytes(result.metafile) });
  }
  return built;
}

function outputBytes(metafile: Metafile): number {
  let bytes = 0;
  for (const [file, output] of Object.entries(metafile.outputs))
    if (file.endsWith('.mjs')) bytes += output.bytes;
  return bytes;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const built = await buildArtifacts(await listArtifacts());
  for (const artifact of built) {
    console.log(
      `${artifact.name.padEnd(28)} ${(artifact.bytes / 1024).toFixed(0).padStart(6)} KiB  ${relative(ROOT, artifact.outdir)}`,
    );
  }
}
