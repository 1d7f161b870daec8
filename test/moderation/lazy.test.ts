/**
 * TensorFlow.js and nsfwjs are loaded only by the classifier thread, which only starts when
 * moderation is on: no other module of src/ imports them (type-only imports aside), and no module
 * imports the thread's body.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { it } from "node:test";

const SRC = resolve(import.meta.dirname, "..", "..", "src");

const sources = readdirSync(SRC, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
  .map((entry) => join(entry.parentPath, entry.name));

/** Value imports (static or dynamic) of a specifier matching `pattern`, by file under src/. */
function importersOf(pattern: RegExp): string[] {
  return sources
    .filter((file) => {
      const text = readFileSync(file, "utf8");
      const statics = [...text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gm)]
        .filter((match) => match[1] === undefined)
        .map((match) => match[2]!);
      const dynamics = [...text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)].map((match) => match[1]!);
      return [...statics, ...dynamics].some((specifier) => pattern.test(specifier));
    })
    .map((file) => relative(SRC, file));
}

it("only the classifier thread imports TensorFlow.js or nsfwjs", () => {
  assert.deepEqual(importersOf(/^(@tensorflow\/|nsfwjs)/), ["moderation/classifier-worker.ts"]);
});

it("no module imports the classifier thread's body: it runs only as a worker", () => {
  assert.deepEqual(importersOf(/classifier-worker/), []);
});
