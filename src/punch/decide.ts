/**
 * The pair decision (docs/PROTOCOL.md section 7): the strategy, roles,
 * budget and sizes both sides agree on, from the two NAT classes, the
 * usable addresses, the relayed RTT and the initiator's history. Pure.
 *
 * With the IPv6 race, the NAT strategy is IPv4's, and IPv6 candidates are
 * probed beside it (both sides, IPv6 first); a pair with no IPv4 strategy
 * still punches over IPv6 (strategy `ipv6`).
 *
 * The decision depends only on the NAT classes, never on which peer is the
 * initiator: a random-port NAT opens the extra sockets whichever side it is
 * on. A pair in which a side would have nothing to send is not punched.
 */

import {
  BIRTHDAY_PRIME_LEAD_MS,
  BIRTHDAY_PROBE_INTERVAL_MS,
  BIRTHDAY_PROBES_PER_ROUND,
  BIRTHDAY_SETUP_MS,
  BIRTHDAY_TARGET_SUCCESS,
  BIRTHDAY_TARGET_TIME_MS,
  DIRECT_BASE_BUDGET_MS,
  DIRECT_MAX_BUDGET_MS,
  LAN_BUDGET_MS,
  MAX_EXTRA_SOCKETS,
  MAX_PLAN_RANDOM_PORTS,
  MAX_PLAN_WINDOW,
  MAX_PUNCH_BUDGET_MS,
  KNOWN_GOOD_MIN_BUDGET_MS,
  MIN_PUNCH_BUDGET_MS,
  MIN_WORTHWHILE_SUCCESS,
  PREDICT_BOTH_BUDGET_MS,
  RANDOM_SEQ_MAX_PRIMED_MAPPINGS,
  RANDOM_SEQ_MAX_SOCKETS,
  SEQ_BUDGET_MS,
  UNKNOWN_BUDGET_MS
} from '../constants.ts'
import { buildSide, primingLeadMs } from './build.ts'
import { filterOpensForPeerIp, other, reliabilityOf, viewPair, windowFor } from './pair-view.ts'
import { targetCount } from './targets.ts'
import { probingTimeMs, sizeBirthday, windowBirthdaySuccessProbability } from './timing.ts'
import type { PairView } from './pair-view.ts'
import type { PairPlan, PairStrategy, PlanInput, PlanSummary, PunchPlan, PunchRole, Side } from './plan.ts'

/**
 * Both sides' plans with the view they were made from and, for a
 * none-fallback, why
 */
export interface PairDecision extends PairPlan {
  view: PairView
  noneReason?: string
}

interface Decision {
  strategy: PairStrategy
  initiatorRole: PunchRole
  responderRole: PunchRole
  budgetMs: number
  initiatorExtraSockets: number
  responderExtraSockets: number
  window: number
  randomPorts: number
  /** why not punching (none-fallback only) */
  why?: string
}

const NO_STRATEGY = 'no strategy can open a direct path, use the relay'

/**
 * Decide the pair and build both sides. Input must have passed `checkInput`.
 */
export function decidePair (input: PlanInput): PairDecision {
  const view = viewPair(input)
  const decided = decide(input, view)
  const noneReason = decided.why
  const plans = buildBoth(decided.summary, input, view, noneReason)

  if (decided.summary.strategy === 'none-fallback') {
    return { ...plans, view, noneReason }
  }

  // a side with nothing to send would only wait out its budget
  const idle = (['initiator', 'responder'] as const).find(side => !hasWork(plans[side], view, plans[other(side)], false))

  if (idle == null) {
    return { ...plans, view }
  }

  if (view.raceIpv6 && input.history?.skip !== true) {
    // nothing to send over IPv4, but both have public IPv6 addresses
    const summary: PlanSummary = { ...noneSummary(), strategy: 'ipv6', initiatorRole: 'both', responderRole: 'both', budgetMs: ipv6Budget(input), raceIpv6: true }
    return { ...buildBoth(summary, input, view), view }
  }

  const peer = view[other(idle)]
  const why = `no usable candidate address: the ${idle} has nothing to probe (the ${other(idle)} announced ${announced(peer)} address(es), ${peer.refused} of them refused by the address policy; ` +
    'LAN addresses count only behind the same public IP, and only addresses of a family we can send from), use the relay'

  return { ...buildBoth(noneSummary(), input, view, why), view, noneReason: why }
}

