/**
 * Atomic output files for queue workers: bytes go to a hidden temp file in the same folder
 * (`.<file>.<host>.<pid>.<random>.tmp`), are flushed, and renamed over the final name, so a reader (or a
 * worker killed mid-write) never leaves a half-written `<name>_prob.png`. An existing file with the same
 * bytes is left untouched (a retried or duplicated job is a success, not an error).
 *
 * A SIGKILL between open and rename can leave a temp file behind; `removeStaleTemps` deletes those of
 * this host whose writer process no longer exists (never another live worker's, never another host's).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, unlinkSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processAlive } from '../io/processAlive.js';

const HOST = os.hostname().replace(/[^A-Za-z0-9-]/g, '_');
const TEMP = /^\.(.+)\.([A-Za-z0-9_-]+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Writes `data` to `file` atomically.
 * @returns 'written', or 'unchanged' when the file already held exactly these bytes
 */
export async function writeFileAtomic(file: string, data: Buffer): Promise<'written' | 'unchanged'> {
  const existing = await readFile(file).catch(() => null);
  if (existing !== null && existing.equals(data)) return 'unchanged';
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${HOST}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  return 'written';
}

/** Deletes temp files in `dir` left by dead processes of this host. @returns how many */
export function removeStaleTemps(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    const m = TEMP.exec(f);
    if (!m || m[2] !== HOST || Number(m[3]) === process.pid || processAlive(Number(m[3]))) continue;
    try {
      unlinkSync(path.join(dir, f));
      n++;
    } catch {
      // another worker removed it first
    }
  }
  return n;
}
