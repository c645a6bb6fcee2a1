/**
 * The one place that loads the native addon (STYLE §5). `NativeBinding` is the whole native surface:
 * positional, flat typed arrays with explicit sizes; the op wrappers in `src/ops/` are the public API.
 *
 * Search order: `REG4PRU_ADDON` (a path to a .node file), then `build/Release/reg4pru.node` (cmake-js and
 * node-gyp both put it there), then `build-dev/reg4pru.node` (a standalone cmake build).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  /** Compute capability as one number: 10 * major + minor (90 for an H100). */
  sm: number;
  multiprocessors: number;
  totalMemory: number;
}

/** What was compiled into the addon and what runs now. */
export interface BuildInfo {
  version: string;
  /** 'cmake-js' or 'node-gyp'. */
  build: string;
  cpu: {
    /** The widest vector family: 'avx512+bf16', 'avx512', 'avx2+fma' or 'none'. */
    simd: string;
    threads: number;
    kernel: 'ref' | 'avx2' | 'avx512';
    requestedKernel: 'auto' | 'ref' | 'avx2' | 'avx512';
    /** The variants this CPU can run, narrowest first. */
    variants: Array<'ref' | 'avx2' | 'avx512'>;
    /** Ops with an AVX-512 kernel of their own (the others run their avx2 kernel under 'avx512'). */
    avx512Ops: string[];
    /** AVX512_BF16 (vdpbf16ps) present. */
    bf16: boolean;
    /** Set when REG4PRU_KERNEL is unknown or names a variant this CPU lacks (loading then throws it). */
    kernelEnvError?: string;
  };
  cuda: {
    compiled: boolean;
    archs?: string;
    runtimeVersion?: number;
    driverVersion?: number;
    devices: CudaDevice[];
    /** Why there are no devices (absent when devices were found). */
    error?: string;
  };
  ops: string[];
}

export type Seed = number | bigint;

export interface NativeBinding {
  // ---- runtime
  info(): BuildInfo;
  setThreads(n: number): number;
  getThreads(): number;
  setKernel(kernel: string): string;
  getKernel(): string;

  // ---- gather / scatter
  gatherTokens(x: Float32Array, idx: Int32Array, out: Float32Array, B: number, N: number, K: number, D: number): Float32Array;
  gatherTokensBackward(dout: Float32Array, idx: Int32Array, dx: Float32Array, B: number, N: number, K: number, D: number): Float32Array;
  scatterTokens(base: Float32Array, idx: Int32Array, src: Float32Array, out: Float32Array, B: number, N: number, K: number, D: number): Float32Array;
  scatterTokensBackward(dout: Float32Array, idx: Int32Array, dbase: Float32Array | null, dsrc: Float32Array | null, B: number, N: number, K: number, D: number): void;

  // ---- gemm (section owned by the GEMM work)
  /**
   * C = epilogue(alpha * op(A) op(B)) on strided row-major buffers (ops.h GemmArgs): A [M,K] (or [K,M] with
   * transA), B [K,N] (or [N,K] with transB), C [M,N]. Epilogue order: + beta*C_old, + bias[N], activation,
   * * colScale[N], + residual[rRows] (ldr defaults to N; residual may be C itself), stored at C[cRows].
   * aRows gathers A's rows (not with transA); cRows must not repeat.
   */
  gemm(
    A: Float32Array, B: Float32Array, C: Float32Array, M: number, N: number, K: number,
    lda: number, ldb: number, ldc: number, transA: boolean, transB: boolean,
    opts?: {
      alpha?: number; beta?: number; bias?: Float32Array; activation?: 'none' | 'relu' | 'gelu';
      colScale?: Float32Array; residual?: Float32Array; ldr?: number;
      aRows?: Int32Array; cRows?: Int32Array; rRows?: Int32Array;
      /** 'bf16': A and B rounded to BF16, FP32 sums (avx512 kernels on an AVX512_BF16 CPU only). */
      precision?: 'fp32' | 'bf16';
    },
  ): Float32Array;
  /** Register-only FMA throughput (GFLOP/s) on min(threads, pool size) threads with 256-bit (AVX2) or 512-bit (AVX-512) registers. */
  gemmPeakProbe(threads: number, iters: number, bits: 256 | 512): number;

