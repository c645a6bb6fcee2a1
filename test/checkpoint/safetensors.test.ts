/**
 * safetensors read/write (SPEC §8): round trips, deterministic bytes, F16/BF16/F64 decoding from
 * hand-built files, every validation branch (error names the file and the tensor), atomic writes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { encodeSafetensors, parseSafetensors, readSafetensors, writeSafetensors } from '../../src/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r4p-st-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** A file from a header object and raw data bytes, with the header padded by `pad` spaces. */
function handBuild(header: unknown, data: Uint8Array, pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function u16le(vals: number[]): Uint8Array {
  const b = new Uint8Array(vals.length * 2);
  const dv = new DataView(b.buffer);
  vals.forEach((v, i) => dv.setUint16(i * 2, v, true));
  return b;
}

function put(name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

const sample = () => ({
  'b.weight': { data: Float32Array.from([1, -2, 3.5, 4, 5, 6]), shape: [2, 3] },
  'a.scalar': { data: Float32Array.from([Math.PI]), shape: [] },
  'c.empty': { data: new Float32Array(0), shape: [0, 4] },
  'd.vec': { data: Float32Array.from({ length: 7 }, (_, i) => i / 3), shape: [7] },
});

describe('safetensors round trip', () => {
  it('writes and reads back every tensor, shape and metadata', () => {
    const p = path.join(dir, 'rt.safetensors');
    const t = sample();
    writeSafetensors(p, t, { note: 'hello', 'reg4pru.x': '{"a":1}' });
    const r = readSafetensors(p);
    expect(r.metadata).toEqual({ note: 'hello', 'reg4pru.x': '{"a":1}' });
    expect(Object.keys(r.tensors).sort()).toEqual(Object.keys(t).sort());
    for (const [n, v] of Object.entries(t)) {
      expect(r.tensors[n]!.shape).toEqual(v.shape);
      expect(r.tensors[n]!.dtype).toBe('F32');
      expect(Array.from(r.tensors[n]!.data)).toEqual(Array.from(v.data));
    }
  });

  it('is deterministic: sorted keys, 8-byte aligned data, same bytes whatever the insertion order', () => {
    const t = sample();
    const rev = Object.fromEntries(Object.entries(t).reverse());
    const a = encodeSafetensors(t, { z: '1', a: '2' });
    const b = encodeSafetensors(rev, { a: '2', z: '1' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(a.subarray(8, 8 + n))) as Record<string, unknown>;
    expect(Object.keys(header)).toEqual(['__metadata__', 'a.scalar', 'b.weight', 'c.empty', 'd.vec']);
    // Contiguous layout in key order.
    expect(header['a.scalar']).toEqual({ dtype: 'F32', shape: [], data_offsets: [0, 4] });
    expect(header['b.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [4, 28] });
    const p = path.join(dir, 'det.safetensors');
    writeSafetensors(p, rev, { a: '2', z: '1' });
    expect(fs.readFileSync(p).equals(Buffer.from(a))).toBe(true);
  });

  it('returns zero-copy views for aligned F32 and copies for unaligned data', () => {
    const bytes = encodeSafetensors(sample());
    const r = parseSafetensors(bytes, 'mem');
    expect(r.tensors['d.vec']!.data.buffer).toBe(bytes.buffer);
    // Header of odd length: data starts unaligned, values must still be right.
    const data = new Uint8Array(Float32Array.from([1.5, -2.25]).buffer);
    const odd = handBuild({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data, 1);
    expect((8 + Number(new DataView(odd.buffer).getBigUint64(0, true))) % 4).not.toBe(0);
    const r2 = parseSafetensors(odd, 'odd');
    expect(Array.from(r2.tensors.x!.data)).toEqual([1.5, -2.25]);
  });

  it('reads F16 (normal, subnormal, inf, NaN), BF16 and F64 as float32', () => {
    const f16 = u16le([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x7e00, 0x0000, 0x8000]);
    const bf16 = u16le([0x3f80, 0xc020, 0x4049, 0x0000]);
    const f64 = new Uint8Array(Float64Array.from([0.1, -1e10, 3]).buffer);
    const data = new Uint8Array(f16.length + bf16.length + f64.length + 4);
    data.set(f64, 0); // f64 first keeps it 8-byte aligned within the data section
    data.set(f16, 24);
    data.set(bf16, 24 + 20);
    const p = put('mixed.safetensors', handBuild({
      __metadata__: { k: 'v' },
      h: { dtype: 'F16', shape: [2, 5], data_offsets: [24, 44] },
      g: { dtype: 'BF16', shape: [4], data_offsets: [44, 52] },
      d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] },
    }, data, 0));
    const r = readSafetensors(p);
    const h = Array.from(r.tensors.h!.data);
    expect(h.slice(0, 5)).toEqual([1, -2, 0.5, 65504, 2 ** -24]);
    expect(h[5]).toBe(Infinity);
    expect(h[6]).toBe(-Infinity);
    expect(Number.isNaN(h[7])).toBe(true);
    expect(Object.is(h[8], 0)).toBe(true);
    expect(Object.is(h[9], -0)).toBe(true);
    expect(r.tensors.h!.dtype).toBe('F16');
    expect(Array.from(r.tensors.g!.data)).toEqual([1, -2.5, 3.140625, 0]);
    expect(Array.from(r.tensors.d!.data)).toEqual([Math.fround(0.1), Math.fround(-1e10), 3]);
    expect(r.metadata).toEqual({ k: 'v' });
  });
});

describe('safetensors validation', () => {
  const good = () => encodeSafetensors({ w: { data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] } });
  const four = new Uint8Array(16);
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['too short for the length prefix', () => new Uint8Array(5), /shorter than the 8-byte header length/],
    ['truncated data', () => good().subarray(0, good().length - 3), /tensor 'w'.*out of range/],
    ['header length beyond the file', () => {
      const b = good().slice();
      new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
      return b;
    }, /shorter than the header says/],
    ['header length absurd (2^63)', () => {
      const b = good().slice();
      new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
      return b;
    }, /shorter than the header says/],
    ['header not JSON', () => {
      const b = good().slice();
      b[8] = 0x7b; b[9] = 0x7b; // '{{'
      return b;
    }, /header is not valid UTF-8 JSON/],
    ['header a JSON array', () => handBuild([1, 2], four), /header is not a JSON object/],
    ['metadata not strings', () => handBuild({ __metadata__: { a: 1 } }, four), /__metadata__\["a"\] must be a string/],
    ['unknown dtype', () => handBuild({ t1: { dtype: 'F99', shape: [4], data_offsets: [0, 16] } }, four), /tensor 't1': unknown dtype 'F99'/],
    ['unsupported dtype', () => handBuild({ t2: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, four), /tensor 't2': unsupported dtype 'I64'/],
    ['bad shape', () => handBuild({ t3: { dtype: 'F32', shape: [-1, 4], data_offsets: [0, 16] } }, four), /tensor 't3': shape must be/],
    ['bad offsets kind', () => handBuild({ t4: { dtype: 'F32', shape: [4], data_offsets: [0] } }, four), /tensor 't4': data_offsets must be/],
    ['offsets out of range', () => handBuild({ t5: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, four), /tensor 't5': data_offsets \[0, 32\] out of range/],
    ['begin after end', () => handBuild({ t6: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, four), /tensor 't6'.*out of range/],
    ['size not dtype x shape', () => handBuild({ t7: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, four), /tensor 't7'.*span 16 bytes, expected 12 \(F32 x shape \[3\]\)/],
    ['overlapping tensors', () => handBuild({
      t8: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
      t9: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
    }, four), /tensors 't8' \[0, 12\] and 't9' \[8, 16\] overlap/],
    ['one tensor inside another', () => handBuild({
      big: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] },
    }, four), /tensors 'big' \[0, 16\] and 'a' \[4, 8\] overlap/],
    ['entry not an object', () => handBuild({ t10: 3 }, four), /tensor 't10': entry must be an object/],
  ];
  for (const [what, make, re] of cases) {
    it(`rejects ${what} with a RangeError naming the file`, () => {
      const p = put(`bad-${what.replace(/\W+/g, '_')}.safetensors`, make());
      expect(() => readSafetensors(p)).toThrow(RangeError);
      expect(() => readSafetensors(p)).toThrow(re);
      expect(() => readSafetensors(p)).toThrow(p);
    });
  }

  it('accepts zero-byte tensors at any offset and adjacent tensors', () => {
    const r = parseSafetensors(handBuild({
      e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [3], data_offsets: [4, 16] },
    }, four));
    expect(r.tensors.b!.shape).toEqual([3]);
  });

  it('checks inputs when writing', () => {
    const p = path.join(dir, 'never.safetensors');
    expect(() => writeSafetensors(p, { w: { data: new Float32Array(5), shape: [2, 3] } })).toThrow(/tensors\['w'\]: shape \[2,3\] has 6 elements, data has 5/);
    expect(() => writeSafetensors(p, { w: { data: new Float64Array(6) as unknown as Float32Array, shape: [6] } })).toThrow(TypeError);
    expect(() => writeSafetensors(p, { __metadata__: { data: new Float32Array(1), shape: [1] } })).toThrow(/invalid tensor name/);
    expect(() => writeSafetensors(p, {}, { a: 3 as unknown as string })).toThrow(/metadata\["a"\]/);
    expect(fs.existsSync(p)).toBe(false);
  });
});

describe('atomic writes', () => {
  const leftovers = (d: string) => fs.readdirSync(d).filter((f) => f.endsWith('.tmp'));

  it('leaves the old file intact and no temp file when a write fails midway', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'atomic-'));
    const p = path.join(sub, 'model.safetensors');
    writeSafetensors(p, sample(), { v: 'old' });
    const before = fs.readFileSync(p);
    let calls = 0;
    const real = fs.writeSync;
    vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buf: Uint8Array, off?: number, len?: number) => {
      calls++;
      if (calls === 2) throw new Error('ENOSPC: simulated disk full');
      return real(fd, buf, off, len);
    }) as typeof fs.writeSync);
    const big = { w: { data: new Float32Array(1000).fill(7), shape: [1000] }, x: { data: new Float32Array(3), shape: [3] } };
    expect(() => writeSafetensors(p, big, { v: 'new' })).toThrow(/writeSafetensors: .*model\.safetensors: write failed \(ENOSPC: simulated disk full\)/);
    expect(calls).toBeGreaterThanOrEqual(2);
    vi.restoreAllMocks();
    expect(fs.readFileSync(p).equals(before)).toBe(true);
    expect(readSafetensors(p).metadata.v).toBe('old');
    expect(leftovers(sub)).toEqual([]);
  });

  it('cleans up when the rename fails (target is a directory) and when the directory is missing', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'atomic-'));
    const target = path.join(sub, 'is-a-dir');
    fs.mkdirSync(path.join(target, 'child'), { recursive: true });
    expect(() => writeSafetensors(target, sample())).toThrow(/write failed/);
    expect(leftovers(sub)).toEqual([]);
    expect(fs.statSync(target).isDirectory()).toBe(true);
    expect(() => writeSafetensors(path.join(sub, 'no', 'such', 'dir.safetensors'), sample())).toThrow(/write failed/);
  });

  it('replaces an existing file in place', () => {
    const p = path.join(dir, 'replace.safetensors');
    writeSafetensors(p, sample(), { v: '1' });
    writeSafetensors(p, { only: { data: Float32Array.from([9]), shape: [1] } }, { v: '2' });
    const r = readSafetensors(p);
    expect(Object.keys(r.tensors)).toEqual(['only']);
    expect(r.metadata.v).toBe('2');
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.replace'))).toEqual([]);
  });
});
