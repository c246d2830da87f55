/**
 * Pure port-allocation analysis: how does the NAT pick the external port of
 * a new mapping? Input: the distinct mappings we caused, in the order the NAT
 * made them.
 */

import {
  NAT_ALLOCATION_MAX_DELTA, NAT_ALLOCATION_MAX_SAMPLE_GAP, NAT_ALLOCATION_MAX_SKIP, NAT_ALLOCATION_MIN_CONSISTENT,
  NAT_ALLOCATION_MIN_SAMPLES
} from '../../constants.ts'
import type { PortAllocation } from '../nat-profile.ts'

export interface AllocationSample {
  /** when the mapping was made (ms) */
  at: number
  localPort: number
  /** the public IP of the mapping: port deltas are only compared within one */
  mappedHost: string
  mappedPort: number
}

export interface AllocationOptions {
  minSamples?: number
  maxDelta?: number
  maxSkip?: number
  minConsistent?: number
  maxSampleGap?: number
}

/**
 * The signed difference b - a between two ports, folded into -32768..32767
 * so that wrapping around the port range counts as a small step
 */
export function portDelta (a: number, b: number): number {
  let d = b - a

  if (d > 32767) {
    d -= 65536
  } else if (d < -32768) {
    d += 65536
  }

  return d
}

/**
 * Classify the port allocation from new-mapping samples (any order; they are
 * sorted by time here).
 *
 * - `preserving`: the mapped port equals the local port in at least
 * `minConsistent` of the samples
 * - `sequential`: at least `minConsistent` of the deltas between consecutive
 * samples are a small delta d (|d| <= maxDelta) or a multiple of it up to
 * `maxSkip` times (other hosts behind the NAT took the ports in between);
 * `reliability` is the fraction of deltas that are exactly d
 * - `random`: enough samples, neither of the above
 * - `unknown`: fewer than `minSamples` samples (or deltas + 1)
 */
export function classifyAllocation (input: readonly AllocationSample[], options: AllocationOptions = {}): PortAllocation {
  const minSamples = options.minSamples ?? NAT_ALLOCATION_MIN_SAMPLES
  const maxDelta = options.maxDelta ?? NAT_ALLOCATION_MAX_DELTA
  const maxSkip = options.maxSkip ?? NAT_ALLOCATION_MAX_SKIP
  const minConsistent = options.minConsistent ?? NAT_ALLOCATION_MIN_CONSISTENT
  const maxSampleGap = options.maxSampleGap ?? NAT_ALLOCATION_MAX_SAMPLE_GAP

  if (input.length < minSamples) {
    return { kind: 'unknown' }
  }

  const samples = [...input].sort((a, b) => a.at - b.at)
  const preserved = samples.filter(s => s.localPort === s.mappedPort).length

  if (preserved / samples.length >= minConsistent) {
    return { kind: 'preserving' }
  }

  const deltas = consecutiveDeltas(samples, maxSampleGap)

  if (deltas.length < minSamples - 1) {
    return { kind: 'unknown' }
  }

  const best = bestDelta(deltas, maxDelta, maxSkip)

  if (best != null && best.consistent / deltas.length >= minConsistent) {
    return { kind: 'sequential', delta: best.delta, reliability: best.exact / deltas.length }
  }

  return { kind: 'random' }
}

/**
 * Port differences between consecutive samples that are close enough in time
 * and share the public IP
 */
function consecutiveDeltas (samples: readonly AllocationSample[], maxSampleGap: number): number[] {
  const deltas: number[] = []

  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]
    const cur = samples[i]

    if (cur.at - prev.at <= maxSampleGap && cur.mappedHost === prev.mappedHost) {
      deltas.push(portDelta(prev.mappedPort, cur.mappedPort))
    }
  }

  return deltas
}

interface DeltaFit {
  delta: number
  /** deltas that are 1..maxSkip times `delta` */
  consistent: number
  /** deltas exactly `delta` */
  exact: number
}

/**
 * The small delta that explains the most deltas (then the most exactly, then
 * the smallest)
 */
function bestDelta (deltas: readonly number[], maxDelta: number, maxSkip: number): DeltaFit | undefined {
  let best: DeltaFit | undefined

  for (const candidate of new Set(deltas)) {
    if (candidate === 0 || Math.abs(candidate) > maxDelta) {
      continue
    }

    const fit = fitDelta(deltas, candidate, maxSkip)

    if (best == null || compareFits(fit, best) > 0) {
      best = fit
    }
  }

  return best
}

function fitDelta (deltas: readonly number[], delta: number, maxSkip: number): DeltaFit {
  let exact = 0
  let consistent = 0

  for (const d of deltas) {
    const k = d / delta

    if (k === 1) {
      exact++
    }

    if (Number.isInteger(k) && k >= 1 && k <= maxSkip) {
      consistent++
    }
  }

  return { delta, consistent, exact }
}

function compareFits (a: DeltaFit, b: DeltaFit): number {
  return (a.consistent - b.consistent) || (a.exact - b.exact) || (Math.abs(b.delta) - Math.abs(a.delta))
}
