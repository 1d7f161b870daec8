/** The platform-neutral `/imagine` command: what the chat adapters call. */

export type * from "../requests/request.js";
export * from "./aspect.js";
export * from "./buttons.js";
export * from "./imagine.js";
export * from "./options.js";
export * from "./policy.js";
export * from "./seeds.js";
export * from "./texts.js";
export { cleanText, type RawValue } from "./validate.js";
