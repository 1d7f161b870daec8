/**
 * A real redis-server for tests: Debian's binary on a free loopback port, in a temporary folder,
 * with the append-only file on and fsynced on every write (what the scale-out set-up asks for), so
 * that a restart on the same folder keeps every job. No mocks: BullMQ's Lua scripts run for real.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REDIS_SERVER = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";

/** A port the kernel just handed out on 127.0.0.1 (free at the time of asking). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends PING until the server answers PONG (it loads its AOF before it does). */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      let reply = "";
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(500, () => done(false));
      socket.once("error", () => done(false));
      socket.on("data", (chunk) => {
        reply += chunk.toString();
        if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
      });
      socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export class RedisServer {
  private process: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = "";

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** Starts a server in a fresh temporary folder on a free port. */
  static async start(): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), "easel-redis-"));
    const server = new RedisServer(dir, await freePort());
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  /** What the server printed (for a failing test's message). */
  get output(): string {
    return this.log;
  }

  /** Starts the server again on the same folder and port: it replays its append-only file. */
  async launch(): Promise<void> {
    if (this.process) throw new Error("redis-server is already running");
    const child = spawn(
      REDIS_SERVER,
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--protected-mode",
        "yes",
        // BullMQ needs its keys kept: nothing may be evicted.
        "--maxmemory-policy",
        "noeviction",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.process = child;
    child.stdout?.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.once("exit", () => {
        if (this.process === child) this.process = undefined;
        resolve();
      }),
    );
    const failed = new Promise<never>((_, reject) =>
      child.once("error", (error) => reject(new Error(`cannot start ${REDIS_SERVER}: ${error.message}`))),
    );
    await Promise.race([waitForPong(this.port, 10_000), failed]);
  }

  /** SIGTERM: redis-server fsyncs and exits cleanly. */
  async stop(): Promise<void> {
    this.process?.kill("SIGTERM");
    await this.exited;
  }

  /** SIGKILL: no shutdown work at all; only what the append-only file already holds survives. */
  async kill(): Promise<void> {
    this.process?.kill("SIGKILL");
    await this.exited;
  }

  /** Kills the server and starts it again on the same folder. */
  async restart(options: { hard?: boolean } = {}): Promise<void> {
    if (options.hard) await this.kill();
    else await this.stop();
    await this.launch();
  }

  /** Stops the server and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
