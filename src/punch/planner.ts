/**
 * The pure punch planner. Both sides plan from the same shared inputs (the
 * NatProfiles, candidates and socket limits exchanged in OFFER/ANSWER and the
 * RTT the initiator measured):
 *
 * 1. the initiator calls `planPair` (or `planPunch(input, 'initiator')`),
 * runs its side and sends the `summary` in SYNC;
 * 2. the responder calls `planFromSummary(summary, input, 'responder')`,
 * which checks that it can follow the summary and builds its side exactly
 * as `planPair` built it.
 *
 * The pair decision depends only on the NAT classes, never on which peer is
 * the initiator: a random-port NAT opens the extra sockets whichever side it
 * is on.
 */

import {
  BIRTHDAY_PRIME_LEAD_MS,
  BIRTHDAY_PROBE_INTERVAL_MS,
  BIRTHDAY_PROBES_PER_ROUND,
  BIRTHDAY_SETUP_MS,
  BIRTHDAY_TARGET_SUCCESS,
  BIRTHDAY_TARGET_TIME_MS,
  BURST_REPEAT_INTERVAL_MS,
  DEFAULT_PRIME_TTL,
  DIRECT_BASE_BUDGET_MS,
  DIRECT_MAX_BUDGET_MS,
  DIRECT_PROBE_INTERVAL_MS,
  LAN_BUDGET_MS,
  MAX_EXTRA_SOCKETS,
  MAX_PLAN_RANDOM_PORTS,
  MAX_PLAN_WINDOW,
  MAX_PUNCH_BUDGET_MS,
  MAX_TARGETS_PER_ROUND,
  MIN_PUNCH_BUDGET_MS,
  MIN_TRUSTED_FILTERING_CONFIDENCE,
  MIN_WORTHWHILE_SUCCESS,
  PREDICT_BOTH_BUDGET_MS,
  PRIME_LEAD_MS,
  PRIME_REFRESH_MS,
  PRIMING_DATAGRAMS_PER_SECOND,
  PUNCHED_PATH_KEEPALIVE_MS,
  RANDOM_SEQ_MAX_PRIMED_MAPPINGS,
  RANDOM_SEQ_MAX_SOCKETS,
  SEQ_BUDGET_MS,
  SEQ_MIN_RELIABILITY,
  SEQ_ROUND_INTERVAL_MS,
  UNKNOWN_BUDGET_MS
} from '../constants.ts'
import { InvalidPlanInputError, PlanRejectedError } from '../errors.ts'
import { wrapPort } from './targets.ts'
import {
  birthdaySuccessProbability,
  predictionWindow,
  probingTimeMs,
  sizeBirthday,
  syncStartDelayMs,
  windowBirthdaySuccessProbability
} from './timing.ts'
import type {
  Candidate,
  CandidateKind,
  NatClass,
  PairClass,
  PairPlan,
  PairStrategy,
  PeerPunchInfo,
  PlanInput,
  PlanSummary,
  PunchPlan,
  PunchRole,
  PunchStrategy,
  Side,
  TargetSpec
} from './plan.ts'
import type { NatProfile } from '../nat/nat-profile.ts'

const NAT_CLASS_ORDER: NatClass[] = ['open', 'cone', 'seq', 'random', 'unknown']
const DEFAULT_KIND_ORDER: CandidateKind[] = ['public', 'observed', 'predicted', 'lan']

/**
 * The planner's view of one NAT:
 * - public reachability, or EIM + EIF trusted → `open`
 * - EIM → `cone`
 * - ADM/APDM with preserving allocation, or sequential allocation with
 * reliability ≥ SEQ_MIN_RELIABILITY and a known public address → `seq`
 * - other ADM/APDM → `random` (ADM is treated like APDM: the mapping towards
 * the peer is new, so the observed port says nothing about it)
 * - unknown mapping → `unknown`
 */
export function classifyNat (profile: NatProfile): NatClass {
  if (profile.reachability === 'public') {
    return 'open'
  }

  switch (profile.mapping) {
    case 'EIM':
      if (profile.filtering === 'EIF' && profile.confidence >= MIN_TRUSTED_FILTERING_CONFIDENCE) {
        return 'open'
      }

      return 'cone'
    case 'ADM':
    case 'APDM':
      if (isPredictable(profile)) {
        return 'seq'
      }

      return 'random'
    default:
      return 'unknown'
  }
}

