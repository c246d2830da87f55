/**
 * Checks of the planner's inputs and of the PlanSummary a responder gets in
 * SYNC. Pure.
 *
 * Everything in OFFER and SYNC is a claim, and anyone who reaches us through
 * a relay can send one. A responder that enforces its own limits computes
 * its own pair decision from the same inputs (with its own RTT measurement)
 * and refuses a summary that asks more of it than that decision: a claim
 * can only lower our effort, never raise it (docs/PROTOCOL.md section 7).
 */

import {
  MAX_EXTRA_SOCKETS,
  MAX_PLAN_RANDOM_PORTS,
  MAX_PLAN_WINDOW,
  MAX_PUNCH_BUDGET_MS,
  MIN_PUNCH_BUDGET_MS,
  RESPONDER_MAX_PLAN_RTT_MS,
  RESPONDER_RTT_TOLERANCE_FACTOR,
  RESPONDER_RTT_TOLERANCE_MS
} from '../constants.ts'
import { InvalidPlanInputError } from '../errors.ts'
import { decidePair } from './decide.ts'
import { other, viewPair } from './pair-view.ts'
import { refusePlan } from './refusal.ts'
import type { PairDecision } from './decide.ts'
import type { PairView } from './pair-view.ts'
import type { HistoryAdvice, PairStrategy, PlanInput, PlanSummary, PunchRole } from './plan.ts'

