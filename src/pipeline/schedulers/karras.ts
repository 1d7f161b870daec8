/**
 * Karras et al. (2022) sigmas and diffusers' sigma -> timestep inverse, in numpy's float64.
 */

const RHO = 7;

/** (sigma_max^(1/7) + ramp*(sigma_min^(1/7) - sigma_max^(1/7)))^7 over ramp = np.linspace(0, 1, N). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number): Float64Array {
  const minInvRho = sigmaMin ** (1 / RHO);
  const maxInvRho = sigmaMax ** (1 / RHO);
  const span = minInvRho - maxInvRho;
  const out = new Float64Array(steps);
  const rampStep = steps > 1 ? 1 / (steps - 1) : 0;
  for (let i = 0; i < steps; i++) {
    const ramp = i === steps - 1 && steps > 1 ? 1 : i * rampStep;
    out[i] = (maxInvRho + ramp * span) ** RHO;
  }
  return out;
}

/** log of the training sigmas, as numpy's float32 np.log gives them. */
export function logSigmasFloat32(sigmas: Float32Array): Float32Array {
  return sigmas.map(Math.log);
}

/**
 * _sigma_to_t: the fractional training timestep whose log-sigma matches, interpolating linearly
 * between the neighbouring entries of the (ascending) log-sigma table.
 */
export function sigmaToTimestep(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let j = 0; j < logSigmas.length; j++) if (logSigma - logSigmas[j]! >= 0) low = j;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}
