/**
 * The coordination messages as the rest of the package sees them (plain
 * objects with the punch layer's types) and their conversion to the
 * protons-generated wire types. Decoding and validation of received
 * messages is in validate.ts.
 */

import { MAX_COORDINATION_MESSAGE_SIZE } from '../constants.ts'
import { CoordinationMessageTooLargeError, InvalidCoordinationMessageError } from '../errors.ts'
import { Abort, Candidate as WireCandidate, Message, NatProfile as WireNatProfile, PlanSummary as WirePlanSummary, Result } from './coordination.ts'
import { ipToBytes } from './ip.ts'
import type { NatProfile } from '../nat/nat-profile.ts'
import type { Candidate, CandidateKind, PairStrategy, PeerPunchInfo, PlanSummary, PunchRole } from '../punch/plan.ts'

export type AbortReason =
  | 'cancelled'
  | 'timeout'
  | 'unsupported-version'
  | 'invalid-message'
  | 'no-strategy'
  | 'plan-rejected'
  | 'resource-limit'
  | 'shutting-down'
  | 'already-connected'
  | 'internal-error'
  | 'glare'

export type NextOfferer = 'none' | 'same' | 'swapped'

export interface OfferInfo {
  version: number
  features: number
  sessionId: Uint8Array
  secret: Uint8Array
  streamId: number
  peer: PeerPunchInfo
  attempt: number
}

export interface AnswerInfo {
  version: number
  features: number
  sessionId: Uint8Array
  streamId: number
  peer: PeerPunchInfo
  /** ms the responder held the OFFER before answering (subtracted from the RTT) */
  holdMs: number
}

export interface SyncInfo {
  sessionId: Uint8Array
  plan: PlanSummary
  /** the initiator's LAN candidates, only with plan.raceLan */
  lanCandidates: Candidate[]
}

export interface AbortInfo {
  sessionId: Uint8Array
  reason: AbortReason
  message: string
}

export interface ResultInfo {
  sessionId: Uint8Array
  outcome: 'success' | 'failed'
  elapsedMs: number
  /** failed only */
  retryAfterMs: number
  /** failed only */
  nextOfferer: NextOfferer
}

export type CoordinationMessage =
  | { type: 'offer', offer: OfferInfo }
  | { type: 'answer', answer: AnswerInfo }
  | { type: 'sync', sync: SyncInfo }
  | { type: 'abort', abort: AbortInfo }
  | { type: 'result', result: ResultInfo }

// ---------------------------------------------------------------------------
// enum tables (domain value ↔ wire value), shared with validate.ts
// ---------------------------------------------------------------------------

export const KIND_TO_WIRE: Record<CandidateKind, WireCandidate.Kind> = {
  public: WireCandidate.Kind.PUBLIC,
  lan: WireCandidate.Kind.LAN,
  predicted: WireCandidate.Kind.PREDICTED,
  observed: WireCandidate.Kind.OBSERVED
}

export const STRATEGY_TO_WIRE: Record<Exclude<PairStrategy, 'none-fallback'>, WirePlanSummary.Strategy> = {
  'direct-cone': WirePlanSummary.Strategy.DIRECT_CONE,
  'predict-sequential': WirePlanSummary.Strategy.PREDICT_SEQUENTIAL,
  birthday: WirePlanSummary.Strategy.BIRTHDAY,
  'predict-both': WirePlanSummary.Strategy.PREDICT_BOTH,
  lan: WirePlanSummary.Strategy.LAN,
  ipv6: WirePlanSummary.Strategy.IPV6
}

export const ROLE_TO_WIRE: Record<Exclude<PunchRole, 'none'>, WirePlanSummary.Role> = {
  both: WirePlanSummary.Role.ROLE_BOTH,
  predictor: WirePlanSummary.Role.ROLE_PREDICTOR,
  predicted: WirePlanSummary.Role.ROLE_PREDICTED,
  'many-sockets': WirePlanSummary.Role.ROLE_MANY_SOCKETS,
  'random-ports': WirePlanSummary.Role.ROLE_RANDOM_PORTS
}