/**
 * The pair class both sides compute for the same two profiles
 */
export function pairClassOf (a: NatClass, b: NatClass): PairClass {
  return NAT_CLASS_ORDER.indexOf(a) <= NAT_CLASS_ORDER.indexOf(b) ? `${a}~${b}` : `${b}~${a}`
}

/**
 * Plan both sides. The initiator sends `summary` in SYNC and runs
 * `initiator`.
 */
export function planPair (input: PlanInput): PairPlan {
  checkInput(input)
  const summary = decide(input)

  return {
    summary,
    initiator: buildSide(summary, input, 'initiator'),
    responder: buildSide(summary, input, 'responder')
  }
}

/**
 * Our side's plan (and the summary that the initiator sends in SYNC)
 */
export function planPunch (input: PlanInput, side: Side): { plan: PunchPlan, summary: PlanSummary } {
  const pair = planPair(input)

  return { plan: pair[side], summary: pair.summary }
}

/**
 * The responder's side of the plan the initiator sent in SYNC. Throws
 * PlanRejectedError when the summary cannot be followed (roles that do not
 * fit the strategy, more extra sockets than the side offered, a prediction
 * without the address to predict from).
 */
export function planFromSummary (summary: PlanSummary, input: PlanInput, side: Side): PunchPlan {
  checkInput(input)
  checkSummary(summary, input)

  return buildSide(summary, input, side)
}

// ---------------------------------------------------------------------------
// the pair decision
// ---------------------------------------------------------------------------

interface Decision {
  strategy: PairStrategy
  /** roles by NAT, resolved to sides below */
  initiatorRole: PunchRole
  responderRole: PunchRole
  budgetMs: number
  initiatorExtraSockets: number
  responderExtraSockets: number
  window: number
  randomPorts: number
}

