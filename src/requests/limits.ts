/** Bounds that both the settings (config.ts) and the /imagine options read. */

/** Lowest guidance scale accepted; below 1 classifier-free guidance pushes away from the prompt. */
export const MIN_GUIDANCE = 1;
