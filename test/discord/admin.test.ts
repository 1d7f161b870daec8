/**
 * Operator controls through the loopback Discord: `/easel` registered beside /imagine and /help,
 * answered privately for admins (by user id or by role) and refused privately for anyone else; the
 * delete button removes a result's message for its author or an admin, and nobody else's press.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { commandDefinitions, sameCommands } from "../../src/bots/discord/commands.js";
import { discordUserArgument } from "../../src/bots/discord/requester.js";
import type { CommandOptionValue, FakeUser, InteractionRecord, StoredMessage } from "./fake-discord.js";
import { FakeDiscord, PERMISSIONS, snowflake } from "./fake-discord.js";
import {
  buttonId,
  EPHEMERAL,
  finalMessage,
  type Harness,
  imagine,
  newUser,
  sharedScope,
  startHarness,
} from "./harness.js";

/** `/easel <subcommand> [options]` as Discord sends it: one subcommand option holding the rest. */
function easel(
  h: Harness,
  user: FakeUser,
  subcommand: string,
  options: Array<{ name: string; type: number; value: string | number }> = [],
  roles: string[] = [],
): InteractionRecord {
  const sub: CommandOptionValue = { name: subcommand, type: 1, options };
  return h.fake.slashCommand({ user, channel: h.channel, name: "easel", options: [sub], roles });
}

async function answerOf(h: Harness, it: InteractionRecord) {
  const callback = await h.fake.waitFor(() => h.fake.interactions.get(it.id)?.callback, 5000, "the answer");
  return {
    private: ((callback.data?.flags ?? 0) & EPHEMERAL) === EPHEMERAL,
    text: callback.data?.content ?? "",
  };
}