function decide (input: PlanInput): PlanSummary {
  const raceLan = sharePublicIp(input.initiator, input.responder) && hasLan(input.initiator) && hasLan(input.responder)
  const history = input.history
  let d: Decision

  if (history?.skip === true) {
    d = none()
  } else {
    d = decideByNat(input)
  }

  if (d.strategy === 'none-fallback' && raceLan) {
    d = { ...none(), strategy: 'lan', initiatorRole: 'both', responderRole: 'both', budgetMs: LAN_BUDGET_MS }
  }

  if (d.strategy !== 'none-fallback' && d.strategy !== 'birthday' && history?.budgetCapMs != null) {
    // (birthday sizing has already used the cap to pick more sockets)
    d.budgetMs = Math.min(d.budgetMs, Math.max(MIN_PUNCH_BUDGET_MS, history.budgetCapMs))
  }

  if (d.strategy !== 'none-fallback') {
    d.budgetMs = clamp(Math.round(d.budgetMs), MIN_PUNCH_BUDGET_MS, MAX_PUNCH_BUDGET_MS)
  }

  return {
    strategy: d.strategy,
    budgetMs: d.budgetMs,
    initiatorRole: d.initiatorRole,
    responderRole: d.responderRole,
    initiatorExtraSockets: d.initiatorExtraSockets,
    responderExtraSockets: d.responderExtraSockets,
    window: d.window,
    randomPorts: d.randomPorts,
    raceLan: raceLan && d.strategy !== 'none-fallback'
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

/**
 * The strategy table of docs/PROTOCOL.md. `a` and `b` are assigned so that
 * the decision is the same whichever peer initiates.
 */
function decideByNat (input: PlanInput): Decision {
  const rtt = input.rttMs
  const ci = classifyNat(input.initiator.profile)
  const cr = classifyNat(input.responder.profile)

  const direct = (budgetMs: number): Decision => ({
    ...none(),
    strategy: 'direct-cone',
    initiatorRole: 'both',
    responderRole: 'both',
    budgetMs
  })
  const directBudget = Math.min(DIRECT_MAX_BUDGET_MS, DIRECT_BASE_BUDGET_MS + 4 * rtt)

  if (ci === 'unknown' || cr === 'unknown') {
    return direct(Math.min(DIRECT_MAX_BUDGET_MS, UNKNOWN_BUDGET_MS + 2 * rtt))
  }

  if (ci === 'open' || cr === 'open' || (ci === 'cone' && cr === 'cone')) {
    return direct(directBudget)
  }

  // one side is a cone (EIM) and the other symmetric: does the cone's own
  // filter let the symmetric side's probes in once it has probed that IP?
  const coneSide: Side | undefined = ci === 'cone' ? 'initiator' : cr === 'cone' ? 'responder' : undefined

  if (coneSide != null) {
    const symSide = other(coneSide)
    const cone = input[coneSide]
    const sym = input[symSide]
    const symClass = coneSide === 'initiator' ? cr : ci

    if (filterOpensForPeerIp(cone.profile) && primaryAddress(sym) != null) {
      return direct(directBudget)
    }

    if (primaryAddress(cone) == null || primaryAddress(sym) == null) {
      return none()
    }

    if (symClass === 'seq') {
      const window = windowFor(sym.profile, input.now)

      return withRoles({
        ...none(),
        strategy: 'predict-sequential',
        budgetMs: SEQ_BUDGET_MS + 2 * rtt,
        window
      }, coneSide, 'predictor', 'predicted')
    }

    // random: classic birthday, the symmetric side opens the sockets
    const maxSockets = Math.min(MAX_EXTRA_SOCKETS, sym.maxExtraSockets)
    const targetSuccess = input.options?.targetSuccess ?? BIRTHDAY_TARGET_SUCCESS
    const size = (timeMs: number): ReturnType<typeof sizeBirthday> => sizeBirthday({
      targetSuccess,
      probesPerSecond: BIRTHDAY_PROBES_PER_ROUND * 1000 / BIRTHDAY_PROBE_INTERVAL_MS,
      timeMs,
      maxSockets
    })
    // a remembered fast success shortens the birthday only while the model
    // still reaches the target success in the shorter time: a birthday's
    // duration is random, so one quick win says little about the next
    let sizing = size(BIRTHDAY_TARGET_TIME_MS)
    const capped = input.history?.budgetCapMs
    if (capped != null) {
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

  // both symmetric
  if (ci === 'seq' && cr === 'seq') {
    if (primaryAddress(input.initiator) == null || primaryAddress(input.responder) == null) {
      return none()
    }

    const window = Math.max(windowFor(input.initiator.profile, input.now), windowFor(input.responder.profile, input.now))

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

  // random ↔ seq: the random side primes sockets × window mappings towards
  // the predicted ports, the sequential side probes random ports in order
  const randomSide: Side = ci === 'random' ? 'initiator' : 'responder'
  const seqSide = other(randomSide)
  const seq = input[seqSide]
  const rnd = input[randomSide]

  if (primaryAddress(seq) == null || primaryAddress(rnd) == null) {
    return none()
  }

  const sockets = Math.min(RANDOM_SEQ_MAX_SOCKETS, rnd.maxExtraSockets)
  const window = Math.min(MAX_PLAN_WINDOW, Math.max(windowFor(seq.profile, input.now), Math.floor(RANDOM_SEQ_MAX_PRIMED_MAPPINGS / Math.max(1, sockets + 1))))
  const success = windowBirthdaySuccessProbability(sockets + 1, window, reliabilityOf(seq.profile))

  if (sockets === 0 || success < MIN_WORTHWHILE_SUCCESS) {
    return none()
  }

  const d: Decision = {
    ...none(),
    strategy: 'birthday',
    budgetMs: SEQ_BUDGET_MS + primingLeadMs(sockets, window) + 2 * rtt,
    window,
    randomPorts: window
  }

  setExtraSockets(d, randomSide, sockets)

  return withRoles(d, randomSide, 'many-sockets', 'random-ports')
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

// ---------------------------------------------------------------------------
// one side's plan from the summary
// ---------------------------------------------------------------------------

function buildSide (summary: PlanSummary, input: PlanInput, side: Side): PunchPlan {
  const us = input[side]
  const peer = input[other(side)]
  const role = side === 'initiator' ? summary.initiatorRole : summary.responderRole
  const extraSockets = side === 'initiator' ? summary.initiatorExtraSockets : summary.responderExtraSockets
  const pairClass = pairClassOf(classifyNat(input.initiator.profile), classifyNat(input.responder.profile))
  const lowTtl = input.options?.lowTtl ?? DEFAULT_PRIME_TTL
  const preferred = input.history?.preferredKinds ?? []
  const families = familiesOf(us)
  const lan = summary.raceLan ? orderCandidates(peer.candidates.filter(c => c.kind === 'lan'), preferred, families) : []
  const startDelayMs = syncStartDelayMs(side, input.rttMs)
  const base = {
    side,
    pairStrategy: summary.strategy,
    strategy: sideStrategy(summary.strategy, role),
    role,
    pairClass,
    budgetMs: summary.budgetMs,
    keepaliveIntervalMs: PUNCHED_PATH_KEEPALIVE_MS,
    expectedSuccess: expectedSuccess(summary, input),
    lan
  }
  const noPriming = { enabled: false, ttl: lowTtl, leadMs: 0, refreshMs: 0, onlyPrime: false }
  const priming = { enabled: true, ttl: lowTtl, leadMs: PRIME_LEAD_MS, refreshMs: 0, onlyPrime: false }

  const finish = (plan: Omit<PunchPlan, 'maxProbes' | 'reason'>): PunchPlan => ({
    ...plan,
    maxProbes: maxProbesOf(plan),
    reason: reasonFor(summary, role, pairClass, input, plan)
  })

  switch (role) {
    case 'none':
      return finish({
        ...base,
        main: [],
        extraSockets: 0,
        extra: [],
        lan: [],
        pacing: { startDelayMs: 0, intervalMs: DIRECT_PROBE_INTERVAL_MS, probesPerRound: 0 },
        priming: noPriming,
        budgetMs: 0
      })
    case 'both': {
      if (summary.strategy === 'predict-both') {
        const window = predictedWindowSpec(peer, summary.window, input)

        return finish({
          ...base,
          main: [window],
          extraSockets: 0,
          extra: [],
          pacing: { startDelayMs, intervalMs: SEQ_ROUND_INTERVAL_MS, probesPerRound: window.count },
          priming
        })
      }

      const list = summary.strategy === 'lan' ? [] : orderCandidates(natCandidates(peer), preferred, families)
      const main: TargetSpec[] = list.length > 0 ? [{ kind: 'list', candidates: list }] : []

      return finish({
        ...base,
        main,
        extraSockets: 0,
        extra: [],
        pacing: { startDelayMs, intervalMs: DIRECT_PROBE_INTERVAL_MS, probesPerRound: Math.min(MAX_TARGETS_PER_ROUND, list.length) },
        priming: summary.strategy === 'lan' ? noPriming : priming
      })
    }
    case 'predictor': {
      const window = predictedWindowSpec(peer, summary.window, input)
      const list = orderCandidates(natCandidates(peer), preferred, families)
      const main: TargetSpec[] = [window]

      if (list.length > 0) {
        main.push({ kind: 'list', candidates: list })
      }

      return finish({
        ...base,
        main,
        extraSockets: 0,
        extra: [],
        pacing: { startDelayMs, intervalMs: SEQ_ROUND_INTERVAL_MS, probesPerRound: window.count + list.length },
        priming
      })
    }
    case 'predicted': {
      // the peer's mapping first: our NAT must allocate the predicted port for it
      const list = orderCandidates(natCandidates(peer), ['public', ...preferred], families)

      return finish({
        ...base,
        main: list.length > 0 ? [{ kind: 'list', candidates: list }] : [],
        extraSockets: 0,
        extra: [],
        pacing: { startDelayMs, intervalMs: SEQ_ROUND_INTERVAL_MS, probesPerRound: Math.min(MAX_TARGETS_PER_ROUND, list.length) },
        priming
      })
    }
    case 'many-sockets': {
      // prime towards the cone's mapping, or towards the sequential peer's predicted ports
      const peerIsSeq = classifyNat(peer.profile) === 'seq'
      const targets: TargetSpec = peerIsSeq
        ? predictedWindowSpec(peer, summary.window, input)
        : { kind: 'list', candidates: [requirePrimary(peer)] }
      const perSocket = targets.kind === 'list' ? targets.candidates.length : targets.count

      return finish({
        ...base,
        main: [targets],
        extraSockets,
        extra: [targets],
        pacing: { startDelayMs, intervalMs: PRIME_REFRESH_MS, probesPerRound: perSocket },
        priming: { enabled: true, ttl: lowTtl, leadMs: 0, refreshMs: PRIME_REFRESH_MS, onlyPrime: true }
      })
    }
    default: {
      // random-ports
      const host = requirePrimary(peer)
      const peerSockets = (side === 'initiator' ? summary.responderExtraSockets : summary.initiatorExtraSockets)
      const usIsSeq = classifyNat(us.profile) === 'seq'
      const spec: TargetSpec = { kind: 'random-ports', host: host.host, family: host.family, count: summary.randomPorts }

      return finish({
        ...base,
        main: [spec],
        extraSockets: 0,
        extra: [],
        pacing: usIsSeq
          // one burst in order so our NAT allocates the predicted ports, then repeats
          ? { startDelayMs: startDelayMs + primingLeadMs(peerSockets, summary.window), intervalMs: BURST_REPEAT_INTERVAL_MS, probesPerRound: spec.count }
          : { startDelayMs: startDelayMs + BIRTHDAY_PRIME_LEAD_MS, intervalMs: BIRTHDAY_PROBE_INTERVAL_MS, probesPerRound: BIRTHDAY_PROBES_PER_ROUND },
        priming: noPriming
      })
    }
  }
}

function sideStrategy (strategy: PairStrategy, role: PunchRole): PunchStrategy {
  if (strategy === 'birthday') {
    return role === 'many-sockets' ? 'birthday-many-sockets' : 'birthday-probe-random-ports'
  }

  return strategy
}

function maxProbesOf (plan: Omit<PunchPlan, 'maxProbes' | 'reason'>): number {
  if (plan.role === 'none') {
    return 0
  }

  const active = Math.max(0, plan.budgetMs - plan.pacing.startDelayMs)
  const rounds = Math.max(1, Math.ceil(active / Math.max(1, plan.pacing.intervalMs)))
  const lan = rounds * plan.lan.length

  if (plan.role === 'random-ports') {
    const distinct = plan.main.reduce((n, s) => n + (s.kind === 'list' ? s.candidates.length : s.count), 0)

    // in-order bursts (we are the sequential side) repeat the same ports;
    // otherwise every port is probed once
    return (plan.pacing.probesPerRound >= distinct ? rounds * distinct : distinct) + lan
  }

  const perRound = plan.pacing.probesPerRound * (1 + plan.extraSockets)
  const priming = plan.priming.enabled && !plan.priming.onlyPrime ? plan.pacing.probesPerRound : 0

  return rounds * perRound + priming + lan
}

function expectedSuccess (summary: PlanSummary, input: PlanInput): number {
  switch (summary.strategy) {
    case 'none-fallback':
      return 0
    case 'lan':
      return 0.9
    case 'direct-cone': {
      const unknown = classifyNat(input.initiator.profile) === 'unknown' || classifyNat(input.responder.profile) === 'unknown'

      return unknown ? 0.5 : 0.95
    }
    case 'predict-sequential': {
      const seq = summary.initiatorRole === 'predicted' ? input.initiator : input.responder

      return 0.9 * reliabilityOf(seq.profile)
    }
    case 'predict-both':
      return 0.5 * reliabilityOf(input.initiator.profile) * reliabilityOf(input.responder.profile)
    default: {
      // birthday
      const sockets = summary.initiatorExtraSockets + summary.responderExtraSockets
      const manySide = summary.initiatorRole === 'many-sockets' ? input.initiator : input.responder
      const probeSide = manySide === input.initiator ? input.responder : input.initiator

      if (classifyNat(probeSide.profile) === 'seq') {
        return windowBirthdaySuccessProbability(sockets + 1, summary.window, reliabilityOf(probeSide.profile))
      }

      return birthdaySuccessProbability(sockets, summary.randomPorts)
    }
  }
}

function reasonFor (summary: PlanSummary, role: PunchRole, pairClass: PairClass, input: PlanInput, plan: Omit<PunchPlan, 'maxProbes' | 'reason'>): string {
  const lan = plan.lan.length > 0 ? `; racing ${plan.lan.length} LAN candidate(s) (same public IP)` : ''
  const pct = `${Math.round(plan.expectedSuccess * 100)}%`

  switch (summary.strategy) {
    case 'none-fallback':
      if (input.history?.skip === true) {
        return `${pairClass}: not punching, ${input.history.reason}`
      }

      return `${pairClass}: no strategy can open a direct path, use the relay`
    case 'lan':
      return `${pairClass}: NATs cannot be punched, but both peers share a public IP: trying ${plan.lan.length} LAN candidate(s) only`
    case 'direct-cone':
      if (pairClass.includes('unknown')) {
        return `${pairClass}: NAT type unknown, one short direct attempt (${summary.budgetMs} ms)${lan}`
      }

      if (pairClass.includes('cone') && (pairClass.includes('seq') || pairClass.includes('random'))) {
        return `${pairClass}: the cone's EIF/ADF filter opens for the symmetric peer's IP, so its probes from the main socket get through without a birthday punch${lan}`
      }

      return `${pairClass}: both mappings are endpoint independent, probe each other's mapped address (${summary.budgetMs} ms)${lan}`
    case 'predict-sequential':
      return role === 'predictor'
        ? `${pairClass}: probe ${summary.window} predicted ports of the sequential NAT every ${plan.pacing.intervalMs} ms (~${pct})${lan}`
        : `${pairClass}: send to the peer's mapping first so our NAT allocates the predicted port (~${pct})${lan}`
    case 'predict-both':
      return `${pairClass}: both NATs sequential, each probes ${summary.window} predicted ports in order (stretch, ~${pct})${lan}`
    default:
      // birthday
      return role === 'many-sockets'
        ? `${pairClass}: birthday, open ${plan.extraSockets} extra sockets and prime them with TTL ${plan.priming.ttl} (~${pct})${lan}`
        : `${pairClass}: birthday, probe ${summary.randomPorts} random ports of ${plan.main[0]?.kind === 'random-ports' ? plan.main[0].host : 'the peer'} (~${pct})${lan}`
  }
}

// ---------------------------------------------------------------------------
// checks
// ---------------------------------------------------------------------------

function checkInput (input: PlanInput): void {
  if (!Number.isFinite(input.rttMs) || input.rttMs < 0) {
    throw new InvalidPlanInputError(`Invalid RTT ${input.rttMs}: pass the measured OFFER → ANSWER time in ms (≥ 0)`)
  }

  if (!Number.isFinite(input.now)) {
    throw new InvalidPlanInputError('Invalid clock value: pass now() in ms since the epoch')
  }

  for (const side of ['initiator', 'responder'] as const) {
    const info = input[side]

    if (!Number.isInteger(info.maxExtraSockets) || info.maxExtraSockets < 0 || info.maxExtraSockets > MAX_EXTRA_SOCKETS) {
      throw new InvalidPlanInputError(`Invalid ${side}.maxExtraSockets ${info.maxExtraSockets}: pass an integer 0..${MAX_EXTRA_SOCKETS}`)
    }

    for (const c of [...info.candidates, ...info.profile.publicAddresses]) {
      if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535 || c.host === '') {
        throw new InvalidPlanInputError(`Invalid ${side} candidate ${c.host}:${c.port}: validate candidates before planning`)
      }
    }
  }
}

const ROLES_BY_STRATEGY: Record<PairStrategy, Array<[PunchRole, PunchRole]>> = {
  'direct-cone': [['both', 'both']],
  lan: [['both', 'both']],
  'predict-both': [['both', 'both']],
  'predict-sequential': [['predictor', 'predicted'], ['predicted', 'predictor']],
  birthday: [['many-sockets', 'random-ports'], ['random-ports', 'many-sockets']],
  'none-fallback': [['none', 'none']]
}

function checkSummary (summary: PlanSummary, input: PlanInput): void {
  const reject = (why: string): never => {
    throw new PlanRejectedError(`The offered punch plan cannot be followed: ${why}; abort the session with reason PLAN_REJECTED`)
  }

  if (summary.strategy === 'none-fallback') {
    reject('none-fallback is not sent in SYNC (send ABORT NO_STRATEGY instead)')
  }

  const roles = ROLES_BY_STRATEGY[summary.strategy]

  if (roles == null || !roles.some(([i, r]) => i === summary.initiatorRole && r === summary.responderRole)) {
    reject(`roles ${summary.initiatorRole}/${summary.responderRole} do not fit strategy ${summary.strategy}`)
  }

  if (!Number.isInteger(summary.budgetMs) || summary.budgetMs < MIN_PUNCH_BUDGET_MS || summary.budgetMs > MAX_PUNCH_BUDGET_MS) {
    reject(`budget ${summary.budgetMs} ms outside ${MIN_PUNCH_BUDGET_MS}..${MAX_PUNCH_BUDGET_MS}`)
  }

  for (const side of ['initiator', 'responder'] as const) {
    const extra = side === 'initiator' ? summary.initiatorExtraSockets : summary.responderExtraSockets
    const role = side === 'initiator' ? summary.initiatorRole : summary.responderRole

    if (!Number.isInteger(extra) || extra < 0 || extra > input[side].maxExtraSockets) {
      reject(`${extra} extra sockets for the ${side}, which offered at most ${input[side].maxExtraSockets}`)
    }

    if (extra > 0 && role !== 'many-sockets') {
      reject(`extra sockets for the ${side}, whose role ${role} uses none`)
    }
  }

  if (!Number.isInteger(summary.window) || summary.window < 0 || summary.window > MAX_PLAN_WINDOW) {
    reject(`window ${summary.window} outside 0..${MAX_PLAN_WINDOW}`)
  }

  if (!Number.isInteger(summary.randomPorts) || summary.randomPorts < 0 || summary.randomPorts > MAX_PLAN_RANDOM_PORTS) {
    reject(`random ports ${summary.randomPorts} outside 0..${MAX_PLAN_RANDOM_PORTS}`)
  }

  const predicts = summary.strategy === 'predict-sequential' || summary.strategy === 'predict-both'

  if (predicts && summary.window === 0) {
    reject(`${summary.strategy} needs a window`)
  }

  if (summary.strategy === 'birthday' && summary.randomPorts === 0) {
    reject('birthday needs random ports to probe')
  }

  // every side that aims at predicted or random ports needs the peer's IP and,
  // for predictions, its allocation
  for (const side of ['initiator', 'responder'] as const) {
    const role = side === 'initiator' ? summary.initiatorRole : summary.responderRole
    const peer = input[other(side)]
    const needsPrediction = role === 'predictor' || summary.strategy === 'predict-both' ||
      (role === 'many-sockets' && classifyNat(peer.profile) === 'seq')

    if ((role === 'many-sockets' || role === 'random-ports' || needsPrediction) && primaryAddress(peer) == null) {
      reject(`the ${side} must aim at the peer's public IP, which is unknown`)
    }

    if (needsPrediction && predictionOf(peer.profile) == null) {
      reject(`the ${side} must predict ports of a NAT whose allocation is not predictable`)
    }
  }
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

function other (side: Side): Side {
  return side === 'initiator' ? 'responder' : 'initiator'
}

function clamp (x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x))
}

function isPredictable (profile: NatProfile): boolean {
  if (profile.publicAddresses.length === 0) {
    return false
  }

  const a = profile.allocation

  if (a.kind === 'preserving') {
    return true
  }

  return a.kind === 'sequential' && a.delta !== 0 && Number.isFinite(a.delta) && a.reliability >= SEQ_MIN_RELIABILITY
}

function reliabilityOf (profile: NatProfile): number {
  const a = profile.allocation

  if (a.kind === 'sequential') {
    return Math.min(1, Math.max(0, a.reliability))
  }

  return a.kind === 'preserving' ? 1 : 0
}

function windowFor (profile: NatProfile, now: number): number {
  return Math.min(MAX_PLAN_WINDOW, predictionWindow(reliabilityOf(profile), now - profile.observedAt))
}

/**
 * Cone filtering that the cone side itself opens for a whole remote IP (EIF,
 * or ADF after one probe to that IP), trusted only with enough confidence
 */
function filterOpensForPeerIp (profile: NatProfile): boolean {
  return profile.mapping === 'EIM' &&
    (profile.filtering === 'EIF' || profile.filtering === 'ADF') &&
    profile.confidence >= MIN_TRUSTED_FILTERING_CONFIDENCE
}

/**
 * The address a side's NAT-facing probes aim at: its newest public mapping,
 * else its first public/observed candidate
 */
function primaryAddress (info: PeerPunchInfo): Candidate | undefined {
  const pub = info.profile.publicAddresses[0]

  if (pub != null) {
    return { ...pub, kind: 'public', source: 'nat-profile' }
  }

  return info.candidates.find(c => c.kind === 'public') ?? info.candidates.find(c => c.kind === 'observed')
}

function requirePrimary (info: PeerPunchInfo): Candidate {
  const primary = primaryAddress(info)

  if (primary == null) {
    throw new PlanRejectedError('The plan aims at the peer\'s public IP, which the peer did not announce: abort the session with reason PLAN_REJECTED')
  }

  return primary
}

function predictionOf (profile: NatProfile): { host: string, family: 4 | 6, first: number, step: number } | undefined {
  const last = profile.publicAddresses[0]
  const a = profile.allocation

  if (last == null) {
    return undefined
  }

  if (a.kind === 'preserving') {
    return { host: last.host, family: last.family, first: last.port, step: 1 }
  }

  if (a.kind === 'sequential' && a.delta !== 0 && Number.isFinite(a.delta)) {
    return { host: last.host, family: last.family, first: wrapPort(last.port + a.delta), step: a.delta }
  }

  return undefined
}

function predictedWindowSpec (peer: PeerPunchInfo, count: number, input: PlanInput): TargetSpec & { kind: 'window' } {
  const p = predictionOf(peer.profile)

  if (p == null) {
    throw new PlanRejectedError('The plan predicts ports of a NAT whose allocation is not predictable: abort the session with reason PLAN_REJECTED')
  }

  return { kind: 'window', host: p.host, family: p.family, first: p.first, step: p.step, count: Math.max(1, count) }
}

/**
 * The peer's non-LAN candidates plus its public mappings, de-duplicated
 */
function natCandidates (peer: PeerPunchInfo): Candidate[] {
  const pubs: Candidate[] = peer.profile.publicAddresses.map(a => ({ ...a, kind: 'public', source: 'nat-profile' }))

  return dedupe([...pubs, ...peer.candidates.filter(c => c.kind !== 'lan')])
}

function dedupe (list: Candidate[]): Candidate[] {
  const seen = new Set<string>()

  return list.filter(c => {
    const key = `${c.family}/${c.host}/${c.port}`

    if (seen.has(key)) {
      return false
    }

    seen.add(key)
    return true
  })
}

/**
 * Stable order: kinds that worked before first, then public, observed,
 * predicted, lan; candidates of families we cannot send to are dropped
 */
function orderCandidates (list: Candidate[], preferred: CandidateKind[], families: Set<4 | 6>): Candidate[] {
  const order = [...new Set([...preferred, ...DEFAULT_KIND_ORDER])]

  return dedupe(list)
    .filter(c => families.size === 0 || families.has(c.family))
    .map((c, i) => ({ c, i }))
    .sort((x, y) => (order.indexOf(x.c.kind) - order.indexOf(y.c.kind)) || (x.i - y.i))
    .map(({ c }) => c)
}

function familiesOf (info: PeerPunchInfo): Set<4 | 6> {
  return new Set([...info.candidates.map(c => c.family), ...info.profile.publicAddresses.map(a => a.family)])
}

function hasLan (info: PeerPunchInfo): boolean {
  return info.candidates.some(c => c.kind === 'lan')
}

function publicHosts (info: PeerPunchInfo): Set<string> {
  return new Set([
    ...info.profile.publicAddresses.map(a => a.host),
    ...info.candidates.filter(c => c.kind === 'public' || c.kind === 'observed').map(c => c.host)
  ])
}

function sharePublicIp (a: PeerPunchInfo, b: PeerPunchInfo): boolean {
  const hosts = publicHosts(a)

  return [...publicHosts(b)].some(h => hosts.has(h))
}

/**
 * How long the many-sockets side needs to prime sockets × window mappings
 * before the other side's probes may arrive, ms
 */
function primingLeadMs (sockets: number, window: number): number {
  return BIRTHDAY_PRIME_LEAD_MS + Math.ceil((sockets + 1) * Math.max(1, window) / PRIMING_DATAGRAMS_PER_SECOND * 1000)
}
