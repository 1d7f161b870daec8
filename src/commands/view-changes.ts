/** What changed between two views of a job, as the events of its life (see `ViewChange`). */
import type { JobView, ViewChange } from "./chat.js";

/** The events a view adds to the one a watcher saw before it (see ViewChange). */
export function changesBetween(previous: JobView | undefined, view: JobView): ViewChange[] {
  switch (view.state) {
    case "queued":
      return previous?.state === "queued" && previous.position === view.position ? [] : ["queued"];
    case "running": {
      const changes: ViewChange[] = previous?.state === "running" ? [] : ["started"];
      // Step 0 is the start itself; progress reports a finished step.
      if (view.step !== undefined && view.step > 0 && previous?.step !== view.step) changes.push("progress");
      return changes;
    }
    default:
      return previous?.final ? [] : [view.state];
  }
}
