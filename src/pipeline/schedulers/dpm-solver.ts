/**
 * DPM++ 2M Karras: diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++",
 * solver_order 2 and Karras sigmas. Second order multistep: each step reuses the previous step's
 * x0 prediction, kept in one reusable buffer. The first step of a fresh instance (or of a refiner
 * starting mid-schedule) is first order; so is the last when lower_order_final applies or the final
 * sigma is zero, in which case it returns the x0 prediction exactly.
 *
 * Scalars follow torch's 0-dim float32 ops; exp and log are correctly rounded float32.
 */
import type { ResolvedSchedulerConfig } from "./config.js";
import { karrasSigmas, logSigmasFloat32, sigmaToTimestep } from "./karras.js";
import { addScaledNoise, cleanEstimateCoefficients, roundHalfEven } from "./numerics.js";
import {
  checkGuidedStep,
  checkSameLength,
  checkStepIndex,
  type GuidedStep,
  guidedEps,
  type Scheduler,
} from "./scheduler.js";
import type { TrainSchedule } from "./train-schedule.js";

const fl = Math.fround;

/** The float32 coefficients of one update: x' = sampleCoef*x - x0Coef*x0 [- d1Coef*D1 | + heunCoef*D1]. */
export interface DpmStepCoefficients {
  readonly order: 1 | 2;
  readonly sampleCoef: number;
  readonly x0Coef: number;
  /** Order 2 only: 1/r0 with r0 = h_{i-1}/h_i, and the D1 weight (midpoint: 0.5*x0Coef, subtracted; heun: added). */
  readonly invR0?: number;
  readonly d1Coef?: number;
}

export class DpmSolverScheduler implements Scheduler {
  readonly name = "dpmpp-2m-karras" as const;
  readonly needsNoise = false;
  readonly initNoiseSigma = 1;
  readonly timesteps: Float64Array;
  readonly sigmas: Float32Array;
  /** Per sigma index: alpha_t = 1/sqrt(sigma^2 + 1), sigma_t = sigma*alpha_t, lambda = log(alpha_t) - log(sigma_t). */
  readonly alphaT: Float32Array;
  readonly sigmaT: Float32Array;
  private readonly lambda: Float32Array;
  private previousX0: Float32Array | undefined;
  /** Consecutive steps run so far (diffusers' lower_order_nums, capped at the solver order). */
  private lowerOrderNums = 0;
  private lastStepIndex = -2;

  constructor(
    readonly config: ResolvedSchedulerConfig,
    steps: number,
    schedule: TrainSchedule,
  ) {
    const T = config.numTrainTimesteps;
    const sigmaMin = config.sigmaMin ?? schedule.sigmas[0]!;
    const sigmaMax = config.sigmaMax ?? schedule.sigmas[T - 1]!;
    const karras = karrasSigmas(sigmaMin, sigmaMax, steps);
    const logSigmas = logSigmasFloat32(schedule.sigmas);
    // diffusers skips the rounding for the cosine schedule; int64 conversion then truncates.
    const round = config.betaSchedule === "squaredcos_cap_v2" ? Math.trunc : roundHalfEven;
    this.timesteps = karras.map((sigma) => Math.trunc(round(sigmaToTimestep(sigma, logSigmas))));
    this.sigmas = new Float32Array(steps + 1);
    this.sigmas.set(karras);
    this.sigmas[steps] = config.finalSigmasType === "sigma_min" ? schedule.sigmas[0]! : 0;

    this.alphaT = new Float32Array(steps + 1);
    this.sigmaT = new Float32Array(steps + 1);
    this.lambda = new Float32Array(steps + 1);
    for (let i = 0; i <= steps; i++) {
      const sigma = this.sigmas[i]!;
      const alpha = fl(1 / fl(Math.sqrt(fl(fl(sigma * sigma) + 1))));
      const sigmaT = fl(sigma * alpha);
      this.alphaT[i] = alpha;
      this.sigmaT[i] = sigmaT;
      this.lambda[i] = fl(Math.log(alpha)) - fl(Math.log(sigmaT));
    }
  }

