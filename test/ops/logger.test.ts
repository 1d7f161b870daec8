/**
 * The logger loads pino-pretty only for readable lines (a terminal): a service writing JSON lines
 * never loads it. Checked in a fresh process, whose module cache nothing else has touched.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const LOGGER = fileURLToPath(new URL("../../src/logger.ts", import.meta.url));

/** Runs `body` in a new Node.js process with createLogger imported; returns its stdout. */
function inFreshProcess(body: string): string {
  const script = `
    import { createRequire } from "node:module";
    import { createLogger } from ${JSON.stringify(LOGGER)};
    const prettyLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((key) => key.includes("/pino-pretty/"));
    ${body}`;
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout;
}

describe("the logger", () => {
  it("writes JSON lines without loading pino-pretty", () => {
    const out = inFreshProcess(`
      createLogger({ logLevel: "info" }, { destination: process.stdout, pretty: false }).info({ n: 1 }, "json");
      console.log("pretty loaded: " + prettyLoaded());`);
    const [json, loaded] = out.trim().split("\n");
    assert.equal((JSON.parse(json!) as { msg: string }).msg, "json");
    assert.equal(loaded, "pretty loaded: false");
  });

  it("loads pino-pretty for readable lines", () => {
    const out = inFreshProcess(`
      createLogger({ logLevel: "info" }, { destination: process.stdout, pretty: true }).info("readable");
      console.log("pretty loaded: " + prettyLoaded());`);
    assert.match(out, /INFO.*readable/);
    assert.match(out, /pretty loaded: true/);
  });
});
