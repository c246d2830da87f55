/**
 * A bounded in-memory record of punch outcomes, per peer and per NAT-pair
 * class, and the advice the planner and the service derive from it:
 *
 * - order candidates by what worked with this peer before
 * - shorten budgets for pairs that succeeded before
 * - skip a peer that keeps failing (DOOMED_CONSECUTIVE_FAILURES failures
 * within DOOMED_WINDOW_MS): go straight to the relay, try again after a
 * growing backoff
 * - skip a NAT-pair class only when DOOMED_CLASS_MIN_DISTINCT_PEERS distinct
 * peers failed within DOOMED_WINDOW_MS (each peer counted once per window,
 * nothing counted while the class is skipped), so one peer, honest or not,
 * cannot decide for its whole class or keep the skip alive
 * - skip, and never retry, a peer that broke the protocol, for
 * VIOLATION_BACKOFF_MS
 * - space out retries (exponential backoff with jitter) and swap roles
 *
 * The history learns only what the caller records: record genuine punch
 * failures only, never a skip this history advised (see `skipSource`), a
 * refusal or a cancellation.
 *
 * No I/O, no clock: every call takes `now` (and `random` where needed).
 * Memory is bounded: HISTORY_MAX_PEERS peers and as many violators,
 * HISTORY_MAX_PAIR_CLASSES classes, each with at most
 * HISTORY_OUTCOMES_PER_ENTRY outcomes and failing peers.
 */

import {
  DOOMED_CLASS_MIN_DISTINCT_PEERS,
  DOOMED_CONSECUTIVE_FAILURES,
  DOOMED_WINDOW_MS,
  HISTORY_MAX_PAIR_CLASSES,
  HISTORY_MAX_PEERS,
  HISTORY_OUTCOMES_PER_ENTRY,
  KNOWN_GOOD_BUDGET_FACTOR,
  MAX_ATTEMPT,
  VIOLATION_BACKOFF_MS
} from '../constants.ts'
import { InvalidPlanInputError } from '../errors.ts'
import { doomedBackoffMs, retryBackoffMs } from './timing.ts'
import type { CandidateKind, HistoryAdvice, PairClass, PairStrategy } from './plan.ts'

/** What decided a skip: see HistoryAdvice.skipSource */
export type HistorySkipSource = NonNullable<HistoryAdvice['skipSource']>

/**
 * The outcome of one genuine punch attempt: probing ran and either confirmed
 * a path (`success: true`) or gave up (`success: false`). Not for skips,
 * refusals, cancellations or protocol violations (see `recordViolation`).
 */
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
  /**
   * peer: true once DOOMED_CONSECUTIVE_FAILURES of them fell within
   * DOOMED_WINDOW_MS; NAT-pair class: true once DOOMED_CLASS_MIN_DISTINCT_PEERS
   * distinct peers failed within DOOMED_WINDOW_MS. Stays true until a success
   * (the skip itself ends after its backoff).
   */
  doomed: boolean
  lastFailureAt?: number
  /**
   * NAT-pair class only: distinct peers whose counted failure is remembered
   * (the latest counted failure of each, since the class last succeeded)
   */
  failingPeers?: number
}

export interface RetryAdvice {
  /**
   * false: stop retrying (too many attempts, or the peer broke the protocol:
   * then `retryAt` is when its ban ends); use the relay until something
   * changes
   */
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
  /** peers remembered (default HISTORY_MAX_PEERS) */
  maxPeers?: number
  /** NAT-pair classes remembered (default HISTORY_MAX_PAIR_CLASSES) */
  maxPairClasses?: number
  /**
   * outcomes kept per peer and per class, and failing peers tracked per
   * class (default HISTORY_OUTCOMES_PER_ENTRY)
   */
  maxOutcomes?: number
  /** peers with a protocol violation remembered (default HISTORY_MAX_PEERS) */
  maxViolators?: number
  /** how long a protocol violation stops punches with that peer, ms (default VIOLATION_BACKOFF_MS) */
  violationBackoffMs?: number
}

