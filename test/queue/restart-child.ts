/**
 * A bot process in miniature for the restart test: a queue with one simulated device and its store
 * in the folder given as argv[2]. It recovers what the store holds, submits the jobs named in
 * argv[3..] (as "user:prompt"), and prints one JSON line per event; it exits once nothing is left.
 */
import { createJobQueue } from "../../src/queue/index.js";
import { request, testConfig } from "./support.js";

const [dataDir, ...submissions] = process.argv.slice(2);
const queue = createJobQueue(testConfig(dataDir!), {
  engineFor: () => ({ kind: "simulated", stepMs: 15 }),
});
const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
let open = 0;
const finished = () => {
  open -= 1;
  if (open === 0) void queue.stop().then(() => print({ event: "exit" }));
};

queue.on("recovered", (event) => {
  if (event.requeued) open += 1;
  print({ event: "recovered", jobId: event.job.id, requeued: event.requeued });
});
queue.on("started", (event) => print({ event: "started", jobId: event.jobId, attempt: event.attempt }));
queue.on("progress", (event) => print({ event: "progress", jobId: event.jobId, step: event.step }));
queue.on("done", (event) => {
  print({ event: "done", jobId: event.jobId, images: event.images.map((image) => image.id) });
  finished();
});
for (const name of ["failed", "cancelled"] as const) {
  queue.on(name, (event) => {
    print({ event: name, jobId: event.jobId });
    finished();
  });
}

await queue.recover();
for (const submission of submissions) {
  const [userId, prompt] = submission.split(":");
  const { jobId } = await queue.submit(request(userId!, { prompt: prompt!, steps: 12 }));
  open += 1;
  print({ event: "submitted", jobId, userId });
}
if (open === 0) void queue.stop().then(() => print({ event: "exit" }));
