/**
 * Output moderation in the job queue, with the real classifier on the simulated engine's images:
 * each image decided once before `done`, stored with the job, in the audit trail; withheld images
 * listed and released; thresholds 0 and 1; the NSFW-channel exemption; a classifier that cannot
 * load stops the start, and one that cannot answer fails the job (nothing announced unchecked).
 * Backend-neutral (openQueue): test/e2e/redis-moderation.e2e.ts runs it on the Redis gateway.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import type { Config } from "../../src/config.js";
import { ClassifierLoadError } from "../../src/moderation/classifier.js";
import type { ModerationConfig } from "../../src/moderation/settings.js";
import type { JobQueueEvents } from "../../src/queue/index.js";
import {
  FAST_ENGINE,
  nextEvent,
  onCleanup,
  openQueue,
  request,
  settled,
  type TestQueue,
  testConfig,
} from "../queue/support.js";

async function moderatedQueue(
  t: TestContext,
  moderation: Partial<ModerationConfig>,
  options: { moderationTimeoutMs?: number; previewEvery?: number } = {},
): Promise<{ queue: TestQueue; config: Config }> {
  const dir = await mkdtemp(join(tmpdir(), "easel-moderation-queue-"));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  const { previewEvery, ...queueOptions } = options;
  const base = testConfig(dir, previewEvery !== undefined ? { previewEvery } : {});
  const config: Config = {
    ...base,
    moderation: { ...base.moderation, mode: "withhold", threshold: 0.5, ...moderation },
  };
  const queue = await openQueue(t, { config, engineFor: () => FAST_ENGINE, ...queueOptions });
  return { queue, config };
}

async function doneEvent(queue: TestQueue, jobId: string): Promise<JobQueueEvents["done"]> {
  const { kind, event } = await settled(queue, jobId);
  assert.equal(kind, "done", JSON.stringify(event));
  return event as JobQueueEvents["done"];
}

describe("output moderation in the queue", () => {
  it("withhold at threshold 0: every image is flagged and withheld, in done, the record, the audit trail and the withheld list", async (t) => {
    const { queue } = await moderatedQueue(t, { mode: "withhold", threshold: 0 });
    await queue.start();
    const { jobId } = await queue.submit(request("alice", { count: 2, seed: "7" }));
    const done = await doneEvent(queue, jobId);
    assert.equal(done.images.length, 2);
    for (const image of done.images) {
      const decision = image.moderation;
      assert.ok(decision, "every image carries its decision in done");
      assert.equal(decision.flagged, true);
      assert.equal(decision.action, "withhold");
      assert.ok(decision.score >= 0 && decision.score <= 1, `score ${decision.score}`);
      assert.ok(["Drawing", "Hentai", "Neutral", "Porn", "Sexy"].includes(decision.label), decision.label);
    }
    // Seeds 7 and 8 make two different solid colours: the classifier sees two different pictures.
    assert.notDeepEqual(done.images[0]!.moderation, done.images[1]!.moderation);

    const record = await queue.job(jobId);
    assert.deepEqual(
      record?.images.map((image) => image.moderation),
      done.images.map((image) => image.moderation),
      "the store keeps what done said",
    );

    const audit = (await queue.ledger.actions(0)).filter((action) => action.action === "moderate");
    assert.deepEqual(
      audit.map((action) => [action.actor, action.target, action.place]),
      [
        ["discord:alice", `${jobId}-0`, "discord:c1"],
        ["discord:alice", `${jobId}-1`, "discord:c1"],
      ],
    );
    assert.match(
      audit[0]!.detail ?? "",
      /^withhold: unsafe score [\d.]+ \((Drawing|Hentai|Neutral|Porn|Sexy)\)$/,
    );

    const withheld = await queue.ledger.withheld();
    assert.deepEqual(
      withheld.map((image) => [image.imageId, image.userId, image.place, image.index]),
      [
        [`${jobId}-0`, "discord:alice", "discord:c1", 0],
        [`${jobId}-1`, "discord:alice", "discord:c1", 1],
      ],
    );
    assert.equal(withheld[0]!.prompt, request("alice").prompt);
    assert.equal(withheld[0]!.score, done.images[0]!.moderation!.score);
  });

  it("release: an admin releases one withheld image once; it leaves the list and the audit trail says who", async (t) => {
    const { queue } = await moderatedQueue(t, { mode: "withhold", threshold: 0 });
    const { jobId } = await queue.submit(request("alice", { count: 2 }));
    await doneEvent(queue, jobId);
    const at = Date.UTC(2026, 11, 6, 15);
    assert.equal(await queue.ledger.release(jobId, 1, "discord:999", "discord:g1/c9", at), "released");
    assert.equal(await queue.ledger.release(jobId, 1, "discord:999"), "already_released");
    assert.equal(await queue.ledger.release(jobId, 7, "discord:999"), "not_found");
    assert.equal(await queue.ledger.release("nosuchjob", 0, "discord:999"), "not_found");

    const images = (await queue.job(jobId))!.images;
    assert.deepEqual(images[1]!.moderation?.released, { byUserId: "discord:999", at });
    assert.equal(images[1]!.moderation?.action, "withhold", "the decision stays as it was made");
    assert.equal(images[0]!.moderation?.released, undefined);
    assert.deepEqual(
      (await queue.ledger.withheld()).map((image) => image.imageId),
      [`${jobId}-0`],
    );
    const releases = (await queue.ledger.actions(0)).filter((action) => action.action === "release");
    assert.deepEqual(releases, [
      { at, actor: "discord:999", action: "release", target: `${jobId}-1`, place: "discord:g1/c9" },
    ]);
  });

  it("threshold 1 flags nothing: scores are kept, every action is none, nothing is withheld or audited", async (t) => {
    const { queue } = await moderatedQueue(t, { mode: "withhold", threshold: 1 });
    const { jobId } = await queue.submit(request("bob", { count: 2 }));
    const done = await doneEvent(queue, jobId);
    for (const image of done.images) {
      assert.equal(image.moderation?.flagged, false);
      assert.equal(image.moderation?.action, "none");
      assert.equal(typeof image.moderation?.score, "number");
    }
    assert.deepEqual(await queue.ledger.withheld(), []);
    assert.equal(await queue.ledger.release(jobId, 0, "discord:999"), "not_withheld");
    assert.deepEqual(
      (await queue.ledger.actions(0)).filter((action) => action.action === "moderate"),
      [],
    );
  });

  it("a channel marked NSFW is exempt (flagged, action none) unless EASEL_MODERATION_NSFW_CHANNELS is on", async (t) => {
    const nsfw = (user: string) => {
      const base = request(user);
      return { ...base, requester: { ...base.requester, nsfwChannel: true } };
    };
    const exempt = await moderatedQueue(t, { mode: "spoiler", threshold: 0 });
    const inNsfw = (await doneEvent(exempt.queue, (await exempt.queue.submit(nsfw("carol"))).jobId))
      .images[0]!;
    assert.equal(inNsfw.moderation?.flagged, true);
    assert.equal(inNsfw.moderation?.action, "none");
    const elsewhere = (await doneEvent(exempt.queue, (await exempt.queue.submit(request("carol"))).jobId))
      .images[0]!;
    assert.equal(elsewhere.moderation?.action, "spoiler");

    const strict = await moderatedQueue(t, { mode: "spoiler", threshold: 0, nsfwChannels: true });
    const moderated = (await doneEvent(strict.queue, (await strict.queue.submit(nsfw("dave"))).jobId))
      .images[0]!;
    assert.equal(moderated.moderation?.action, "spoiler");
  });

  it("sends progress without previews while moderation is on (no unchecked picture leaves the queue)", async (t) => {
    const previewsWith = async (mode: ModerationConfig["mode"]) => {
      const { queue } = await moderatedQueue(t, { mode, threshold: 0.5 }, { previewEvery: 1 });
      const steps: boolean[] = [];
      queue.on("progress", (event) => steps.push(event.preview !== undefined));
      await doneEvent(queue, (await queue.submit(request("gina", { steps: 3 }))).jobId);
      return steps;
    };
    const off = await previewsWith("off");
    assert.ok(off.includes(true), `previews are sent with moderation off: ${off}`);
    const on = await previewsWith("blur");
    assert.ok(on.length > 0, "progress is still sent");
    assert.ok(!on.includes(true), `no preview with moderation on: ${on}`);
  });

  it("moderation off: images carry no decision", async (t) => {
    const { queue } = await moderatedQueue(t, { mode: "off" });
    const done = await doneEvent(queue, (await queue.submit(request("erin"))).jobId);
    assert.equal(done.images[0]!.moderation, undefined);
    assert.equal((await queue.job(done.jobId))!.images[0]!.moderation, undefined);
  });

  it("a classification that does not answer in time fails the job with code moderation: no done, no image kept", async (t) => {
    const { queue } = await moderatedQueue(t, { mode: "blur", threshold: 0.5 }, { moderationTimeoutMs: 1 });
    const failed = nextEvent(queue, "failed");
    let announced = false;
    queue.on("done", () => {
      announced = true;
    });
    const { jobId } = await queue.submit(request("frank"));
    const event = await failed;
    assert.equal(event.jobId, jobId);
    assert.equal(event.code, "moderation");
    assert.match(event.message, /could not check this image before posting it, so it was not posted/);
    assert.match(event.detail ?? "", /no answer within 1 ms/);
    const record = await queue.job(jobId);
    assert.equal(record?.status, "failed");
    assert.deepEqual(record?.images, []);
    assert.equal(announced, false);
  });
});

describe("a moderation classifier that cannot load", () => {
  it("stops the queue's start with the operator's reason", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "easel-moderation-bad-"));
    onCleanup(t, () => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "model.json"), "not json at all");
    const base = testConfig(dir);
    const config: Config = { ...base, moderation: { ...base.moderation, mode: "spoiler", model: dir } };
    // The Redis backend's open() starts the queue itself: the rejection comes from there.
    const opened = openQueue(t, { config, engineFor: () => FAST_ENGINE }).then((queue) => queue.start());
    await assert.rejects(opened, (error) => {
      assert.ok(error instanceof ClassifierLoadError, String(error));
      assert.match(
        error.message,
        /^The moderation classifier \(EASEL_MODERATION_MODEL=.*\) cannot be loaded: .*model\.json cannot be read as JSON/,
      );
      return true;
    });
  });
});
