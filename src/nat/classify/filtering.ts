/**
 * Pure filtering-behaviour analysis (RFC 5780 section 4.4, RFC 4787
 * section 5) from the filtering test results.
 */

import type { FilteringBehaviour } from '../nat-profile.ts'
import type { FilteringObservation } from '../observation.ts'

const RANK: Record<Exclude<FilteringBehaviour, 'unknown'>, number> = { EIF: 0, ADF: 1, APDF: 2 }

/**
 * The filtering that one pair of tests shows. Where the tests leave a choice
 * open, the more restrictive behaviour is assumed:
 *
 * - test II (other IP and port) got through: EIF
 * - test III (other port) got through: ADF (also when test II was not run)
 * - test III timed out, or test II timed out and III was not run: APDF
 * - otherwise: unknown
 */
export function filteringOf (o: FilteringObservation): FilteringBehaviour {
  if (o.changeIpAndPort === 'received') {
    return 'EIF'
  }

  if (o.changePort === 'received') {
    return 'ADF'
  }

  if (o.changePort === 'timeout' || o.changeIpAndPort === 'timeout') {
    return 'APDF'
  }

  return 'unknown'
}

/**
 * Combine several test results: the least restrictive one wins, because an
 * answer that got through cannot be faked by packet loss, while a timeout
 * can be a lost packet
 */
export function combineFiltering (observations: readonly FilteringObservation[]): FilteringBehaviour {
  let best: FilteringBehaviour = 'unknown'

  for (const o of observations) {
    const f = filteringOf(o)

    if (f !== 'unknown' && (best === 'unknown' || RANK[f] < RANK[best])) {
      best = f
    }
  }

  return best
}
