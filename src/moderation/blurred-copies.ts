/**
 * The blurred copies made lately, by image id: a result's copy is asked for by every viewer (each
 * chat post, each page load), so the newest few are kept rather than made again each time. A copy
 * that could not be made is not kept: the next viewer tries again.
 */
import type { EncodedImage } from "../pipeline/types.js";
import { blurredCopy } from "./blur.js";

/** How many blurred copies are kept at hand: the newest results are the ones being looked at. */
export const BLURRED_COPIES_KEPT = 32;

export class BlurredCopies {
  private readonly copies = new Map<string, Promise<EncodedImage | undefined>>();

  /** `original` fetches an image's bytes by id (undefined once they are gone). */
  constructor(
    private readonly original: (imageId: string) => Promise<EncodedImage | undefined>,
    private readonly kept = BLURRED_COPIES_KEPT,
  ) {}

  /** Image `imageId`'s blurred copy, made once while it is kept; undefined when the image is gone. */
  get(imageId: string): Promise<EncodedImage | undefined> {
    const known = this.copies.get(imageId);
    if (known) return known;
    const copy = this.original(imageId).then((bytes) => (bytes ? blurredCopy(bytes) : undefined));
    this.copies.set(imageId, copy);
    if (this.copies.size > this.kept) this.copies.delete(this.copies.keys().next().value!);
    const drop = () => {
      if (this.copies.get(imageId) === copy) this.copies.delete(imageId);
    };
    copy.then((made) => {
      if (!made) drop();
    }, drop);
    return copy;
  }

  /** Lets a copy go (its result was deleted). */
  forget(imageId: string): void {
    this.copies.delete(imageId);
  }
}
