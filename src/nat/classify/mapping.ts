/**
 * Pure mapping-behaviour analysis (RFC 4787 section 4.1) of the observations
 * of one local socket, and the vote across sockets.
 */

import { NAT_EIM_MAJORITY } from '../../constants.ts'
import { addressKey, canonicalHost } from '../ip.ts'
import type { Observation } from '../observation.ts'

export type MappingKind = 'EIM' | 'ADM' | 'APDM'

export interface SocketMapping {
  behaviour: MappingKind
  /** distinct observers the verdict rests on */
  observers: number
  /** 0..1, how cleanly the observations fit the verdict */
  strength: number
}

export interface MappingOptions {
  eimMajority?: number
}

/**
 * The mapping behaviour seen by one local socket, from the newest
 * observation per observer; undefined with fewer than two observers.
 *
 * 1. every observer saw the same mapping: EIM
 * 2. observers on the same IP (different ports) agree with each other, at
 * least one IP has two such observers, and the IPs disagree: ADM
 * 3. at least `eimMajority` of three or more observers agree: EIM, with the
 * agreeing fraction as strength (outliers are stale or lying observers)
 * 4. otherwise APDM; strength 1 when two observers on one IP saw different
 * mappings (port-dependence seen), 0.5 when only observers on different
 * IPs disagree (ADM cannot be ruled out; APDM is the safe assumption)
 */
export function classifySocketMapping (observations: readonly Observation[], options: MappingOptions = {}): SocketMapping | undefined {
  const eimMajority = options.eimMajority ?? NAT_EIM_MAJORITY
  const latest = new Map<string, Observation>()

  for (const o of observations) {
    const key = addressKey(o.observer)
    const prev = latest.get(key)

    if (prev == null || o.at >= prev.at) {
      latest.set(key, o)
    }
  }

  const views = [...latest.values()]
  const n = views.length

  if (n < 2) {
    return undefined
  }

  const counts = new Map<string, number>()

  for (const o of views) {
    const key = addressKey(o.mapped)
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }

  const agreeing = Math.max(...counts.values())

  if (agreeing === n) {
    return { behaviour: 'EIM', observers: n, strength: 1 }
  }

  // group the mappings by the observer's IP
  const byIp = new Map<string, Set<string>>()
  const sizes = new Map<string, number>()

  for (const o of views) {
    const ip = canonicalHost(o.observer.host)
    const set = byIp.get(ip) ?? new Set<string>()
    set.add(addressKey(o.mapped))
    byIp.set(ip, set)
    sizes.set(ip, (sizes.get(ip) ?? 0) + 1)
  }

  const portIndependent = [...byIp.values()].every(set => set.size === 1)
  const sameIpPair = [...sizes.values()].some(size => size >= 2)

  if (portIndependent && sameIpPair) {
    return { behaviour: 'ADM', observers: n, strength: 1 }
  }

  if (n >= 3 && agreeing / n >= eimMajority) {
    return { behaviour: 'EIM', observers: n, strength: agreeing / n }
  }

  return { behaviour: 'APDM', observers: n, strength: sameIpPair ? 1 : 0.5 }
}

export interface MappingVote {
  behaviour: MappingKind | 'unknown'
  /**
   * 0..1: weight of the winning verdict over the number of observers of all
   * sockets, so that outliers and weak verdicts lower it
   */
  agreement: number
}

/**
 * Combine the per-socket verdicts: each votes with weight observers x
 * strength; the heaviest behaviour wins (the more restrictive on a tie)
 */
export function voteMapping (verdicts: readonly SocketMapping[]): MappingVote {
  const weights = new Map<MappingKind, number>()
  let total = 0

  for (const v of verdicts) {
    const w = v.observers * v.strength
    weights.set(v.behaviour, (weights.get(v.behaviour) ?? 0) + w)
    total += v.observers
  }

  if (total === 0) {
    return { behaviour: 'unknown', agreement: 0 }
  }

  let best: MappingKind = 'EIM'
  let bestWeight = -1

  // on a tie the more restrictive behaviour wins (the safe assumption)
  for (const kind of ['APDM', 'ADM', 'EIM'] as const) {
    const w = weights.get(kind) ?? 0

    if (w > bestWeight) {
      best = kind
      bestWeight = w
    }
  }

  return { behaviour: best, agreement: bestWeight / total }
}