export const ABORT_REASON_TO_WIRE: Record<AbortReason, Abort.Reason> = {
  cancelled: Abort.Reason.CANCELLED,
  timeout: Abort.Reason.TIMEOUT,
  'unsupported-version': Abort.Reason.UNSUPPORTED_VERSION,
  'invalid-message': Abort.Reason.INVALID_MESSAGE,
  'no-strategy': Abort.Reason.NO_STRATEGY,
  'plan-rejected': Abort.Reason.PLAN_REJECTED,
  'resource-limit': Abort.Reason.RESOURCE_LIMIT,
  'shutting-down': Abort.Reason.SHUTTING_DOWN,
  'already-connected': Abort.Reason.ALREADY_CONNECTED,
  'internal-error': Abort.Reason.INTERNAL_ERROR,
  glare: Abort.Reason.GLARE
}

export const NEXT_OFFERER_TO_WIRE: Record<NextOfferer, Result.NextOfferer> = {
  none: Result.NextOfferer.NEXT_OFFERER_NONE,
  same: Result.NextOfferer.NEXT_OFFERER_SAME,
  swapped: Result.NextOfferer.NEXT_OFFERER_SWAPPED
}

export const REACHABILITY_TO_WIRE: Record<NatProfile['reachability'], WireNatProfile.Reachability> = {
  unknown: WireNatProfile.Reachability.REACHABILITY_UNKNOWN,
  public: WireNatProfile.Reachability.REACHABILITY_PUBLIC,
  private: WireNatProfile.Reachability.REACHABILITY_PRIVATE
}

export const MAPPING_TO_WIRE: Record<NatProfile['mapping'], WireNatProfile.Mapping> = {
  unknown: WireNatProfile.Mapping.MAPPING_UNKNOWN,
  EIM: WireNatProfile.Mapping.MAPPING_EIM,
  ADM: WireNatProfile.Mapping.MAPPING_ADM,
  APDM: WireNatProfile.Mapping.MAPPING_APDM
}

export const FILTERING_TO_WIRE: Record<NatProfile['filtering'], WireNatProfile.Filtering> = {
  unknown: WireNatProfile.Filtering.FILTERING_UNKNOWN,
  EIF: WireNatProfile.Filtering.FILTERING_EIF,
  ADF: WireNatProfile.Filtering.FILTERING_ADF,
  APDF: WireNatProfile.Filtering.FILTERING_APDF
}

export const ALLOCATION_TO_WIRE: Record<NatProfile['allocation']['kind'], WireNatProfile.Allocation> = {
  unknown: WireNatProfile.Allocation.ALLOCATION_UNKNOWN,
  preserving: WireNatProfile.Allocation.ALLOCATION_PRESERVING,
  sequential: WireNatProfile.Allocation.ALLOCATION_SEQUENTIAL,
  random: WireNatProfile.Allocation.ALLOCATION_RANDOM
}

/** Reverse of a `*_TO_WIRE` table */
export function invert<K extends string, V extends string> (table: Record<K, V>): Map<V, K> {
  return new Map(Object.entries(table).map(([k, v]) => [v as V, k as K]))
}

// ---------------------------------------------------------------------------
// domain → wire
// ---------------------------------------------------------------------------

/**
 * A candidate on the wire. Throws InvalidCoordinationMessageError if the
 * host is not an IP address.
 */
export function candidateToWire (c: Pick<Candidate, 'host' | 'port'> & { kind: CandidateKind }, field = 'candidate'): WireCandidate {
  const ip = ipToBytes(c.host)

  if (ip == null) {
    throw new InvalidCoordinationMessageError(`${field}.ip`, `must be an IPv4 or IPv6 address, got "${c.host}"`)
  }

  return { ip: copy(ip), port: c.port, kind: KIND_TO_WIRE[c.kind] }
}

/**
 * A NatProfile on the wire. `observedAt` becomes an age relative to `now`
 * (clocks of two hosts differ, ages do not). Ratios become per mille.
 */
export function natProfileToWire (profile: NatProfile, now: number): WireNatProfile {
  const a = profile.allocation

  return {
    reachability: REACHABILITY_TO_WIRE[profile.reachability],
    mapping: MAPPING_TO_WIRE[profile.mapping],
    filtering: FILTERING_TO_WIRE[profile.filtering],
    allocation: ALLOCATION_TO_WIRE[a.kind],
    delta: a.kind === 'sequential' ? a.delta : 0,
    reliability: a.kind === 'sequential' ? perMille(a.reliability) : 0,
    confidence: perMille(profile.confidence),
    observedAgeMs: Math.min(0xFFFFFFFF, Math.max(0, Math.round(now - profile.observedAt))),
    publicAddresses: profile.publicAddresses.map((addr, i) => candidateToWire({ ...addr, kind: 'public' }, `nat.publicAddresses[${i}]`))
  }
}

