/**
 * Datasheet dense BF16 tensor-core peak of the first CUDA device (no sparsity), for "share of peak" figures in
 * the GPU harness and benchmarks: H100 SXM and H200 989 TFLOP/s, H100 PCIe 756, A100 312; undefined for any
 * other device (no guess).
 */
import { info } from '../runtime.js';

/** Dense BF16 datasheet TFLOP/s for a device name (default: the first device's), or undefined when unknown. */
export function datasheetBf16Tflops(name: string = info().cuda.devices[0]?.name ?? ''): number | undefined {
  if (/H200/i.test(name)) return 989;
  if (/H100/i.test(name)) return /PCIe/i.test(name) ? 756 : 989;
  if (/A100/i.test(name)) return 312;
  return undefined;
}
