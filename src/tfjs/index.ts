/**
 * `reg4pru/tfjs`: the TensorFlow.js integration (a separate entry point so that `reg4pru` itself never
 * loads TF.js). Our ops as differentiable TF.js ops (`tfops.*`, kernels named `Reg4pru*`, registered
 * for 'cpu', 'wasm' and 'tensorflow' on first use or explicitly).
 */
export * as tfops from './ops.js';
export { registerReg4pruKernels, unregisterReg4pruKernels, isReg4pruRegistered } from './register.js';
