/**
 * The Discord bot against the loopback Discord (test/discord/fake-discord.ts), the real discord.js
 * client and easel's composition root:
 *   1. interaction → first answer (what Discord's 3 s rule measures): median and p99 over N
 *      /imagine interactions, as the fake saw them on the wire;
 *   2. REST calls per generated image with the default 2 s progress interval, for jobs of a few
 *      seconds that wait in line first;
 *   3. the main thread's event-loop delay (perf_hooks.monitorEventLoopDelay) while a job runs, with
 *      a preview every step: on a simulated device (the bot's own work) and on the fixture SDXL
 *      pipeline on the CPU in its device worker.
 * Run: node --import tsx bench/discord.ts [interactions=50]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { discordAdapter } from "../src/bots/discord/index.js";
import { loadConfig } from "../src/config.js";
import { silentLogger } from "../src/logger.js";
import { startEasel } from "../src/main.js";
import { FakeDiscord, snowflake } from "../test/discord/fake-discord.js";
import { fixtureModels } from "../test/helpers/fixtures.js";

const interactions = Number(process.argv[2] ?? 50);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function withEasel<T>(
  env: Record<string, string>,
  engine: "simulated" | "fixture",
  run: (fake: FakeDiscord, channelId: string) => Promise<T>,
): Promise<T> {
  const fake = await new FakeDiscord().start();
  const guild = fake.addGuild("bench");
  const channel = fake.addChannel(guild);
  const dataDir = await mkdtemp(join(tmpdir(), "easel-bench-discord-"));
  const config = loadConfig({
    DISCORD_TOKEN: fake.token,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_GUILD_ID: guild.id,
    EASEL_DATA_DIR: dataDir,
    EASEL_DEVICES: "cpu",
    EASEL_WEB_PORT: "0",
    ...(engine === "fixture" ? { EASEL_MODEL_DIR: (await fixtureModels()).base } : {}),
    ...env,
  });
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [discordAdapter()],
    ...(engine === "simulated"
      ? { queue: { engineFor: () => ({ kind: "simulated" as const, stepMs: 250 }) } }
      : {}),
  });
  try {
    return await run(fake, channel.id);
  } finally {
    await easel.stop();
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function imagine(fake: FakeDiscord, channelId: string, prompt: string) {
  return fake.slashCommand({
    user: { id: snowflake(), username: "bench" },
    channel: fake.channels.get(channelId)!,
    options: [{ name: "prompt", type: 3, value: prompt }],
  });
}

// 1. Time to the first answer.
await withEasel({ EASEL_MAX_JOBS_TOTAL: "1000" }, "simulated", async (fake, channelId) => {
  const times: number[] = [];
  for (let i = 0; i < interactions; i++) {
    const it = imagine(fake, channelId, `answer time ${i} --steps 1`);
    const callback = await fake.waitFor(() => fake.interactions.get(it.id)?.callback, 10_000);
    times.push(callback.at - it.dispatchedAt);
  }
  times.sort((a, b) => a - b);
  console.log(
    `interaction → first answer over ${interactions}: median ${quantile(times, 0.5).toFixed(1)} ms, ` +
      `p99 ${quantile(times, 0.99).toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms`,
  );
});

// 2. REST calls per image: 4 jobs of 20 steps x 250 ms (5 s each), the later ones waiting in line.
await withEasel({}, "simulated", async (fake, channelId) => {
  const before = fake.requests.length;
  const jobs = [1, 2, 3, 4].map((i) => imagine(fake, channelId, `rest calls ${i} --steps 20`));
  for (const it of jobs) {
    await fake.waitFor(
      () => fake.original(it)?.attachments.some((a) => a.filename.startsWith("easel-")),
      60_000,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const calls = fake.requests.slice(before);
  const byKind = new Map<string, number>();
  for (const call of calls) {
    const kind = `${call.method} ${call.route.replace(/\d{17,19}/g, ":id").replace(/itoken-[0-9a-f]+/, ":token")}`;
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  console.log(
    `REST calls per image (4 jobs of ~5 s, waiting in line, 2 s progress interval): ${(calls.length / jobs.length).toFixed(1)}`,
  );
  for (const [kind, count] of byKind) console.log(`  ${count.toString().padStart(3)}  ${kind}`);
});

/** Event-loop delay of the main thread while one job runs and its message follows it. */
async function loopDelayDuring(
  engine: "simulated" | "fixture",
  prompt: string,
  label: string,
): Promise<void> {
  await withEasel({ EASEL_PREVIEW_EVERY: "1" }, engine, async (fake, channelId) => {
    // Warm the device up first (its first run loads the sessions).
    const warm = imagine(fake, channelId, "warm up --steps 2");
    await fake.waitFor(
      () => fake.original(warm)?.attachments.some((a) => a.filename.startsWith("easel-")),
      120_000,
    );
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    const started = performance.now();
    const it = imagine(fake, channelId, prompt);
    await fake.waitFor(
      () => fake.original(it)?.attachments.some((a) => a.filename.startsWith("easel-")),
      120_000,
    );
    histogram.disable();
    // The histogram holds whole timer intervals: subtract the 10 ms resolution to get the delay.
    const ms = (ns: number) => Math.max(0, ns / 1e6 - 10).toFixed(1);
    console.log(
      `event-loop delay during ${label} (${((performance.now() - started) / 1000).toFixed(1)} s): ` +
        `p50 ${ms(histogram.percentile(50))} ms, p99 ${ms(histogram.percentile(99))} ms, max ${ms(histogram.max)} ms`,
    );
  });
}

// 3. The bot's own main-thread work (a simulated device that sleeps, like a GPU), then the fixture
// SDXL pipeline on the CPU in its worker thread (which competes with the main thread for cores).
await loopDelayDuring(
  "simulated",
  "a lighthouse --steps 20 --n 2",
  "a simulated 5 s job, 2 images, preview every step",
);
await loopDelayDuring(
  "fixture",
  "a lighthouse at dusk --steps 8 --n 2",
  "a fixture-model CPU job, 8 steps, 2 images, preview every step",
);
