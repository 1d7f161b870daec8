/**
 * `easel doctor` refuses the settings that stop `easel start`: the access lists (checked by the same
 * function the chat service runs at start) and a listen host that does not resolve or is not an
 * address of this machine (checked by binding a listener on it).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { type DoctorReport, runDoctor } from "../../src/doctor/index.js";
import { checkListenHost } from "../../src/doctor/web-host.js";
import { runCli } from "../helpers/cli.js";

const check = (report: DoctorReport, name: string) => {
  const found = report.checks.find((each) => each.name === name);
  assert.ok(found, `no ${name} check in ${report.checks.map((each) => each.name).join(", ")}`);
  return found;
};

describe("easel doctor and the settings easel start refuses", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "easel-doctor-settings-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });
  const doctor = (env: Record<string, string>) =>
    runDoctor({ config: loadConfig({ EASEL_DATA_DIR: join(work, "data"), EASEL_DEVICES: "cpu", ...env }) });

  it("fails the settings check for an admin or a channel easel start would refuse, naming the entry", async () => {
    const admins = await doctor({ EASEL_ADMINS: "discord:1,bob" });
    assert.equal(admins.ok, false);
    assert.equal(check(admins, "settings").status, "fail");
    assert.match(check(admins, "settings").message, /^EASEL_ADMINS: "bob" is not a platform-qualified user/);
    const channels = await doctor({ EASEL_ALLOWED_CHANNELS: "garbage" });
    assert.equal(channels.ok, false);
    assert.match(
      check(channels, "settings").message,
      /^EASEL_ALLOWED_CHANNELS: "garbage" is not discord:<guild>/,
    );
    const good = await doctor({
      EASEL_ADMINS: "discord:1,slack:T1:U2",
      EASEL_ALLOWED_CHANNELS: "discord:1/2",
    });
    assert.equal(check(good, "settings").status, "ok");
  });

  it("fails a web host that does not resolve, or is not an address of this machine", async () => {
    const bad = await doctor({ EASEL_WEB_HOST: "127.999.1.1" });
    assert.equal(bad.ok, false);
    const host = check(bad, "web-host");
    assert.equal(host.status, "fail");
    assert.match(host.message, /^EASEL_WEB_HOST=127\.999\.1\.1 does not resolve to an address/);
    // 192.0.2.0/24 is reserved for documentation: no machine has it.
    const foreign = await checkListenHost("EASEL_WEB_HOST", "192.0.2.7", 8080);
    assert.equal(foreign.status, "fail");
    assert.match(foreign.message, /192\.0\.2\.7.*cannot be listened on here \(EADDRNOTAVAIL\)/);
    const good = await doctor({ EASEL_WEB_HOST: "127.0.0.2" });
    assert.equal(check(good, "web-host").status, "ok");
  });

  it("checks Slack's HTTP host too, and only in HTTP mode", async () => {
    const slack = {
      SLACK_BOT_TOKEN: "xoxb-1-2-abc",
      SLACK_SIGNING_SECRET: "0123456789abcdef0123456789abcdef",
      SLACK_HOST: "192.0.2.9",
    };
    assert.equal(check(await doctor(slack), "slack-host").status, "fail");
    const socket = await doctor({ ...slack, SLACK_APP_TOKEN: "xapp-1-2" });
    assert.equal(
      socket.checks.some((each) => each.name === "slack-host"),
      false,
    );
  });

  it("as commands: doctor exits 1 with the same reason easel start stops with", async () => {
    const env = { EASEL_DATA_DIR: join(work, "cli-data"), EASEL_ADMINS: "bob", EASEL_DEVICES: "cpu" };
    const doctorRun = await runCli(["doctor"], { env });
    assert.equal(doctorRun.code, 1, doctorRun.stderr);
    const line = /^fail +settings +(.*)$/m.exec(doctorRun.stdout)?.[1];
    assert.ok(line, doctorRun.stdout);
    const startRun = await runCli(["start"], { env });
    assert.notEqual(startRun.code, 0);
    assert.match(startRun.stderr, new RegExp(`^error: ${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
  });
});
