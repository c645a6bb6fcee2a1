/**
 * Hugging Face safetensors files (SPEC §8): read and write.
 *
 * Layout: `u64 LE n | n bytes of UTF-8 JSON header | data`. The header maps each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the start of the data section) and
 * may hold `"__metadata__": {string: string}`. Tensors are raw little-endian, row-major.
 *
 * Writing: float32 only ("F32"). Keys are written sorted (`__metadata__` first, then tensor names in
 * code-unit order) and tensors are laid out contiguously in that order, so the same input always gives
 * the same bytes. The header is padded with spaces so the data section starts 8-byte aligned (the
 * format's recommendation); every F32 tensor then starts 4-byte aligned. The file is written to a
 * temporary file in the same directory, fsynced, and renamed over the target: a crash or an error
 * mid-save leaves either the old file or the new one, never a torn one.
 *
 * Reading: F32 (zero-copy Float32Array views into the file buffer when aligned on a little-endian host),
 * F16, BF16 and F64 (converted to float32). Everything is validated: file length vs the header length,
 * header JSON, every entry's dtype/shape/offsets, offsets inside the data section, byte length equal to
 * dtype size x element count, no two tensors overlapping. Errors are RangeErrors naming the file and
 * the tensor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomicSync } from '../io/atomicFile.js';
import { describe, rangeError, typeError } from '../errors.js';

/** A float32 tensor as stored in / read from a safetensors file. */
export interface SafetensorsTensor {
  data: Float32Array;
  shape: number[];
}

/** A read tensor also reports the dtype it was stored in (the data is always converted to float32). */
export interface SafetensorsReadTensor extends SafetensorsTensor {
  dtype: SafetensorsDtype;
}

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';

/** What `readSafetensors` returns. Tensor names keep the file's header order. */
export interface SafetensorsFile {
  tensors: Record<string, SafetensorsReadTensor>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** Dtypes of the format that we recognise but do not convert (reported as unsupported, not unknown). */
const OTHER_DTYPES = new Set(['BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64', 'F8_E4M3', 'F8_E5M2']);
/** Same cap as the Rust reference implementation: a header larger than this is a corrupt file. */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN = os.endianness() === 'LE';

function isDtype(s: string): s is SafetensorsDtype {
  return s === 'F32' || s === 'F16' || s === 'BF16' || s === 'F64';
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** float16 bits -> number (subnormals, infinities and NaN included). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man === 0 ? sign * Infinity : NaN;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/**
 * Parses a safetensors byte buffer. `file` only names the source in error messages.
 * @param bytes the whole file
 * @param file name used in messages
 * @returns tensors (float32; F32 data are views into `bytes` when 4-byte aligned) and metadata
 * @throws {RangeError} on any malformed content (message names the file and, where relevant, the tensor)
 */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
  const op = 'readSafetensors';
  const fail = (msg: string) => rangeError(op, `${file}: ${msg}`);
  if (bytes.byteLength < 8) throw fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(bytes.byteLength - 8))
    throw fail(`file is shorter than the header says: header length ${n64} but only ${bytes.byteLength - 8} bytes follow`);
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) throw fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw fail(`header is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail(`header is not a JSON object, received ${describe(header)}`);

  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, SafetensorsReadTensor> = {};
  const spans: Array<[number, number, string]> = [];

  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail(`__metadata__ must be an object of strings, received ${describe(entry)}`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw fail(`__metadata__["${k}"] must be a string, received ${describe(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail(`${where}: entry must be an object, received ${describe(entry)}`);
    const e = entry as Record<string, unknown>;
    if (typeof e.dtype !== 'string') throw fail(`${where}: dtype must be a string, received ${describe(e.dtype)}`);
    const dtype = e.dtype;
    if (!isDtype(dtype)) {
      const kind = OTHER_DTYPES.has(dtype) ? 'unsupported' : 'unknown';
      throw fail(`${where}: ${kind} dtype '${dtype}' (supported: F32, F16, BF16, F64)`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw fail(`${where}: shape must be an array of non-negative integers, received ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw fail(`${where}: data_offsets must be [begin, end] non-negative integers, received ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataLen)
      throw fail(`${where}: data_offsets [${begin}, ${end}] out of range for a ${dataLen}-byte data section`);
    let count = 1;
    for (const d of shape) count *= d;
    const want = count * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(want) || end - begin !== want)
      throw fail(`${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, expected ${want} (${dtype} x shape ${shapeStr(shape)})`);
    spans.push([begin, end, name]);
    tensors[name] = { dtype, shape: [...shape], data: decode(bytes, dataStart + begin, count, dtype) };
  }

  // Sweep in begin order, remembering the span that reaches furthest: any later span starting before its
  // end overlaps it. Zero-byte tensors occupy no bytes and cannot overlap anything.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let far: [number, number, string] | null = null;
  for (const sp of spans) {
    if (sp[1] === sp[0]) continue;
    if (far && sp[0] < far[1]) throw fail(`tensors '${far[2]}' [${far[0]}, ${far[1]}] and '${sp[2]}' [${sp[0]}, ${sp[1]}] overlap`);
    if (!far || sp[1] > far[1]) far = sp;
  }
  return { tensors, metadata };
}

/** `count` elements of `dtype` at absolute byte `at` of `bytes` -> float32. */
function decode(bytes: Uint8Array, at: number, count: number, dtype: SafetensorsDtype): Float32Array {
  const abs = bytes.byteOffset + at;
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN && abs % 4 === 0) return new Float32Array(bytes.buffer, abs, count);
    const out = new Float32Array(count);
    const dv = new DataView(bytes.buffer, abs, count * 4);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, abs, count * DTYPE_BYTES[dtype]);
  if (dtype === 'F64') {
    for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
  } else {
    // bfloat16 is the top half of a float32: widen exactly.
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u[i] = dv.getUint16(i * 2, true) << 16;
  }
  return out;
}

