/**
 * A real redis-server per test file: free loopback port, its own folder, started and stopped by the
 * test. `hasRedis` is false (and `skipReason` says why) when redis-server is not on PATH; CI installs it
 * (.ci/run). With `appendonly`, every write is fsynced to the append-only file, so `restart()` (even
 * after SIGKILL) comes back with every job.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
export const hasRedis = probe.status === 0;
export const skipReason = hasRedis ? '' : 'redis-server is not installed (apt-get install -y redis-server); queue tests skipped';
if (!hasRedis) console.warn(`[test/queue] ${skipReason}`);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** Kills (SIGKILL when `hard`, else SIGTERM) and starts again on the same port and folder. */
  restart(opts?: { hard?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

function waitReady(p: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`redis-server on ${port} did not start:\n${log}`)), 10_000);
    p.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${log}`));
    });
  });
}

const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes',
    ...(opts.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])];
  let proc: ChildProcess;
  const launch = async () => {
    proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitReady(proc, port);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async restart({ hard = false, downMs = 1000 } = {}) {
      proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
      await exited(proc);
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
  };
}