interface Entry {
  outcomes: PunchOutcome[]
  consecutiveFailures: number
  /** times of the last DOOMED_CONSECUTIVE_FAILURES failures of the streak */
  recentFailures: number[]
  doomed: boolean
  lastFailureAt?: number
}

interface ClassEntry extends Entry {
  /**
   * peer → clock ms of its latest counted failure, oldest first, since the
   * class last succeeded; a peer counts again only once that time has left
   * DOOMED_WINDOW_MS. At most max(maxOutcomes, DOOMED_CLASS_MIN_DISTINCT_PEERS)
   * peers.
   */
  failingPeers: Map<string, number>
  /** times the class was doomed since it last succeeded (drives the backoff) */
  strikes: number
  /** clock ms of the failure that doomed the class last */
  doomedAt?: number
  /** distinct peers within the window when it was doomed last */
  doomedPeers: number
}

interface Skip {
  source: HistorySkipSource
  retryAt: number
  reason: string
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

  delete (key: string): void {
    this.map.delete(key)
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
  private readonly pairs: Lru<ClassEntry>
  /** peer → clock ms when its protocol-violation ban ends */
  private readonly violators: Lru<number>
  private readonly maxOutcomes: number
  private readonly maxFailingPeers: number
  private readonly violationBackoffMs: number

  constructor (init: PunchHistoryInit = {}) {
    const maxPeers = init.maxPeers ?? HISTORY_MAX_PEERS
    const maxPairClasses = init.maxPairClasses ?? HISTORY_MAX_PAIR_CLASSES
    const maxOutcomes = init.maxOutcomes ?? HISTORY_OUTCOMES_PER_ENTRY
    const maxViolators = init.maxViolators ?? HISTORY_MAX_PEERS
    const violationBackoffMs = init.violationBackoffMs ?? VIOLATION_BACKOFF_MS

    for (const [name, value] of [['maxPeers', maxPeers], ['maxPairClasses', maxPairClasses], ['maxOutcomes', maxOutcomes], ['maxViolators', maxViolators], ['violationBackoffMs', violationBackoffMs]] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new InvalidPlanInputError(`PunchHistory ${name} must be a positive integer, got ${value}`)
      }
    }

    this.peers = new Lru(maxPeers)
    this.pairs = new Lru(maxPairClasses)
    this.violators = new Lru(maxViolators)
    this.maxOutcomes = maxOutcomes
    this.maxFailingPeers = Math.max(maxOutcomes, DOOMED_CLASS_MIN_DISTINCT_PEERS)
    this.violationBackoffMs = violationBackoffMs
  }

  /**
   * Remember the outcome of one genuine punch attempt (see PunchOutcome).
   * A failure dooms the peer on its own; it counts for the NAT-pair class
   * once per peer per DOOMED_WINDOW_MS, and not at all while the class is
   * skipped.
   */
  record (outcome: PunchOutcome): void {
    if (!Number.isFinite(outcome.at) || !Number.isFinite(outcome.elapsedMs) || outcome.elapsedMs < 0) {
      throw new InvalidPlanInputError('A punch outcome needs a finite `at` and a non-negative `elapsedMs`')
    }

    this.peers.set(outcome.peer, this.update(this.peers.get(outcome.peer), outcome))
    this.pairs.set(outcome.pairClass, this.updateClass(this.pairs.get(outcome.pairClass), outcome))
  }

  /**
   * Remember that `peer` broke the coordination protocol at `now` (asked
   * for more than our own plan, sent a malformed or out-of-order message...).
   * Until `now` + violationBackoffMs, `advise` skips this peer (skipSource
   * 'violation') and `nextRetry` says no retry. Only this peer is affected:
   * neither its NAT-pair class nor its punch outcomes change.
   */
  recordViolation (peer: string, now: number): void {
    if (!Number.isFinite(now)) {
      throw new InvalidPlanInputError('A protocol violation needs a finite `now`')
    }

    const until = now + this.violationBackoffMs
    this.violators.set(peer, Math.max(until, this.violators.peek(peer) ?? until))
  }

