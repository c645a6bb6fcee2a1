/**
 * The study runner (src/study/, issue 15) on a micro config (./micro.ts: two tiny arms of 6 steps, pieces of 2):
 *  - a study killed with SIGKILL in the middle of a fine-tuning run and restarted ends with the same results
 *    (training curves, every Dice/AP, token statistics) as an uninterrupted study; finished runs are skipped;
 *  - the report and the figures are generated from the run files alone (a changed run file changes the report);
 *  - a changed configuration is refused for existing results; a live lock is refused; bad configs name the field.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveStudyConfig } from '../../src/study/config.js';
import { runStudy } from '../../src/study/runner.js';
import { writeStudyReport } from '../../src/study/report.js';
import { readResumePosition } from '../../src/train/resume.js';
import { main } from '../../src/cli/program.js';
import { captureIo } from '../cli/helpers.js';
import { MICRO_STUDY } from './micro.js';

const cfg = resolveStudyConfig(MICRO_STUDY);
const root = mkdtempSync(path.join(os.tmpdir(), 'r4p-study-'));
const configFile = path.join(root, 'micro.json');
writeFileSync(configFile, JSON.stringify(MICRO_STUDY));

/** A run file without what depends on the clock (CPU and wall time, dates, pieces). */
function comparable(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'), (k, v: unknown) => (['cpuMs', 'wallMs', 'date', 'pieces', 'ms'].includes(k) ? undefined : v));
}

