/**
 * A bounded in-memory record of punch outcomes, per peer and per NAT-pair
 * class, and the advice the planner and the service derive from it:
 *
 * - order candidates by what worked with this peer before
 * - shorten budgets for pairs that succeeded before
 * - skip pairs that keep failing (DOOMED_CONSECUTIVE_FAILURES failures within
 * DOOMED_WINDOW_MS): go straight to the relay, try again after a growing
 * backoff
 * - space out retries (exponential backoff with jitter) and swap roles
 *
 * No I/O, no clock: every call takes `now` (and `random` where needed).
 */

import {
  DOOMED_CONSECUTIVE_FAILURES,
  DOOMED_WINDOW_MS,
  HISTORY_MAX_PAIR_CLASSES,
  HISTORY_MAX_PEERS,
  HISTORY_OUTCOMES_PER_ENTRY,
  KNOWN_GOOD_BUDGET_FACTOR,
  MAX_ATTEMPT
} from '../constants.ts'
import { InvalidPlanInputError } from '../errors.ts'
import { doomedBackoffMs, retryBackoffMs } from './timing.ts'
import type { CandidateKind, HistoryAdvice, PairClass, PairStrategy } from './plan.ts'

export interface PunchOutcome {
  /** the remote peer, e.g. peerId.toString() */
  peer: string
  pairClass: PairClass
  strategy: PairStrategy
  success: boolean
  /** ms from our start signal to the confirmed path (success) or to giving up */
  elapsedMs: number
  /** kind of the remote candidate the path was fixed on (success only) */
  winningKind?: CandidateKind
  /** clock ms when the attempt ended */
  at: number
}

export interface HistoryEntryView {
  outcomes: readonly PunchOutcome[]
  /** failures since the last success */
  consecutiveFailures: number
  /** true once DOOMED_CONSECUTIVE_FAILURES of them fell within DOOMED_WINDOW_MS */
  doomed: boolean
  lastFailureAt?: number
}

export interface RetryAdvice {
  /** false: stop retrying (too many attempts); use the relay until something changes */
  retry: boolean
  /** wait this long before the next attempt, ms */
  delayMs: number
  /** clock ms of the next attempt */
  retryAt: number
  /** 0-based number of the next retry */
  attempt: number
  /** the next attempt is offered by the other peer (roles alternate) */
  swapRoles: boolean
}

export interface PunchHistoryInit {
  maxPeers?: number
  maxPairClasses?: number
  maxOutcomes?: number
}

interface Entry {
  outcomes: PunchOutcome[]
  consecutiveFailures: number
  /** times of the last DOOMED_CONSECUTIVE_FAILURES failures of the streak */
  recentFailures: number[]
  doomed: boolean
  lastFailureAt?: number
}

/**
 * Least-recently-used map: reading or writing an entry makes it the newest
 */
class Lru<V> {
  private readonly map = new Map<string, V>()
  private readonly max: number

  constructor (max: number) {
    this.max = max
  }

  get (key: string): V | undefined {
    const value = this.map.get(key)

    if (value !== undefined) {
      this.map.delete(key)
      this.map.set(key, value)
    }

    return value
  }

  peek (key: string): V | undefined {
    return this.map.get(key)
  }

  set (key: string, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)

    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as string
      this.map.delete(oldest)
    }
  }

  get size (): number {
    return this.map.size
  }

  clear (): void {
    this.map.clear()
  }
}

export class PunchHistory {
  private readonly peers: Lru<Entry>
  private readonly pairs: Lru<Entry>
  private readonly maxOutcomes: number

  constructor (init: PunchHistoryInit = {}) {
    const maxPeers = init.maxPeers ?? HISTORY_MAX_PEERS
    const maxPairClasses = init.maxPairClasses ?? HISTORY_MAX_PAIR_CLASSES
    const maxOutcomes = init.maxOutcomes ?? HISTORY_OUTCOMES_PER_ENTRY

    for (const [name, value] of [['maxPeers', maxPeers], ['maxPairClasses', maxPairClasses], ['maxOutcomes', maxOutcomes]] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new InvalidPlanInputError(`PunchHistory ${name} must be a positive integer, got ${value}`)
      }
    }

