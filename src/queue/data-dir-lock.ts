/**
 * One service per data dir: a started service queue (the embedded queue or the Redis gateway)
 * holds `<dataDir>/service.lock`, which names its process (pid, start identity) and queue. A second
 * service on the same folder is refused at start; a lock whose process is gone (killed, crashed)
 * is taken over. `easel imagine` runs beside the service without it, and `easel admin` opens only
 * the store, so neither takes the lock.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { isSubmitterAlive, type Submitter } from "./submitter.js";

export const LOCK_FILE = "service.lock";

/** A second service on a data dir another live service holds. */
export class DataDirLockedError extends ConfigError {
  constructor(dataDir: string, holder: Submitter) {
    super(
      `Another easel service (pid ${holder.pid ?? "unknown"}) is already using the data folder ${dataDir}. Stop it first, or point EASEL_DATA_DIR at another folder.`,
    );
  }
}

function readHolder(path: string): Submitter | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<Submitter>;
    return typeof parsed.pid === "number" ? { kind: "service", ...parsed } : undefined;
  } catch {
    return undefined; // gone meanwhile, or half-written by a process that died writing it
  }
}

export class DataDirLock {
  readonly path: string;
  private held: Submitter | undefined;

  constructor(private readonly dataDir: string) {
    this.path = join(dataDir, LOCK_FILE);
  }

  /** Takes the lock for `owner`; throws DataDirLockedError while another live queue holds it. */
  acquire(owner: Submitter): void {
    if (this.held) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(this.path, JSON.stringify(owner), { flag: "wx" });
        this.held = owner;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = readHolder(this.path);
      if (holder && isSubmitterAlive(holder)) throw new DataDirLockedError(this.dataDir, holder);
      rmSync(this.path, { force: true }); // its process is gone
    }
    throw new ConfigError(`Could not take the lock ${this.path}; another easel may be starting on it.`);
  }

  /** Lets the lock go, if this queue still holds it. */
  release(): void {
    if (!this.held) return;
    const holder = readHolder(this.path);
    if (holder?.queue === this.held.queue) rmSync(this.path, { force: true });
    this.held = undefined;
  }
}
