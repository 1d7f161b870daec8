/**
 * No container engine runs in CI, so the image and compose rules are checked by reading the files:
 * CUDA 12 + cuDNN 9 base, Node 20 pinned without a piped install script, onnxruntime-node's CUDA
 * binaries opted in, a non-root user, `npm start` as the command, a HEALTHCHECK on /healthz with
 * node's fetch, volumes, a .dockerignore that keeps the build context small, and compose's GPU
 * reservation, env file, volumes, restart policy and port.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

interface Instruction {
  keyword: string;
  args: string;
  /** Index of the build stage (FROM count - 1). */
  stage: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ");
  let stage = -1;
  return joined
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      if (keyword!.toUpperCase() === "FROM") stage += 1;
      return { keyword: keyword!.toUpperCase(), args: rest.join(" "), stage };
    });
}

/** ARG defaults declared before the first FROM, substituted into `${NAME}`. */
function expand(all: Instruction[], value: string): string {
  const args = new Map<string, string>();
  for (const instruction of all) {
    if (instruction.keyword !== "ARG" || instruction.stage !== -1) continue;
    const [name, defaultValue] = instruction.args.split("=");
    if (defaultValue !== undefined) args.set(name!, defaultValue);
  }
  return value.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? "");
}

describe("Dockerfile", () => {
  const all = instructions(read("Dockerfile"));
  const froms = all.filter((i) => i.keyword === "FROM").map((i) => expand(all, i.args));
  const finalStage = Math.max(...all.map((i) => i.stage));
  const final = all.filter((i) => i.stage === finalStage);

  it("runs on a CUDA 12 runtime image that carries cuDNN 9", () => {
    const cuda = froms.filter((from) => from.startsWith("nvidia/cuda:"));
    assert.ok(cuda.length > 0, `no nvidia/cuda base among ${froms.join(", ")}`);
    for (const image of cuda) {
      assert.match(image.split(" ")[0]!, /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu22\.04$/);
    }
    const lastFrom = all.filter((i) => i.keyword === "FROM").at(-1)!.args;
    const baseStage = expand(
      all,
      all.find((i) => i.keyword === "FROM" && i.args.endsWith(`AS ${lastFrom}`))?.args ?? lastFrom,
    );
    assert.match(baseStage, /^nvidia\/cuda:12\./, "the final image does not derive from the CUDA base");
  });

  it("pins Node 20 and installs it without piping a script into a shell", () => {
    const node = froms.find((from) => from.startsWith("node:"));
    assert.ok(node, "no Node image stage");
    assert.match(node!, /^node:20\.\d+\.\d+-bookworm-slim AS node$/);
    assert.ok(
      all.some(
        (i) => i.keyword === "COPY" && i.args === "--from=node /usr/local/bin/node /usr/local/bin/node",
      ),
    );
    for (const run of all.filter((i) => i.keyword === "RUN")) {
      assert.doesNotMatch(run.args, /\|\s*(sudo\s+)?(ba|z)?sh\b/, `a RUN pipes into a shell: ${run.args}`);
      assert.doesNotMatch(run.args, /nodesource/);
    }
  });

  it("opts in to onnxruntime-node's CUDA binaries through the environment, which wins over .npmrc", () => {
    assert.match(read(".npmrc"), /^onnxruntime-node-install=skip$/m);
    assert.ok(
      all.some((i) => i.keyword === "RUN" && /\bONNXRUNTIME_NODE_INSTALL=true npm ci\b/.test(i.args)),
    );
  });

  it("runs npm start as a non-root user, with a HEALTHCHECK on /healthz through node's fetch", () => {
    const users = final.filter((i) => i.keyword === "USER").map((i) => i.args);
    assert.ok(users.length > 0, "no USER in the final stage");
    assert.ok(!["root", "0", "0:0"].includes(users.at(-1)!));
    const cmd = final.filter((i) => i.keyword === "CMD").at(-1)!;
    assert.deepEqual(JSON.parse(cmd.args), ["node", "bin/easel.js", "start"]);
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.start, JSON.parse(cmd.args).join(" "));
    const health = final.find((i) => i.keyword === "HEALTHCHECK");
    assert.ok(health, "no HEALTHCHECK");
    const exec = JSON.parse(health!.args.slice(health!.args.indexOf("CMD ") + 4)) as string[];
    assert.equal(exec[0], "node");
    assert.match(exec.join(" "), /fetch\(.*EASEL_WEB_PORT.*\/healthz/);
    assert.doesNotMatch(health!.args, /\b(curl|wget)\b/);
  });

  it("declares the models and data volumes and copies the runtime assets, not the tests", () => {
    const volumes = final
      .filter((i) => i.keyword === "VOLUME")
      .flatMap((i) => JSON.parse(i.args) as string[]);
    assert.ok(volumes.includes("/app/models") && volumes.includes("/app/data"));
    const copies = all
      .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))
      .map((i) => i.args.split(" ")[0]!);
    assert.ok(copies.includes("assets"), "assets/ is not copied");
    assert.ok(!copies.some((source) => source.startsWith("test")), "test files are copied");
  });

  it("has a .dockerignore that leaves out the heavy folders but nothing the build copies", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("#"));
    for (const heavy of ["node_modules", ".git", "models", "data", ".env"])
      assert.ok(ignored.includes(heavy), `${heavy} not ignored`);
    const sources = all
      .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(" ").slice(0, -1));
    for (const source of sources) {
      assert.ok(!ignored.includes(source.split("/")[0]!), `${source} is copied but ignored`);
    }
  });
});

describe("docker-compose.yml", () => {
  const compose = parse(read("docker-compose.yml")) as {
    services: Record<string, Record<string, unknown>>;
  };
  const easel = compose.services.easel!;

  it("reserves the NVIDIA GPUs", () => {
    const devices = (easel.deploy as { resources: { reservations: { devices: Record<string, unknown>[] } } })
      .resources.reservations.devices;
    assert.equal(devices[0]!.driver, "nvidia");
    assert.ok((devices[0]!.capabilities as string[]).includes("gpu"));
  });

  it("reads .env, mounts models and data, restarts unless stopped and publishes the health port", () => {
    const envFile = easel.env_file;
    assert.ok(envFile === ".env" || (Array.isArray(envFile) && envFile.includes(".env")));
    const volumes = easel.volumes as string[];
    assert.ok(volumes.includes("./models:/app/models"));
    assert.ok(volumes.includes("./data:/app/data"));
    assert.equal(easel.restart, "unless-stopped");
    const port = String((easel.environment as Record<string, string>).EASEL_WEB_PORT);
    assert.ok(
      (easel.ports as string[]).some((mapping) => mapping.endsWith(`:${port}`)),
      "the web/health port is not published",
    );
    assert.equal(easel.build, ".");
  });
});
