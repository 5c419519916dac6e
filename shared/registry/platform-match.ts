import { endianness } from 'node:os';
import type { Platform } from './digest-resolver.ts';

// Which child of an index a node pulls, by containerd's rules (platforms.Only, the CRI default): names
// normalized (x86_64 → amd64, aarch64 → arm64, arm64/v8 is arm64, arm is arm/v7), the exact variant
// first, then older variants of the same architecture, best first (arm/v7 takes v6 then v5; amd64/v3
// takes v2 then v1; arm64/v8.2 takes v8.1 then v8). Unlike containerd, another architecture is never
// taken (no 386 on amd64, no 32-bit arm on arm64), and a child without a platform (an attestation) is no
// match: such pulls are rare, and reporting no platform is better than guessing the wrong bytes.

/** The running machine as Node describes it. */
export interface NodeRuntime {
  platform: string;
  arch: string;
  /** `process.config.variables.arm_version` on 32-bit arm builds (`'7'`, `'6'`). */
  armVersion?: string;
  endianness: 'BE' | 'LE';
}

const OS_OF_NODE: Readonly<Record<string, string>> = { win32: 'windows', sunos: 'solaris' };
const ARCHITECTURE_OF_NODE: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: '386',
  mipsel: 'mipsle',
};

function currentRuntime(): NodeRuntime {
  const armVersion = (process.config.variables as Record<string, unknown>).arm_version;
  return {
    platform: process.platform,
    arch: process.arch,
    ...(typeof armVersion === 'string' ? { armVersion } : {}),
    endianness: endianness(),
  };
}

/** The platform of the running machine in OCI terms, as containerd's default platform names it. */
export function nodePlatform(runtime: NodeRuntime = currentRuntime()): Platform {
  const os = OS_OF_NODE[runtime.platform] ?? runtime.platform;
  switch (runtime.arch) {
    case 'arm64':
      return { os, architecture: 'arm64', variant: 'v8' };
    case 'arm': {
      // Node builds for armv6 and armv7 say which in arm_version; anything else is the common v7.
      const version = /^\d+$/.test(runtime.armVersion ?? '') ? runtime.armVersion : '7';
      return { os, architecture: 'arm', variant: `v${version}` };
    }
    case 'ppc64':
      // Node says ppc64 for both byte orders; Linux distributions ship the little-endian one.
      return { os, architecture: runtime.endianness === 'LE' ? 'ppc64le' : 'ppc64' };
    default:
      return { os, architecture: ARCHITECTURE_OF_NODE[runtime.arch] ?? runtime.arch };
  }
}

/** The canonical form containerd compares (its platforms.Normalize). */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  const [architecture, variant] = normalizeArchitecture(
    platform.architecture.toLowerCase(),
    (platform.variant ?? '').toLowerCase(),
  );
  return {
    os: os === 'macos' ? 'darwin' : os,
    architecture,
    ...(variant === '' ? {} : { variant }),
  };
}

function normalizeArchitecture(architecture: string, variant: string): [string, string] {
  switch (architecture) {
    case 'i386':
      return ['386', ''];
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return ['amd64', variant === 'v1' ? '' : variant];
    case 'aarch64':
    case 'arm64':
      return ['arm64', variant === '8' || variant === 'v8' ? '' : variant];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      if (variant === '' || variant === '7') return ['arm', 'v7'];
      return ['arm', ['5', '6', '8'].includes(variant) ? `v${variant}` : variant];
    default:
      return [architecture, variant];
  }
}

/** `v7` or `7` → 7. */
function level(variant: string): number | undefined {
  const match = /^v?(\d+)$/.exec(variant);
  return match === null ? undefined : Number(match[1]);
}

function descending(from: number, to: number): number[] {
  const levels: number[] = [];
  for (let at = from; at >= to; at -= 1) levels.push(at);
  return levels;
}

/** arm64 variants `v8`, `v8.1`, …, `v9.4`: newer ones run everything older (v9.x also v8.{x+5}). */
function olderArm64Variants(variant: string): string[] {
  const named = variant === '' ? 'v8' : variant;
  const dot = named.indexOf('.');
  let major = level(dot === -1 ? named : named.slice(0, dot));
  if (major === undefined || major < 8) return [];
  // Only the `v8.x` form carries a minor version.
  const minorText = dot === -1 ? '' : named.slice(dot + 1);
  let minor = named.length === 4 && /^\d+$/.test(minorText) ? Number(minorText) : 0;
  const older: string[] = [];
  const name = (at: number) => (at === 0 ? `v${major}` : `v${major}.${at}`);
  if (major === 9) {
    older.push(...descending(minor - 1, 0).map(name));
    // v9.0 branched from v8.5, so v9.x runs what v8.{x+5} runs.
    minor = Math.min(minor + 5, 9);
    major = 8;
    older.push(`v8.${minor}`);
  }
  older.push(...descending(minor - 1, 0).map(name));
  return older;
}

/** The variants a node of `wanted` (normalized) runs, best first; `''` is a child without a variant. */
function acceptedVariants(wanted: Platform): string[] {
  const variant = wanted.variant ?? '';
  const normalized = (older: string[]) =>
    older.map((entry) => normalizeArchitecture(wanted.architecture, entry)[1]);
  switch (wanted.architecture) {
    case 'amd64':
      return [
        variant,
        ...normalized(descending((level(variant) ?? 1) - 1, 1).map((at) => `v${at}`)),
      ];
    case 'arm':
      return [variant, ...descending((level(variant) ?? 5) - 1, 5).map((at) => `v${at}`)];
    case 'arm64':
      return [variant, ...normalized(olderArm64Variants(variant))];
    default:
      return [variant];
  }
}

/**
 * How well `candidate` suits a node of platform `wanted`: 0 for the exact platform, higher for older
 * variants, undefined when the node cannot run it (another os or architecture, a newer variant, none).
 */
export function platformRank(
  wanted: Platform,
  candidate: Platform | undefined,
): number | undefined {
  if (candidate === undefined) return undefined;
  const node = normalizePlatform(wanted);
  const offered = normalizePlatform(candidate);
  if (offered.os !== node.os || offered.architecture !== node.architecture) return undefined;
  const rank = acceptedVariants(node).indexOf(offered.variant ?? '');
  return rank === -1 ? undefined : rank;
}

/** The entry a node of platform `wanted` pulls: best rank, then index order (containerd's stable sort). */
export function selectPlatformManifest<Entry extends { platform?: Platform }>(
  entries: readonly Entry[],
  wanted: Platform,
): Entry | undefined {
  let best: { entry: Entry; rank: number } | undefined;
  for (const entry of entries) {
    const rank = platformRank(wanted, entry.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { entry, rank };
  }
  return best?.entry;
}
