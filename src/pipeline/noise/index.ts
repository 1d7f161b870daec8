/** Seeded noise that matches PyTorch's CPU generator, and the variation-seed blend. */
export { logAvx2 } from "./box-muller.js";
export { fma32 } from "./fma32.js";
export { Mt19937 } from "./mt19937.js";
export { slerpNoise } from "./slerp.js";
export { TorchGenerator } from "./torch-generator.js";
