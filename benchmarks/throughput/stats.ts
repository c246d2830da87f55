export function sorted (values: number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/**
 * Percentile by linear interpolation between closest ranks, p in [0, 100]
 */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) {
    return NaN
  }
  const s = sorted(values)
  const rank = (p / 100) * (s.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return s[lo] + (s[hi] - s[lo]) * (rank - lo)
}

export function median (values: number[]): number {
  return percentile(values, 50)
}

export interface Summary {
  median: number
  min: number
  max: number
  n: number
}

export function summarize (values: number[]): Summary {
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    n: values.length
  }
}

export function round (value: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
