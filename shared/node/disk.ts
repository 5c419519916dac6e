import { statfs } from 'node:fs/promises';
import type { PrePullSettings } from '#shared/credentials/node-config.ts';
import { formatBytes } from '#shared/text/bytes.ts';

// Whether an image fits on the runtime's image filesystem. The registry manifest declares compressed
// sizes; the runtime keeps those blobs and unpacks them beside, so the need is the compressed size plus
// its unpacked estimate. What must stay free is the larger of a share of the filesystem (the kubelet
// starts collecting images above its high threshold, never-used ones first) and a byte floor.

export interface FilesystemSpace {
  path: string;
  freeBytes: number;
  totalBytes: number;
}

export type DiskVerdict =
  | { fits: true; needBytes: number; keepFreeBytes: number }
  | { fits: false; needBytes: number; keepFreeBytes: number; message: string };

/**
 * `reservedBytes`: what pulls already admitted but not finished will take, so two pulls in flight are
 * not both admitted into the same free space.
 */
export function diskVerdict(
  compressedBytes: number,
  space: FilesystemSpace,
  settings: Pick<PrePullSettings['disk'], 'minFreePercent' | 'minFreeBytes' | 'expansionRatio'>,
  reservedBytes = 0,
): DiskVerdict {
  const needBytes = Math.ceil(compressedBytes * (1 + settings.expansionRatio));
  const keepFreeBytes = Math.max(
    settings.minFreeBytes,
    Math.ceil((space.totalBytes * settings.minFreePercent) / 100),
  );
  const available = space.freeBytes - reservedBytes;
  if (available - needBytes >= keepFreeBytes) return { fits: true, needBytes, keepFreeBytes };
  const pending =
    reservedBytes > 0 ? ` (${formatBytes(reservedBytes)} of it promised to pulls in flight)` : '';
  return {
    fits: false,
    needBytes,
    keepFreeBytes,
    message:
      `needs about ${formatBytes(needBytes)} (${formatBytes(compressedBytes)} compressed, unpacked ×${settings.expansionRatio}) ` +
      `but ${space.path} has ${formatBytes(space.freeBytes)} free${pending} and must keep ${formatBytes(keepFreeBytes)} free ` +
      `(max of ${settings.minFreePercent}% of ${formatBytes(space.totalBytes)} and ${formatBytes(settings.minFreeBytes)})`,
  };
}

export async function measureFilesystem(path: string): Promise<FilesystemSpace> {
  const stats = await statfs(path);
  return { path, freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

/**
 * The first of `candidates` that can be measured: the configured path, then the image filesystems the
 * runtime names, then `/` — in a container that is the overlay root, whose free space is that of the
 * runtime's own filesystem it lives on.
 */
export async function measureImageFilesystem(
  candidates: readonly string[],
  measure: (path: string) => Promise<FilesystemSpace> = measureFilesystem,
): Promise<FilesystemSpace> {
  const problems: string[] = [];
  for (const path of candidates) {
    if (path === '') continue;
    try {
      return await measure(path);
    } catch (error) {
      problems.push(
        `${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  throw new Error(`cannot measure the image filesystem (${problems.join('; ')})`);
}
