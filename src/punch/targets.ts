/**
 * Expansion of a plan's target descriptions into concrete addresses.
 * Pure; randomness is injected.
 */

import { NAT_PORT_MIN } from '../constants.ts'
import { InvalidPlanInputError } from '../errors.ts'
import { NAT_PORT_RANGE } from './timing.ts'
import type { TargetSpec } from './plan.ts'

export interface Target {
  host: string
  port: number
  family: 4 | 6
}

/**
 * Wrap a port computed as last + k·delta back into the NAT port range
 * (allocators wrap around at the top of their range)
 */
export function wrapPort (port: number): number {
  const offset = ((Math.round(port) - NAT_PORT_MIN) % NAT_PORT_RANGE + NAT_PORT_RANGE) % NAT_PORT_RANGE

  return NAT_PORT_MIN + offset
}

/**
 * `count` distinct ports in NAT_PORT_MIN..NAT_PORT_MAX, uniformly at random
 * from the injected `random` (0 ≤ random() < 1), in the order drawn
 */
export function randomDistinctPorts (count: number, random: () => number): number[] {
  const n = Math.floor(count)

  if (n < 0 || n > NAT_PORT_RANGE) {
    throw new InvalidPlanInputError(`Cannot draw ${count} distinct ports from ${NAT_PORT_RANGE}: ask for 0..${NAT_PORT_RANGE}`)
  }

  // partial Fisher-Yates over a virtual array: only swapped slots are stored
  const swapped = new Map<number, number>()
  const out: number[] = []

  for (let i = 0; i < n; i++) {
    const r = Math.min(NAT_PORT_RANGE - 1, i + Math.floor(random() * (NAT_PORT_RANGE - i)))
    const atR = swapped.get(r) ?? r
    const atI = swapped.get(i) ?? i

    swapped.set(r, atI)
    out.push(NAT_PORT_MIN + atR)
  }

  return out
}

/**
 * The addresses one pass over `spec` visits, in order. The executor sends
 * to them round after round and starts over at the end (for `random-ports`
 * that re-sends to the same ports, which reuses existing mappings).
 */
export function expandTargets (spec: TargetSpec, random: () => number): Target[] {
  switch (spec.kind) {
    case 'list':
      return spec.candidates.map(c => ({ host: c.host, port: c.port, family: c.family }))
    case 'window': {
      const out: Target[] = []

      for (let i = 0; i < spec.count; i++) {
        out.push({ host: spec.host, family: spec.family, port: wrapPort(spec.first + i * spec.step) })
      }

      return out
    }
    case 'random-ports':
      return randomDistinctPorts(spec.count, random).map(port => ({ host: spec.host, family: spec.family, port }))
    default:
      throw new InvalidPlanInputError('Unknown target spec kind: build specs with the planner')
  }
}

/** Number of addresses in one pass over `spec` */
export function targetCount (spec: TargetSpec): number {
  return spec.kind === 'list' ? spec.candidates.length : spec.count
}
