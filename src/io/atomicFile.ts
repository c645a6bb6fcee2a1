/**
 * The one synchronous atomic file writer (outputs and checkpoints are never half-written): the bytes go to a
 * hidden temporary file in the target's folder (`.<name>.<pid>.<random>.tmp`, created exclusively), are
 * fsync'd, and the temporary file is renamed over the target; then the folder is fsync'd where the platform
 * allows, so the rename itself survives a crash. On any failure the temporary file is removed and the target
 * is left as it was. (Queue workers use their async variant, src/queue/atomicWrite.ts, which also treats an
 * identical existing file as done.) Calls go through the `fs` module object, so tests can inject failures.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes `data` (bytes, a string as UTF-8, or a list of byte chunks written in order) to `file` atomically.
 * @throws the underlying fs error (ENOENT, EACCES, ENOSPC...); the target is then unchanged
 */
export function writeFileAtomicSync(file: string, data: Uint8Array | string | Iterable<Uint8Array>): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  const chunks: Iterable<Uint8Array> = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) {
        // at most 1 GiB per call: a single write of more than 2 GiB is refused by some platforms
        const w = fs.writeSync(fd, c, off, Math.min(c.length - off, 1 << 30));
        if (w <= 0) throw new Error(`short write (${w} bytes)`);
        off += w;
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing: keep the first error */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw e;
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* directory fsync unsupported (Windows) */
  }
}
