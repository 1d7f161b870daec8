/**
 * A job's views as the event stream the API promises: queued → started → progress… → done | failed
 * | cancelled, one event per change the follow loop reports (src/bots/follow.ts). It starts from
 * the job's current view, so a late subscriber starts from the job's state now (a finished job:
 * its final event alone).
 */
import type { JobView, ViewChange } from "../../commands/chat.js";
import type { JobSink } from "../follow.js";
import { type JobJson, jobJson } from "./job-json.js";

export type JobEventName = ViewChange;

export interface JobEvent {
  name: JobEventName;
  data: JobJson;
}

/** One Server-Sent Events message. Data is JSON on one line, so no line of it can end the message. */
export function sseMessage(event: JobEvent, id: number): string {
  return `id: ${id}\nevent: ${event.name}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** The web's sink for the follow loop: each change of a view is one event on the stream. */
export function eventStreamSink(write: (text: string) => void): JobSink {
  let sent = 0;
  const send = async (view: JobView, changes: readonly ViewChange[]) => {
    const data = jobJson(view);
    for (const name of changes) write(sseMessage({ name, data }, ++sent));
  };
  return { post: send, edit: send };
}

/** What an event reports of a view: a view that changes none of it sends nothing. */
export function eventSignature(view: JobView): string {
  return JSON.stringify([view.state, view.position, view.step]);
}
