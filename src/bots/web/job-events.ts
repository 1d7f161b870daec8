/**
 * A job's views as the event stream the API promises: queued → started → progress… → done | failed
 * | cancelled. The chat service sends the current view first, so a late subscriber starts from the
 * job's state now (a finished job: its final event alone).
 */
import type { JobView } from "../../commands/chat.js";
import { type JobJson, jobJson } from "./job-json.js";

export type JobEventName = "queued" | "started" | "progress" | "done" | "failed" | "cancelled";

export interface JobEvent {
  name: JobEventName;
  data: JobJson;
}

/**
 * Turns successive views of one job into events, dropping views that change nothing an event
 * reports (the same place in line, the same step).
 */
export class JobEventSequencer {
  private last: { state: JobView["state"]; position?: number; step?: number } | undefined;
  private ended = false;

  /** The events this view adds, in order. */
  next(view: JobView): JobEvent[] {
    if (this.ended) return [];
    const data = jobJson(view);
    const previous = this.last;
    this.last = { state: view.state, position: view.position, step: view.step };
    switch (view.state) {
      case "queued":
        if (previous?.state === "queued" && previous.position === view.position) return [];
        return [{ name: "queued", data }];
      case "running": {
        const events: JobEvent[] = [];
        if (previous?.state !== "running") events.push({ name: "started", data });
        // Step 0 is the start itself; a progress event reports a finished step.
        if (view.step !== undefined && view.step > 0 && previous?.step !== view.step) {
          events.push({ name: "progress", data });
        }
        return events;
      }
      default:
        this.ended = true;
        return [{ name: view.state, data }];
    }
  }

  get finished(): boolean {
    return this.ended;
  }
}

/** One Server-Sent Events message. Data is JSON on one line, so no line of it can end the message. */
export function sseMessage(event: JobEvent, id: number): string {
  return `id: ${id}\nevent: ${event.name}\ndata: ${JSON.stringify(event.data)}\n\n`;
}
