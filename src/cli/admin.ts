/**
 * `easel admin queue|cancel|ban|unban|stats|withheld|release`: the operator's hands on the box. It opens the same
 * SQLite job store as the running service (WAL lets both work at once): bans and the audit trail
 * are written directly (the service reads bans at each request); a cancel is a request that the
 * running service answers within its next poll (about half a second). When no running process
 * holds the job, the job is cancelled in the store itself.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { AdminService, type CancelOutcome, MAX_STATS_DAYS, parseDays } from "../commands/admin.js";
import { adminTexts } from "../commands/texts.js";
import { type Config, loadConfigFromEnvironment } from "../config.js";
import { ConfigError, EaselError, InvalidInputError } from "../errors.js";
import { jobRecordOf } from "../queue/embedded.js";
import { StoreLedger } from "../queue/ledger.js";
import { JobStore } from "../queue/store.js";
import type { ReleaseOutcome, WithheldImage } from "../requests/operator.js";
import type { UserId } from "../requests/request.js";
import { plainText } from "./imagine.js";

/** How long `easel admin cancel` waits for the running service to answer before acting alone. */
const SERVICE_ANSWER_MS = 3000;
const POLL_MS = 50;

function operator(): UserId {
  try {
    return `cli:${userInfo().username || "operator"}`;
  } catch {
    return "cli:operator"; // no passwd entry (some containers)
  }
}

const QUALIFIED_USER =
  /^(discord:\d+|slack:[A-Za-z0-9]+:[A-Za-z0-9]+|web:[A-Za-z0-9_-]+|cli:[A-Za-z0-9._-]+)$/;

function targetUser(given: string): UserId {
  if (!QUALIFIED_USER.test(given.trim())) throw new InvalidInputError(adminTexts.badUserId(given), "user");
  return given.trim() as UserId;
}

/**
 * Asks the running service to cancel `jobId` and waits for its answer; with no answer in time, or
 * when no process there holds the job, cancels it in the store.
 */
async function cancelThroughService(ledger: StoreLedger, jobId: string, by: UserId): Promise<CancelOutcome> {
  const id = ledger.requestCancel(jobId, by, Date.now());
  const deadline = Date.now() + SERVICE_ANSWER_MS;
  let outcome = ledger.cancelOutcome(id);
  while (outcome === undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    outcome = ledger.cancelOutcome(id);
  }
  if (outcome === undefined && !(await ledger.settleCancel(id, "cli", Date.now()))) {
    outcome = ledger.cancelOutcome(id); // the service answered at the last moment
  }
  if (outcome === "cancelled" || outcome === "stopping") return { outcome, how: "by the running service" };
  if (outcome?.startsWith("finished:")) {
    throw new EaselError("not_found", adminTexts.alreadyFinished(jobId, outcome.slice("finished:".length)));
  }
  if (ledger.cancelInStore(jobId, by, Date.now())) {
    return { outcome: "cancelled", how: "in the job store (no running service holds it)" };
  }
  throw new EaselError("not_found", adminTexts.alreadyFinished(jobId, "finished"));
}

/**
 * The running service's job store. Admin commands act on that store only: opening one that is not
 * there would create an empty store that no service reads, and a ban written there would hold nowhere.
 */
function existingStore(config: Config): JobStore {
  const file = join(config.dataDir, "jobs.sqlite");
  if (!existsSync(file)) {
    throw new ConfigError(
      `No job store in the data folder ${resolve(config.dataDir)} (EASEL_DATA_DIR=${config.dataDir}; the default is "data", relative to the current folder ${process.cwd()}). ` +
        "Run easel admin from the folder easel start runs in, or set EASEL_DATA_DIR to its data folder.",
    );
  }
  return JobStore.open(file);
}

/** Opens the configured job store, runs `body` with the admin service over it, closes the store. */
async function withAdmin<T>(body: (admin: AdminService, ledger: StoreLedger) => Promise<T>): Promise<T> {
  const config = await loadConfigFromEnvironment();
  const store = existingStore(config);
  try {
    const ledger = new StoreLedger(store);
    const admin = new AdminService({
      config,
      ledger,
      job: async (jobId) => {
        const stored = store.get(jobId);
        return stored ? jobRecordOf(stored) : undefined;
      },
      cancelJob: (jobId, by) => cancelThroughService(ledger, jobId, by),
    });
    return await body(admin, ledger);
  } finally {
    store.close();
  }
}

/** A 1-based image number as typed (`1`…`99`), or undefined. */
function imageNumber(given: string): number | undefined {
  return /^[1-9]\d?$/.test(given.trim()) ? Number(given.trim()) : undefined;
}

