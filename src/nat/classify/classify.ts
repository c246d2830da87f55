/**
 * The pure NAT classifier: observations in, NatProfile out. No I/O, no
 * clock of its own (`now` is passed in).
 */

import { NAT_ALLOCATION_MIN_SAMPLES, NAT_MAX_PUBLIC_ADDRESSES, NAT_OBSERVATION_MAX_AGE, NAT_EIM_MAJORITY } from '../../constants.ts'
import { addressKey, canonicalHost, isUnspecified, sameAddress, sameHost } from '../ip.ts'
import { UNKNOWN_NAT_PROFILE } from '../nat-profile.ts'
import { classifyAllocation } from './allocation.ts'
import { combineFiltering } from './filtering.ts'
import { classifySocketMapping, voteMapping } from './mapping.ts'
import type { AllocationOptions, AllocationSample } from './allocation.ts'
import type { SocketMapping } from './mapping.ts'
import type { NatProfile, PortAllocation, Reachability, TransportAddress } from '../nat-profile.ts'
import type { FilteringObservation, Observation } from '../observation.ts'

export interface ClassifyOptions {
  /** the current clock time in ms */
  now: number
  /** RFC 5780 filtering test results */
  filtering?: readonly FilteringObservation[]
  /** observations older than this (ms) are ignored (default NAT_OBSERVATION_MAX_AGE) */
  maxAge?: number
  /** only use observations of this address family (classify each family on its own) */
  family?: 4 | 6
  /** fraction of observers that must agree for EIM despite outliers */
  eimMajority?: number
  allocation?: AllocationOptions
  /**
   * this host's own IP addresses (its interfaces). An observation from a
   * socket bound to 0.0.0.0 or :: shows no NAT when its mapped port is the
   * local port and its mapped IP one of these; without them such an
   * observation proves neither (a port-preserving NAT looks the same), and
   * counts towards neither `public` nor `private`.
   */
  localHosts?: readonly string[]
}

/**
 * Derive a NatProfile from observations.
 *
 * - Observations older than `maxAge`, from the future, or of another family
 * (when `family` is set) are ignored.
 * - reachability: `public` when at least `eimMajority` of the observations
 * show no translation (mapped == local; for a wildcard-bound socket: same
 * port and one of `localHosts`), unless a filtering test timed out and
 * filtering is ADF/APDF (a firewall without NAT); `private` when at least
 * `eimMajority` show a translation; otherwise `unknown` (also when
 * wildcard-bound sockets without `localHosts` leave it open)
 * - mapping: per local socket (see classifySocketMapping), then a weighted
 * vote across sockets
 * - filtering: see combineFiltering
 * - allocation: every distinct (local socket, mapped address) pair is one
 * new mapping, ordered by when its first request left (see
 * classifyAllocation); when there are enough samples from fresh sockets
 * (`freshSocket`), only those count, since only they are certainly new
 * mappings; with no NAT, `preserving`
 * - publicAddresses: distinct mapped addresses of the sockets we keep (not
 * of fresh sockets), most recently seen first
 * - confidence: evidence x agreement x freshness, where evidence =
 * k / (k + 1) for k distinct observers, agreement is the weight share of
 * the winning mapping verdict (1 when there is none), and freshness falls
 * linearly from 1 to 0.5 as the newest observation ages to `maxAge`
 */
