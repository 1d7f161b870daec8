/**
 * Owns the waiting jobs and the devices. Whenever a device is free and a job waits, it takes the
 * ordering's pick and starts it on that device, so no device idles while a job waits; a device
 * runs one job at a time (its slot holds the run until it settles). It also tracks places in line
 * and tells the owner when they change.
 */
import type { DeviceWorker } from "./device.js";
import { FairTurns, orderWaiting, pickWithAffinity, type WaitingJob } from "./ordering.js";

/** Why a running job's signal was aborted. */
export type AbortReason = { kind: "cancel"; byUserId: string | undefined } | { kind: "stop" };

/** What the dispatcher needs to know of a job; the turn is its own to give. */
export type DispatchableJob = Omit<WaitingJob, "turn"> & {
  /**
   * What a device must hold to run it without a load: the model's catalogue name (undefined = the
   * default model), with its LoRA set when it has one (src/queue/loras.ts `heldKeyOf`).
   */
  model?: string | undefined;
};

export interface DispatcherOptions<J extends DispatchableJob> {
  devices: readonly DeviceWorker[];
  /** Runs a job on a device to its end; must not reject (the owner records failures). */
  run: (job: J, device: DeviceWorker, signal: AbortSignal) => Promise<void>;
  /** Jobs whose 1-based place in line changed (a job that starts at once has none). */
  onPositions: (changes: ReadonlyArray<{ job: J; position: number }>) => void;
  /** Models each device keeps loaded (its worker's LRU, mirrored here for affinity); default 1. */
  modelsPerDevice?: number;
}

interface DeviceSlot<J> {
  device: DeviceWorker;
  job: J | undefined;
  /** The current run, settled (never rejected) once the device is free again. */
  run: Promise<void>;
  /** Models the device ran last, least recently used first, as many as it keeps loaded. */
  held: Array<string | undefined>;
}

/** A waiting job with its turn. */
interface Entry<J> extends WaitingJob {
  job: J;
  model: string | undefined;
  /** Jobs behind it that started first because a device held their model. */
  overtaken: number;
}

export class Dispatcher<J extends DispatchableJob> {
  private waiting: Entry<J>[] = [];
  private readonly turns = new FairTurns();
  private readonly slots: DeviceSlot<J>[];
  private readonly running = new Map<string, { job: J; slot: DeviceSlot<J>; controller: AbortController }>();
  private readonly positions = new Map<string, number>();
  private pumpScheduled = false;
  private stopped = false;

  constructor(private readonly options: DispatcherOptions<J>) {
    this.slots = options.devices.map((device) => ({
      device,
      job: undefined,
      run: Promise.resolve(),
      // A device starts with its engine's own model: the default.
      held: [undefined],
    }));
  }

  /**
   * Adds a job. Returns its place in line: 0 when a device is free for it (it starts at once),
   * otherwise 1-based. Dispatch happens on the next microtask, so the caller learns the job id
   * before any event about it.
   */
  enqueue(job: J): number {
    const entry: Entry<J> = {
      id: job.id,
      userId: job.userId,
      tier: job.tier,
      seq: job.seq,
      turn: this.turns.assign(job.userId, job.tier),
      job,
      model: job.model,
      overtaken: 0,
    };
    this.waiting.push(entry);
    const order = orderWaiting(this.waiting);
    const free = this.slots.filter((slot) => !slot.job).length;
    const index = order.indexOf(entry);
    const position = index < free ? 0 : index - free + 1;
    this.positions.set(job.id, position);
    this.schedulePump();
    return position;
  }

  /** Takes a waiting job out of line; undefined when it is not waiting. */
  remove(jobId: string): J | undefined {
    const index = this.waiting.findIndex((job) => job.id === jobId);
    if (index < 0) return undefined;
    const [entry] = this.waiting.splice(index, 1);
    this.positions.delete(jobId);
    this.schedulePump();
    return entry!.job;
  }

  /** Aborts a running job's signal; false when it is not running. */
  abort(jobId: string, reason: AbortReason): boolean {
    const entry = this.running.get(jobId);
    if (!entry) return false;
    entry.controller.abort(reason);
    return true;
  }

  isWaiting(jobId: string): boolean {
    return this.positions.has(jobId);
  }

  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  /** The job a device is running under this id; undefined when it is not running. */
  runningJob(jobId: string): J | undefined {
    return this.running.get(jobId)?.job;
  }

  /** Current 1-based place in line of a waiting job (0 = about to start). */
  positionOf(jobId: string): number | undefined {
    return this.positions.get(jobId);
  }

  get size(): { waiting: number; running: number } {
    return { waiting: this.waiting.length, running: this.running.size };
  }

  /** Which job each device runs, in device order. */
  devicesStatus(): Array<{ device: string; jobId: string | undefined }> {
    return this.slots.map((slot) => ({ device: slot.device.device, jobId: slot.job?.id }));
  }

  /**
   * Stops dispatching; running jobs are aborted with reason "stop" and awaited; waiting jobs stay
   * where they are (the owner keeps them in its store for the next start). Returns the waiting jobs.
   */
  async stop(): Promise<J[]> {
    this.stopped = true;
    for (const entry of this.running.values()) entry.controller.abort({ kind: "stop" } satisfies AbortReason);
    await Promise.all(this.slots.map((slot) => slot.run));
    const left = this.waiting.map((entry) => entry.job);
    this.waiting = [];
    this.positions.clear(); // nothing waits here any more: isWaiting and positionOf say so
    return left;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    // Free devices that hold a waiting job's model take such a job first (within the bound on
    // overtaking, ordering.ts); the other free devices then take the line's pick.
    for (const heldOnly of [true, false]) {
      for (const slot of this.slots) {
        if (slot.job || this.waiting.length === 0) continue;
        const line = orderWaiting(this.waiting);
        const held = new Set(slot.held);
        const index = pickWithAffinity(line, held);
        const entry = line[index]!;
        if (heldOnly && !held.has(entry.model)) continue;
        for (const ahead of line.slice(0, index)) ahead.overtaken += 1;
        this.hold(slot, entry.model);
        this.waiting.splice(this.waiting.indexOf(entry), 1);
        this.positions.delete(entry.id);
        this.turns.started(entry);
        this.start(entry.job, slot);
      }
    }
    this.publishPositions();
  }

  /** The device loads (or reuses) the model: the most recently used, the oldest dropped past the limit. */
  private hold(slot: DeviceSlot<J>, model: string | undefined): void {
    slot.held = [...slot.held.filter((held) => held !== model), model].slice(
      -(this.options.modelsPerDevice ?? 1),
    );
  }

  private start(job: J, slot: DeviceSlot<J>): void {
    const controller = new AbortController();
    slot.job = job;
    this.running.set(job.id, { job, slot, controller });
    // The executor calls run() now, as a queue would; a synchronous throw becomes a rejection.
    slot.run = new Promise<void>((resolve) => resolve(this.options.run(job, slot.device, controller.signal)))
      .catch(() => {}) // run() records its own failures; nothing to add here
      .finally(() => {
        slot.job = undefined;
        this.running.delete(job.id);
        this.schedulePump();
      });
  }

  private publishPositions(): void {
    if (this.waiting.length === 0) return;
    const changes: Array<{ job: J; position: number }> = [];
    orderWaiting(this.waiting).forEach((entry, index) => {
      const position = index + 1;
      if (this.positions.get(entry.id) !== position) {
        this.positions.set(entry.id, position);
        changes.push({ job: entry.job, position });
      }
    });
    if (changes.length > 0) this.options.onPositions(changes);
  }
}
