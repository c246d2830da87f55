/**
 * Timing and sizing math of the punch layer. Pure: no clock, no randomness
 * except what the caller passes.
 */

import {
  DOOMED_BACKOFF_BASE_MS,
  DOOMED_BACKOFF_MAX_MS,
  DOOMED_CONSECUTIVE_FAILURES,
  NAT_PORT_MAX,
  NAT_PORT_MIN,
  RETRY_BACKOFF_BASE_MS,
  RETRY_BACKOFF_MAX_MS,
  SEQ_ASSUMED_ALLOCATIONS_PER_SECOND,
  SEQ_BASE_WINDOW,
  SEQ_MAX_DRIFT_AGE_MS,
  SEQ_MAX_WINDOW,
  SEQ_MIN_WINDOW
} from '../constants.ts'
import type { Side } from './plan.ts'

/** Number of ports a NAT allocates from (64512) */
export const NAT_PORT_RANGE = NAT_PORT_MAX - NAT_PORT_MIN + 1

/**
 * Start-time sync: the initiator sends SYNC and starts half a relayed RTT
 * later, the responder starts when SYNC arrives (about half an RTT after it
 * was sent), so both start together (as in DCUtR).
 */
export function syncStartDelayMs (side: Side, rttMs: number): number {
  if (side === 'responder') {
    return 0
  }

  return Math.round(Math.max(0, rttMs) / 2)
}

/**
 * Probability that at least one of `probes` distinct random ports (drawn
 * from `portRange` ports) hits one of `sockets` open ports: one minus the
 * chance that every probe misses, sampling without replacement,
 *
 * 1 - Π_{i=0}^{n-1} (P - K - i) / (P - i)
 *
 * which for n ≪ P is about 1 - (1 - K/P)^n.
 */
export function birthdaySuccessProbability (sockets: number, probes: number, portRange: number = NAT_PORT_RANGE): number {
  const K = Math.max(0, Math.floor(sockets))
  const n = Math.max(0, Math.floor(probes))
  const P = Math.floor(portRange)

  if (K === 0 || n === 0 || P <= 0) {
    return 0
  }

  if (K >= P || n > P - K) {
    return 1
  }

  let logMiss = 0

  for (let i = 0; i < n; i++) {
    logMiss += Math.log1p(-K / (P - i))
  }

  return 1 - Math.exp(logMiss)
}

/**
 * Smallest number of distinct random-port probes that reaches `target`
 * success against `sockets` open ports, or Infinity when no number does
 * (no sockets).
 */
export function probesForSuccess (target: number, sockets: number, portRange: number = NAT_PORT_RANGE): number {
  const K = Math.max(0, Math.floor(sockets))
  const P = Math.floor(portRange)

  if (target <= 0) {
    return 0
  }

  if (K === 0 || P <= 0) {
    return Infinity
  }

  let logMiss = 0
  const logTargetMiss = Math.log(1 - Math.min(target, 1 - 1e-12))

  for (let i = 0; i < P - K; i++) {
    logMiss += Math.log1p(-K / (P - i))

    if (logMiss <= logTargetMiss) {
      return i + 1
    }
  }

  return P - K + 1
}

export interface BirthdaySizingInput {
  /** success probability to reach, 0..1 */
  targetSuccess: number
  /** probes the random-ports side sends per second */
  probesPerSecond: number
  /** time the probing may take, ms */
  timeMs: number
  /** most extra sockets the many-sockets side may open */
  maxSockets: number
  portRange?: number
}

export interface BirthdaySizing {
  /** extra sockets the many-sockets side opens */
  sockets: number
  /** distinct random ports the other side probes */
  probes: number
  /** model success probability with these numbers */
  success: number
}

/**
 * Size a birthday punch: the fewest sockets (each is a NAT table entry on a
 * possibly shared NAT) for which `targetSuccess` is reached within `timeMs`
 * at `probesPerSecond`, and the probes needed for that. When even
 * `maxSockets` cannot get there, use all of them and every probe that fits
 * in the time, and report the lower success.
 */
