/**
 * The README's "Which GPU do I need?" table, from the memory plan's own figures: SDXL base 1.0's
 * components (parameter counts from the full-size fixture builders, which follow diffusers and
 * transformers exactly) in float32 and float16, with and without the text encoders on the CPU,
 * through `planMemory` at 1024×1024. `node --import tsx bench/memory-table.ts`
 */
import { type ComponentWeights, planMemory } from "../src/doctor/memory-plan.js";
import { formatBytes } from "../src/doctor/types.js";
import { fullSizeComponents, SDXL_ARCHITECTURE } from "../src/fixtures/full-size/index.js";

function weights(dtype: "float32" | "float16", fp16Vae = false): ComponentWeights[] {
  return fullSizeComponents("base", SDXL_ARCHITECTURE, "float32").map(({ name, build }) => {
    const parameters = build().parameterCount();
    const converted = dtype === "float16" && (fp16Vae || !name.startsWith("vae"));
    return {
      model: "base",
      component: name,
      parameters,
      bytes: parameters * (converted ? 2 : 4),
      dtype: converted ? "float16" : "float32",
    };
  });
}

const CARDS = [8, 10, 12, 16, 24].map((gb) => ({ label: `${gb} GB`, bytes: gb * 1024 ** 3 }));
const setups = [
  { label: "float32 (the official export)", dtype: "float32", encoders: undefined, fp16Vae: false },
  {
    label: "float16 (`easel convert --dtype float16`)",
    dtype: "float16",
    encoders: undefined,
    fp16Vae: false,
  },
  {
    label: "float16 + text encoders on the CPU (`EASEL_TEXT_ENCODER_DEVICE=cpu`)",
    dtype: "float16",
    encoders: "cpu",
    fp16Vae: false,
  },
  {
    label: "float16 with an fp16-safe VAE (`--fp16-safe-vae`) + text encoders on the CPU",
    dtype: "float16",
    encoders: "cpu",
    fp16Vae: true,
  },
] as const;

const lines = [
  "| set-up | GPU weights | GPU total, 1 image | GPU total, 4 images | smallest card, 1 image / 4 images | CPU memory for the encoders |",
  "| --- | --- | --- | --- | --- | --- |",
];
for (const setup of setups) {
  const plan = (count: number) =>
    planMemory({
      weights: weights(setup.dtype, setup.fp16Vae),
      devices: ["cuda:0"],
      textEncoderDevice: setup.encoders,
      maxCount: count,
      memoryOf: () => undefined,
    });
  const one = plan(1);
  const four = plan(4);
  const gpu1 = one.devices[0]!;
  const gpu4 = four.devices[0]!;
  const card = (need: number) => CARDS.find((c) => c.bytes >= need)?.label ?? "> 24 GB";
  const cpu = one.devices.find((d) => d.device === "cpu");
  lines.push(
    `| ${setup.label} | ${formatBytes(gpu1.weightBytes)} | ${formatBytes(gpu1.neededBytes)} | ${formatBytes(gpu4.neededBytes)} | ${card(gpu1.neededBytes)} / ${card(gpu4.neededBytes)} | ${cpu ? formatBytes(cpu.neededBytes) : "—"} |`,
  );
}
process.stdout.write(`${lines.join("\n")}\n`);
