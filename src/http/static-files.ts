import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * The files a build wrote (the SDK's bundles, the dashboard), served as they are on disk: read again only when a
 * file's size or time changes, each with a strong ETag of its bytes.
 */

export interface BuiltFile {
  mtimeMs: number;
  size: number;
  body: Buffer;
  /** Strong: the hash of the bytes, so every server holding the same build answers the same tag. */
  etag: string;
}

/**
 * The names in a build's directory, sorted; none when it does not exist. A request names a file only by a name
 * this lists, so no path reaches anything else, and a build after the server started is served without a restart.
 */
export async function listed(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return names.sort();
}

/** A reader of built files that keeps each file's bytes until its size or time changes. */
export function builtFiles() {
  const files = new Map<string, BuiltFile>();
  return async (dir: string, name: string): Promise<BuiltFile> => {
    const where = path.join(dir, name);
    const { mtimeMs, size } = await stat(where);
    const known = files.get(where);
    if (known && known.mtimeMs === mtimeMs && known.size === size) return known;
    const body = await readFile(where);
    const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
    const fresh = { mtimeMs, size, body, etag };
    files.set(where, fresh);
    return fresh;
  };
}

/** Whether an If-None-Match header names this tag (weak comparison, as RFC 9110 has it for If-None-Match). */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
