/**
 * A size-keyed pool of Float32Arrays for kernel outputs (the TF.js `cpu` backend's storage; hooks in
 * src/tfjs/backend/poolHooks.ts). Without it, every kernel output is a fresh `new Float32Array`: TF.js disposes
 * the tensor, but its ArrayBuffer is freed only at the next V8 GC, so each training step touches fresh memory
 * (a page fault and a kernel-side zero fill per 4 KiB page) and drives extra GCs through external-memory growth.
 *
 * Life of a pooled array (tracked per ArrayBuffer, in a WeakMap):
 *   fresh    : handed out by takeF32 inside a kernel scope (pooledScope); nothing else references it.
 *   live     : registered as the storage of exactly one tensor (noteStored, called by the backend's data.set).
 *   pooled   : that tensor's storage was deleted (refcount 0: noteDeleted) -> back in the pool for reuse.
 *   escaped  : anything else touched it: a second registration (another tensor, or a view of it, e.g. a stock
 *              Slice's subarray), a read that hands the array out (readSync / dataSync), or registration of a
 *              sub-range. An escaped array is never pooled again; it is left to the GC.
 * So an array is reused only when TF.js held it as one tensor's storage and no one else was ever given it.
 * Outside a kernel scope (the plain typed-array ops in src/ops called by a user), or while the pool is off,
 * takeF32 is `new Float32Array(n)`: arrays that reach user code are never pooled.
 *
 * Arrays from takeF32 may hold stale values: the caller must write every element (takeF32Zeroed otherwise).
 * `poison` (tests): every array taken is filled with NaN first, so an output element a kernel forgets to write
 * shows up as NaN.
 */

const enum State { Fresh, Live, Pooled, Escaped }

/** Default shortest array pooled (floats): shorter ones are cheap to allocate. */
export const POOL_MIN_FLOATS = 1024;

export interface BufferPoolStats {
  /** takeF32 served from the pool */
  hits: number;
  /** takeF32 that allocated (pool on, in a kernel scope) */
  misses: number;
  /** arrays returned to the pool */
  released: number;
  /** arrays that escaped (never pooled) */
  escaped: number;
  /** arrays dropped to stay under maxBytes */
  evicted: number;
  /** bytes held by the pool now */
  pooledBytes: number;
  /** bytes of float32 tensor storage stored that did not come from the pool (stock kernels, user data, small arrays) */
  unpooledBytes: number;
}

let enabled = false;
let bypass = false;
let poison = false;
let minFloats = POOL_MIN_FLOATS;
let maxBytes = 1024 * 2 ** 20;
let depth = 0;
let state = new WeakMap<ArrayBufferLike, State>();
/** length -> arrays of that length; Map order is least recently used first. */
const buckets = new Map<number, Float32Array[]>();
let pooledBytes = 0;
const stats = { hits: 0, misses: 0, released: 0, escaped: 0, evicted: 0, unpooledBytes: 0 };

/**
 * Turns pooling on or off (src/tfjs/backend/poolHooks.ts calls this when it installs / removes its hooks).
 * Off, or on again, forgets every array's history and empties the pool: an array handed out earlier is never
 * reused, whatever happened to it in between.
 */
export function configureBufferPool(on: boolean, opts: { maxBytes?: number; poison?: boolean; minFloats?: number } = {}): void {
  enabled = on;
  poison = opts.poison ?? false;
  minFloats = opts.minFloats ?? POOL_MIN_FLOATS;
  if (opts.maxBytes !== undefined) maxBytes = opts.maxBytes;
  state = new WeakMap();
  buckets.clear();
  pooledBytes = 0;
}

/**
 * Benchmarks only (A/B inside one process): while bypassed, takeF32 allocates fresh arrays as if the pool were
 * off, but the pool keeps its arrays and its tracking, so switching back finds it as it was.
 */
export function bypassBufferPool(on: boolean): void {
  bypass = on;
}

