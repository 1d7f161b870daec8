/**
 * The classifiers output moderation can load by name: plain data shared by the classifier thread
 * and the benchmark. Importing this module loads no classifier.
 */

export type { ModerationConfig, ModerationMode } from "../config.js";

/**
 * The classifiers nsfwjs ships inside its npm package, with the square input side each reads.
 * MobileNetV2Mid is the default (EASEL_MODERATION_MODEL): the more accurate of the two 224² models
 * by its authors' measure, and as fast as MobileNetV2 here; InceptionV3 (299²) takes several times
 * as long per image (bench/moderation.ts).
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