  /**
   * What the planner should know before punching `peer`, whose NAT pair is
   * `pairClass`. A skip names what decided it (`skipSource`: 'violation',
   * 'peer' or 'class', most specific first) and, in `retryAt`, the earliest
   * time none of them applies any more.
   */
  advise (peer: string, pairClass: PairClass, now: number): HistoryAdvice {
    const p = this.peers.get(peer)
    const c = this.pairs.get(pairClass)
    const advice: HistoryAdvice = { skip: false, reason: '', preferredKinds: preferredKinds(p) }
    const skips: Skip[] = []
    const bannedUntil = this.bannedUntil(peer, now)

    if (bannedUntil != null) {
      skips.push({ source: 'violation', retryAt: bannedUntil, reason: `peer ${peer} broke the protocol, no punch for ${seconds(bannedUntil - now)} s` })
    }

    if (p?.doomed === true && p.lastFailureAt != null) {
      const retryAt = p.lastFailureAt + doomedBackoffMs(p.consecutiveFailures)

      if (now < retryAt) {
        skips.push({ source: 'peer', retryAt, reason: `peer ${peer} failed ${p.consecutiveFailures} times in a row, next try in ${seconds(retryAt - now)} s` })
      }
    }

    const classRetryAt = classSkipUntil(c)

    if (c != null && classRetryAt != null && now < classRetryAt) {
      skips.push({ source: 'class', retryAt: classRetryAt, reason: `NAT pair ${pairClass} failed with ${c.doomedPeers} distinct peers, next try in ${seconds(classRetryAt - now)} s` })
    }

    if (skips.length > 0) {
      return {
        ...advice,
        skip: true,
        skipSource: skips[0].source,
        retryAt: Math.max(...skips.map(s => s.retryAt)),
        reason: skips[0].reason
      }
    }

    const cap = budgetCap(p) ?? budgetCap(c, DOOMED_CLASS_MIN_DISTINCT_PEERS)

    if (cap != null) {
      advice.budgetCapMs = cap
      advice.reason = `succeeded before, budget capped at ${cap} ms`
    }

    return advice
  }

  /**
   * When to retry after a failed attempt with `peer`: exponential backoff
   * with jitter, roles swapped each time, no more than MAX_ATTEMPT retries in
   * a row, and none while the peer is banned for a protocol violation
   */
  nextRetry (peer: string, now: number, random: () => number): RetryAdvice {
    const failures = this.peers.get(peer)?.consecutiveFailures ?? 0
    const attempt = Math.max(0, failures - 1)
    const bannedUntil = this.bannedUntil(peer, now)

    if (bannedUntil != null) {
      return { retry: false, delayMs: bannedUntil - now, retryAt: bannedUntil, attempt, swapRoles: true }
    }

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
    const c = this.pairs.peek(pairClass)
    const v = view(c)

    if (v != null && c != null) {
      v.failingPeers = c.failingPeers.size
    }

    return v
  }

  get peerCount (): number {
    return this.peers.size
  }

  get pairClassCount (): number {
    return this.pairs.size
  }

  /** peers remembered for a protocol violation (expired bans included until evicted or looked up) */
  get violatorCount (): number {
    return this.violators.size
  }

  clear (): void {
    this.peers.clear()
    this.pairs.clear()
    this.violators.clear()
  }

  /** clock ms when the peer's violation ban ends, if it is banned at `now` */
  private bannedUntil (peer: string, now: number): number | undefined {
    const until = this.violators.peek(peer)

    if (until == null) {
      return undefined
    }

    if (now >= until) {
      this.violators.delete(peer)
      return undefined
    }

    return until
  }