export function checkInput (input: PlanInput): void {
  if (!Number.isFinite(input.rttMs) || input.rttMs < 0) {
    throw new InvalidPlanInputError(`Invalid RTT ${input.rttMs}: pass the measured relayed RTT in ms (≥ 0)`)
  }

  if (!Number.isFinite(input.now)) {
    throw new InvalidPlanInputError('Invalid clock value: pass now() in ms since the epoch')
  }

  if (input.options?.addressScope != null && typeof input.options.addressScope !== 'function') {
    throw new InvalidPlanInputError('Invalid options.addressScope: pass a function (host) => scope | undefined, or nothing')
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
  ipv6: [['both', 'both']],
  'predict-both': [['both', 'both']],
  'predict-sequential': [['predictor', 'predicted'], ['predicted', 'predictor']],
  birthday: [['many-sockets', 'random-ports'], ['random-ports', 'many-sockets']],
  'none-fallback': [['none', 'none']]
}

/**
 * Can the summary be followed at all with these inputs? Refuses (cause
 * `structure`) roles that do not fit the strategy, more extra sockets than
 * a side offered, values outside the protocol's ranges, a prediction
 * without the address to predict from, and a LAN race between peers that do
 * not share a public IP.
 */
export function checkSummaryStructure (summary: PlanSummary, view: PairView): void {
  const reject = (why: string, field: keyof PlanSummary): never => refusePlan('structure', why, field)

  if (summary.strategy === 'none-fallback') {
    reject('none-fallback is not sent in SYNC (send ABORT NO_STRATEGY instead)', 'strategy')
  }

  const roles = ROLES_BY_STRATEGY[summary.strategy]

  if (roles == null || !roles.some(([i, r]) => i === summary.initiatorRole && r === summary.responderRole)) {
    reject(`roles ${summary.initiatorRole}/${summary.responderRole} do not fit strategy ${summary.strategy}`, 'strategy')
  }

  if (!Number.isInteger(summary.budgetMs) || summary.budgetMs < MIN_PUNCH_BUDGET_MS || summary.budgetMs > MAX_PUNCH_BUDGET_MS) {
    reject(`budget ${summary.budgetMs} ms outside ${MIN_PUNCH_BUDGET_MS}..${MAX_PUNCH_BUDGET_MS}`, 'budgetMs')
  }

  checkSockets(summary, view)

  if (!Number.isInteger(summary.window) || summary.window < 0 || summary.window > MAX_PLAN_WINDOW) {
    reject(`window ${summary.window} outside 0..${MAX_PLAN_WINDOW}`, 'window')
  }

  if (!Number.isInteger(summary.randomPorts) || summary.randomPorts < 0 || summary.randomPorts > MAX_PLAN_RANDOM_PORTS) {
    reject(`random ports ${summary.randomPorts} outside 0..${MAX_PLAN_RANDOM_PORTS}`, 'randomPorts')
  }

  const predicts = summary.strategy === 'predict-sequential' || summary.strategy === 'predict-both'

  if (predicts && summary.window === 0) {
    reject(`${summary.strategy} needs a window`, 'window')
  }

  if (summary.strategy === 'birthday' && summary.randomPorts === 0) {
    reject('birthday needs random ports to probe', 'randomPorts')
  }

  checkTargetsExist(summary, view)
}

function checkSockets (summary: PlanSummary, view: PairView): void {
  for (const side of ['initiator', 'responder'] as const) {
    const field = side === 'initiator' ? 'initiatorExtraSockets' : 'responderExtraSockets'
    const extra = summary[field]
    const role = side === 'initiator' ? summary.initiatorRole : summary.responderRole

    if (!Number.isInteger(extra) || extra < 0 || extra > view[side].info.maxExtraSockets) {
      refusePlan('structure', `${extra} extra sockets for the ${side}, which offered at most ${view[side].info.maxExtraSockets}`, field)
    }

    if (extra > 0 && role !== 'many-sockets') {
      refusePlan('structure', `extra sockets for the ${side}, whose role ${role} uses none`, field)
    }
  }
}

/**
 * Every address the summary makes a side aim at must be one the peer gave
 * and the address policy allows
 */
function checkTargetsExist (summary: PlanSummary, view: PairView): void {
  const reject = (why: string, field: keyof PlanSummary): never => refusePlan('structure', why, field)

  // LAN candidates are private addresses: only ever probed behind the same public IP
  if ((summary.raceLan || summary.strategy === 'lan') && !view.raceLan) {
    reject('a LAN race between peers that do not report the same public IP (or have no usable LAN candidates)', 'raceLan')
  }

  // an IPv6 race needs the feature on both sides and IPv6 candidates of both
  if ((summary.raceIpv6 || summary.strategy === 'ipv6') && !view.raceIpv6) {
    reject('an IPv6 race without FEATURE_IPV6_RACE on both sides, or without public IPv6 candidates of both', 'raceIpv6')
  }

  // every side that aims at predicted or random ports needs the peer's IP and,
  // for predictions, its allocation
  for (const side of ['initiator', 'responder'] as const) {
    const role = side === 'initiator' ? summary.initiatorRole : summary.responderRole
    const peer = view[other(side)]
    const needsPrediction = role === 'predictor' || summary.strategy === 'predict-both' ||
      (role === 'many-sockets' && peer.natClass === 'seq')

    if ((role === 'many-sockets' || role === 'random-ports' || needsPrediction) && peer.primary == null) {
      reject(`the ${side} must aim at the peer's public IP, which is unknown or not a usable public address`, 'strategy')
    }

    if (needsPrediction && peer.prediction == null) {
      reject(`the ${side} must predict ports of a NAT whose allocation is not predictable from a usable public address`, 'strategy')
    }
  }
}

/**
 * The RTT a responder plans its own limits with: RESPONDER_RTT_TOLERANCE_FACTOR
 * × its measurement + RESPONDER_RTT_TOLERANCE_MS, at most
 * RESPONDER_MAX_PLAN_RTT_MS. An honest initiator whose RTT is at most this
 * (relay jitter, its own planning time) is never refused for its budget; a
 * peer that delays SYNC to inflate our measurement gains at most the cap.
 */
export function ownPlanRttMs (measuredRttMs: number): number {
  return Math.min(RESPONDER_MAX_PLAN_RTT_MS, RESPONDER_RTT_TOLERANCE_FACTOR * Math.max(0, measuredRttMs) + RESPONDER_RTT_TOLERANCE_MS)
}

/**
 * The responder's check of a SYNC: throws PlanRejectedError when `summary`
 * asks more of us than our own pair decision from the same inputs would.
 *
 * `input` is the responder's: both peers' OFFER/ANSWER info, `rttMs` its own
 * measurement of the relayed RTT (ANSWER sent → SYNC received), `now` its
 * clock (observations aged from when it received them), `history` its own
 * advice about this peer, `options` its own. Our decision is made with the
 * RTT `ownPlanRttMs(rttMs)` and observations aged by that RTT more, so
 * honest initiators are not refused for a slightly longer RTT or older
 * observations. Our history's budget cap and preferred kinds are ignored
 * here: they may shorten what we do, never make us refuse.
 *
 * Refused, in this order (the PlanRejectedError's `cause` is a PlanRefusal,
 * read it with `planRefusalOf`):
 * 1. `structure`: anything `checkSummaryStructure` refuses;
 * 2. `limits`: a strategy or roles other than ours (a plan we would never
 * choose, including any plan when ours is none-fallback), more extra
 * sockets for us, a wider window, more random ports, a longer budget, or a
 * LAN or IPv6 race that ours does not have;
 * 3. `history`: our own history says skip (a doomed peer or pair class, or a
 * peer that broke the protocol): then every plan is refused, except the
 * LAN-only race that our own skip still allows. Not a punch failure.
 *
 * Pacing cannot be raised by any summary field: intervals and per-socket
 * rates come from the strategy and role (build.ts), and what multiplies
 * them (window, random ports of a burst, extra sockets) is checked above.
 */
export function checkSummaryWithinOwnPlan (summary: PlanSummary, input: PlanInput): void {
  checkInput(input)
  checkWithinOwnPlan(summary, input, viewPair(input))
}

/** `checkSummaryWithinOwnPlan` with the view already made */
export function checkWithinOwnPlan (summary: PlanSummary, input: PlanInput, view: PairView): void {
  checkSummaryStructure(summary, view)

  const rttMs = ownPlanRttMs(input.rttMs)
  const own = (history?: HistoryAdvice): PairDecision => decidePair({ ...input, rttMs, now: input.now + rttMs, history })
  const excess = excessOver(summary, own(undefined))

  if (excess != null) {
    refusePlan('limits', `it asks for more than our own plan from the same inputs: ${excess.why}`, excess.field)
  }

  const history = input.history

  if (history?.skip === true) {
    const skipped = excessOver(summary, own({ skip: true, reason: history.reason, preferredKinds: [] }))

    if (skipped != null) {
      refusePlan('history', `our punch history says not to punch this peer now (${history.reason}): our own refusal, not the peer's fault nor a punch failure`, skipped.field, history.skipSource)
    }
  }
}

interface Excess {
  field: keyof PlanSummary
  why: string
}

function excessOver (summary: PlanSummary, own: PairDecision): Excess | undefined {
  const mine = own.summary

  if (mine.strategy === 'none-fallback') {
    return { field: 'strategy', why: `a plan we would never choose (${summary.strategy}): ours is not to punch (${own.noneReason ?? 'none-fallback'})` }
  }

  if (summary.strategy !== mine.strategy) {
    return { field: 'strategy', why: `a plan we would never choose: ${summary.strategy}, ours is ${mine.strategy}` }
  }

  if (summary.initiatorRole !== mine.initiatorRole || summary.responderRole !== mine.responderRole) {
    return { field: 'responderRole', why: `roles we would never choose: ${summary.initiatorRole}/${summary.responderRole}, ours are ${mine.initiatorRole}/${mine.responderRole}` }
  }

  const limits: Array<[keyof PlanSummary, number, number, string]> = [
    ['responderExtraSockets', summary.responderExtraSockets, mine.responderExtraSockets, 'extra sockets for us'],
    ['window', summary.window, mine.window, 'predicted-port window'],
    ['randomPorts', summary.randomPorts, mine.randomPorts, 'random ports'],
    ['budgetMs', summary.budgetMs, mine.budgetMs, 'budget (ms)']
  ]

  for (const [field, asked, allowed, what] of limits) {
    if (asked > allowed) {
      return { field, why: `${what} ${asked}, ours is ${allowed}` }
    }
  }

  if (summary.raceLan && !mine.raceLan) {
    return { field: 'raceLan', why: 'a LAN race, ours has none' }
  }

  if (summary.raceIpv6 && !mine.raceIpv6) {
    return { field: 'raceIpv6', why: 'an IPv6 race, ours has none' }
  }

  return undefined
}