  // ---- policyAttention (section owned by the attention work)
  policyAttention(q: Float32Array, k: Float32Array, v: Float32Array, policy: Float32Array, out: Float32Array, B: number, H: number, N: number, Dh: number, eps: number, rowMax: Float32Array | null, rowDen: Float32Array | null): Float32Array;
  policyAttentionAsync(q: Float32Array, k: Float32Array, v: Float32Array, policy: Float32Array, out: Float32Array, B: number, H: number, N: number, Dh: number, eps: number, rowMax: Float32Array | null, rowDen: Float32Array | null): Promise<Float32Array>;
  policyAttentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, policy: Float32Array, dout: Float32Array, dq: Float32Array | null, dk: Float32Array | null, dv: Float32Array | null, dpolicy: Float32Array | null, B: number, H: number, N: number, Dh: number, eps: number): void;
  policyAttentionBackwardAsync(q: Float32Array, k: Float32Array, v: Float32Array, policy: Float32Array, dout: Float32Array, dq: Float32Array | null, dk: Float32Array | null, dv: Float32Array | null, dpolicy: Float32Array | null, B: number, H: number, N: number, Dh: number, eps: number): Promise<void>;

  // ---- prunedBlock
  /** offsets: variable length, Int32Array [B+1] into a packed idx [K = offsets[B]] (kernels/ops.h PrunedBlockArgs). */
  prunedBlock(x: Float32Array, idx: Int32Array | null, out: Float32Array, B: number, N: number, K: number, D: number, H: number, weights: Readonly<Record<string, Float32Array>>, lnEps: number, precision?: 'fp32' | 'bf16', offsets?: Int32Array): Float32Array;
  prunedBlockAsync(x: Float32Array, idx: Int32Array | null, out: Float32Array, B: number, N: number, K: number, D: number, H: number, weights: Readonly<Record<string, Float32Array>>, lnEps: number, precision?: 'fp32' | 'bf16', offsets?: Int32Array): Promise<Float32Array>;

  // ---- gumbelTopK / gumbelSoftmaxST (section owned by the Gumbel work)
  gumbelTopK(logits: Float32Array, active: Uint8Array | null, out: Int32Array, B: number, N: number, k: number, seed: Seed, noise: boolean): Int32Array;
  /** Philox4x32-10 of one counter under one key (common/philox.h); for known-answer tests and interop. */
  philox4x32(counter: Uint32Array | Int32Array, key: Uint32Array | Int32Array): Uint32Array;
  gumbelSoftmaxST(logits: Float32Array, hard: Float32Array, soft: Float32Array, B: number, N: number, tau: number, seed: Seed): void;
  gumbelSoftmaxSTBackward(dhard: Float32Array, soft: Float32Array, dlogits: Float32Array, B: number, N: number, tau: number): Float32Array;

  // ---- TF.js backend (section owned by the TF.js backend work)
  /** Last-axis softmax (ops.h SoftmaxArgs): x [R,C] -> y [R,C]; y must not overlap x. */
  softmax(x: Float32Array, y: Float32Array, R: number, C: number): Float32Array;
  /**
   * Broadcast float32 arithmetic (ops.h BinaryArgs): op 0 add, 1 sub, 2 mul, 3 div; the broadcast merged
   * into <= 8 axes of out (size) with element strides sa / sb into a / b (0 = broadcast). Returns out.
   */
  binaryBroadcast(op: number, a: Float32Array, b: Float32Array, out: Float32Array, size: number[], sa: number[], sb: number[]): Float32Array;
  /** NHWC depthwise correlation, stride 1 (ops.h DepthwiseArgs): x [B,H,W,C], w [fh,fw,C] -> out [B,oh,ow,C]; flip = input gradient. */
  depthwiseConv(x: Float32Array, w: Float32Array, out: Float32Array, B: number, H: number, W: number, C: number, fh: number, fw: number, top: number, left: number, oh: number, ow: number, flip: boolean): Float32Array;
  /** Its filter gradient (ops.h DepthwiseFilterGradArgs): x [B,H,W,C], dy [B,oh,ow,C] -> dw [fh,fw,C]. */
  depthwiseFilterGrad(x: Float32Array, dy: Float32Array, dw: Float32Array, B: number, H: number, W: number, C: number, fh: number, fw: number, top: number, left: number, oh: number, ow: number): Float32Array;

  // ---- tomeBlock
  tomeBlock(x: Float32Array, out: Float32Array, mergeMap: Int32Array | null, B: number, T: number, D: number, H: number, P0: number, weights: Readonly<Record<string, Float32Array>>, mode: string, ratio: number, lnEps: number, gridH?: number, gridW?: number): Float32Array;
  tomeBlockAsync(x: Float32Array, out: Float32Array, mergeMap: Int32Array | null, B: number, T: number, D: number, H: number, P0: number, weights: Readonly<Record<string, Float32Array>>, mode: string, ratio: number, lnEps: number, gridH?: number, gridW?: number): Promise<Float32Array>;

  // ---- layerNorm / gelu (TF.js training graph)
  /** LayerNorm over the last axis (ops.h LayerNormArgs): x [R,C], w, b [C] -> y [R,C], mean, rstd [R] (null = not written). */
  layerNorm(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, mean: Float32Array | null, rstd: Float32Array | null, R: number, C: number, eps: number): Float32Array;
  /** LayerNorm backward: overwrites dx [R,C], dw [C], db [C] (dw/db null = not computed); returns dx. */
  layerNormBackward(dy: Float32Array, x: Float32Array, w: Float32Array, mean: Float32Array, rstd: Float32Array, dx: Float32Array, dw: Float32Array | null, db: Float32Array | null, R: number, C: number): Float32Array;
  /** Exact GELU on n elements (ops.h GeluArgs); y may be x itself. */
  gelu(x: Float32Array, y: Float32Array, n: number): Float32Array;
  /** GELU backward: dx = dy (Phi(x) + x phi(x)); dx may be dy or x itself. */
  geluBackward(dy: Float32Array, x: Float32Array, dx: Float32Array, n: number): Float32Array;

  // ---- the training loop's in-place parameter updates (kernels/optimizer_step.h)
  /** AdamW on n values, in place on p, m, v (g read only); the scalars are the float32 constants of the TF.js composition. */
  adamwStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, b1: number, c1: number, b2: number, c2: number, bc1: number, bc2: number, eps: number, lr: number, wd: number, updateP: boolean): void;
  /** EMA in place: e = d e + c p. */
  emaStep(e: Float32Array, p: Float32Array, n: number, d: number, c: number): void;

  // ---- vitBlock (TF.js training graph; ops.h VitBlockArgs): saved has B*N*(6D+F) floats
  vitBlock(x: Float32Array, policy: Float32Array | null, weights: Readonly<Record<string, Float32Array>>, y: Float32Array, saved: Float32Array, B: number, N: number, D: number, H: number, lnEps: number, attnEps: number): Float32Array;
  /** Overwrites dx, dpolicy (null = not computed; must be null without a policy) and every grads entry; returns dx. */
  vitBlockBackward(dy: Float32Array, x: Float32Array, policy: Float32Array | null, weights: Readonly<Record<string, Float32Array>>, saved: Float32Array, dx: Float32Array, dpolicy: Float32Array | null, grads: Readonly<Record<string, Float32Array>>, B: number, N: number, D: number, H: number, lnEps: number, attnEps: number): Float32Array;

  // ---- upscaleBlock (TF.js training graph; ops.h UpscaleBlockArgs): weights / grads by the five SPEC §8 names
  // without "upscale.{j}."; saved has B*2h*2w*(O+2) floats
  upscaleBlock(x: Float32Array, weights: Readonly<Record<string, Float32Array>>, y: Float32Array, saved: Float32Array, B: number, h: number, w: number, C: number, O: number, lnEps: number): Float32Array;
  /** Overwrites dx and every grads entry; returns dx. */
  upscaleBlockBackward(dy: Float32Array, x: Float32Array, weights: Readonly<Record<string, Float32Array>>, saved: Float32Array, dx: Float32Array, grads: Readonly<Record<string, Float32Array>>, B: number, h: number, w: number, C: number, O: number): Float32Array;

  // ---- inference engine
  /** The native EoMT forward (native/engine); public API: src/engine/session.ts. */
  InferenceSession: new (configJson: string, weights: Readonly<Record<string, Float32Array>>, options: NativeSessionOptions) => NativeInferenceSession;

  // ---- cuda (native/napi/device_tensor.cc, cuda_token_ops.cc; public API: src/cuda/)
  /** Not constructible from JS (TypeError); instances come from cudaUpload / cudaZeros / the cuda ops. */
  DeviceTensor: abstract new () => NativeDeviceTensor;
  cudaAvailable(): { ok: boolean; reason: string };
  cudaUpload(data: Float32Array | Int32Array | Uint8Array, shape: readonly number[], dtype?: CudaDtype): NativeDeviceTensor;
  cudaZeros(shape: readonly number[], dtype: CudaDtype): NativeDeviceTensor;
  cudaCopy(dst: NativeDeviceTensor, src: NativeDeviceTensor): NativeDeviceTensor;
  cudaSynchronize(): void;
  cudaTimerStart(): void;
  cudaTimerStop(): number;
  cudaFlushL2(): void;
  cudaGatherTokens(x: NativeDeviceTensor, idx: NativeDeviceTensor): NativeDeviceTensor;
  cudaGatherTokensBackward(dout: NativeDeviceTensor, idx: NativeDeviceTensor, N: number): NativeDeviceTensor;
  /** inPlace: writes into base and returns it. */
  cudaScatterTokens(base: NativeDeviceTensor, idx: NativeDeviceTensor, src: NativeDeviceTensor, inPlace: boolean): NativeDeviceTensor;
  cudaScatterTokensBackward(dout: NativeDeviceTensor, idx: NativeDeviceTensor, wantDbase: boolean, wantDsrc: boolean): [NativeDeviceTensor | null, NativeDeviceTensor | null];
  cudaGumbelTopK(logits: NativeDeviceTensor, active: NativeDeviceTensor | null, k: number, seed: Seed, noise: boolean): NativeDeviceTensor;
  cudaGumbelSoftmaxST(logits: NativeDeviceTensor, tau: number, seed: Seed): [NativeDeviceTensor, NativeDeviceTensor];
  cudaGumbelSoftmaxSTBackward(dhard: NativeDeviceTensor, soft: NativeDeviceTensor, tau: number): NativeDeviceTensor;

  // ---- cuda attention (native/napi/cuda_attention_ops.cc; public API: src/cuda/{policyAttention,linear,prunedBlock}.ts)
  cudaPolicyAttention(q: NativeDeviceTensor, k: NativeDeviceTensor, v: NativeDeviceTensor, policy: NativeDeviceTensor, eps: number, outDtype: CudaDtype | null, rowMax: NativeDeviceTensor | null, rowDen: NativeDeviceTensor | null): NativeDeviceTensor;
  cudaPolicyAttentionBackward(q: NativeDeviceTensor, k: NativeDeviceTensor, v: NativeDeviceTensor, policy: NativeDeviceTensor, dout: NativeDeviceTensor, eps: number): { dq: NativeDeviceTensor; dk: NativeDeviceTensor; dv: NativeDeviceTensor; dpolicy: NativeDeviceTensor };
  cudaLinear(a: NativeDeviceTensor, w: NativeDeviceTensor, bias: NativeDeviceTensor | null, activation: string, colScale: NativeDeviceTensor | null, residual: NativeDeviceTensor | null, alpha: number, outDtype: CudaDtype | null): NativeDeviceTensor;
  /** inPlace: writes into x and returns it. */
  /** offsets (+ maxLen): variable-length rows, int32 [B+1] on the device; idx then the packed [K]. */
  cudaPrunedBlock(x: NativeDeviceTensor, idx: NativeDeviceTensor | null, weights: Readonly<Record<string, NativeDeviceTensor>>, H: number, lnEps: number, inPlace: boolean, offsets?: NativeDeviceTensor, maxLen?: number): NativeDeviceTensor;
}