describe("/easel and the delete button on one running easel", () => {
  let h: Harness;
  const admin = newUser("admin");
  const adminRole = snowflake();
  const scope = sharedScope();
  before(async () => {
    // The role exists in the server, as Discord's member payloads only name the server's roles.
    const fake = await new FakeDiscord().start();
    scope.after(() => fake.close());
    fake.addGuild("operators' server", [adminRole, snowflake()]);
    h = await startHarness(scope, {
      fake,
      stepMs: 60,
      env: { EASEL_ADMINS: `discord:${admin.id},discord-role:${adminRole}` },
    });
  });
  after(() => scope.cleanup());

  test("an admin's /easel queue lists the running job privately", async () => {
    const user = newUser();
    const running = imagine(h, "a slow lighthouse", { steps: 40 }, { user });
    await h.fake.waitFor(() => /step/.test(h.fake.original(running)?.content ?? ""), 5000, "running");
    const answer = await answerOf(h, easel(h, admin, "queue"));
    assert.equal(answer.private, true);
    assert.match(answer.text, /Running\*\* \(1\)/);
    assert.ok(answer.text.includes(`discord:${user.id}`), answer.text);
    const [job] = await h.easel.queue.history(`discord:${user.id}`);
    assert.ok(answer.text.includes(job!.id), "the listing names the job");
    await h.easel.queue.cancel(job!.id, `discord:${admin.id}`, { anyone: true });
  });

  test("an admin's /easel ban takes a mention; the banned user is refused privately, nothing queued", async () => {
    const bob = newUser("bob");
    const answer = await answerOf(
      h,
      easel(h, admin, "ban", [
        { name: "user", type: 3, value: `<@${bob.id}>` },
        { name: "reason", type: 3, value: "flooding the channel" },
      ]),
    );
    assert.equal(answer.private, true);
    assert.match(answer.text, new RegExp(`Banned discord:${bob.id}`));
    const refused = await answerOf(h, imagine(h, "a cat", {}, { user: bob }));
    assert.equal(refused.private, true);
    assert.match(refused.text, /blocked/);
    assert.deepEqual(await h.easel.queue.history(`discord:${bob.id}`), []);

    const unban = await answerOf(h, easel(h, admin, "unban", [{ name: "user", type: 3, value: bob.id }]));
    assert.match(unban.text, new RegExp(`Lifted the ban on discord:${bob.id}`));
  });

  test("anyone else's /easel is refused privately and changes nothing", async () => {
    const mallory = newUser("mallory");
    const target = newUser("target");
    const answer = await answerOf(
      h,
      easel(h, mallory, "ban", [{ name: "user", type: 3, value: `discord:${target.id}` }]),
    );
    assert.equal(answer.private, true);
    assert.match(answer.text, /Only this bot's admins/);
    const ok = await answerOf(h, imagine(h, "still allowed", { steps: 1 }, { user: target }));
    assert.doesNotMatch(ok.text, /blocked/);
  });

  test("a member with an admin role is an admin for /easel (days as an integer option)", async () => {
    const carol = newUser("carol");
    const answer = await answerOf(
      h,
      easel(h, carol, "stats", [{ name: "days", type: 4, value: 3 }], [adminRole]),
    );
    assert.equal(answer.private, true);
    assert.doesNotMatch(answer.text, /Only this bot's admins/);
    assert.match(answer.text, /Last 3 days \(UTC\)\*\*: \d+ jobs?/, "the days option reached the service");
    const without = await answerOf(h, easel(h, carol, "stats"));
    assert.match(without.text, /Only this bot's admins/);
  });

  async function result(user: FakeUser, prompt: string): Promise<StoredMessage> {
    return await finalMessage(h, imagine(h, prompt, { steps: 1 }, { user }));
  }

  function press(message: StoredMessage, user: FakeUser, roles: string[] = []) {
    return h.fake.pressButton({ user, message, customId: buttonId(message, /Delete/), roles });
  }

  const deletes = (message: StoredMessage) =>
    h.fake.calls("DELETE", new RegExp(`/messages/${message.id}$`)).length;

  test("the author's delete removes the result's message and answers privately", async () => {
    const user = newUser();
    const message = await result(user, "a regrettable picture");
    const answer = await answerOf(h, press(message, user));
    assert.equal(answer.private, true);
    assert.match(answer.text, /Deleted/);
    await h.fake.waitFor(() => message.deleted, 5000, "the message deleted");
    assert.equal(deletes(message), 1);
    const [job] = await h.easel.queue.history(`discord:${user.id}`);
    assert.equal(job!.deleted?.byUserId, `discord:${user.id}`);
  });

  test("delete still works in a channel where the bot may no longer attach files", async () => {
    const user = newUser();
    const message = await result(user, "posted before the permissions changed");
    const channel = h.fake.channels.get(message.channelId)!;
    const before = channel.botPermissions;
    channel.botPermissions = before & ~PERMISSIONS.attachFiles;
    try {
      const answer = await answerOf(h, press(message, user));
      assert.match(answer.text, /Deleted/);
      await h.fake.waitFor(() => message.deleted, 5000, "the message deleted");
    } finally {
      channel.botPermissions = before;
    }
  });

  test("another user's delete is refused privately and the message stays", async () => {
    const user = newUser();
    const message = await result(user, "a picture to keep");
    const answer = await answerOf(h, press(message, newUser("eve")));
    assert.equal(answer.private, true);
    assert.match(answer.text, /Only the person who ran this/);
    assert.equal(message.deleted, false);
    assert.equal(deletes(message), 0);
    assert.ok(message.attachments.length > 0);
  });

  test("an admin by role may delete anyone's result", async () => {
    const user = newUser();
    const message = await result(user, "off-topic picture");
    const answer = await answerOf(h, press(message, newUser("mod"), [adminRole]));
    assert.match(answer.text, /Deleted/);
    await h.fake.waitFor(() => message.deleted, 5000, "the message deleted");
  });

  test("when Discord refuses the delete, the message is edited to say so with nothing left on it", async () => {
    const user = newUser();
    const message = await result(user, "a picture in a locked channel");
    h.fake.fault({ method: "DELETE", route: new RegExp(`/messages/${message.id}$`), status: 403 });
    const answer = await answerOf(h, press(message, user));
    assert.match(answer.text, /Deleted/);
    await h.fake.waitFor(() => /deleted by its author/.test(message.content), 5000, "the edit");
    assert.equal(message.deleted, false);
    assert.deepEqual(message.attachments, []);
    assert.deepEqual(message.components, []);
  });
});

// Registered once and not rewritten when unchanged: imagine.test.ts (all three commands).
test("/easel is registered beside /imagine and /help with its subcommands, open to every member", async (t) => {
  const h = await startHarness(t);
  const registered = h.fake.commands.get(h.guild.id) ?? [];
  assert.deepEqual(registered.map((c) => c.name).sort(), ["easel", "help", "imagine"]);
  const [put] = h.fake.calls("PUT", /\/commands$/);
  const sent = (put!.json as Array<Record<string, unknown>>).find((c) => c.name === "easel")!;
  assert.equal(sent.default_member_permissions, undefined, "who is an admin is the service's call");
  const subcommands = sent.options as Array<{
    type: number;
    name: string;
    options: Array<Record<string, unknown>>;
  }>;
  assert.deepEqual(
    subcommands.map((s) => [s.type, s.name]),
    [
      [1, "queue"],
      [1, "cancel"],
      [1, "ban"],
      [1, "unban"],
      [1, "stats"],
      [1, "withheld"],
      [1, "show"],
      [1, "release"],
    ],
  );
  const options = (name: string) =>
    subcommands.find((s) => s.name === name)!.options.map((o) => [o.name, o.type, o.required]);
  assert.deepEqual(options("cancel"), [["job", 3, true]]);
  assert.deepEqual(options("ban"), [
    ["user", 3, true],
    ["reason", 3, false],
  ]);
  const days = subcommands.find((s) => s.name === "stats")!.options[0]!;
  assert.deepEqual([days.type, days.required, days.min_value, days.max_value], [4, false, 1, 90]);
  for (const name of ["show", "release"]) {
    const [job, image] = subcommands.find((s) => s.name === name)!.options;
    assert.deepEqual([job!.name, job!.type, job!.required], ["job", 3, true]);
    assert.deepEqual([image!.name, image!.type, image!.min_value, image!.max_value], ["image", 4, 1, 100]);
  }

  // Discord gives them back without `required: false` and empty option lists, with fields of its own.
  const trimmed = (options: unknown): unknown =>
    Array.isArray(options) && options.length > 0
      ? options.map(({ required, options: inner, ...rest }: Record<string, unknown>) => ({
          ...rest,
          ...(required ? { required } : {}),
          ...(trimmed(inner) ? { options: trimmed(inner) } : {}),
        }))
      : undefined;
  const wanted = commandDefinitions(h.config);
  const asDiscordHasThem = wanted.map((command) => ({
    ...command,
    id: snowflake(),
    version: snowflake(),
    default_member_permissions: null,
    nsfw: false,
    ...(trimmed(command.options) ? { options: trimmed(command.options) } : { options: undefined }),
  }));
  assert.ok(sameCommands(wanted, asDiscordHasThem));
  const widerStats = structuredClone(asDiscordHasThem);
  const stats = (widerStats.find((c) => c.name === "easel")!.options as Array<Record<string, unknown>>).find(
    (o) => o.name === "stats",
  )!;
  (stats.options as Array<Record<string, unknown>>)[0]!.max_value = 365;
  assert.equal(sameCommands(wanted, widerStats), false, "a changed subcommand option is a change");
});

test("a user typed in /easel ban: a mention or a bare id is a Discord user; other text passes as given", () => {
  assert.equal(discordUserArgument("<@123>"), "discord:123");
  assert.equal(discordUserArgument("<@!123>"), "discord:123");
  assert.equal(discordUserArgument(" 123 "), "discord:123");
  assert.equal(discordUserArgument("slack:T9:U9"), "slack:T9:U9");
  assert.equal(discordUserArgument("bob"), "bob");
});
