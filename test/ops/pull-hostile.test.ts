/**
 * `easel pull` against a broken or hostile mirror (the loopback fake Hub with faults): every
 * misbehaviour ends at once or within the time bound, with a message that says what was wrong.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, before, beforeEach, describe, it } from "node:test";
import { HubClient, MAX_LISTING_PAGES } from "../../src/hub/client.js";
import { HubError } from "../../src/hub/errors.js";
import { pullModel } from "../../src/hub/pull.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { FakeHub, filesOf, type HubFile } from "./fake-hub.js";

const REPO = "acme/sdxl-onnx";
const quick = { attempts: 5, retryDelayMs: () => 10 };

describe("easel pull against a broken mirror", { timeout: 120_000 }, () => {
  let files: HubFile[];
  let hub: FakeHub;
  let work: string;

  before(async () => {
    files = await filesOf((await fixtureModels()).base);
  });
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), "easel-pull-bad-"));
    hub = await new FakeHub({ repo: REPO, files, pageSize: 5 }).start();
  });
  afterEach(async () => {
    await hub.stop();
    await rm(work, { recursive: true, force: true });
  });

  const pull = (timeoutMs?: number) =>
    pullModel({
      client: new HubClient({ endpoint: hub.hubUrl, token: undefined, timeoutMs }),
      repo: REPO,
      revision: "main",
      dir: join(work, "model"),
      force: false,
      download: quick,
    });
  const treeRequests = () => hub.requests.filter((r) => r.url.includes("/tree/")).length;

  /** Asserts the pull fails with a protocol HubError whose message matches `pattern`. */
  const refused = async (pattern: RegExp, problem = "protocol") => {
    await assert.rejects(pull(), (error: unknown) => {
      assert.ok(error instanceof HubError, `not a HubError: ${String(error)}`);
      assert.equal(error.problem, problem);
      assert.match(error.userMessage, pattern);
      return true;
    });
  };

  it("stops at a next page that points back to a page already read", async () => {
    hub.faults.listing = { kind: "self-link" };
    await refused(
      /^The Hub's answer for the file list of acme\/sdxl-onnx was not a file listing: its next page http:\S+ is a page it already sent\.$/,
    );
    assert.equal(treeRequests(), 1);
  });

  it("refuses a next page that is not an http(s) URL", async () => {
    hub.faults.listing = { kind: "link", link: '<file:///etc/passwd>; rel="next"' };
    await refused(/was not a file listing: its next page is not an http\(s\) URL \(file:\)\.$/);
    hub.faults.listing = { kind: "link", link: '<http://[::1>; rel="next"' };
    await refused(/was not a file listing: its next page "http:\/\/\[::1" is not a URL\.$/);
  });

  it("stops a listing that never ends after a bounded number of pages", async () => {
    hub.faults.listing = { kind: "endless" };
    await refused(new RegExp(`goes on past ${MAX_LISTING_PAGES} pages`));
    assert.equal(treeRequests(), MAX_LISTING_PAGES);
  });

  it("gives up on metadata that never comes within the timeout, naming the setting", async () => {
    hub.faults.silentRevision = true;
    const started = performance.now();
    await assert.rejects(pull(300), (error: unknown) => {
      assert.ok(error instanceof HubError);
      assert.equal(error.problem, "network");
      assert.match(
        error.userMessage,
        /did not answer for acme\/sdxl-onnx at revision "main" within 0\.3 s \(EASEL_HUB_TIMEOUT_SECONDS\)/,
      );
      return true;
    });
    assert.ok(performance.now() - started < 20_000);
    hub.faults.silentRevision = false;
    hub.faults.listing = { kind: "silent" };
    await assert.rejects(pull(300), /did not answer for the file list of acme\/sdxl-onnx within 0\.3 s/);
  });

  it("bounds the listing's time in all: slow pages that never end stop after ten timeouts", async () => {
    hub.faults.listing = { kind: "endless" };
    // Each page is well within its own timeout (1 s); together they pass ten of them.
    hub.faults.listingDelayMs = 250;
    const started = performance.now();
    await assert.rejects(pull(1000), (error: unknown) => {
      assert.ok(error instanceof HubError);
      assert.match(
        error.userMessage,
        /took more than 10 s in all for the file list of acme\/sdxl-onnx \(10 × EASEL_HUB_TIMEOUT_SECONDS\)\.$/,
      );
      return true;
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 10_000 && elapsed < 60_000, `${elapsed} ms`);
    assert.ok(treeRequests() < MAX_LISTING_PAGES);
  });

  it("reads the timeout from EASEL_HUB_TIMEOUT_SECONDS in the command", async () => {
    hub.faults.listing = { kind: "silent" };
    const run = await runCli(["pull", REPO, "--dir", join(work, "cli")], {
      env: {
        HF_ENDPOINT: hub.hubUrl,
        HF_TOKEN: "",
        EASEL_HUB_TIMEOUT_SECONDS: "1",
        EASEL_DATA_DIR: join(work, "data"),
      },
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /^error: The Hub at .* did not answer for the file list of acme\/sdxl-onnx within 1 s/m,
    );
  });

  it("says which entry of the listing is wrong: no path, a negative size, a size that is not a number", async () => {
    hub.faults.listing = { kind: "entry", edit: (entry) => delete entry.path };
    await refused(/was not a file listing: entry 1, path: expected string, received undefined\.$/);
    hub.faults.listing = { kind: "entry", edit: (entry) => (entry.size = -5) };
    await refused(
      /was not a file listing: entry 1 \(model_index\.json\), size: Too small: expected number to be >=0\.$/,
    );
    hub.faults.listing = { kind: "entry", edit: (entry) => (entry.size = "12") };
    await refused(
      /was not a file listing: entry 1 \(model_index\.json\), size: expected number, received string\.$/,
    );
    hub.faults.listing = { kind: "entry", edit: (entry) => (entry.oid = "../../etc") };
    await refused(/was not a file listing: entry 1 \(model_index\.json\), oid: not a git blob id\.$/);
    assert.equal(existsSync(join(work, "model", "model_index.json")), false, "nothing was downloaded");
  });

  it("says an answer that is not JSON, or JSON of another shape, is not a file listing", async () => {
    hub.faults.listing = { kind: "body", body: "<html>mirror maintenance</html>" };
    await refused(
      /^The Hub's answer for the file list of acme\/sdxl-onnx was not a file listing: not JSON \(/,
    );
    hub.faults.listing = { kind: "body", body: JSON.stringify({ error: "rate limited" }) };
    await refused(/was not a file listing: expected array, received object\.$/);
  });

  it("refuses a download redirected to a file: URL at once, without retrying", async () => {
    hub.faults.redirects.set("model_index.json", "file:///etc/passwd");
    await refused(/Refusing a redirect to a file: URL .*model_index\.json.*only http\(s\)/);
    const resolves = hub.requests.filter(
      (r) => r.url.includes("/resolve/") && r.url.includes("model_index.json"),
    );
    assert.equal(resolves.length, 1, "the redirect was retried");
  });
});