export function sizeBirthday (input: BirthdaySizingInput): BirthdaySizing {
  const portRange = input.portRange ?? NAT_PORT_RANGE
  const maxSockets = Math.max(0, Math.floor(input.maxSockets))
  const probeLimit = Math.max(0, Math.floor(input.timeMs / 1000 * input.probesPerSecond))

  if (maxSockets === 0 || probeLimit === 0) {
    return { sockets: 0, probes: 0, success: 0 }
  }

  const fits = (k: number): boolean => probesForSuccess(input.targetSuccess, k, portRange) <= probeLimit

  if (!fits(maxSockets)) {
    return {
      sockets: maxSockets,
      probes: probeLimit,
      success: birthdaySuccessProbability(maxSockets, probeLimit, portRange)
    }
  }

  // success grows with sockets: binary search the fewest that fit
  let lo = 1
  let hi = maxSockets

  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2)

    if (fits(mid)) {
      hi = mid
    } else {
      lo = mid + 1
    }
  }

  const probes = probesForSuccess(input.targetSuccess, lo, portRange)

  return {
    sockets: lo,
    probes,
    success: birthdaySuccessProbability(lo, probes, portRange)
  }
}

/**
 * Random ↔ sequential birthday: the random side primes `sockets` sockets
 * towards each of the `window` predicted ports of the sequential side; the
 * sequential side's i-th probe leaves from the i-th predicted port towards a
 * random port and hits when that port is one of the `sockets` mappings made
 * for it. The probes are independent draws, so
 *
 * 1 - (1 - K/P)^W, times the chance the prediction holds.
 */
export function windowBirthdaySuccessProbability (sockets: number, window: number, reliability: number, portRange: number = NAT_PORT_RANGE): number {
  const K = Math.max(0, Math.floor(sockets))
  const W = Math.max(0, Math.floor(window))

  if (K === 0 || W === 0) {
    return 0
  }

  const perProbe = Math.min(1, K / portRange)

  return (1 - Math.pow(1 - perProbe, W)) * clamp01(reliability)
}

/**
 * How many predicted ports to probe for a sequential NAT: SEQ_BASE_WINDOW /
 * reliability, plus the ports other hosts behind the NAT are assumed to have
 * taken since the observation (`ageMs` old), within SEQ_MIN_WINDOW ..
 * SEQ_MAX_WINDOW.
 */
export function predictionWindow (reliability: number, ageMs: number): number {
  const r = Math.max(clamp01(reliability), 0.01)
  const age = Math.min(Math.max(0, ageMs), SEQ_MAX_DRIFT_AGE_MS)
  const drift = Math.ceil(age / 1000 * SEQ_ASSUMED_ALLOCATIONS_PER_SECOND)
  const window = Math.ceil(SEQ_BASE_WINDOW / r) + drift

  return Math.min(SEQ_MAX_WINDOW, Math.max(SEQ_MIN_WINDOW, window))
}

/**
 * Delay before retry number `attempt` (0 for the first retry) of a failed
 * punch: base × 2^attempt capped at the maximum, with equal jitter (half
 * fixed, half random) from the injected `random` (0 ≤ random() < 1).
 */
export function retryBackoffMs (attempt: number, random: () => number): number {
  const exp = Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_BASE_MS * Math.pow(2, Math.max(0, Math.floor(attempt))))
  const half = exp / 2

  return Math.round(half + clamp01(random()) * half)
}

/**
 * How long a doomed pair (DOOMED_CONSECUTIVE_FAILURES or more failures in a
 * row) is skipped after its last failure, ms
 */
export function doomedBackoffMs (consecutiveFailures: number): number {
  const over = Math.max(0, consecutiveFailures - DOOMED_CONSECUTIVE_FAILURES)

  return Math.min(DOOMED_BACKOFF_MAX_MS, DOOMED_BACKOFF_BASE_MS * Math.pow(2, over))
}

/**
 * Time to send `probes` probes at `probesPerRound` every `intervalMs`, ms
 */
export function probingTimeMs (probes: number, probesPerRound: number, intervalMs: number): number {
  if (probes <= 0) {
    return 0
  }

  return Math.ceil(probes / Math.max(1, probesPerRound)) * intervalMs
}

function clamp01 (x: number): number {
  if (!Number.isFinite(x)) {
    return 0
  }

  return Math.min(1, Math.max(0, x))
}
