/**
 * Kernels the tfjs wasm backend lacks or computes slowly, registered by initBackend('wasm').
 * (Placeholder: filled by the backend work; returns the names of the kernels it registered.)
 */
export function registerWasmKernels(): string[] {
  return [];
}
