#!/usr/bin/env node
// Rewrites the source lists in binding.gyp from the same globs CMakeLists.txt uses, so the node-gyp
// fallback compiles exactly what cmake-js compiles (CPU side). test/packaging/build.test.ts checks it.
//   node scripts/sync-gyp-sources.mjs
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dirs = ['native/runtime', 'native/kernels', 'native/kernels/ref', 'native/kernels/cpu', 'native/engine', 'native/napi'];
const files = dirs.flatMap((d) => (existsSync(path.join(root, d)) ? readdirSync(path.join(root, d)).filter((f) => f.endsWith('.cc')).map((f) => `${d}/${f}`) : [])).sort();
const gypPath = path.join(root, 'binding.gyp');
const gyp = JSON.parse(readFileSync(gypPath, 'utf8'));
for (const t of gyp.targets) {
  t.sources = t.target_name === 'reg4pru_avx2' ? files.filter((f) => f.endsWith('_avx2.cc')) : files.filter((f) => !f.endsWith('_avx2.cc'));
}
writeFileSync(gypPath, JSON.stringify(gyp, null, 2) + '\n');
console.log(`binding.gyp: ${files.length} sources`);