/** `easel admin withheld`: one line per image, oldest first, with what releases it. */
function withheldListing(images: readonly WithheldImage[], now: number): string {
  if (images.length === 0) return "No withheld images are waiting.";
  const lines = images.map((image) => {
    const minutes = Math.max(0, Math.round((now - image.at) / 60_000));
    const who = image.userName ? `${image.userId} (${image.userName})` : image.userId;
    const prompt = image.prompt.length > 80 ? `${image.prompt.slice(0, 79)}…` : image.prompt;
    return `${image.jobId} image ${image.index + 1}: unsafe ${image.score.toFixed(2)} (${image.label}), ${who} in ${image.place}, ${minutes} min ago: "${prompt}"`;
  });
  return [
    `${images.length} withheld image${images.length === 1 ? "" : "s"} (release one with: easel admin release <job> <image>):`,
    ...lines,
  ].join("\n");
}

function releaseAnswer(outcome: ReleaseOutcome, jobId: string, number: number): string {
  const image = `Image ${number} of job ${jobId}`;
  switch (outcome) {
    case "released":
      return `${image} is released: everyone sees it from now on.`;
    case "already_released":
      return `${image} was already released.`;
    case "not_withheld":
      throw new InvalidInputError(
        `${image} is not withheld (or its file is gone); there is nothing to release.`,
        "image",
      );
    case "not_found":
      throw new EaselError("not_found", `${image} does not exist.`);
  }
}

const print = (text: string): void => {
  process.stdout.write(`${plainText(text)}\n`);
};
const printJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

export function registerAdminCommand(program: Command): void {
  const admin = program
    .command("admin")
    .description(
      "operate the bot from this machine: the queue, cancels, bans, stats (same job store, also while it runs)",
    );
  admin
    .command("queue")
    .description("what is queued and running, on which device, for whom")
    .option("--json", "print JSON")
    .action((options: { json?: boolean }) =>
      withAdmin(async (service) => {
        const jobs = await service.queue();
        if (options.json) printJson(jobs);
        else print(adminTexts.queueListing(jobs, Date.now()));
      }),
    );
  admin
    .command("cancel")
    .argument("<job>", "the job id")
    .description("cancel any queued or running job")
    .action((jobId: string) =>
      withAdmin(async (service) => print(await service.cancel(jobId, operator(), "cli"))),
    );
  admin
    .command("ban")
    .argument("<user>", "a platform-qualified user id: discord:123, slack:T1:U2, web:…, cli:…")
    .option("--reason <text>", "why (kept in the audit trail)")
    .description("refuse a user's requests from now on")
    .action((user: string, options: { reason?: string }) =>
      withAdmin(async (service) =>
        print(await service.ban(targetUser(user), operator(), options.reason, "cli")),
      ),
    );
  admin
    .command("unban")
    .argument("<user>", "a platform-qualified user id")
    .description("lift a ban")
    .action((user: string) =>
      withAdmin(async (service) => print(await service.unban(targetUser(user), operator(), "cli"))),
    );
  admin
    .command("withheld")
    .description("images output moderation withheld, waiting for an admin (EASEL_MODERATION=withhold)")
    .option("--json", "print JSON")
    .action((options: { json?: boolean }) =>
      withAdmin(async (_service, ledger) => {
        const images = await ledger.withheld();
        if (options.json) printJson(images);
        else print(withheldListing(images, Date.now()));
      }),
    );
  admin
    .command("release")
    .argument("<job>", "the job id")
    .argument("<image>", "the image number (1, 2, …)")
    .description("release a withheld image: everyone sees it from then on (kept in the audit trail)")
    .action((jobId: string, given: string) =>
      withAdmin(async (_service, ledger) => {
        const number = imageNumber(given);
        if (number === undefined) {
          throw new InvalidInputError(`"${given}" is not an image number (1, 2, …).`, "image");
        }
        print(
          releaseAnswer(
            await ledger.release(jobId.trim(), number - 1, operator(), "cli"),
            jobId.trim(),
            number,
          ),
        );
      }),
    );
  admin
    .command("stats")
    .description("jobs and images per UTC day and platform, failures by code, mean wait and device time")
    .option("--days <n>", `days to cover, 1-${MAX_STATS_DAYS}`, "7")
    .option("--json", "print JSON")
    .action((options: { days: string; json?: boolean }) =>
      withAdmin(async (service) => {
        const days = parseDays(options.days);
        if (days === undefined)
          throw new InvalidInputError(adminTexts.badDays(options.days, MAX_STATS_DAYS), "days");
        const stats = await service.stats(days);
        if (options.json) printJson(stats);
        else print(adminTexts.stats(stats, days));
      }),
    );
}
