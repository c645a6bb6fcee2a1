/**
 * Test helpers for the CLI: captured output streams, and a pixel-wise stand-in session
 * (prob = sigmoid(normalised red channel)) that makes tiling/stitching exactly checkable and runs in
 * microseconds. The stand-in rejects `tome` like an engine without ToMe support.
 */
import { Writable } from 'node:stream';
import type { Io, Session, SessionFactory } from '../../src/cli/common.js';
import type { ModelConfig } from '../../src/model/config.js';

export function captureIo(): Io & { text(): { out: string; err: string } } {
  let out = '', err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(chunk: Buffer | string, _enc, cb) { f(chunk.toString()); cb(); } });
  return { out: sink((s) => (out += s)), err: sink((s) => (err += s)), text: () => ({ out, err }) };
}

export const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export function fakeFactory(calls: Array<{ keep: number | 'dynamic' | null; tome?: unknown; batches: number[] }> = []): SessionFactory {
  return async (source, opts) => {
    if (typeof source === 'string') throw new Error('fake session: checkpoints not supported');
    if (opts.tome) throw new Error('ToMe is not supported by this session');
    const config: ModelConfig = source.config;
    const record = { keep: opts.keep ?? null, batches: [] as number[] };
    calls.push(record);
    const session: Session = {
      config,
      keep: opts.keep ?? null,
      async run(images) {
        const data = images instanceof Float32Array ? images : images.data;
        const [H, W] = config.image;
        const B = data.length / (3 * H * W);
        record.batches.push(B);
        const out = new Float32Array(B * config.classes * H * W);
        for (let b = 0; b < B; b++) for (let p = 0; p < H * W; p++) out[b * H * W + p] = sigmoid(data[b * 3 * H * W + p]!);
        return {
          semantic: { data: out, shape: [B, config.classes, H, W] },
          classLogits: { data: new Float32Array(B * (config.classes + 1)), shape: [B, 1, config.classes + 1] },
          maskLogits: { data: new Float32Array(B), shape: [B, 1, 1, 1] },
        };
      },
      dispose() {},
    };
    return session;
  };
}
