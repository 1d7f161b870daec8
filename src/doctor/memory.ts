/** Whether a device has room for the models' weights: host memory for the CPU, GPU memory for CUDA. */
import type { GpuInfo } from "./gpu-info.js";
import { type CheckResult, fail, formatBytes, ok, warn } from "./types.js";

/** Above this share of the memory, activations (a few GB at 1024²) may not fit beside the weights. */
const TIGHT = 0.85;

export function checkDeviceMemory(
  device: string,
  neededBytes: number,
  machine: { totalMemory: number; gpus: GpuInfo[] | undefined },
): CheckResult {
  const name = `memory ${device}`;
  const cuda = /^cuda:(\d+)$/.exec(device);
  let have: number;
  let where: string;
  if (cuda) {
    const gpu = machine.gpus?.find((info) => info.index === Number(cuda[1]));
    if (!gpu) {
      const why =
        machine.gpus === undefined ? "nvidia-smi is not available" : `nvidia-smi lists no GPU ${cuda[1]}`;
      return warn(
        name,
        `the models need ${formatBytes(neededBytes)} of GPU memory; it cannot be read (${why})`,
      );
    }
    have = gpu.memoryBytes;
    where = `GPU ${gpu.index} (${gpu.name})`;
  } else {
    have = machine.totalMemory;
    where = "this machine";
  }
  const message = `the models need ${formatBytes(neededBytes)} for their weights; ${where} has ${formatBytes(have)}`;
  const details = { neededBytes, availableBytes: have };
  if (neededBytes > have) return fail(name, `${message}: they do not fit`, details);
  if (neededBytes > have * TIGHT)
    return warn(name, `${message}: tight, runs may fail out of memory`, details);
  return ok(name, message, details);
}