// ---- cuda (types of the binding above)
export type CudaDtype = 'float32' | 'bfloat16' | 'int32' | 'uint8';
/** One device allocation (native/napi/device_tensor.h). bfloat16 downloads as Float32Array. */
export interface NativeDeviceTensor {
  readonly shape: number[];
  readonly dtype: CudaDtype;
  readonly bytes: number;
  readonly freed: boolean;
  download(): Promise<Float32Array | Int32Array | Uint8Array>;
  downloadSync(): Float32Array | Int32Array | Uint8Array;
  free(): void;
}

// ---- inference engine (types of the binding above)
export interface NativeSessionOptions {
  keep: number | 'dynamic' | null;
  /** keep 'dynamic': keep-score threshold in [0, 1] and the per-stage floor (integer >= 1). */
  threshold?: number;
  minKeep?: number;
  precision?: 'fp32' | 'bf16';
  /** SPEC §3 rounding multiple of prefix + k (1 = off). */
  roundKeep?: number;
  tome?: { mode: 'mhsa' | 'mhsa+mlp'; mergeRatio: number };
  /** 'cuda': native/engine/cuda_engine.h (the constructor throws when CUDA is not available). */
  device?: 'cpu' | 'cuda';
}
export interface NativeRunResult {
  semantic: Float32Array;
  classLogits: Float32Array;
  maskLogits: Float32Array;
  /** When pruning: patches kept per stage and image, [S*B] at s*B + b. */
  kept?: Int32Array;
  perBlock?: Float32Array[];
}
export interface NativeInferenceSession {
  /** images [B*3*H*W]; one run at a time (a second concurrent call throws). */
  run(images: Float32Array, B: number, perBlock: boolean): Promise<NativeRunResult>;
  dispose(): void;
  describe(): { decodePoints: number; firstDecodeBlock: number; stageKeep: number[]; maskSize: [number, number] };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const packageRoot = path.resolve(here, '..');

function candidates(): string[] {
  const list: string[] = [];
  if (process.env.REG4PRU_ADDON) list.push(path.resolve(process.env.REG4PRU_ADDON));
  list.push(path.join(packageRoot, 'build', 'Release', 'reg4pru.node'));
  list.push(path.join(packageRoot, 'build-dev', 'reg4pru.node'));
  return list;
}

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const p of candidates()) {
    if (!existsSync(p)) {
      tried.push(`${p} (not found)`);
      continue;
    }
    try {
      return require(p) as NativeBinding;
    } catch (e) {
      tried.push(`${p} (${(e as Error).message})`);
      if (process.env.REG4PRU_ADDON) break;
    }
  }
  throw new Error(
    `reg4pru: could not load the native addon. Tried:\n  ${tried.join('\n  ')}\n` +
      'Build it with `npm run build:native` (cmake-js; needs cmake >= 3.18 and g++) or `npm run build:native:gyp` (node-gyp, CPU only).',
  );
}

let binding: NativeBinding | undefined;

/** The loaded addon (loaded on first use, once per process). A bad REG4PRU_KERNEL makes it throw. */
export function native(): NativeBinding {
  if (binding === undefined) {
    const b = load();
    const envError = b.info().cpu.kernelEnvError;
    if (envError) throw new RangeError(`reg4pru: ${envError}`);
    binding = b;
  }
  return binding;
}
