/**
 * Build checks: binding.gyp (the CPU-only fallback) compiles the same CPU sources as CMakeLists.txt's
 * globs; info() reports what was built; CI tells us which build it expects.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { info } from '../../src/index.js';

const root = path.resolve(__dirname, '../..');

function cpuSourcesOnDisk(): string[] {
  // Same globs as CMakeLists.txt's R4P_CPU_SOURCES.
  const dirs = ['native/runtime', 'native/kernels', 'native/kernels/ref', 'native/kernels/cpu', 'native/engine', 'native/napi'];
  const files: string[] = [];
  for (const d of dirs) {
    const abs = path.join(root, d);
    if (!existsSync(abs)) continue;
    for (const f of readdirSync(abs)) if (f.endsWith('.cc')) files.push(`${d}/${f}`);
  }
  return files.sort();
}

describe('build', () => {
  it('binding.gyp lists exactly the CPU sources that CMake globs', () => {
    const gyp = JSON.parse(readFileSync(path.join(root, 'binding.gyp'), 'utf8')) as { targets: { sources: string[] }[] };
    const listed = gyp.targets.flatMap((t) => t.sources).sort();
    expect(listed).toEqual(cpuSourcesOnDisk());
    // intrinsics files go to the -mavx2 target only
    const avx2Target = gyp.targets.find((t) => (t as { target_name?: string }).target_name === 'reg4pru_avx2')!;
    expect(avx2Target.sources.every((s) => s.endsWith('_avx2.cc'))).toBe(true);
    expect(listed.filter((s) => s.endsWith('_avx2.cc')).sort()).toEqual([...avx2Target.sources].sort());
    const avx512Target = gyp.targets.find((t) => (t as { target_name?: string }).target_name === 'reg4pru_avx512')!;
    expect(avx512Target.sources.every((s) => s.endsWith('_avx512.cc'))).toBe(true);
    expect(listed.filter((s) => s.endsWith('_avx512.cc')).sort()).toEqual([...avx512Target.sources].sort());
  });

  it('info() reports version, cpu and cuda without throwing', () => {
    const i = info();
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    expect(i.version).toBe(pkg.version);
    expect(i.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(['avx512+bf16', 'avx512', 'avx2+fma', 'none']).toContain(i.cpu.simd);
    expect(typeof i.cuda.compiled).toBe('boolean');
    expect(Array.isArray(i.cuda.devices)).toBe(true);
    if (i.cuda.devices.length === 0) expect(i.cuda.error).toMatch(/\w/);
    for (const op of ['gatherTokens', 'scatterTokens', 'policyAttention', 'prunedBlock', 'gumbelTopK', 'gumbelSoftmaxST']) expect(i.ops).toContain(op);
  });

  it('is the build CI asked for', () => {
    const i = info();
    if (process.env.REG4PRU_EXPECT_BUILD) expect(i.build).toBe(process.env.REG4PRU_EXPECT_BUILD);
    if (process.env.REG4PRU_EXPECT_CUDA_COMPILED === '1') expect(i.cuda.compiled).toBe(true);
    if (process.env.REG4PRU_EXPECT_CUDA_COMPILED === '0') expect(i.cuda.compiled).toBe(false);
  });

  it('has no temporary placeholder kernels left', () => {
    expect(existsSync(path.join(root, 'native/kernels/pending_dev.cc'))).toBe(false);
  });
});
