/** The Node.js running easel against the `engines.node` range of package.json. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CheckResult, fail, ok, warn } from "./types.js";

/** easel's package.json, found upwards from this module (works from src/ and dist/). */
export function readEaselPackage(): { version?: string; engines?: { node?: string } } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      const json = JSON.parse(readFileSync(manifest, "utf8")) as {
        name?: string;
        version?: string;
        engines?: { node?: string };
      };
      if (json.name === "easel") return json;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function parts(version: string): number[] {
  return version
    .replace(/^v/, "")
    .split(".")
    .map((part) => Number.parseInt(part, 10) || 0);
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether `version` satisfies a range of `>=`, `>`, `<`, `<=`, `^` comparators (space-separated, all must hold). */
export function satisfies(version: string, range: string): boolean | undefined {
  const have = parts(version);
  const comparators = range.trim().split(/\s+/);
  for (const comparator of comparators) {
    const match = /^(>=|<=|>|<|\^|=)?v?(\d+(?:\.\d+){0,2})$/.exec(comparator);
    if (!match) return undefined;
    const want = parts(match[2]!);
    const d = compare(have, want);
    const holds =
      match[1] === ">="
        ? d >= 0
        : match[1] === ">"
          ? d > 0
          : match[1] === "<="
            ? d <= 0
            : match[1] === "<"
              ? d < 0
              : match[1] === "^"
                ? d >= 0 && have[0] === want[0]
                : d === 0;
    if (!holds) return false;
  }
  return true;
}

export function checkNodeVersion(version: string, range: string | undefined): CheckResult {
  if (range === undefined)
    return warn("node", `Node ${version}; package.json names no engines.node range to check against`);
  const result = satisfies(version, range);
  if (result === undefined) return warn("node", `Node ${version}; cannot read the engines range "${range}"`);
  return result
    ? ok("node", `Node ${version} satisfies ${range}`)
    : fail("node", `Node ${version} does not satisfy ${range} (package.json engines); install Node 20 LTS`);
}
