/**
 * Batching across jobs: a worker running several jobs at once (`--concurrency`) hands each model input
 * (a tile or a resized image, [3, h, w]) to the batcher of its session. Whenever the session is idle the
 * batcher runs everything waiting, up to `maxBatch` inputs, as one `session.run` of [B, 3, h, w], and
 * hands each caller its [C, h, w] slice. With one job in flight this is the same batching as
 * `reg4pru infer --batch`; the engine's outputs per input do not depend on B.
 */
import type { Session } from '../cli/common.js';

interface Pending {
  chw: Float32Array;
  resolve(out: Float32Array): void;
  reject(e: unknown): void;
}

export class Batcher {
  #waiting: Pending[] = [];
  #running = false;
  /** Engine calls made and model inputs run (for the worker's summary). */
  calls = 0;
  inputs = 0;
  engineMs = 0;

  constructor(private readonly session: Session, private readonly maxBatch: number) {}

  /** Runs one model input [3, h, w]; resolves with its output [C, h, w]. */
  run(chw: Float32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ chw, resolve, reject });
      // Let the other jobs of this tick add their inputs before the batch is cut.
      if (!this.#running) setImmediate(() => void this.#drain());
    });
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const group = this.#waiting.splice(0, this.maxBatch);
        const [h, w] = this.session.config.image;
        const C = this.session.config.classes;
        const data = new Float32Array(group.length * 3 * h * w);
        group.forEach((g, i) => data.set(g.chw, i * 3 * h * w));
        try {
          const t0 = performance.now();
          const sem = (await this.session.run({ data, shape: [group.length, 3, h, w] })).semantic.data;
          this.engineMs += performance.now() - t0;
          this.calls++;
          this.inputs += group.length;
          const per = C * h * w;
          // Copies, so one job keeping its slice does not pin the whole batch's output.
          group.forEach((g, i) => g.resolve(sem.slice(i * per, (i + 1) * per)));
        } catch (e) {
          for (const g of group) g.reject(e);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