export function summaryToWire (plan: PlanSummary): WirePlanSummary {
  if (plan.strategy === 'none-fallback' || plan.initiatorRole === 'none' || plan.responderRole === 'none') {
    throw new InvalidCoordinationMessageError('sync.plan.strategy', 'cannot be none-fallback: send ABORT with reason NO_STRATEGY instead of SYNC')
  }

  return {
    strategy: STRATEGY_TO_WIRE[plan.strategy],
    budgetMs: plan.budgetMs,
    offererRole: ROLE_TO_WIRE[plan.initiatorRole],
    answererRole: ROLE_TO_WIRE[plan.responderRole],
    offererExtraSockets: plan.initiatorExtraSockets,
    answererExtraSockets: plan.responderExtraSockets,
    window: plan.window,
    randomPorts: plan.randomPorts,
    raceLan: plan.raceLan,
    raceIpv6: plan.raceIpv6
  }
}

/**
 * The wire form of a message. `now` (clock ms) turns profile timestamps into
 * ages.
 */
export function toWire (msg: CoordinationMessage, now: number): Message {
  switch (msg.type) {
    case 'offer': {
      const o = msg.offer

      return {
        type: Message.Type.OFFER,
        offer: {
          version: o.version,
          features: o.features,
          sessionId: copy(o.sessionId),
          secret: copy(o.secret),
          streamId: o.streamId,
          nat: natProfileToWire(o.peer.profile, now),
          candidates: o.peer.candidates.map((c, i) => candidateToWire(c, `offer.candidates[${i}]`)),
          maxExtraSockets: o.peer.maxExtraSockets,
          attempt: o.attempt
        }
      }
    }
    case 'answer': {
      const a = msg.answer

      return {
        type: Message.Type.ANSWER,
        answer: {
          version: a.version,
          features: a.features,
          sessionId: copy(a.sessionId),
          streamId: a.streamId,
          nat: natProfileToWire(a.peer.profile, now),
          candidates: a.peer.candidates.map((c, i) => candidateToWire(c, `answer.candidates[${i}]`)),
          maxExtraSockets: a.peer.maxExtraSockets,
          holdMs: Math.min(0xFFFFFFFF, Math.max(0, Math.round(a.holdMs)))
        }
      }
    }
    case 'sync':
      return {
        type: Message.Type.SYNC,
        sync: {
          sessionId: copy(msg.sync.sessionId),
          plan: summaryToWire(msg.sync.plan),
          lanCandidates: msg.sync.lanCandidates.map((c, i) => candidateToWire(c, `sync.lanCandidates[${i}]`))
        }
      }
    case 'abort':
      return {
        type: Message.Type.ABORT,
        abort: { sessionId: copy(msg.abort.sessionId), reason: ABORT_REASON_TO_WIRE[msg.abort.reason], message: msg.abort.message }
      }
    default: {
      const r = msg.result

      return {
        type: Message.Type.RESULT,
        result: {
          sessionId: copy(r.sessionId),
          outcome: r.outcome === 'success' ? Result.Outcome.SUCCESS : Result.Outcome.FAILED,
          elapsedMs: r.elapsedMs,
          retryAfterMs: r.outcome === 'success' ? 0 : r.retryAfterMs,
          nextOfferer: r.outcome === 'success' ? Result.NextOfferer.NEXT_OFFERER_NONE : NEXT_OFFERER_TO_WIRE[r.nextOfferer]
        }
      }
    }
  }
}

/**
 * Encode a wire message, refusing to produce one the peer must reject for
 * its size
 */
export function encodeWire (msg: Message): Uint8Array {
  const bytes = Message.encode(msg)

  if (bytes.byteLength > MAX_COORDINATION_MESSAGE_SIZE) {
    throw new CoordinationMessageTooLargeError(`Coordination message of ${bytes.byteLength} bytes exceeds ${MAX_COORDINATION_MESSAGE_SIZE}: send fewer candidates`)
  }

  return bytes
}

/** A copy backed by its own ArrayBuffer, as the generated wire types want */
function copy (bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes)
}

function perMille (x: number): number {
  return Math.round(Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0)) * 1000)
}