describe('reg4pru study (micro config)', () => {
  const whole = path.join(root, 'whole'), cut = path.join(root, 'cut');

  it('an uninterrupted study writes every run file and a report; a rerun skips everything', async () => {
    const io = captureIo();
    const s = await runStudy({ out: whole, config: cfg, io });
    expect(s.pending).toEqual([]);
    expect(s.ran).toEqual(['data-second', 'pretrain-1', 'pretrain', 'ft-unpruned-s0', 'eval-unpruned-s0', 'ft-random-ratio-s0', 'eval-random-ratio-s0', 'bench',
      'superpatch-policy', 'others-random-ratio-s0', 'bench-others']);
    expect(readdirSync(path.join(whole, 'runs')).sort()).toEqual(s.ran.map((id) => `${id}.json`).sort());
    const again = await runStudy({ out: whole, config: cfg, io });
    expect(again.ran).toEqual([]);
    expect(existsSync(path.join(whole, 'reproduction.md'))).toBe(true);
  }, 300_000);

  it('killed (SIGKILL) in the middle of a fine-tuning run and restarted: the same results as uninterrupted', async () => {
    // step 3 of 6: the piece 2..4 is half done, so the restart replays step 3 from the state saved after step 2
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/study/killChild.ts', configFile, cut, 'ft-random-ratio-s0', '3'], { encoding: 'utf8', timeout: 240_000 });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    expect(child.stdout).not.toContain('finished without being killed');
    expect(existsSync(path.join(cut, 'runs', 'ft-random-ratio-s0.json'))).toBe(false);
    expect(existsSync(path.join(cut, 'runs', 'eval-unpruned-s0.json'))).toBe(true);
    expect(readResumePosition(path.join(cut, 'work', 'ft-random-ratio-s0'))?.step).toBe(2);
    expect(readFileSync(path.join(cut, 'study.lock'), 'utf8').trim()).toBe(String(child.pid)); // stale lock of a dead runner

    const s = await runStudy({ out: cut, config: cfg, io: captureIo() });
    expect(s.ran).toEqual(['ft-random-ratio-s0', 'eval-random-ratio-s0', 'bench', 'superpatch-policy', 'others-random-ratio-s0', 'bench-others']);
    expect(existsSync(path.join(cut, 'study.lock'))).toBe(false);
    for (const f of readdirSync(path.join(whole, 'runs'))) {
      if (f === 'bench.json' || f === 'bench-others.json') continue; // timings
      expect(comparable(path.join(cut, 'runs', f)), f).toEqual(comparable(path.join(whole, 'runs', f)));
    }
    // the killed run's log repeats step 3; its curve keeps one point per step
    const steps = readFileSync(path.join(cut, 'work', 'ft-random-ratio-s0', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number }).filter((l) => l.type === 'step').map((l) => l.step);
    expect(steps).toEqual([1, 2, 3, 3, 4, 5, 6]);
    const ft = JSON.parse(readFileSync(path.join(cut, 'runs', 'ft-random-ratio-s0.json'), 'utf8')) as { curve: Array<{ step: number }>; pieces: Array<{ fromStep: number; toStep: number }> };
    expect(ft.curve.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ft.pieces.map((p) => [p.fromStep, p.toStep])).toEqual([[0, 2], [2, 4], [4, 6]]);
  }, 300_000);

  it('the report and the figures come from the run files alone', async () => {
    const report = path.join(root, 'docs', 'repro.md');
    await writeStudyReport({ out: whole, config: cfg, report });
    const figs = path.join(root, 'docs', 'repro');
    for (const f of ['fig1-synthetic', 'fig1-second', 'fig5-synthetic', 'fig5-second', 'curves-pretrain', 'curves-finetune', 'tokens']) {
      expect(readFileSync(path.join(figs, `${f}.svg`), 'utf8').startsWith('<svg'), f).toBe(true);
      expect(readFileSync(path.join(figs, `${f}.png`)).subarray(1, 4).toString(), f).toBe('PNG');
    }
    const md = readFileSync(report, 'utf8');
    expect(md).toContain('11 of 11 runs finished');
    // issue 17's systems: one row per configuration on each source, with the measured AP and throughput
    const others = md.slice(md.indexOf('## Other pruning systems'), md.indexOf('## Training curves'));
    for (const row of ['not pruned (same checkpoint)', 'SViT dynamic keep, threshold 0.5', 'STEP superpatches, threshold 0.5 + Reg4Pru pruning, keep 0.7', 'STEP early exits, threshold 0.9'])
      expect(others.match(new RegExp(`\\| ${row.replace(/[.+()]/g, '\\$&')} \\| \\d+\\.\\d ± 0\\.0 \\| \\d+\\.\\d ± 0\\.0 \\|`, 'g'))?.length, row).toBe(2);
    const o = JSON.parse(readFileSync(path.join(whole, 'runs', 'others-random-ratio-s0.json'), 'utf8')) as { sources: Record<string, Record<string, { kept?: Array<{ stage: unknown }> }>> };
    expect(o.sources.second!['exit-0.9']!.kept!.map((k) => k.stage)).toEqual(['exit', 'exit']);
    expect(o.sources.synthetic!['superpatch-0.5+prune-0.7']!.kept!.map((k) => k.stage)).toEqual(['merge', 0, 1, 2]);
    expect(md).toContain('![Fig. 1, synthetic](repro/fig1-synthetic.png)');
    // a run file's number, changed by hand, shows up in the regenerated report
    const evalFile = path.join(whole, 'runs', 'eval-random-ratio-s0.json');
    const saved = readFileSync(evalFile, 'utf8');
    const e = JSON.parse(saved) as { sources: { synthetic: Record<string, { final: { ap: number; dice: number } }> } };
    e.sources.synthetic['prune-0.7']!.final = { block: 7, ap: 0.4321, dice: 0.8766 } as { ap: number; dice: number };
    writeFileSync(evalFile, JSON.stringify(e));
    const io = captureIo();
    expect(await main(['node', 'reg4pru', 'study', '--config', configFile, '--out', whole, '--report', report, '--report-only'], io)).toBe(0);
    const md2 = readFileSync(report, 'utf8');
    expect(md2).toMatch(/\| Pruned L_ratio, Reg4Pru \| 70% \| 87\.7 ± 0\.0 \| 43\.2 ± 0\.0 \|/);
    writeFileSync(evalFile, saved);
    rmSync(path.join(root, 'docs'), { recursive: true });
  }, 120_000);

  it('refuses results of another configuration, a live lock, and bad configs', async () => {
    const changed = resolveStudyConfig({ ...MICRO_STUDY, finetune: { ...MICRO_STUDY.finetune, lr: 1e-3 } });
    await expect(runStudy({ out: whole, config: changed, io: captureIo() })).rejects.toThrow(/ft-unpruned-s0\.json was produced with another configuration/);
    writeFileSync(path.join(whole, 'study.lock'), `${process.ppid}\n`);
    await expect(runStudy({ out: whole, config: cfg, io: captureIo() })).rejects.toThrow(new RegExp(`another study runner \\(pid ${process.ppid}\\)`));
    const io = captureIo();
    expect(await main(['node', 'reg4pru', 'study', '--config', configFile, '--out', whole], io)).toBe(1);
    expect(io.text().err).toMatch(/^error: another study runner/);
    rmSync(path.join(whole, 'study.lock'));
    expect(() => resolveStudyConfig({ seed: [1] })).toThrow(/unknown field 'seed'/);
    expect(() => resolveStudyConfig({ seeds: [1, 1] })).toThrow(/seeds/);
    expect(() => resolveStudyConfig({ eval: { keeps: [0.75] } })).toThrow(/eval\.keeps/);
    expect(() => resolveStudyConfig({ finetune: { arms: [{ name: 'a', label: 'a', routing: 'none', policy: 'ratio', prune: true }] } })).toThrow(/exactly one unpruned arm/);
    const list = captureIo();
    expect(await main(['node', 'reg4pru', 'study', '--config', configFile, '--out', whole, '--list'], list)).toBe(0);
    expect(list.text().out).toContain('done     ft-random-ratio-s0');
  }, 120_000);
});