/** True while pooling is on. */
export function bufferPoolEnabled(): boolean {
  return enabled;
}

/** Counters since the last resetBufferPoolStats(), and the bytes held now. */
export function bufferPoolStats(): BufferPoolStats {
  return { ...stats, pooledBytes };
}

export function resetBufferPoolStats(): void {
  stats.hits = stats.misses = stats.released = stats.escaped = stats.evicted = stats.unpooledBytes = 0;
}

/** Runs fn as a kernel: takeF32 inside it may reuse pooled arrays (nesting allowed). */
export function pooledScope<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

function take(n: number): { a: Float32Array; reused: boolean } {
  if (!enabled || bypass || depth === 0 || n < minFloats) return { a: new Float32Array(n), reused: false };
  const list = buckets.get(n);
  let a: Float32Array | undefined;
  if (list !== undefined) {
    while (list.length > 0) {
      const c = list.pop()!;
      pooledBytes -= c.byteLength;
      if (state.get(c.buffer) === State.Pooled) {
        a = c;
        break;
      }
    }
    buckets.delete(n); // most recently used goes last
    if (list.length > 0) buckets.set(n, list);
  }
  const reused = a !== undefined;
  if (reused) stats.hits++;
  else stats.misses++;
  a ??= new Float32Array(n);
  if (poison) a.fill(NaN);
  state.set(a.buffer, State.Fresh);
  return { a, reused: reused || poison };
}

/**
 * A Float32Array of n elements for a kernel output whose every element the kernel writes: from the pool inside
 * a kernel scope while pooling is on (stale contents), else `new Float32Array(n)`.
 */
export function takeF32(n: number): Float32Array {
  return take(n).a;
}

/** As takeF32, zero-filled (for outputs a kernel accumulates into or writes only in part). */
export function takeF32Zeroed(n: number): Float32Array {
  const { a, reused } = take(n);
  if (reused) a.fill(0);
  return a;
}

/** The backend stored `values` as a tensor's storage (its data.set). */
export function noteStored(values: unknown): void {
  if (!(values instanceof Float32Array)) return;
  const s = state.get(values.buffer);
  if (s === undefined) stats.unpooledBytes += values.byteLength;
  if (s === undefined || s === State.Escaped) return;
  if (s === State.Fresh && values.byteOffset === 0 && values.byteLength === values.buffer.byteLength) state.set(values.buffer, State.Live);
  else escape(values.buffer);
}

/** `values` left the backend's control (handed out by readSync / read). */
export function noteEscaped(values: unknown): void {
  if (!ArrayBuffer.isView(values)) return;
  const s = state.get(values.buffer);
  if (s !== undefined && s !== State.Escaped) escape(values.buffer);
}

function escape(buf: ArrayBufferLike): void {
  state.set(buf, State.Escaped);
  stats.escaped++;
}

/** The backend deleted the tensor storage `values` (refcount 0): a live array goes back to the pool. */
export function noteDeleted(values: unknown): void {
  if (!(values instanceof Float32Array) || state.get(values.buffer) !== State.Live) return;
  const bytes = values.byteLength;
  while (pooledBytes + bytes > maxBytes && buckets.size > 0) {
    const [n, list] = buckets.entries().next().value as [number, Float32Array[]];
    const c = list.shift()!; // the oldest of the least recently used length
    if (list.length === 0) buckets.delete(n);
    pooledBytes -= c.byteLength;
    state.delete(c.buffer);
    stats.evicted++;
  }
  if (pooledBytes + bytes > maxBytes) {
    state.delete(values.buffer);
    stats.evicted++;
    return;
  }
  state.set(values.buffer, State.Pooled);
  const list = buckets.get(values.length);
  if (list !== undefined) {
    buckets.delete(values.length);
    list.push(values);
    buckets.set(values.length, list);
  } else buckets.set(values.length, [values]);
  pooledBytes += bytes;
  stats.released++;
}
