/**
 * The rules of ARCHITECTURE.md, read from the sources: queue/ and commands/ never import each other
 * (they share only src/requests, which imports neither); bots/ reach the queue only through the
 * interfaces in src/requests, never a backend; commands/ parses no platform's syntax; config.ts
 * takes no value from a feature room.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

const SRC = resolve(import.meta.dirname, "..", "src");

interface Import {
  /** Path under src/ ("queue/store.ts"), or the bare specifier of a package ("zod", "node:fs"). */
  target: string;
  /** Only types are imported (`import type`, or every named binding marked `type`). */
  typeOnly: boolean;
}

function sourcesUnder(room: string): string[] {
  return readdirSync(join(SRC, room), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Every import and re-export of a module, static or dynamic, resolved against src/. */
function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    const target = specifier.startsWith(".")
      ? relative(SRC, resolve(dirname(file), specifier)).replace(/\.js$/, ".ts")
      : specifier;
    found.push({ target, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allNamedTypes =
        clause !== undefined &&
        clause.name === undefined &&
        bindings !== undefined &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 &&
        bindings.elements.every((element) => element.isTypeOnly);
      add(node.moduleSpecifier.text, clause?.isTypeOnly === true || allNamedTypes);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** "queue/store.ts imports commands/texts.ts" for each import of `room` into one of `forbidden`. */
function crossings(room: string, forbidden: readonly string[]): string[] {
  return sourcesUnder(room).flatMap((file) =>
    importsOf(file)
      .filter(({ target }) => forbidden.some((other) => target.startsWith(`${other}/`)))
      .map(({ target }) => `${relative(SRC, file)} imports ${target}`),
  );
}

const PLATFORM = /discord|slack/i;

/**
 * "commands/access.ts:12 /^discord:…/" for each regular expression literal in `room` that mentions
 * a platform, and each string literal that is exactly a platform's name (`platform === "slack"`).
 * Prose in messages and comments may name platforms; parsing their syntax is the adapters' job.
 */
function platformNames(room: string): string[] {
  return sourcesUnder(room).flatMap((file) => {
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const visit = (node: ts.Node): void => {
      const named =
        (ts.isRegularExpressionLiteral(node) && PLATFORM.test(node.text)) ||
        (ts.isStringLiteral(node) && /^(discord|slack)$/i.test(node.text));
      if (named) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        found.push(`${relative(SRC, file)}:${line} ${node.getText()}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
  });
}

describe("import directions", () => {
  it("reads imports, type-only or not, static or dynamic (the checker itself)", () => {
    const imports = importsOf(join(SRC, "queue", "index.ts"));
    assert.ok(imports.some((i) => i.target === "queue/embedded.ts" && !i.typeOnly));
    assert.ok(imports.some((i) => i.target === "config.ts" && i.typeOnly));
    assert.ok(importsOf(join(SRC, "cli", "imagine.ts")).some((i) => i.target === "commands/chat-service.ts"));
    // The platform check finds what it looks for: the adapters parse their platforms' syntax.
    assert.ok(platformNames("bots").some((found) => found.startsWith("bots/slack/admin-text.ts")));
  });

  it("src/queue imports nothing from src/commands", () => {
    assert.deepEqual(crossings("queue", ["commands", "bots", "cli"]), []);
  });

  it("src/commands imports nothing from src/queue", () => {
    assert.deepEqual(crossings("commands", ["queue", "bots", "cli"]), []);
  });

  it("src/requests, which both share, imports neither", () => {
    assert.deepEqual(crossings("requests", ["queue", "commands", "bots", "cli"]), []);
  });

  it("src/bots imports no queue backend: only the queue's interfaces in src/requests", () => {
    assert.deepEqual(crossings("bots", ["queue", "cli"]), []);
  });

  it("src/commands names no platform: no regular expression or comparison with a platform's name", () => {
    assert.deepEqual(platformNames("commands"), []);
  });

  it("config.ts takes values only from errors, requests and the pipeline's limits, never from a feature room", () => {
    const allowed = new Set(["errors.ts", "pipeline/types.ts", "pipeline/validate.ts"]);
    const values = importsOf(join(SRC, "config.ts")).filter(
      ({ target, typeOnly }) =>
        !typeOnly && target.endsWith(".ts") && !allowed.has(target) && !target.startsWith("requests/"),
    );
    assert.deepEqual(values, []);
  });
});