export function classify (observations: readonly Observation[], options: ClassifyOptions): NatProfile {
  const now = options.now
  const maxAge = options.maxAge ?? NAT_OBSERVATION_MAX_AGE
  const eimMajority = options.eimMajority ?? NAT_EIM_MAJORITY
  const fresh = observations.filter(o =>
    isFresh(o.at, now, maxAge) &&
    (options.family == null || (o.mapped.family === options.family && o.local.family === options.family))
  )
  const filteringResults = (options.filtering ?? []).filter(f =>
    isFresh(f.at, now, maxAge) &&
    (options.family == null || f.local.family === options.family)
  )

  if (fresh.length === 0) {
    return {
      ...UNKNOWN_NAT_PROFILE,
      allocation: { kind: 'unknown' },
      publicAddresses: [],
      filtering: combineFiltering(filteringResults),
      observedAt: Math.max(0, ...filteringResults.map(f => f.at))
    }
  }

  const filtering = combineFiltering(filteringResults)

  // reachability
  const translations = fresh.map(o => isTranslated(o, options.localHosts))
  const publicShare = translations.filter(t => t === false).length / fresh.length
  const privateShare = translations.filter(t => t === true).length / fresh.length
  let reachability: Reachability = 'unknown'

  if (publicShare >= eimMajority) {
    // no NAT; a filtering test that timed out shows a firewall
    const firewalled = (filtering === 'ADF' || filtering === 'APDF') &&
      filteringResults.some(f => f.changeIpAndPort === 'timeout' || f.changePort === 'timeout')
    reachability = firewalled ? 'private' : 'public'
  } else if (privateShare >= eimMajority) {
    reachability = 'private'
  }

  // mapping, per local socket
  const bySocket = new Map<string, Observation[]>()

  for (const o of fresh) {
    const key = addressKey(o.local)
    const list = bySocket.get(key) ?? []
    list.push(o)
    bySocket.set(key, list)
  }

  const verdicts: SocketMapping[] = []

  for (const list of bySocket.values()) {
    const verdict = classifySocketMapping(list, { eimMajority })

    if (verdict != null) {
      verdicts.push(verdict)
    }
  }

  const mapping = voteMapping(verdicts)

  // allocation
  let allocation: PortAllocation

  if (publicShare >= eimMajority) {
    allocation = { kind: 'preserving' }
  } else {
    const freshSockets = allocationSamples(fresh.filter(o => o.freshSocket === true))
    const minSamples = options.allocation?.minSamples ?? NAT_ALLOCATION_MIN_SAMPLES
    allocation = classifyAllocation(freshSockets.length >= minSamples ? freshSockets : allocationSamples(fresh), options.allocation)
  }

  // public addresses, most recent first
  const lastSeen = new Map<string, { address: TransportAddress, at: number }>()

  for (const o of fresh) {
    if (o.freshSocket === true) {
      continue
    }

    const key = addressKey(o.mapped)
    const prev = lastSeen.get(key)

    if (prev == null || o.at > prev.at) {
      lastSeen.set(key, { address: { ...o.mapped, host: canonicalHost(o.mapped.host) }, at: o.at })
    }
  }

  const publicAddresses = [...lastSeen.values()]
    .sort((a, b) => b.at - a.at)
    .slice(0, NAT_MAX_PUBLIC_ADDRESSES)
    .map(e => e.address)

  // confidence
  const observedAt = Math.max(...fresh.map(o => o.at))
  const observers = new Set(fresh.map(o => addressKey(o.observer))).size
  const evidence = observers / (observers + 1)
  const agreement = mapping.behaviour === 'unknown' ? 1 : mapping.agreement
  const freshness = 1 - 0.5 * Math.min(1, (now - observedAt) / maxAge)

  return {
    reachability,
    mapping: mapping.behaviour,
    filtering,
    allocation,
    publicAddresses,
    confidence: evidence * agreement * freshness,
    observedAt
  }
}

/**
 * Whether the observer saw a translated address: true (a NAT), false (our
 * own address), undefined (a wildcard-bound socket kept its port, and we do
 * not know our own addresses)
 */
function isTranslated (o: Observation, localHosts: readonly string[] | undefined): boolean | undefined {
  if (sameAddress(o.mapped, o.local)) {
    return false
  }

  if (o.mapped.port !== o.local.port || !isUnspecified(o.local.host)) {
    return true
  }

  if (localHosts == null) {
    return undefined
  }

  return !localHosts.some(h => sameHost(h, o.mapped.host))
}

function isFresh (at: number, now: number, maxAge: number): boolean {
  return at <= now && now - at <= maxAge
}

/**
 * One sample per distinct (local socket, mapped address): the NAT made that
 * mapping when our first request to any observer that saw it left
 */
export function allocationSamples (observations: readonly Observation[]): AllocationSample[] {
  const samples = new Map<string, AllocationSample>()

  for (const o of observations) {
    const key = `${addressKey(o.local)}>${addressKey(o.mapped)}`
    const at = o.sentAt ?? o.at
    const prev = samples.get(key)

    if (prev == null || at < prev.at) {
      samples.set(key, {
        at,
        localPort: o.local.port,
        mappedHost: canonicalHost(o.mapped.host),
        mappedPort: o.mapped.port
      })
    }
  }

  return [...samples.values()]
}
