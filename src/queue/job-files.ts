/**
 * The files the process that keeps the job store keeps beside it: finished images under
 * `<dataDir>/images`, users' uploads under `<dataDir>/uploads`, and the sweep that deletes them.
 * The embedded queue and the Redis gateway both keep the store, so both use this one room.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EaselError } from "../errors.js";
import type { EncodedImage } from "../pipeline/types.js";
import {
  type GenerationRequest,
  isUploadSource,
  maskUploadIdOf,
  type SourceImageRef,
} from "../requests/request.js";
import { listImageFiles, listOlderFiles, writeFileAtomically } from "./image-files.js";
import { queueMessages } from "./messages.js";
import type { JobStore } from "./store.js";

const UPLOAD_ID = /^upload-[0-9a-f]{16}$/;

/** The job id and index in an image id (`<jobId>-<index>`); undefined for anything else. */
export function parseImageId(imageId: string): { jobId: string; index: number } | undefined {
  const match = /^([A-Za-z0-9_-]{1,64})-(0|[1-9]\d{0,2})$/.exec(imageId);
  return match ? { jobId: match[1]!, index: Number(match[2]) } : undefined;
}

export interface JobFilesOptions {
  store: JobStore;
  dataDir: string;
}

export class JobFiles {
  readonly imagesDir: string;
  readonly uploadsDir: string;

  constructor(private readonly options: JobFilesOptions) {
    this.imagesDir = resolve(options.dataDir, "images");
    this.uploadsDir = resolve(options.dataDir, "uploads");
    mkdirSync(this.imagesDir, { recursive: true });
  }

  /** Keeps a user's upload until the retention time; returns the id a request's source names. */
  async keepUpload(image: EncodedImage): Promise<string> {
    const uploadId = `upload-${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    await mkdir(this.uploadsDir, { recursive: true });
    await writeFileAtomically(this.uploadPath(uploadId), image.data);
    return uploadId;
  }

  /** A finished image's bytes, by `<jobId>-<index>`; undefined when unknown or swept. */
  async imageBytes(imageId: string): Promise<EncodedImage | undefined> {
    const id = parseImageId(imageId);
    const image = id ? this.options.store.get(id.jobId)?.images[id.index] : undefined;
    if (!image || image.deleted) return undefined;
    try {
      const data = new Uint8Array(await readFile(image.path));
      return { mime: image.mime, width: image.width, height: image.height, data };
    } catch {
      return undefined; // swept meanwhile
    }
  }

  /** Refuses, at submit, a request whose source image or repaint mask is gone. */
  checkRequestImages(request: GenerationRequest): void {
    if (request.source) this.checkSource(request.source);
    const maskId = maskUploadIdOf(request);
    if (maskId !== undefined && !this.hasUpload(maskId)) {
      throw new EaselError("not_found", queueMessages.maskGone());
    }
  }

  /**
   * The bytes of the images a request's job reads when it runs: its source image and a repaint's
   * mask; "not_found" EaselErrors for the user when either is gone.
   */
  async requestImagesOf(request: GenerationRequest): Promise<{ source?: Uint8Array; mask?: Uint8Array }> {
    const source = request.source ? await this.sourceImageOf(request.source) : undefined;
    const maskId = maskUploadIdOf(request);
    let mask: Uint8Array | undefined;
    if (maskId !== undefined) {
      try {
        mask = await readFile(this.uploadPath(maskId));
      } catch {
        throw new EaselError("not_found", queueMessages.maskGone());
      }
    }
    return { ...(source ? { source } : {}), ...(mask ? { mask } : {}) };
  }

  /** Refuses, at submit, a source image that is gone: "not_found" EaselErrors for the user. */
  checkSource(source: SourceImageRef): void {
    if (isUploadSource(source)) {
      if (!this.hasUpload(source.uploadId)) throw new EaselError("not_found", queueMessages.uploadGone());
      return;
    }
    const job = this.options.store.get(source.jobId);
    if (!job) throw new EaselError("not_found", queueMessages.jobNotFound());
    if (job.status !== "done") throw new EaselError("not_found", queueMessages.sourceJobNotFinished());
    const image = job.images[source.imageIndex];
    if (!image || image.deleted) {
      throw new EaselError("not_found", queueMessages.sourceImageGone(source.imageIndex + 1));
    }
  }

  /**
   * A source image's bytes when its job runs. Past the retention time the chat service fetches a
   * posted image back from its platform and submits it as an upload, so only kept files are read here.
   */
  async sourceImageOf(source: SourceImageRef): Promise<Uint8Array> {
    if (isUploadSource(source)) {
      try {
        return await readFile(this.uploadPath(source.uploadId));
      } catch {
        throw new EaselError("not_found", queueMessages.uploadGone());
      }
    }
    const job = this.options.store.get(source.jobId);
    const image = job?.images[source.imageIndex];
    if (job && image && !image.deleted) {
      try {
        return await readFile(image.path);
      } catch {
        // swept meanwhile, or removed by hand
      }
    }
    throw new EaselError("not_found", queueMessages.sourceImageGone(source.imageIndex + 1));
  }

  /**
   * Deletes images that were posted or kept past the retention time, stray image files of jobs that
   * never finished, and uploads past the retention time. Returns how many files were deleted.
   */
  async sweep(now: number, retentionHours: number): Promise<{ deleted: number }> {
    const { store } = this.options;
    const cutoff = now - retentionHours * 3_600_000;
    let deleted = 0;
    for (const candidate of store.sweepCandidates(cutoff)) {
      await rm(candidate.path, { force: true });
      store.markImageDeleted(candidate.jobId, candidate.index, now);
      deleted += 1;
    }
    for (const file of await listImageFiles(this.imagesDir)) {
      if (store.isFileInUse(file.path, file.jobId)) continue;
      await rm(file.path, { force: true });
      deleted += 1;
    }
    for (const path of await listOlderFiles(this.uploadsDir, cutoff)) {
      await rm(path, { force: true });
      deleted += 1;
    }
    return { deleted };
  }

  private hasUpload(uploadId: string): boolean {
    return UPLOAD_ID.test(uploadId) && existsSync(this.uploadPath(uploadId));
  }

  private uploadPath(uploadId: string): string {
    return join(this.uploadsDir, `${uploadId}.upload`);
  }
}
