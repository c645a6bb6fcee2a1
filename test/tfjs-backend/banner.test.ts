/**
 * The TF.js "looks like you are running TensorFlow.js in Node.js" banner (issue 16 item 4): silenced
 * once we have chosen the backend (selectBackend() / useNativeBackend()), and backendInfo().active says
 * what runs. Each case runs in a fresh child process, because the banner is printed once per backend
 * instance; the first case is the positive control that the banner is detected at all.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const BANNER = /looks like you are running TensorFlow\.js in\s+Node\.js/;

function runChild(body: string): { status: number | null; out: string; err: string } {
  const script = `const tf = await import('@tensorflow/tfjs');\nconst r = await import('./src/tfjs/index.ts');\n${body}`;
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 90_000 });
  return { status: res.status, out: res.stdout, err: res.stderr };
}

describe('TF.js Node banner', () => {
  it('prints on the stock cpu backend (control)', () => {
    const r = runChild(`await tf.setBackend('cpu'); tf.tensor([1, 2]).dataSync(); console.log(JSON.stringify(r.backendInfo()));`);
    expect(r.status, r.err).toBe(0);
    expect(`${r.out}${r.err}`).toMatch(BANNER);
    const info = JSON.parse(r.out.trim().split('\n').pop()!) as { native: boolean; active: string };
    expect(info.native).toBe(false);
    expect(info.active).toMatch(/stock JavaScript kernels/);
  });

  it('is silent after selectBackend() and backendInfo().active names the native kernels', () => {
    const r = runChild(`const c = await r.selectBackend({ prefer: [] }); tf.tensor([1, 2]).add(1).dataSync(); console.log(JSON.stringify({ c, i: r.backendInfo() }));`);
    expect(r.status, r.err).toBe(0);
    expect(`${r.out}${r.err}`).not.toMatch(BANNER);
    const { c, i } = JSON.parse(r.out.trim().split('\n').pop()!) as { c: { provider: string }; i: { native: boolean; active: string; kernels: string[] } };
    expect(c.provider).toBe('cpu+native');
    expect(i.native).toBe(true);
    expect(i.active).toContain(`${i.kernels.length} native reg4pru kernels`);
  });

  it('is silent after useNativeBackend() on the cpu backend (the train command path)', () => {
    const r = runChild(`await tf.setBackend('cpu'); r.useNativeBackend(); tf.tensor([1, 2]).dataSync(); console.log('ok');`);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain('ok');
    expect(`${r.out}${r.err}`).not.toMatch(BANNER);
  });
});
