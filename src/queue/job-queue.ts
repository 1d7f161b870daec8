/** The JobQueue interface the backends here implement; it is defined in the shared requests room. */
export * from "../requests/jobs.js";
