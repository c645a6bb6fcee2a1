/**
 * Progress reporting on stderr: a cli-progress bar on a terminal, plain lines when stderr is not a TTY
 * (CI logs, pipes: a redrawn bar would fill them with carriage returns), nothing with --quiet.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advances by `n` units; `status` replaces the text shown beside the bar. */
  tick(n?: number, status?: string): void;
  /** A message that should stay in the log (printed above the bar, or as a plain line). */
  note(message: string): void;
  stop(): void;
}

export type ProgressMode = 'bar' | 'lines' | 'none';

export function progressMode(stream: Writable, quiet: boolean): ProgressMode {
  if (quiet) return 'none';
  return (stream as Writable & { isTTY?: boolean }).isTTY ? 'bar' : 'lines';
}

/**
 * @param total units of work (timed runs, images)
 * @param every in 'lines' mode, print a line every `every` units (and at the end)
 */
export function createProgress(stream: Writable, mode: ProgressMode, total: number, title: string, every = 1): Progress {
  if (mode === 'none') return { tick() {}, note() {}, stop() {} };
  if (mode === 'lines') {
    let done = 0, lastPrinted = -1;
    return {
      tick(n = 1, status = '') {
        done += n;
        if (done - lastPrinted >= every || done >= total) {
          lastPrinted = done;
          stream.write(`${title}: ${done}/${total}${status ? `  ${status}` : ''}\n`);
        }
      },
      note(message) {
        stream.write(message + '\n');
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream, format: `${title} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {status}`, hideCursor: true, clearOnComplete: false, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: '' });
  return {
    tick(n = 1, status) {
      bar.increment(n, status === undefined ? {} : { status });
    },
    note(message) {
      // cli-progress redraws on the current line: clear it, print, and let the next render redraw.
      stream.write('\r\x1b[K' + message + '\n');
      bar.render();
    },
    stop() {
      bar.stop();
    },
  };
}
