/** What nvidia-smi says about the GPUs (memory, driver), when it is installed. */
import { execFile } from "node:child_process";

export interface GpuInfo {
  index: number;
  name: string;
  memoryBytes: number;
  driver: string;
}

export type GpuQuery = () => Promise<GpuInfo[] | undefined>;

/** Parses `nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  return text
    .split("\n")
    .map((line) => line.split(",").map((field) => field.trim()))
    .filter((fields) => fields.length >= 4 && /^\d+$/.test(fields[0]!))
    .map(([index, name, memoryMiB, driver]) => ({
      index: Number(index),
      name: name!,
      memoryBytes: Number(memoryMiB) * 1024 * 1024,
      driver: driver!,
    }));
}

/** The GPUs nvidia-smi lists; undefined when it is missing or fails. */
export const queryGpus: GpuQuery = () =>
  new Promise((resolve) => {
    execFile(
      "nvidia-smi",
      ["--query-gpu=index,name,memory.total,driver_version", "--format=csv,noheader,nounits"],
      { timeout: 15_000 },
      (error, stdout) => resolve(error ? undefined : parseNvidiaSmi(stdout)),
    );
  });

/** CUDA 12 (and cuDNN 9 for CUDA 12) need at least this Linux driver. */
export const MIN_CUDA12_DRIVER = "525.60.13";

export function driverTooOld(driver: string): boolean {
  const have = driver.split(".").map(Number);
  const want = MIN_CUDA12_DRIVER.split(".").map(Number);
  for (let i = 0; i < want.length; i++) {
    const d = (have[i] ?? 0) - want[i]!;
    if (Number.isNaN(d)) return false;
    if (d !== 0) return d < 0;
  }
  return false;
}
