import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { types } from "@slack/bolt";
import {
  buttonBlocks,
  fileIdsOf,
  jobMessage,
  mrkdwnWithin,
  progressBar,
  SLACK_LIMITS,
  withFileIds,
} from "../../src/bots/slack/blocks.js";
import { escapeSlackText, toMrkdwn } from "../../src/bots/slack/mrkdwn.js";
import {
  type ButtonAction,
  type ButtonSpec,
  encodeButton,
  resultButtons,
} from "../../src/commands/buttons.js";
import type { JobView } from "../../src/commands/chat.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { alice, config } from "../commands/support.js";

describe("service texts as Slack mrkdwn", () => {
  test("**bold** becomes *bold*; code spans keep their backticks", () => {
    assert.equal(toMrkdwn("**/imagine** — use `--ar 16:9`"), "*/imagine* — use `--ar 16:9`");
  });

  test("&, < and > are escaped everywhere, so typed markup cannot mention @channel or link", () => {
    assert.equal(toMrkdwn("a <!channel> & <http://x|y>"), "a &lt;!channel&gt; &amp; &lt;http://x|y&gt;");
    assert.equal(toMrkdwn("`<b>&`"), "`&lt;b&gt;&amp;`");
    assert.equal(escapeSlackText("&amp;"), "&amp;amp;");
  });

  test("** inside a code span is not bold", () => {
    assert.equal(toMrkdwn("`**not bold**` and **bold**"), "`**not bold**` and *bold*");
  });

  test("an unmatched ** or backtick stays as typed", () => {
    assert.equal(toMrkdwn("2 ** 3 and a ` tick"), "2 ** 3 and a ` tick");
  });

  test("a cut text stays within the limit and never splits an escape", () => {
    const text = "<&>".repeat(2000);
    const cut = mrkdwnWithin(text, SLACK_LIMITS.sectionText);
    assert.ok(cut.length <= SLACK_LIMITS.sectionText);
    assert.match(cut, /^(&lt;&amp;&gt;)+(&lt;|&lt;&amp;)?…$/);
  });
});

const requester = {
  userId: "slack:T1:U1" as const,
  platform: "slack" as const,
  serverId: "T1",
  channelId: "C1",
};
const view = (over: Partial<JobView>): JobView => ({
  jobId: "j1",
  state: "queued",
  requester,
  text: "Queued: #2 in line.",
  images: [],
  buttons: [],
  final: false,
  ...over,
});

/** A button as the service's views carry it. */
const spec = (action: ButtonAction, label: string, style: ButtonSpec["style"] = "secondary"): ButtonSpec => ({
  id: encodeButton(action),
  action,
  label,
  style,
});

describe("job views as Block Kit", () => {
  test("buttons carry the service's id as value and action_id, label cut to 75, secondary as no style", () => {
    const long = "x".repeat(90);
    const [row] = buttonBlocks([
      [
        spec({ kind: "reroll", jobId: "j1" }, "🔄 Re-roll", "primary"),
        spec({ kind: "vary", jobId: "j1", imageIndex: 0, strength: "subtle" }, long),
      ],
    ]);
    assert.equal(row!.type, "actions");
    const [reroll, vary] = row!.elements as unknown as Array<Record<string, unknown>>;
    assert.deepEqual(reroll, {
      type: "button",
      text: { type: "plain_text", text: "🔄 Re-roll", emoji: true },
      action_id: "easel:1:reroll:j1",
      value: "easel:1:reroll:j1",
      style: "primary",
    });
    assert.equal((vary!.text as { text: string }).text.length, SLACK_LIMITS.buttonText);
    assert.equal(vary!.style, undefined);
  });

  test("one actions block per row, empty rows left out, block ids unique", () => {
    const blocks = buttonBlocks([
      [spec({ kind: "cancel", jobId: "a" }, "Cancel", "danger")],
      [],
      [spec({ kind: "reroll", jobId: "a" }, "R", "primary")],
    ]);
    assert.equal(blocks.length, 2);
    assert.notEqual(blocks[0]!.block_id, blocks[1]!.block_id);
  });

  test("a running job shows its step as a bar; fallback text is the same mrkdwn as the section", () => {
    const message = jobMessage(
      view({ state: "running", step: 5, total: 20, text: "Generating: **step 5/20**" }),
    );
    assert.equal(message.text, "Generating: *step 5/20*");
    assert.deepEqual(message.blocks[0], { type: "section", text: { type: "mrkdwn", text: message.text } });
    assert.equal(message.blocks[1]!.type, "context");
    assert.match(JSON.stringify(message.blocks[1]), /▰{5}▱{15} {2}5\/20/);
  });

  test("progress bar bounds", () => {
    assert.equal(progressBar(0, 10, 4), "▱▱▱▱");
    assert.equal(progressBar(10, 10, 4), "▰▰▰▰");
    assert.equal(progressBar(3, 0, 4), "▱▱▱▱");
  });
});

test("a result message names its uploaded files in an actions block id, and only valid ids are read back", () => {
  const message = jobMessage(
    view({
      state: "done",
      final: true,
      text: "a fox",
      buttons: [[spec({ kind: "delete", jobId: "j1" }, "🗑️ Delete", "danger")]],
    }),
  );
  const named = withFileIds(message, ["F0AAA111", "F0BBB222", "bad id"]);
  assert.deepEqual(fileIdsOf(named.blocks), ["F0AAA111", "F0BBB222"]);
  assert.deepEqual(fileIdsOf(message.blocks), [], "the message itself is not changed");
  // Too many to fit in a block id (255): the message goes out without them rather than refused.
  const many = Array.from({ length: 40 }, (_, i) => `F${String(i).padStart(10, "0")}`);
  assert.deepEqual(fileIdsOf(withFileIds(message, many).blocks), []);
  assert.deepEqual(fileIdsOf([{ type: "actions", block_id: "easel-files:<script>,F1" }]), ["F1"]);
  assert.deepEqual(fileIdsOf("not blocks"), []);
});

describe("a batch's result buttons in Slack", () => {
  test("each image's zoom and pan groups are actions blocks of their own under its other buttons", () => {
    const request = parseImagine({ text: "a cat --n 4" }, alice, config, () => 7n);
    const message = jobMessage(view({ state: "done", final: true, buttons: resultButtons("job9", request) }));
    const rows = message.blocks
      .filter((block): block is types.ActionsBlock => block.type === "actions")
      .map((block) => block.elements.map((element) => (element as types.Button).text.text));
    assert.equal(rows.length, 13, "three groups per image and the job's own");
    assert.ok(message.blocks.length <= SLACK_LIMITS.blocksPerMessage);
    assert.deepEqual(rows.slice(3, 6), [
      ["V2 subtle", "V2 strong", "Refine 2", "Upscale 2"],
      ["Zoom Out 2× (2)", "Zoom Out 1.5× (2)"],
      ["⬅️ 2", "➡️ 2", "⬆️ 2", "⬇️ 2"],
    ]);
    const ids = message.blocks.flatMap((block) =>
      block.type === "actions" ? block.elements.map((element) => (element as types.Button).action_id!) : [],
    );
    assert.ok(ids.every((id) => id.length <= 100));
    assert.equal(new Set(ids).size, ids.length, "every action id is unique in the message");
  });
});
