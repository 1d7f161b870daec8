/** `/easel` typed in Slack: the text's grammar and mentions are the Slack adapter's. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAdminText, slackUserArgument } from "../../src/bots/slack/admin-text.js";

test("Slack's text becomes the subcommand and named arguments, the reason taking the rest", () => {
  assert.deepEqual(parseAdminText("  ban <@U2>  posting spam again "), {
    subcommand: "ban",
    args: { user: "<@U2>", reason: "posting spam again" },
  });
  assert.deepEqual(parseAdminText("CANCEL abc"), { subcommand: "cancel", args: { job: "abc" } });
  assert.deepEqual(parseAdminText(""), { subcommand: "help", args: {} });
  assert.deepEqual(parseAdminText("stats 30"), { subcommand: "stats", args: { days: "30" } });
});

test("a mention or a bare member id is a user of the team; other text passes as given", () => {
  assert.equal(slackUserArgument("<@U2|bob>", "T1"), "slack:T1:U2");
  assert.equal(slackUserArgument("<@U2>", "T1"), "slack:T1:U2");
  assert.equal(slackUserArgument("U2", "T1"), "slack:T1:U2");
  assert.equal(slackUserArgument("discord:123", "T1"), "discord:123");
  assert.equal(slackUserArgument("bob", "T1"), "bob");
});