    this.peers = new Lru(maxPeers)
    this.pairs = new Lru(maxPairClasses)
    this.maxOutcomes = maxOutcomes
  }

  /** Remember the outcome of one attempt */
  record (outcome: PunchOutcome): void {
    if (!Number.isFinite(outcome.at) || !Number.isFinite(outcome.elapsedMs) || outcome.elapsedMs < 0) {
      throw new InvalidPlanInputError('A punch outcome needs a finite `at` and a non-negative `elapsedMs`')
    }

    this.peers.set(outcome.peer, this.update(this.peers.get(outcome.peer), outcome))
    this.pairs.set(outcome.pairClass, this.update(this.pairs.get(outcome.pairClass), outcome))
  }

  /**
   * What the planner should know before punching `peer`, whose NAT pair is
   * `pairClass`
   */
  advise (peer: string, pairClass: PairClass, now: number): HistoryAdvice {
    const p = this.peers.get(peer)
    const c = this.pairs.get(pairClass)
    const advice: HistoryAdvice = { skip: false, reason: '', preferredKinds: preferredKinds(p) }

    for (const [entry, what] of [[p, `peer ${peer}`], [c, `NAT pair ${pairClass}`]] as const) {
      if (entry?.doomed === true && entry.lastFailureAt != null) {
        const retryAt = entry.lastFailureAt + doomedBackoffMs(entry.consecutiveFailures)

        if (now < retryAt) {
          return {
            ...advice,
            skip: true,
            retryAt: Math.max(retryAt, advice.retryAt ?? 0),
            reason: `${what} failed ${entry.consecutiveFailures} times in a row, next try in ${Math.ceil((retryAt - now) / 1000)} s`
          }
        }
      }
    }

    const cap = budgetCap(p) ?? budgetCap(c, 3)

    if (cap != null) {
      advice.budgetCapMs = cap
      advice.reason = `succeeded before, budget capped at ${cap} ms`
    }

    return advice
  }

  /**
   * When to retry after a failed attempt with `peer`: exponential backoff
   * with jitter, roles swapped each time, no more than MAX_ATTEMPT retries in
   * a row
   */
  nextRetry (peer: string, now: number, random: () => number): RetryAdvice {
    const failures = this.peers.get(peer)?.consecutiveFailures ?? 0
    const attempt = Math.max(0, failures - 1)
    const delayMs = retryBackoffMs(attempt, random)

    return {
      retry: failures > 0 && failures <= MAX_ATTEMPT,
      delayMs,
      retryAt: now + delayMs,
      attempt,
      swapRoles: true
    }
  }

  /** A copy of what is remembered about a peer */
  peer (peer: string): HistoryEntryView | undefined {
    return view(this.peers.peek(peer))
  }

  /** A copy of what is remembered about a NAT-pair class */
  pairClass (pairClass: PairClass): HistoryEntryView | undefined {
    return view(this.pairs.peek(pairClass))
  }

  get peerCount (): number {
    return this.peers.size
  }

  get pairClassCount (): number {
    return this.pairs.size
  }

  clear (): void {
    this.peers.clear()
    this.pairs.clear()
  }

  private update (entry: Entry | undefined, outcome: PunchOutcome): Entry {
    const e: Entry = entry ?? { outcomes: [], consecutiveFailures: 0, recentFailures: [], doomed: false }

    e.outcomes.push({ ...outcome })

    if (e.outcomes.length > this.maxOutcomes) {
      e.outcomes.splice(0, e.outcomes.length - this.maxOutcomes)
    }

    if (outcome.success) {
      e.consecutiveFailures = 0
      e.recentFailures = []
      e.doomed = false
      return e
    }

    e.consecutiveFailures++
    e.lastFailureAt = outcome.at
    e.recentFailures.push(outcome.at)

    if (e.recentFailures.length > DOOMED_CONSECUTIVE_FAILURES) {
      e.recentFailures.shift()
    }

    if (e.recentFailures.length === DOOMED_CONSECUTIVE_FAILURES &&
      e.recentFailures[e.recentFailures.length - 1] - e.recentFailures[0] <= DOOMED_WINDOW_MS) {
      e.doomed = true
    }

    return e
  }
}

function view (e: Entry | undefined): HistoryEntryView | undefined {
  if (e == null) {
    return undefined
  }

  return {
    outcomes: e.outcomes.map(o => ({ ...o })),
    consecutiveFailures: e.consecutiveFailures,
    doomed: e.doomed,
    lastFailureAt: e.lastFailureAt
  }
}

/**
 * Candidate kinds that won with this peer, most recent first
 */
function preferredKinds (e: Entry | undefined): CandidateKind[] {
  const kinds: CandidateKind[] = []

  for (let i = (e?.outcomes.length ?? 0) - 1; i >= 0; i--) {
    const kind = e?.outcomes[i].winningKind

    if (e?.outcomes[i].success === true && kind != null && !kinds.includes(kind)) {
      kinds.push(kind)
    }
  }

  return kinds
}

/**
 * A budget cap for an entry whose latest outcome is a success and that has
 * at least `minSuccesses` remembered successes: KNOWN_GOOD_BUDGET_FACTOR ×
 * the slowest of them
 */
function budgetCap (e: Entry | undefined, minSuccesses = 1): number | undefined {
  const last = e?.outcomes[e.outcomes.length - 1]

  if (e == null || last?.success !== true) {
    return undefined
  }

  const successes = e.outcomes.filter(o => o.success)

  if (successes.length < minSuccesses) {
    return undefined
  }

  return Math.ceil(KNOWN_GOOD_BUDGET_FACTOR * Math.max(...successes.map(o => o.elapsedMs)))
}
