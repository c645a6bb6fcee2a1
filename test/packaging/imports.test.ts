/**
 * What `import 'reg4pru'` loads (issue 16 item 3): the ops package must load without sharp/libvips;
 * sharp is imported where images are read (src/data/sharp.ts). Checked in a fresh child process through
 * the shared objects the process has mapped (process.report), with a positive control: after
 * `loadSharp()` the same probe must see libvips, so the check cannot pass by not seeing anything.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

const script = `
const vips = () => process.report.getReport().sharedObjects.filter((s) => /sharp|vips/i.test(s)).length;
const m = await import('./src/index.ts');
const afterIndex = vips();
const fives = typeof m.listFives;
const { loadSharp } = await import('./src/data/sharp.ts');
const sharp = await loadSharp();
console.log(JSON.stringify({ afterIndex, fives, afterSharp: vips(), sharp: typeof sharp }));
`;

describe("import 'reg4pru'", () => {
  it('does not load sharp; loadSharp() does', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { afterIndex: number; fives: string; afterSharp: number; sharp: string };
    expect(res.fives).toBe('function'); // the FIVES loader is still exported
    expect(res.afterIndex).toBe(0);
    expect(res.sharp).toBe('function');
    expect(res.afterSharp).toBeGreaterThan(0);
  });
});
