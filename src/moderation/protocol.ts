/**
 * Messages between the ImageClassifier (the queue's thread) and its classifier thread. Plain data:
 * errors cross as their message, and the classifier side types them again.
 */
import type { ClassScores } from "./decision.js";

export interface ClassifierWorkerData {
  /** A built-in nsfwjs model's name, or a TensorFlow.js model folder (model.json and its weights). */
  model: string;
}

/** What the classifier loaded, for the logs and doctor. */
export interface ClassifierInfo {
  /** The model's name, or its folder. */
  model: string;
  /** The square side the model reads; images are resized to it. */
  size: number;
  /** TensorFlow.js' backend (wasm). */
  backend: string;
  loadMs: number;
}

export type ToClassifier = { type: "classify"; id: number; image: Uint8Array } | { type: "shutdown" };

export type FromClassifier =
  | ({ type: "ready" } & ClassifierInfo)
  | { type: "load_failed"; message: string }
  | { type: "scores"; id: number; scores: ClassScores; ms: number }
  | { type: "failed"; id: number; message: string };
