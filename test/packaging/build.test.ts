/**
 * Build checks: binding.gyp (the CPU-only fallback) compiles the same CPU sources as CMakeLists.txt's
 * globs; info() reports what was built (which build system, matched against the build folder of the
 * addon this process loaded; the CPU variants, matched against /proc/cpuinfo); CI tells us which build
 * it expects.
 */
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
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

  it('reports the build that produced the loaded addon, and CPU variants that match the CPU', () => {
    const i = info();
    expect(['cmake-js', 'node-gyp']).toContain(i.build);
    // The .node file this process loaded (src/native.ts requires it through Node's module cache).
    const require = createRequire(import.meta.url);
    const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node') && path.basename(k) === 'reg4pru.node');
    expect(loaded, 'exactly one reg4pru.node loaded').toHaveLength(1);
    const addon = loaded[0]!;
    expect(statSync(addon).isFile()).toBe(true);
    if (process.platform === 'linux') expect(readFileSync('/proc/self/maps', 'utf8')).toContain(addon);
    // cmake-js leaves CMakeCache.txt next to Release/ (a standalone cmake build: next to the .node);
    // node-gyp leaves config.gypi next to Release/.
    const markers = (d: string) => existsSync(path.join(d, 'CMakeCache.txt')) || existsSync(path.join(d, 'config.gypi'));
    const buildDir = [path.dirname(addon), path.dirname(path.dirname(addon))].find(markers) ?? path.dirname(addon);
    const byCmake = existsSync(path.join(buildDir, 'CMakeCache.txt'));
    const byGyp = existsSync(path.join(buildDir, 'config.gypi'));
    expect(byCmake !== byGyp, `${buildDir} has ${byCmake ? 'CMakeCache.txt' : ''} ${byGyp ? 'config.gypi' : ''}`).toBe(true);
    expect(i.build).toBe(byCmake ? 'cmake-js' : 'node-gyp');
    if (i.build === 'node-gyp') expect(i.cuda.compiled).toBe(false); // binding.gyp is CPU-only
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    expect(i.version).toBe(pkg.version);

    // Variants against the CPU flags the kernel reports (x86-64 Linux): the registry must offer every
    // family the CPU has and none it lacks; 'ref' always.
    expect(i.cpu.variants[0]).toBe('ref');
    if (process.platform === 'linux' && process.arch === 'x64') {
      const flagsLine = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
      const flags = new Set((flagsLine ?? '').split(':')[1]?.trim().split(/\s+/));
      const avx2 = flags.has('avx2') && flags.has('fma');
      const avx512 = avx2 && ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl'].every((f) => flags.has(f));
      const want = ['ref', ...(avx2 ? ['avx2'] : []), ...(avx512 ? ['avx512'] : [])];
      expect(i.cpu.variants).toEqual(want);
      expect(i.cpu.bf16).toBe(avx512 && flags.has('avx512_bf16'));
      expect(i.cpu.simd).toBe(avx512 ? (i.cpu.bf16 ? 'avx512+bf16' : 'avx512') : avx2 ? 'avx2+fma' : 'none');
    }
    expect(i.cpu.variants).toContain(i.cpu.kernel);
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