/**
 * Reads and validates a safetensors file; tensors come back as float32.
 * @param file path of the `.safetensors` file
 * @returns `{tensors: {name: {data: Float32Array, shape, dtype}}, metadata}`
 * @throws {RangeError} malformed file (names the file and the tensor); fs errors (ENOENT, ...) as thrown by node
 * @example
 * const { tensors, metadata } = readSafetensors('model.safetensors');
 * tensors['pos_embed'].shape; // [1, 1024, 384]
 */
export function readSafetensors(file: string): SafetensorsFile {
  if (typeof file !== 'string') throw typeError('readSafetensors', `expected path to be a string, received ${describe(file)}`);
  return parseSafetensors(fs.readFileSync(file), file);
}

/** Checks tensors/metadata for writing and returns the sorted tensor names. */
function checkWriteInput(tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string>): string[] {
  const op = 'writeSafetensors';
  if (typeof tensors !== 'object' || tensors === null) throw typeError(op, `expected tensors to be an object, received ${describe(tensors)}`);
  if (typeof metadata !== 'object' || metadata === null) throw typeError(op, `expected metadata to be an object, received ${describe(metadata)}`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw typeError(op, `expected metadata["${k}"] to be a string, received ${describe(v)}`);
  }
  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    if (name === '' || name === '__metadata__') throw rangeError(op, `invalid tensor name '${name}'`);
    const t = tensors[name]!;
    if (typeof t !== 'object' || t === null || !(t.data instanceof Float32Array))
      throw typeError(op, `expected tensors['${name}'].data to be a Float32Array, received ${describe(t?.data)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw typeError(op, `expected tensors['${name}'].shape to be an array of non-negative integers, received ${describe(t.shape)}`);
    let count = 1;
    for (const d of t.shape) count *= d;
    if (count !== t.data.length)
      throw rangeError(op, `tensors['${name}']: shape ${shapeStr(t.shape)} has ${count} elements, data has ${t.data.length}`);
  }
  return names;
}

/** The header bytes (length prefix included) for `tensors` laid out contiguously in `names` order. */
function buildHeader(tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string>, names: string[]): Uint8Array {
  const header: Record<string, unknown> = {};
  const metaKeys = Object.keys(metadata).sort();
  if (metaKeys.length > 0) header.__metadata__ = Object.fromEntries(metaKeys.map((k) => [k, metadata[k]]));
  let off = 0;
  for (const name of names) {
    const t = tensors[name]!;
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8; // data section starts 8-byte aligned
  const out = new Uint8Array(8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.fill(0x20, 8);
  out.set(json, 8);
  return out;
}

/** Little-endian bytes of a float32 array (a view when the host is little-endian). */
function leBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
  return out;
}

/**
 * Serialises float32 tensors to safetensors bytes in memory (same bytes as `writeSafetensors`).
 * @param tensors name -> `{data: Float32Array, shape}` (data.length === product of shape)
 * @param metadata string -> string, stored under `__metadata__`
 * @returns the file's bytes
 * @throws {TypeError|RangeError} bad tensors or metadata (names the tensor)
 */
export function encodeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = checkWriteInput(tensors, metadata);
  const head = buildHeader(tensors, metadata, names);
  let total = head.length;
  for (const n of names) total += tensors[n]!.data.byteLength;
  const out = new Uint8Array(total);
  out.set(head, 0);
  let at = head.length;
  for (const n of names) {
    const b = leBytes(tensors[n]!.data);
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Writes float32 tensors as a safetensors file, atomically (temp file in the same directory, fsync,
 * rename; the directory is fsynced too where the platform allows). On failure the temp file is removed
 * and an existing file at `file` is left untouched.
 * @param file destination path
 * @param tensors name -> `{data: Float32Array, shape}`; written sorted by name, contiguous
 * @param metadata string -> string, stored under `__metadata__`
 * @throws {TypeError|RangeError} bad input; Error (naming the file) when the write fails
 * @example
 * writeSafetensors('w.safetensors', { 'a.weight': { data: new Float32Array(6), shape: [2, 3] } }, { note: 'x' });
 */
export function writeSafetensors(file: string, tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string> = {}): void {
  if (typeof file !== 'string' || file === '') throw typeError('writeSafetensors', `expected path to be a non-empty string, received ${describe(file)}`);
  const names = checkWriteInput(tensors, metadata);
  const head = buildHeader(tensors, metadata, names);
  try {
    writeFileAtomicSync(file, (function* () {
      yield head;
      for (const n of names) yield leBytes(tensors[n]!.data);
    })());
  } catch (e) {
    throw new Error(`writeSafetensors: ${file}: write failed (${e instanceof Error ? e.message : String(e)}); the target was not modified`, { cause: e });
  }
}