function buildBoth (summary: PlanSummary, input: PlanInput, view: PairView, noneReason?: string): PairPlan {
  return {
    summary,
    initiator: buildSide(summary, input, view, 'initiator', noneReason),
    responder: buildSide(summary, input, view, 'responder', noneReason)
  }
}

/**
 * A plan with targets has work; so has an open side (no NAT, or a trusted
 * full cone) without targets while the peer probes it: the peer's probes
 * reach it unasked and it answers them. `withIpv6`: count the raced IPv6
 * targets too.
 */
function hasWork (plan: PunchPlan, view: PairView, peerPlan: PunchPlan, withIpv6: boolean): boolean {
  return planTargetCount(plan, withIpv6) > 0 || (view[plan.side].natClass === 'open' && planTargetCount(peerPlan, withIpv6) > 0)
}

/** Addresses one pass over the plan's targets visits, LAN (and unless told otherwise, raced IPv6) included */
export function planTargetCount (plan: PunchPlan, withIpv6 = true): number {
  return [...plan.main, ...plan.extra].reduce((n, s) => n + targetCount(s), 0) + plan.lan.length + (withIpv6 ? plan.ipv6.length : 0)
}

/** the budget of an IPv6-only punch: a direct one (firewalls open like cones) */
function ipv6Budget (input: PlanInput): number {
  return clamp(Math.round(directBudget(input.rttMs)), MIN_PUNCH_BUDGET_MS, MAX_PUNCH_BUDGET_MS)
}

function announced (peer: PairView['initiator']): number {
  return peer.info.profile.publicAddresses.length + peer.info.candidates.length
}

function decide (input: PlanInput, view: PairView): { summary: PlanSummary, why?: string } {
  const history = input.history
  let d: Decision

  if (history?.skip === true) {
    d = { ...none(), why: `not punching, ${history.reason}` }
  } else {
    d = decideByNat(input, view)
  }

  if (d.strategy === 'none-fallback' && view.raceLan) {
    d = { ...none(), strategy: 'lan', initiatorRole: 'both', responderRole: 'both', budgetMs: LAN_BUDGET_MS }
  }

  if (d.strategy === 'none-fallback' && view.raceIpv6 && history?.skip !== true) {
    // no IPv4 strategy, but both peers have public IPv6 addresses: IPv6
    // has no NAT to predict, only (stateful) firewalls that each side's own
    // probes open, like a cone pair
    d = { ...none(), strategy: 'ipv6', initiatorRole: 'both', responderRole: 'both', budgetMs: ipv6Budget(input) }
  }

  if ((d.strategy === 'direct-cone' || d.strategy === 'lan' || d.strategy === 'ipv6') && history?.budgetCapMs != null) {
    // a remembered fast success shortens only punches whose duration is a
    // round trip; predictions depend on what other hosts allocated since
    // the observation (and a glare or a late start shifts them), and the
    // birthday sizing has already used the cap to pick more sockets
    d.budgetMs = Math.min(d.budgetMs, Math.max(KNOWN_GOOD_MIN_BUDGET_MS, history.budgetCapMs))
  }

  if (d.strategy !== 'none-fallback') {
    d.budgetMs = clamp(Math.round(d.budgetMs), MIN_PUNCH_BUDGET_MS, MAX_PUNCH_BUDGET_MS)
  }

  return {
    summary: {
      strategy: d.strategy,
      budgetMs: d.budgetMs,
      initiatorRole: d.initiatorRole,
      responderRole: d.responderRole,
      initiatorExtraSockets: d.initiatorExtraSockets,
      responderExtraSockets: d.responderExtraSockets,
      window: d.window,
      randomPorts: d.randomPorts,
      raceLan: view.raceLan && d.strategy !== 'none-fallback',
      raceIpv6: view.raceIpv6 && d.strategy !== 'none-fallback'
    },
    why: d.strategy === 'none-fallback' ? d.why ?? NO_STRATEGY : undefined
  }
}

