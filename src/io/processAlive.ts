/**
 * Whether a process id belongs to a live process on this host (signal 0: nothing is sent). EPERM means it
 * exists under another user. Used to tell a stale lock or temporary file of a dead process from a live one.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
