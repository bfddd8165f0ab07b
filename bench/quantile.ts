/** The q-quantile (0..1) of `xs` by the nearest-rank method; NaN for no values. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}

/** Formats a figure with `digits` decimals, or '-' when there is none. */
export const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-')