function none (): Decision {
  return {
    strategy: 'none-fallback',
    initiatorRole: 'none',
    responderRole: 'none',
    budgetMs: 0,
    initiatorExtraSockets: 0,
    responderExtraSockets: 0,
    window: 0,
    randomPorts: 0
  }
}

function noneSummary (): PlanSummary {
  return {
    strategy: 'none-fallback',
    budgetMs: 0,
    initiatorRole: 'none',
    responderRole: 'none',
    initiatorExtraSockets: 0,
    responderExtraSockets: 0,
    window: 0,
    randomPorts: 0,
    raceLan: false,
    raceIpv6: false
  }
}

/**
 * The strategy table of docs/PROTOCOL.md. Sides are named by their NAT
 * class, so the decision is the same whichever peer initiates.
 */
function decideByNat (input: PlanInput, view: PairView): Decision {
  const rtt = input.rttMs
  const ci = view.initiator.natClass
  const cr = view.responder.natClass

  if (ci === 'unknown' || cr === 'unknown') {
    return direct(Math.min(DIRECT_MAX_BUDGET_MS, UNKNOWN_BUDGET_MS + 2 * rtt))
  }

  if (ci === 'open' || cr === 'open' || (ci === 'cone' && cr === 'cone')) {
    return direct(directBudget(rtt))
  }

  if (ci === 'cone') {
    return coneVsSymmetric(input, view, 'initiator')
  }

  if (cr === 'cone') {
    return coneVsSymmetric(input, view, 'responder')
  }

  // both symmetric
  if (ci === 'seq' && cr === 'seq') {
    if (view.initiator.prediction == null || view.responder.prediction == null) {
      return unusable(view.initiator.prediction == null ? 'initiator' : 'responder')
    }

    const window = Math.max(windowFor(view.initiator.info.profile, input.now), windowFor(view.responder.info.profile, input.now))

    return {
      ...none(),
      strategy: 'predict-both',
      initiatorRole: 'both',
      responderRole: 'both',
      budgetMs: PREDICT_BOTH_BUDGET_MS + 2 * rtt,
      window
    }
  }

  if (ci === 'random' && cr === 'random') {
    return none()
  }

  return randomVsSeq(input, view, ci === 'random' ? 'initiator' : 'responder')
}

function direct (budgetMs: number): Decision {
  return { ...none(), strategy: 'direct-cone', initiatorRole: 'both', responderRole: 'both', budgetMs }
}

function directBudget (rtt: number): number {
  return Math.min(DIRECT_MAX_BUDGET_MS, DIRECT_BASE_BUDGET_MS + 4 * rtt)
}

function unusable (side: Side): Decision {
  return { ...none(), why: `no usable public address of the ${side} to aim at, use the relay` }
}

/**
 * One side is a cone (EIM) and the other symmetric. Does the cone's own
 * filter let the symmetric side's probes in once it has probed that IP? Else
 * predict a sequential NAT, or run a birthday against a random one.
 */
function coneVsSymmetric (input: PlanInput, view: PairView, coneSide: Side): Decision {
  const symSide = other(coneSide)
  const cone = view[coneSide]
  const sym = view[symSide]

  if (filterOpensForPeerIp(cone.info.profile) && sym.primary != null) {
    return direct(directBudget(input.rttMs))
  }

  if (cone.primary == null || sym.primary == null) {
    return unusable(cone.primary == null ? coneSide : symSide)
  }

  if (sym.natClass !== 'seq') {
    return birthdayAgainstCone(input, symSide, sym.info.maxExtraSockets)
  }

  if (sym.prediction == null) {
    return unusable(symSide)
  }

  return withRoles({
    ...none(),
    strategy: 'predict-sequential',
    budgetMs: SEQ_BUDGET_MS + 2 * input.rttMs,
    window: windowFor(sym.info.profile, input.now)
  }, coneSide, 'predictor', 'predicted')
}

/**
 * Random ↔ seq: the random side primes sockets × window mappings towards
 * the predicted ports, the sequential side probes random ports in order
 */