  private update (entry: Entry | undefined, outcome: PunchOutcome): Entry {
    const e: Entry = entry ?? { outcomes: [], consecutiveFailures: 0, recentFailures: [], doomed: false }

    this.remember(e, outcome)

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

  /**
   * A class is (re)doomed at a failure only when that failure counts (its
   * peer has no counted failure within DOOMED_WINDOW_MS, and the class is
   * not skipped at that time) and DOOMED_CLASS_MIN_DISTINCT_PEERS distinct
   * peers have a counted failure within the window. So no single peer can
   * doom a class, nor renew its skip by failing (or being recorded as
   * failing) again.
   */
  private updateClass (entry: ClassEntry | undefined, outcome: PunchOutcome): ClassEntry {
    const e: ClassEntry = entry ?? { outcomes: [], consecutiveFailures: 0, recentFailures: [], doomed: false, failingPeers: new Map(), strikes: 0, doomedPeers: 0 }

    this.remember(e, outcome)

    if (outcome.success) {
      e.consecutiveFailures = 0
      e.doomed = false
      e.failingPeers.clear()
      e.strikes = 0
      e.doomedAt = undefined
      e.doomedPeers = 0
      return e
    }

    e.consecutiveFailures++
    e.lastFailureAt = outcome.at

    const skippedUntil = classSkipUntil(e)

    if (skippedUntil != null && outcome.at < skippedUntil) {
      // a failure while the class is skipped: a session that started before
      // the skip, or a caller recording a skip as a failure; either way it
      // must not keep the skip alive
      return e
    }

    const since = outcome.at - DOOMED_WINDOW_MS

    for (const [peer, at] of e.failingPeers) {
      if (at < since) {
        e.failingPeers.delete(peer)
      }
    }

    if (e.failingPeers.has(outcome.peer)) {
      // this peer already counted within the window
      return e
    }

    e.failingPeers.set(outcome.peer, outcome.at)

    while (e.failingPeers.size > this.maxFailingPeers) {
      e.failingPeers.delete(e.failingPeers.keys().next().value as string)
    }

    let distinct = 0

    for (const at of e.failingPeers.values()) {
      if (at >= since && at <= outcome.at) {
        distinct++
      }
    }

    if (distinct >= DOOMED_CLASS_MIN_DISTINCT_PEERS) {
      e.doomed = true
      e.strikes++
      e.doomedAt = outcome.at
      e.doomedPeers = distinct
    }

    return e
  }

  private remember (e: Entry, outcome: PunchOutcome): void {
    e.outcomes.push({ ...outcome })

    if (e.outcomes.length > this.maxOutcomes) {
      e.outcomes.splice(0, e.outcomes.length - this.maxOutcomes)
    }
  }
}

/**
 * Until when (clock ms) a doomed class is skipped: DOOMED_BACKOFF_BASE_MS
 * after the failure that doomed it, doubled for each further time it was
 * doomed since its last success, at most DOOMED_BACKOFF_MAX_MS
 */
function classSkipUntil (e: ClassEntry | undefined): number | undefined {
  if (e?.doomed !== true || e.doomedAt == null) {
    return undefined
  }

  return e.doomedAt + doomedBackoffMs(DOOMED_CONSECUTIVE_FAILURES + e.strikes - 1)
}

function seconds (ms: number): number {
  return Math.ceil(ms / 1000)
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
 * remembered successes with at least `minPeers` distinct peers:
 * KNOWN_GOOD_BUDGET_FACTOR × the slowest of them
 */
function budgetCap (e: Entry | undefined, minPeers = 1): number | undefined {
  const last = e?.outcomes[e.outcomes.length - 1]

  if (e == null || last?.success !== true) {
    return undefined
  }

  const successes = e.outcomes.filter(o => o.success)

  if (new Set(successes.map(o => o.peer)).size < minPeers) {
    return undefined
  }

  return Math.ceil(KNOWN_GOOD_BUDGET_FACTOR * Math.max(...successes.map(o => o.elapsedMs)))
}
