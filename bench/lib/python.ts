/**
 * The Python interpreter that runs the PyTorch anchors (bench/tfjs/torch_step.py, bench/gpu/torch_eomt.py): the
 * first of $REG4PRU_PYTHON, python3 on PATH, then the system /usr/bin/python3 that imports torch (Debian's
 * python3-torch installs there, which a pyenv python3 on PATH does not see).
 */
import { spawnSync } from 'node:child_process';

/** The interpreter's path, or the list of what was tried and why it failed. */
export function torchPython(): string | string[] {
  const tried: string[] = [];
  for (const py of [process.env.REG4PRU_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py || tried.some((t) => t.startsWith(`${py}:`))) continue;
    const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return py;
    tried.push(`${py}: ${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}`);
  }
  return tried;
}
