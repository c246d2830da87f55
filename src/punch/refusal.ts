/**
 * Refusing a SYNC: a PlanRejectedError whose `cause` is a `PlanRefusal`
 * saying whom to blame (see `PlanRefusalSource` in plan.ts)
 */

import { PlanRejectedError } from '../errors.ts'
import type { HistoryAdvice, PlanRefusal, PlanRefusalSource, PlanSummary } from './plan.ts'

const SOURCES = new Set<PlanRefusalSource>(['structure', 'limits', 'history'])

/**
 * Throw a PlanRejectedError that carries `{ source, field, skipSource }` as
 * its `cause`
 */
export function refusePlan (source: PlanRefusalSource, why: string, field?: keyof PlanSummary, skipSource?: HistoryAdvice['skipSource']): never {
  const abortWith = source === 'history' ? 'NO_STRATEGY' : 'PLAN_REJECTED'
  const err = new PlanRejectedError(`The offered punch plan cannot be followed: ${why}; abort the session with reason ${abortWith}`)
  const refusal: PlanRefusal = { source }

  if (field != null) {
    refusal.field = field
  }

  if (skipSource != null) {
    refusal.skipSource = skipSource
  }

  err.cause = refusal
  throw err
}

/**
 * The refusal carried by a PlanRejectedError from the planner, or undefined
 * for any other error. A `history` refusal is ours: neither a protocol
 * violation of the peer nor a punch failure.
 */
export function planRefusalOf (err: unknown): PlanRefusal | undefined {
  if (!(err instanceof Error) || err.name !== 'PlanRejectedError') {
    return undefined
  }

  const cause = err.cause as Partial<PlanRefusal> | undefined

  return cause != null && typeof cause === 'object' && cause.source != null && SOURCES.has(cause.source) ? cause as PlanRefusal : undefined
}
