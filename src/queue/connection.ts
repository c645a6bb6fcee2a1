/**
 * Redis connections for the queue (ioredis 5, as BullMQ wants them). `connectRedis` checks the URL,
 * then makes one probe connection that does not retry, so an unreachable or wrong Redis gives one clear
 * error at start instead of a retry loop; the connection BullMQ then uses retries forever
 * (`maxRetriesPerRequest: null`), so a Redis restart mid-run only pauses workers.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { QueueError } from './errors.js';

export { QueueError };

/** Checks a `redis://` / `rediss://` URL. @throws QueueError naming `--redis` */
export function parseRedisUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueError(`--redis: expected a URL like redis://127.0.0.1:6379, received '${url}'`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new QueueError(`--redis: expected a redis:// or rediss:// URL, received '${url}'`);
  if (!u.hostname) throw new QueueError(`--redis: no host in '${url}'`);
  return u;
}

/** BullMQ queue names become Redis key parts: keep them plain. @throws QueueError naming `--queue` */
export function checkQueueName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) throw new QueueError(`--queue: expected letters, digits, '.', '_' or '-' (at most 100), received '${name}'`);
  return name;
}

const BASE: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true };

/**
 * Probes `url` once (3 s timeout, no retries) and returns a connection for BullMQ that reconnects
 * forever with a capped backoff. Errors on the long-lived connection go to `onError` (once per outage).
 * @throws QueueError 'cannot reach Redis at …' with the cause
 */
export async function connectRedis(url: string, onError: (message: string) => void = () => {}): Promise<Redis> {
  parseRedisUrl(url);
  const probe = new Redis(url, { ...BASE, lazyConnect: true, connectTimeout: 3000, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  let cause: Error | null = null; // the socket error (ECONNREFUSED …); connect() itself only says "Connection is closed"
  probe.on('error', (e: Error) => { cause ??= e; });
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new QueueError(`cannot reach Redis at ${url}: ${(cause ?? (e as Error)).message || String(e)}`);
  } finally {
    probe.disconnect();
  }
  const conn = new Redis(url, { ...BASE, retryStrategy: (n) => Math.min(100 * 2 ** Math.min(n, 6), 2000) });
  let down = false;
  conn.on('error', (e: Error) => {
    if (!down) onError(`redis: ${e.message} (reconnecting)`);
    down = true;
  });
  conn.on('ready', () => {
    if (down) onError('redis: connection restored');
    down = false;
  });
  return conn;
}
