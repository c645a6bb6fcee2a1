#!/usr/bin/env node
// Builds the native addon. Default: cmake-js (CPU kernels, plus CUDA when nvcc is found).
// Falls back to node-gyp with binding.gyp (CPU only) when cmake is not on PATH, or when asked:
//   node scripts/build-native.mjs --gyp      or  REG4PRU_BUILD=gyp npm install
// REG4PRU_CUDA=ON|OFF|AUTO is passed to CMake. Output: build/Release/reg4pru.node either way.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const jobs = String(Math.max(1, Number(process.env.REG4PRU_BUILD_JOBS) || 2));

function run(cmd, cmdArgs, env = process.env) {
  console.log(`[reg4pru] ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env });
  if (r.error) {
    console.warn(`[reg4pru] could not run ${cmd}: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

function hasCmake() {
  const r = spawnSync('cmake', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function buildWithGyp() {
  // npm sets npm_config_node_gyp to its bundled node-gyp inside lifecycle scripts; outside npm we
  // look for the copy bundled with npm next to this node binary, then for node-gyp on PATH.
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const candidates = [process.env.npm_config_node_gyp, bundled, 'node-gyp'].filter(Boolean);
  // Offline: build against this node's own headers when they are installed (e.g. /usr/include/node),
  // instead of letting node-gyp download a header tarball.
  const gypArgs = ['rebuild', `--jobs=${jobs}`];
  const nodedir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(nodedir, 'include', 'node', 'common.gypi'))) gypArgs.push(`--nodedir=${nodedir}`);
  for (const c of candidates) {
    const isJs = c.endsWith('.js');
    if (isJs && !existsSync(c)) continue;
    const status = isJs ? run(process.execPath, [c, ...gypArgs]) : run(c, gypArgs);
    if (status === 0) return 0;
  }
  console.error('[reg4pru] node-gyp build failed. Install cmake (>= 3.18) or make node-gyp work (python3, make, g++).');
  return 1;
}

function buildWithCmake() {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const cuda = process.env.REG4PRU_CUDA ?? 'AUTO';
  return run(process.execPath, [cmakeJs, 'rebuild', '--parallel', jobs, `--CDREG4PRU_CUDA=${cuda}`]);
}

const forceGyp = args.includes('--gyp') || process.env.REG4PRU_BUILD === 'gyp';
let status;
if (forceGyp) {
  status = buildWithGyp();
} else if (!hasCmake()) {
  console.warn('[reg4pru] cmake not found on PATH: falling back to node-gyp (binding.gyp, CPU only)');
  status = buildWithGyp();
} else {
  status = buildWithCmake();
}
process.exit(status);