function randomVsSeq (input: PlanInput, view: PairView, randomSide: Side): Decision {
  const seqSide = other(randomSide)
  const seq = view[seqSide]
  const rnd = view[randomSide]

  if (seq.prediction == null || rnd.primary == null) {
    return unusable(seq.prediction == null ? seqSide : randomSide)
  }

  const sockets = Math.min(RANDOM_SEQ_MAX_SOCKETS, rnd.info.maxExtraSockets)
  const window = Math.min(MAX_PLAN_WINDOW, Math.max(windowFor(seq.info.profile, input.now), Math.floor(RANDOM_SEQ_MAX_PRIMED_MAPPINGS / Math.max(1, sockets + 1))))
  const success = windowBirthdaySuccessProbability(sockets + 1, window, reliabilityOf(seq.info.profile))

  if (sockets === 0 || success < MIN_WORTHWHILE_SUCCESS) {
    return none()
  }

  const d: Decision = {
    ...none(),
    strategy: 'birthday',
    budgetMs: SEQ_BUDGET_MS + primingLeadMs(sockets, window) + 2 * input.rttMs,
    window,
    randomPorts: window
  }

  setExtraSockets(d, randomSide, sockets)

  return withRoles(d, randomSide, 'many-sockets', 'random-ports')
}

/**
 * Classic birthday: the symmetric (random) side opens the sockets, the cone
 * probes random ports of its IP.
 *
 * A remembered fast success shortens the birthday only while the model
 * still reaches the target success in the shorter time (a birthday's
 * duration is random, so one quick win says little about the next), and
 * only when the initiator opens the sockets itself: a shorter birthday
 * needs more sockets, and the initiator's history must never raise what the
 * responder spends (a responder refuses more sockets than its own decision).
 */
function birthdayAgainstCone (input: PlanInput, symSide: Side, offered: number): Decision {
  const rtt = input.rttMs
  const targetSuccess = input.options?.targetSuccess ?? BIRTHDAY_TARGET_SUCCESS
  const size = (timeMs: number): ReturnType<typeof sizeBirthday> => sizeBirthday({
    targetSuccess,
    probesPerSecond: BIRTHDAY_PROBES_PER_ROUND * 1000 / BIRTHDAY_PROBE_INTERVAL_MS,
    timeMs,
    maxSockets: Math.min(MAX_EXTRA_SOCKETS, offered)
  })
  let sizing = size(BIRTHDAY_TARGET_TIME_MS)
  const capped = input.history?.budgetCapMs

  if (capped != null && symSide === 'initiator') {
    const cappedSizing = size(Math.min(BIRTHDAY_TARGET_TIME_MS, Math.max(MIN_PUNCH_BUDGET_MS, capped - BIRTHDAY_SETUP_MS - BIRTHDAY_PRIME_LEAD_MS - 2 * rtt)))

    if (cappedSizing.success >= targetSuccess) {
      sizing = cappedSizing
    }
  }

  if (sizing.sockets === 0 || sizing.success < MIN_WORTHWHILE_SUCCESS) {
    return none()
  }

  const d: Decision = {
    ...none(),
    strategy: 'birthday',
    budgetMs: BIRTHDAY_SETUP_MS + BIRTHDAY_PRIME_LEAD_MS + 2 * rtt +
      probingTimeMs(sizing.probes, BIRTHDAY_PROBES_PER_ROUND, BIRTHDAY_PROBE_INTERVAL_MS),
    randomPorts: Math.min(MAX_PLAN_RANDOM_PORTS, sizing.probes)
  }

  setExtraSockets(d, symSide, sizing.sockets)

  return withRoles(d, symSide, 'many-sockets', 'random-ports')
}

function withRoles (d: Decision, first: Side, firstRole: PunchRole, secondRole: PunchRole): Decision {
  if (first === 'initiator') {
    return { ...d, initiatorRole: firstRole, responderRole: secondRole }
  }

  return { ...d, initiatorRole: secondRole, responderRole: firstRole }
}

function setExtraSockets (d: Decision, side: Side, sockets: number): void {
  if (side === 'initiator') {
    d.initiatorExtraSockets = sockets
  } else {
    d.responderExtraSockets = sockets
  }
}

function clamp (x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x))
}
