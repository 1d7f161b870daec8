/** The access policy's pure parts and the /easel command's text form. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkAdminEntries,
  isAdmin,
  isAllowedPlace,
  parseChannelRules,
  rateRefusal,
  utcDayStart,
} from "../../src/commands/access.js";
import { adminCommand, auditKeepMs, parseDays, parseImageNumber } from "../../src/commands/admin.js";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { qualifiedUserId } from "../../src/requests/request.js";

const defaults = loadConfig({});

describe("the access policy", () => {
  it("reads allowed places and names a malformed one", () => {
    assert.deepEqual(parseChannelRules(["discord:1", "discord:1/2", "slack:T1", "slack:T1/C2"]), [
      { platform: "discord", serverId: "1" },
      { platform: "discord", serverId: "1", channelId: "2" },
      { platform: "slack", serverId: "T1" },
      { platform: "slack", serverId: "T1", channelId: "C2" },
    ]);
    for (const bad of ["discord", "discord:1/", "web:x", "slack:T1/C2/x", "Discord:1"]) {
      assert.throws(
        () => parseChannelRules([bad]),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, new RegExp(`"${bad}"`));
          return true;
        },
      );
    }
  });

  it("limits Discord and Slack to the listed places, never the web chat or the CLI", () => {
    const rules = parseChannelRules(["discord:g1/c1"]);
    assert.equal(isAllowedPlace([], { platform: "discord", serverId: "g9" }), true, "empty = everywhere");
    assert.equal(isAllowedPlace(rules, { platform: "discord", serverId: "g1", channelId: "c1" }), true);
    assert.equal(isAllowedPlace(rules, { platform: "discord", serverId: "g1", channelId: "c2" }), false);
    assert.equal(isAllowedPlace(rules, { platform: "slack", serverId: "g1", channelId: "c1" }), false);
    assert.equal(isAllowedPlace(rules, { platform: "web" }), true);
    assert.equal(isAllowedPlace(rules, { platform: "cli" }), true);
  });

  it("knows admins by user id and by Discord role, and refuses malformed entries", () => {
    const admins = ["discord:1", "discord-role:5", "slack:T1:U2"];
    assert.equal(isAdmin(admins, { userId: "discord:1" }), true);
    assert.equal(isAdmin(admins, { userId: "discord:2", roles: ["discord-role:5"] }), true);
    assert.equal(isAdmin(admins, { userId: "slack:T1:U2" }), true);
    assert.equal(isAdmin(admins, { userId: "slack:T2:U2" }), false);
    checkAdminEntries([...admins, "web:abc", "cli:root"]);
    assert.throws(() => checkAdminEntries(["1234"]), ConfigError);
    assert.throws(() => checkAdminEntries(["role:5"]), ConfigError);
    assert.throws(() => checkAdminEntries(["slack:U2"]), ConfigError, "a Slack user needs its team");
  });

  it("applies the cooldown before the quota, and resets the quota at the next UTC midnight", () => {
    const now = Date.UTC(2026, 0, 31, 23, 0);
    const access = { quotaPerDay: 4, cooldownSeconds: 10 };
    assert.equal(rateRefusal(access, { images: 3, lastRequestAt: now - 10_000 }, 1, now), undefined);
    assert.deepEqual(rateRefusal(access, { images: 4, lastRequestAt: now - 9_999 }, 1, now), {
      kind: "cooldown",
      retryAt: now + 1,
    });
    assert.deepEqual(rateRefusal(access, { images: 3, lastRequestAt: undefined }, 2, now), {
      kind: "quota",
      quota: 4,
      used: 3,
      asked: 2,
      retryAt: Date.UTC(2026, 1, 1),
    });
    assert.equal(
      rateRefusal({ quotaPerDay: 0, cooldownSeconds: 0 }, { images: 99, lastRequestAt: now }, 4, now),
      undefined,
    );
    assert.equal(utcDayStart(Date.UTC(2026, 0, 1, 0, 0, 0)), Date.UTC(2026, 0, 1));
    assert.equal(utcDayStart(Date.UTC(2026, 0, 1, 23, 59, 59, 999)), Date.UTC(2026, 0, 1));
  });

  it("reads a user from an admin command as a platform-qualified id only (mentions are the adapters')", () => {
    assert.equal(qualifiedUserId("slack:T9:U9"), "slack:T9:U9");
    assert.equal(qualifiedUserId(" discord:123 "), "discord:123");
    assert.equal(qualifiedUserId("<@123>"), undefined);
    assert.equal(qualifiedUserId("123"), undefined);
    assert.equal(qualifiedUserId("discord:1; drop"), undefined);
  });
});

describe("the /easel command", () => {
  it("defines every subcommand an adapter registers, each argument named once", () => {
    assert.deepEqual(
      adminCommand.subcommands.map((sub) => [
        sub.name,
        sub.args.map((arg) => `${arg.name}${arg.required ? "" : "?"}`),
      ]),
      [
        ["queue", []],
        ["cancel", ["job"]],
        ["ban", ["user", "reason?"]],
        ["unban", ["user"]],
        ["stats", ["days?"]],
        ["withheld", []],
        ["show", ["job", "image"]],
        ["release", ["job", "image"]],
      ],
    );
    assert.equal(parseDays(undefined), 7);
    assert.equal(parseDays("90"), 90);
    assert.equal(parseDays("0"), undefined);
    assert.equal(parseDays("1e3"), undefined);
  });

  it("reads show's and release's image numbers as the image option allows them: 1 to 100", () => {
    const image = adminCommand.subcommands.find((sub) => sub.name === "release")?.args[1];
    assert.equal(image?.max, 100);
    assert.deepEqual(
      ["1", " 7 ", "99", "100"].map(parseImageNumber),
      [1, 7, 99, 100],
      "every number Discord's option lets through",
    );
    for (const bad of ["0", "101", "01", "1.5", "-1", "two", ""])
      assert.equal(parseImageNumber(bad), undefined, bad);
  });

  it("keeps the audit trail for EASEL_AUDIT_DAYS, never less than the retention", () => {
    assert.equal(
      auditKeepMs({ retentionHours: 24, access: { ...defaults.access, auditDays: 30 } }),
      30 * 86_400_000,
    );
    assert.equal(
      auditKeepMs({ retentionHours: 24 * 60, access: { ...defaults.access, auditDays: 30 } }),
      60 * 86_400_000,
    );
  });
});
