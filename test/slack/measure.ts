/**
 * Measures the Slack app against the loopback Slack (not a test; run it by hand):
 *   node --import tsx test/slack/measure.ts [commands per mode, default 200]
 * - command → ack: HTTP mode, from sending a signed /imagine to Bolt's 200; Socket Mode, from
 *   sending the envelope to receiving its ack. Commands go one at a time, on simulated devices
 *   (1 ms steps), so the queue's own work is in the numbers but no model's.
 * - Web API calls per generated image: every call the fake records for one job, from the command to
 *   the result (30 steps of 100 ms, so the job runs about 3 s and its progress is edited), for jobs
 *   of 1 and of 4 images.
 */
import { FakeSlack } from "./fake-slack.js";
import { slashCommandPayload } from "./signed.js";
import {
  CHANNEL,
  imagineOverHttp,
  median,
  percentile,
  resultMessages,
  type SlackEasel,
  startSlackEasel,
  tempDir,
  USER,
} from "./support.js";

const COMMANDS = Number(process.argv[2] ?? 200);

async function ackTimes(mode: "http" | "socket"): Promise<number[]> {
  const fake = await FakeSlack.start();
  const dir = await tempDir();
  const app = await startSlackEasel(fake, {
    mode,
    dataDir: dir.path,
    simulatedStepMs: 1,
    env: { EASEL_MAX_JOBS_PER_USER: "1000", EASEL_MAX_JOBS_TOTAL: "1000" },
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < COMMANDS; i++) {
      const text = `a fox number ${i} --steps 1`;
      if (mode === "http") {
        const ack = await imagineOverHttp(fake, app, text);
        if (ack.status !== 200) throw new Error(`status ${ack.status}`);
        times.push(ack.ms);
      } else {
        const envelope = await fake.deliver(
          "slash_commands",
          slashCommandPayload({
            text,
            teamId: fake.teamId,
            channelId: CHANNEL,
            userId: USER,
            responseUrl: fake.responseUrl(CHANNEL, USER),
          }),
        );
        times.push(envelope.ackedAt! - envelope.sentAt);
      }
    }
    await fake.waitFor(() => resultMessages(fake).length === COMMANDS, 120_000, "every result");
  } finally {
    await app.stop();
    await fake.close();
    await dir.remove();
  }
  return times;
}

async function callsPerJob(count: number): Promise<{ total: number; byMethod: Record<string, number> }> {
  const fake = await FakeSlack.start();
  const dir = await tempDir();
  let app: SlackEasel | undefined;
  try {
    app = await startSlackEasel(fake, { mode: "http", dataDir: dir.path, simulatedStepMs: 100 });
    const before = fake.calls.length;
    await imagineOverHttp(fake, app, `a fox --steps 30 --n ${count}`);
    await fake.waitFor(() => fake.deleted.length === 1, 30_000, "the result");
    const byMethod: Record<string, number> = {};
    for (const call of fake.calls.slice(before)) byMethod[call.method] = (byMethod[call.method] ?? 0) + 1;
    return { total: fake.calls.length - before, byMethod };
  } finally {
    await app?.stop();
    await fake.close();
    await dir.remove();
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
for (const mode of ["http", "socket"] as const) {
  await ackTimes(mode); // warm-up run: first requests pay for module loading and JIT
  const times = await ackTimes(mode);
  console.log(
    `${mode}: command → ack over ${times.length} commands: median ${round(median(times))} ms, p99 ${round(percentile(times, 99))} ms, max ${round(Math.max(...times))} ms`,
  );
}
for (const count of [1, 4]) {
  const { total, byMethod } = await callsPerJob(count);
  console.log(
    `${count} image(s): ${total} Web API calls (${round(total / count)} per image): ${JSON.stringify(byMethod)}`,
  );
}
