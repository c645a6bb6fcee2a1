/**
 * Instruction-set hygiene of the cmake build: only *_avx512.cc objects are compiled with AVX-512 flags, and
 * none of them may define a weak (COMDAT) code symbol that another object also defines. If one did, the
 * linker could keep the AVX-512-compiled copy for every caller, and an AVX2-only CPU (Zen 3) would die of
 * SIGILL in a code path that never asked for AVX-512. Helpers shared by the variants live in anonymous
 * namespaces (one copy per object) for this reason. Needs the object files of the cmake-js build and nm.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
const objRoot = path.join(root, 'build', 'CMakeFiles', 'reg4pru.dir');
const hasNm = spawnSync('nm', ['--version']).status === 0;

function objects(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) out.push(...objects(p));
    else if (f.endsWith('.o')) out.push(p);
  }
  return out;
}

/** Weak code symbols (nm types W / V / u) an object defines; DWARF personality references are data. */
function weakSymbols(obj: string): Set<string> {
  const r = spawnSync('nm', ['--defined-only', obj], { encoding: 'utf8' });
  const out = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const [, type, name] = line.trim().split(/\s+/);
    if (name && /^[WVu]$/.test(type ?? '') && !name.startsWith('DW.ref.')) out.add(name);
  }
  return out;
}

const why = !existsSync(objRoot) ? 'no cmake-js object files under build/ (node-gyp build?)' : !hasNm ? 'nm not found' : '';

describe('instruction-set isolation', () => {
  it.skipIf(why !== '')(`AVX-512 objects share no weak code symbol with other objects${why ? ` (skipped: ${why})` : ''}`, () => {
    const all = objects(objRoot);
    const wide = all.filter((o) => o.endsWith('_avx512.cc.o'));
    expect(wide.length).toBeGreaterThan(0);
    const others = new Set<string>();
    for (const o of all) if (!o.endsWith('_avx512.cc.o')) for (const s of weakSymbols(o)) others.add(s);
    const shared: string[] = [];
    for (const o of wide) for (const s of weakSymbols(o)) if (others.has(s)) shared.push(`${path.basename(o)}: ${s}`);
    expect(shared).toEqual([]);
  });
});