  needsNoiseAt(): boolean {
    return false;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, out);
    if (out !== sample) out.set(sample);
  }

  /** Whether step i runs first order given the history it has. */
  orderAt(stepIndex: number, historySteps: number): 1 | 2 {
    const N = this.timesteps.length;
    const c = this.config;
    const lowerOrderFinal =
      stepIndex === N - 1 &&
      (c.eulerAtFinal || (c.lowerOrderFinal && N < 15) || c.finalSigmasType === "zero");
    return historySteps < 1 || lowerOrderFinal ? 1 : 2;
  }

  /** The update's coefficients at step i for the given order. */
  coefficients(stepIndex: number, order: 1 | 2): DpmStepCoefficients {
    const i = stepIndex;
    const alphaNext = this.alphaT[i + 1]!;
    const h = fl(this.lambda[i + 1]! - this.lambda[i]!);
    const expNegH = fl(Math.exp(-h));
    const sampleCoef = fl(this.sigmaT[i + 1]! / this.sigmaT[i]!);
    const x0Coef = fl(alphaNext * fl(expNegH - 1));
    if (order === 1) return { order, sampleCoef, x0Coef };
    const h0 = fl(this.lambda[i]! - this.lambda[i - 1]!);
    const invR0 = fl(1 / fl(h0 / h));
    const d1Coef =
      this.config.solverType === "heun" ? fl(alphaNext * fl(fl(fl(expNegH - 1) / h) + 1)) : fl(0.5 * x0Coef);
    return { order, sampleCoef, x0Coef, invR0, d1Coef };
  }

  step(eps: Float32Array, stepIndex: number, latents: Float32Array): void {
    this.stepGuided({ output: eps, guidance: undefined, latents }, stepIndex);
  }

  stepGuided(step: GuidedStep, stepIndex: number): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    const secondCopy = checkGuidedStep(step);
    // scale_model_input is the identity here: the next input is the new latents themselves.
    if (step.nextInput !== undefined) checkStepIndex(stepIndex + 1, this.timesteps.length);
    const { output, latents, nextInput } = step;
    const n = latents.length;
    const guided = step.guidance !== undefined;
    const g = fl(step.guidance ?? 0);
    if (stepIndex !== this.lastStepIndex + 1 || this.previousX0?.length !== n) this.lowerOrderNums = 0;
    if (this.previousX0?.length !== n) this.previousX0 = new Float32Array(n);
    const previous = this.previousX0;

    const k = this.coefficients(stepIndex, this.orderAt(stepIndex, this.lowerOrderNums));
    const alpha = this.alphaT[stepIndex]!;
    const sigmaT = this.sigmaT[stepIndex]!;
    const { sampleCoef, x0Coef } = k;
    const secondOrder = k.order === 2;
    const invR0 = k.invR0 ?? 0;
    const d1Coef = k.d1Coef ?? 0;
    const heun = this.config.solverType === "heun";
    for (let i = 0; i < n; i++) {
      const x = latents[i]!;
      const x0 = this.x0(x, guidedEps(output, n, i, g, guided), alpha, sigmaT);
      let y: number;
      if (!secondOrder) {
        y = fl(fl(sampleCoef * x) - fl(x0Coef * x0));
      } else {
        const d1 = fl(invR0 * fl(x0 - previous[i]!));
        const first = fl(fl(sampleCoef * x) - fl(x0Coef * x0));
        y = fl(heun ? first + fl(d1Coef * d1) : first - fl(d1Coef * d1));
      }
      previous[i] = x0;
      latents[i] = y;
      if (nextInput !== undefined) {
        nextInput[i] = y;
        nextInput[i + secondCopy] = y;
      }
    }
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, 2);
    this.lastStepIndex = stepIndex;
  }

  previewCoefficients(stepIndex: number): { sample: number; eps: number } {
    return cleanEstimateCoefficients(
      this.config.predictionType,
      this.alphaT[stepIndex] ?? 1,
      this.sigmaT[stepIndex] ?? 0,
    );
  }

  addNoise(clean: Float32Array, noise: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(clean, noise, out);
    addScaledNoise(clean, noise, this.alphaT[stepIndex]!, this.sigmaT[stepIndex]!, out);
  }

  predictOriginal(sample: Float32Array, eps: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, eps, out);
    const alpha = this.alphaT[stepIndex]!;
    const sigmaT = this.sigmaT[stepIndex]!;
    for (let i = 0; i < sample.length; i++) out[i] = this.x0(sample[i]!, eps[i]!, alpha, sigmaT);
  }

  reset(): void {
    this.lowerOrderNums = 0;
    this.lastStepIndex = -2;
  }

  /** convert_model_output for dpmsolver++: the data (x0) prediction. */
  private x0(x: number, e: number, alpha: number, sigmaT: number): number {
    switch (this.config.predictionType) {
      case "epsilon":
        return fl(fl(x - fl(sigmaT * e)) / alpha);
      case "v_prediction":
        return fl(fl(alpha * x) - fl(sigmaT * e));
      case "sample":
        return e;
    }
  }
}
