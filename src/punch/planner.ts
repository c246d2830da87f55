/**
 * The pure punch planner. Both sides plan from the same shared inputs (the
 * NatProfiles, candidates and socket limits exchanged in OFFER/ANSWER and the
 * relayed RTT):
 *
 * 1. the initiator calls `planPair` (or `planPunch(input, 'initiator')`),
 * runs its side and sends the `summary` in SYNC;
 * 2. the responder calls `planFromSummary(summary, input, 'responder',
 * { enforceOwnLimits: true })` with its own measured RTT, which refuses a
 * summary that asks more of it than its own decision from the same inputs,
 * and builds its side exactly as `planPair` built it.
 *
 * The parts: pair-view.ts (NAT classes, the addresses the address policy
 * lets us aim at), decide.ts (the pair decision), build.ts (one side's
 * plan), check.ts (input and SYNC checks), refusal.ts (whom a refusal
 * blames).
 */

import { InvalidPlanInputError } from '../errors.ts'
import { buildSide } from './build.ts'
import { checkInput, checkSummaryStructure, checkWithinOwnPlan } from './check.ts'
import { decidePair, planTargetCount } from './decide.ts'
import { viewPair } from './pair-view.ts'
import { refusePlan } from './refusal.ts'
import type { FollowOptions, PairPlan, PlanInput, PlanSummary, PunchPlan, Side } from './plan.ts'

export { classifyNat, pairClassOf } from './pair-view.ts'
export { planPeakRate } from './build.ts'
export { checkSummaryWithinOwnPlan, ownPlanRttMs } from './check.ts'
export { planRefusalOf } from './refusal.ts'

/**
 * Plan both sides. The initiator sends `summary` in SYNC and runs
 * `initiator`. A none-fallback summary is announced with ABORT NO_STRATEGY;
 * its plans' `reason` says why.
 */
export function planPair (input: PlanInput): PairPlan {
  checkInput(input)
  const { summary, initiator, responder } = decidePair(input)

  return { summary, initiator, responder }
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
 * without the address to predict from, a LAN race without a shared public
 * IP) and, with `enforceOwnLimits`, when it asks more than our own decision
 * (see `checkSummaryWithinOwnPlan`; `input.rttMs` is then our own
 * measurement). The error's `cause` says whom to blame (`planRefusalOf`).
 */
export function planFromSummary (summary: PlanSummary, input: PlanInput, side: Side, options: FollowOptions = {}): PunchPlan {
  checkInput(input)
  const view = viewPair(input)

  if (options.enforceOwnLimits === true) {
    if (side !== 'responder') {
      throw new InvalidPlanInputError('enforceOwnLimits is the responder\'s check of SYNC: the initiator plans with planPair')
    }

    checkWithinOwnPlan(summary, input, view)
  } else {
    checkSummaryStructure(summary, view)
  }

  const plan = buildSide(summary, input, view, side)

  // a plan that gives us nothing to send would only hold a slot for its
  // budget, unless we are open and the peer's probes reach us unasked
  if (planTargetCount(plan) === 0 && view[side].natClass !== 'open') {
    refusePlan('structure', `the plan leaves the ${side} no usable address to probe`, 'strategy')
  }

  return plan
}
