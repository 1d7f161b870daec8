/**
 * Wall and session time of one generation, by phase, so a run can report how much of it was
 * spent inside ONNX Runtime and how much was the pipeline's own work.
 */
import type { SessionClock } from "./onnx/session.js";
import type { GenerateTimings } from "./types.js";

type Phase = "textEncode" | "denoise" | "vae" | "encodeImage";

export class RunTimer {
  private readonly started = performance.now();
  private readonly wall: Record<Phase, number> = { textEncode: 0, denoise: 0, vae: 0, encodeImage: 0 };
  private readonly session: Record<Phase, number> = { textEncode: 0, denoise: 0, vae: 0, encodeImage: 0 };

  constructor(private readonly clock: SessionClock) {}

  /** Runs `work`, adding its wall time and the session time inside it to `phase`. */
  async phase<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    const wallBefore = performance.now();
    const sessionBefore = this.clock.totalMs;
    try {
      return await work();
    } finally {
      this.wall[phase] += performance.now() - wallBefore;
      // Encoding runs no session; the next job's sessions may run meanwhile and are not ours.
      if (phase !== "encodeImage") this.session[phase] += this.clock.totalMs - sessionBefore;
    }
  }

  timings(previewMs: number): GenerateTimings {
    return {
      totalMs: performance.now() - this.started,
      sessionMs: this.session.textEncode + this.session.denoise + this.session.vae,
      textEncodeMs: this.wall.textEncode,
      denoiseMs: this.wall.denoise,
      vaeMs: this.wall.vae,
      encodeImageMs: this.wall.encodeImage,
      sessionMsByPhase: {
        textEncode: this.session.textEncode,
        denoise: this.session.denoise,
        vae: this.session.vae,
      },
      previewMs,
    };
  }
}
