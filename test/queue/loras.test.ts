/** A request's LoRAs as the devices take them: file paths in EASEL_LORA_DIR, and the key devices hold. */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import { InvalidInputError } from "../../src/errors.js";
import { catalogueLora } from "../../src/models/loras.js";
import { heldKeyOf, loraSelectionsOf } from "../../src/queue/loras.js";

const catalogue = [catalogueLora("ink", undefined), catalogueLora("clay", undefined)];

test("LoRAs resolve to absolute paths of their files in the folder, with their scales", () => {
  assert.deepEqual(
    loraSelectionsOf(
      [
        { name: "INK", scale: 0.5 },
        { name: "clay", scale: -1 },
      ],
      catalogue,
      "loras",
    ),
    [
      { path: resolve("loras", "ink.safetensors"), scale: 0.5 },
      { path: resolve("loras", "clay.safetensors"), scale: -1 },
    ],
  );
  assert.deepEqual(loraSelectionsOf(undefined, catalogue, "loras"), []);
});

test("a LoRA gone from the folder since the request fails it with a clear message", () => {
  assert.throws(
    () => loraSelectionsOf([{ name: "gone", scale: 1 }], catalogue, "loras"),
    (error: unknown) =>
      error instanceof InvalidInputError &&
      error.userMessage === `The LoRA "gone" isn't offered here any more.`,
  );
});

test("the held key is the model alone without LoRAs, and the same for a set in any order", () => {
  assert.equal(heldKeyOf(undefined, undefined), undefined);
  assert.equal(heldKeyOf("turbo", []), "turbo");
  const a = heldKeyOf("turbo", [
    { name: "ink", scale: 0.5 },
    { name: "clay", scale: 1 },
  ]);
  const b = heldKeyOf("turbo", [
    { name: "clay", scale: 1 },
    { name: "ink", scale: 0.5, trigger: "ink" },
  ]);
  assert.equal(a, b);
  assert.notEqual(a, heldKeyOf("turbo", [{ name: "ink", scale: 0.5 }]));
  assert.notEqual(
    a,
    heldKeyOf(undefined, [
      { name: "clay", scale: 1 },
      { name: "ink", scale: 0.5 },
    ]),
  );
  assert.notEqual(
    heldKeyOf("turbo", [{ name: "ink", scale: 0.5 }]),
    heldKeyOf("turbo", [{ name: "ink", scale: 0.6 }]),
  );
});
