/**
 * What output moderation is set to (EASEL_MODERATION*): plain data shared by the config, the queue
 * and the classifier. Importing this module loads no classifier.
 */

export const MODERATION_MODES = ["off", "spoiler", "blur", "withhold"] as const;
export type ModerationMode = (typeof MODERATION_MODES)[number];

/**
 * The classifiers nsfwjs ships inside its npm package, with the square input side each reads.
 * MobileNetV2Mid is the default: the most accurate of the two 224² models by its authors'
 * measure, and the fastest here (~55 ms per image on the wasm backend, against ~70 ms for
 * MobileNetV2 and ~410 ms for InceptionV3 at 299²).
 */
export const BUILT_IN_CLASSIFIERS = {
  MobileNetV2: { size: 224 },
  MobileNetV2Mid: { size: 224 },
  InceptionV3: { size: 299 },
} as const;
export type BuiltInClassifier = keyof typeof BUILT_IN_CLASSIFIERS;
export const DEFAULT_CLASSIFIER: BuiltInClassifier = "MobileNetV2Mid";

export function isBuiltInClassifier(name: string): name is BuiltInClassifier {
  return Object.hasOwn(BUILT_IN_CLASSIFIERS, name);
}

export interface ModerationConfig {
  /** EASEL_MODERATION: what happens to a flagged image; "off" classifies nothing. */
  mode: ModerationMode;
  /** EASEL_MODERATION_THRESHOLD: an image whose unsafe score is at least this is flagged (1 flags none). */
  threshold: number;
  /** EASEL_MODERATION_NSFW_CHANNELS: also act on images made in channels marked NSFW (else they are exempt). */
  nsfwChannels: boolean;
  /**
   * EASEL_MODERATION_MODEL: a built-in classifier's name, or the folder of a TensorFlow.js model
   * (`model.json` and its weight files) with nsfwjs' five classes.
   */
  model: string;
}
