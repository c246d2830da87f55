/**
 * Decoding and validation of coordination messages: every rule of
 * docs/PROTOCOL.md "Messages" is checked here and a broken one throws
 * InvalidCoordinationMessageError naming the field (or
 * UnsupportedCoordinationVersionError, CoordinationMessageTooLargeError).
 *
 * Semantic checks that need the planner (do the roles fit the strategy, can
 * this side open that many sockets) are in punch/planner.ts
 * `planFromSummary`.
 */

import {
  COORDINATION_VERSION,
  MAX_ABORT_MESSAGE_BYTES,
  MAX_ATTEMPT,
  MAX_CANDIDATES,
  MAX_COORDINATION_MESSAGE_SIZE,
  MAX_EXTRA_SOCKETS,
  MAX_PLAN_RANDOM_PORTS,
  MAX_PLAN_WINDOW,
  MAX_PUBLIC_ADDRESSES,
  MAX_PUNCH_BUDGET_MS,
  MAX_RESULT_ELAPSED_MS,
  MAX_ANSWER_HOLD_MS,
  MAX_RETRY_AFTER_MS,
  MAX_SEQUENTIAL_DELTA,
  MIN_PUNCH_BUDGET_MS,
  SESSION_ID_LENGTH,
  SESSION_SECRET_LENGTH
} from '../constants.ts'
import {
  CoordinationMessageTooLargeError,
  InvalidCoordinationMessageError,
  UnsupportedCoordinationVersionError
} from '../errors.ts'
import { Message, Result } from './coordination.ts'
import { addressScope, bytesToIp } from './ip.ts'
import {
  ABORT_REASON_TO_WIRE,
  ALLOCATION_TO_WIRE,
  encodeWire,
  FILTERING_TO_WIRE,
  invert,
  KIND_TO_WIRE,
  MAPPING_TO_WIRE,
  NEXT_OFFERER_TO_WIRE,
  REACHABILITY_TO_WIRE,
  ROLE_TO_WIRE,
  STRATEGY_TO_WIRE,
  toWire
} from './messages.ts'
import type { Abort, Answer, Candidate as WireCandidate, NatProfile as WireNatProfile, Offer, PlanSummary as WirePlanSummary, Sync } from './coordination.ts'
import type { AnswerInfo, CoordinationMessage, OfferInfo, ResultInfo, SyncInfo } from './messages.ts'
import type { NatProfile, PortAllocation, TransportAddress } from '../nat/nat-profile.ts'
import type { Candidate, PlanSummary } from '../punch/plan.ts'

const KINDS = invert(KIND_TO_WIRE)
const STRATEGIES = invert(STRATEGY_TO_WIRE)
const ROLES = invert(ROLE_TO_WIRE)
const ABORT_REASONS = invert(ABORT_REASON_TO_WIRE)
const NEXT_OFFERERS = invert(NEXT_OFFERER_TO_WIRE)
const REACHABILITIES = invert(REACHABILITY_TO_WIRE)
const MAPPINGS = invert(MAPPING_TO_WIRE)
const FILTERINGS = invert(FILTERING_TO_WIRE)
const ALLOCATIONS = invert(ALLOCATION_TO_WIRE)

const FIELD_BY_TYPE: Record<string, keyof Message | undefined> = {
  [Message.Type.OFFER]: 'offer',
  [Message.Type.ANSWER]: 'answer',
  [Message.Type.SYNC]: 'sync',
  [Message.Type.ABORT]: 'abort',
  [Message.Type.RESULT]: 'result'
}
const PAYLOAD_FIELDS = ['offer', 'answer', 'sync', 'abort', 'result'] as const

/**
 * Decode and validate one received message (the bytes inside the length
 * prefix). `now` (clock ms) turns profile ages back into timestamps.
 */
export function decodeCoordinationMessage (bytes: Uint8Array, now: number): CoordinationMessage {
  if (bytes.byteLength > MAX_COORDINATION_MESSAGE_SIZE) {
    throw new CoordinationMessageTooLargeError(`Received a coordination message of ${bytes.byteLength} bytes, the limit is ${MAX_COORDINATION_MESSAGE_SIZE}: abort with reason INVALID_MESSAGE`)
  }

  let msg: Message

  try {
    msg = Message.decode(bytes, {
      limits: {
        offer: { candidates: MAX_CANDIDATES, nat: { publicAddresses: MAX_PUBLIC_ADDRESSES } },
        answer: { candidates: MAX_CANDIDATES, nat: { publicAddresses: MAX_PUBLIC_ADDRESSES } },
        sync: { lanCandidates: MAX_CANDIDATES }
      }
    })
  } catch (err: any) {
    if (err?.name === 'MaxLengthError') {
      throw new InvalidCoordinationMessageError('candidates', `has more than ${MAX_CANDIDATES} entries (or nat.publicAddresses more than ${MAX_PUBLIC_ADDRESSES})`)
    }

    throw new InvalidCoordinationMessageError('message', `is not a valid protobuf Message (${err?.message ?? err})`)
  }

  return validateMessage(msg, now)
}

/**
 * Validate, convert and encode a message we send: we never send what the
 * peer would have to reject
 */
export function encodeCoordinationMessage (msg: CoordinationMessage, now: number): Uint8Array {
  const wire = toWire(msg, now)
  validateMessage(wire, now)

  return encodeWire(wire)
}

/**
 * Check every field of a decoded wire message and convert it
 */
export function validateMessage (msg: Message, now: number): CoordinationMessage {
  const field = FIELD_BY_TYPE[msg.type]

  if (field == null) {
    throw new InvalidCoordinationMessageError('type', `must be OFFER, ANSWER, SYNC, ABORT or RESULT, got ${String(msg.type)}`)
  }

  if (msg[field] == null) {
    throw new InvalidCoordinationMessageError(field, `must be set when type is ${msg.type}`)
  }

  for (const f of PAYLOAD_FIELDS) {
    if (f !== field && msg[f] != null) {
      throw new InvalidCoordinationMessageError(f, `must be absent when type is ${msg.type}`)
    }
  }

  switch (msg.type) {
    case Message.Type.OFFER:
      return { type: 'offer', offer: validateOffer(msg.offer as Offer, now) }
    case Message.Type.ANSWER:
      return { type: 'answer', answer: validateAnswer(msg.answer as Answer, now) }
    case Message.Type.SYNC:
      return { type: 'sync', sync: validateSync(msg.sync as Sync) }
    case Message.Type.ABORT:
      return { type: 'abort', abort: validateAbort(msg.abort as Abort) }
    default:
      return { type: 'result', result: validateResult(msg.result as Result) }
  }
}

/**
 * The ANSWER belongs to our OFFER: same session id, a different stream id
 */
export function checkAnswerMatchesOffer (offer: Pick<OfferInfo, 'sessionId' | 'streamId'>, answer: Pick<AnswerInfo, 'sessionId' | 'streamId'>): void {
  checkSession(offer.sessionId, answer.sessionId, 'answer.sessionId')

  if (answer.streamId === offer.streamId) {
    throw new InvalidCoordinationMessageError('answer.streamId', 'must differ from the offer\'s stream id')
  }
}

/**
 * A SYNC, ABORT or RESULT names the session of this stream
 */
export function checkSession (expected: Uint8Array, actual: Uint8Array, field = 'sessionId'): void {
  if (expected.byteLength !== actual.byteLength || !expected.every((b, i) => b === actual[i])) {
    throw new InvalidCoordinationMessageError(field, 'must equal the session id of the OFFER on this stream')
  }
}

// ---------------------------------------------------------------------------
// per message
// ---------------------------------------------------------------------------

function validateOffer (o: Offer, now: number): OfferInfo {
  checkVersion(o.version, 'offer.version')
  checkBytes(o.sessionId, SESSION_ID_LENGTH, 'offer.sessionId')
  checkBytes(o.secret, SESSION_SECRET_LENGTH, 'offer.secret')

  if (o.secret.every(b => b === 0)) {
    throw new InvalidCoordinationMessageError('offer.secret', 'must be random, not all zero')
  }

  checkStreamId(o.streamId, 'offer.streamId')
  checkRange(o.maxExtraSockets, 0, MAX_EXTRA_SOCKETS, 'offer.maxExtraSockets')
  checkRange(o.attempt, 0, MAX_ATTEMPT, 'offer.attempt')

  return {
    version: o.version,
    features: o.features >>> 0,
    sessionId: o.sessionId,
    secret: o.secret,
    streamId: o.streamId,
    attempt: o.attempt,
    peer: {
      profile: validateNatProfile(o.nat, 'offer.nat', now),
      candidates: validateCandidates(o.candidates, 'offer.candidates'),
      maxExtraSockets: o.maxExtraSockets
    }
  }
}

function validateAnswer (a: Answer, now: number): AnswerInfo {
  checkVersion(a.version, 'answer.version')
  checkBytes(a.sessionId, SESSION_ID_LENGTH, 'answer.sessionId')
  checkStreamId(a.streamId, 'answer.streamId')
  checkRange(a.maxExtraSockets, 0, MAX_EXTRA_SOCKETS, 'answer.maxExtraSockets')
  checkRange(a.holdMs, 0, MAX_ANSWER_HOLD_MS, 'answer.holdMs')

  return {
    version: a.version,
    features: a.features >>> 0,
    sessionId: a.sessionId,
    streamId: a.streamId,
    peer: {
      profile: validateNatProfile(a.nat, 'answer.nat', now),
      candidates: validateCandidates(a.candidates, 'answer.candidates'),
      maxExtraSockets: a.maxExtraSockets
    },
    holdMs: a.holdMs
  }
}

function validateSync (s: Sync): SyncInfo {
  checkBytes(s.sessionId, SESSION_ID_LENGTH, 'sync.sessionId')

  if (s.plan == null) {
    throw new InvalidCoordinationMessageError('sync.plan', 'must be set')
  }

  const plan = validatePlan(s.plan, 'sync.plan')
  const lanCandidates = validateCandidates(s.lanCandidates, 'sync.lanCandidates')

  if (lanCandidates.length > 0 && !plan.raceLan) {
    throw new InvalidCoordinationMessageError('sync.lanCandidates', 'must be empty unless plan.raceLan is set')
  }

  lanCandidates.forEach((c, i) => {
    if (c.kind !== 'lan') {
      throw new InvalidCoordinationMessageError(`sync.lanCandidates[${i}].kind`, 'must be LAN')
    }
  })

  return { sessionId: s.sessionId, plan, lanCandidates }
}

function validatePlan (p: WirePlanSummary, field: string): PlanSummary {
  const strategy = STRATEGIES.get(p.strategy)
  const initiatorRole = ROLES.get(p.offererRole)
  const responderRole = ROLES.get(p.answererRole)

  if (strategy == null) {
    throw new InvalidCoordinationMessageError(`${field}.strategy`, `must be a defined strategy, got ${String(p.strategy)}`)
  }

  if (initiatorRole == null) {
    throw new InvalidCoordinationMessageError(`${field}.offererRole`, `must be a defined role, got ${String(p.offererRole)}`)
  }

  if (responderRole == null) {
    throw new InvalidCoordinationMessageError(`${field}.answererRole`, `must be a defined role, got ${String(p.answererRole)}`)
  }

  checkRange(p.budgetMs, MIN_PUNCH_BUDGET_MS, MAX_PUNCH_BUDGET_MS, `${field}.budgetMs`)
  checkRange(p.offererExtraSockets, 0, MAX_EXTRA_SOCKETS, `${field}.offererExtraSockets`)
  checkRange(p.answererExtraSockets, 0, MAX_EXTRA_SOCKETS, `${field}.answererExtraSockets`)
  checkRange(p.window, 0, MAX_PLAN_WINDOW, `${field}.window`)
  checkRange(p.randomPorts, 0, MAX_PLAN_RANDOM_PORTS, `${field}.randomPorts`)

  return {
    strategy,
    budgetMs: p.budgetMs,
    initiatorRole,
    responderRole,
    initiatorExtraSockets: p.offererExtraSockets,
    responderExtraSockets: p.answererExtraSockets,
    window: p.window,
    randomPorts: p.randomPorts,
    raceLan: p.raceLan === true,
    raceIpv6: p.raceIpv6 === true
  }
}

function validateAbort (a: Abort): { sessionId: Uint8Array, reason: NonNullable<ReturnType<typeof ABORT_REASONS.get>>, message: string } {
  checkBytes(a.sessionId, SESSION_ID_LENGTH, 'abort.sessionId')
  const reason = ABORT_REASONS.get(a.reason)

  if (reason == null) {
    throw new InvalidCoordinationMessageError('abort.reason', `must be a defined reason, got ${String(a.reason)}`)
  }

  const message = a.message ?? ''

  if (new TextEncoder().encode(message).byteLength > MAX_ABORT_MESSAGE_BYTES) {
    throw new InvalidCoordinationMessageError('abort.message', `must be at most ${MAX_ABORT_MESSAGE_BYTES} UTF-8 bytes`)
  }

  return { sessionId: a.sessionId, reason, message }
}

function validateResult (r: Result): ResultInfo {
  checkBytes(r.sessionId, SESSION_ID_LENGTH, 'result.sessionId')
  checkRange(r.elapsedMs, 0, MAX_RESULT_ELAPSED_MS, 'result.elapsedMs')
  checkRange(r.retryAfterMs, 0, MAX_RETRY_AFTER_MS, 'result.retryAfterMs')

  if (r.outcome === Result.Outcome.SUCCESS) {
    if (r.retryAfterMs !== 0) {
      throw new InvalidCoordinationMessageError('result.retryAfterMs', 'must be 0 when the outcome is SUCCESS')
    }

    if (r.nextOfferer !== Result.NextOfferer.NEXT_OFFERER_UNSPECIFIED && r.nextOfferer !== Result.NextOfferer.NEXT_OFFERER_NONE) {
      throw new InvalidCoordinationMessageError('result.nextOfferer', 'must be NONE (or unset) when the outcome is SUCCESS')
    }

    return { sessionId: r.sessionId, outcome: 'success', elapsedMs: r.elapsedMs, retryAfterMs: 0, nextOfferer: 'none' }
  }

  if (r.outcome !== Result.Outcome.FAILED) {
    throw new InvalidCoordinationMessageError('result.outcome', `must be SUCCESS or FAILED, got ${String(r.outcome)}`)
  }

  const nextOfferer = NEXT_OFFERERS.get(r.nextOfferer)

  if (nextOfferer == null) {
    throw new InvalidCoordinationMessageError('result.nextOfferer', `must be NONE, SAME or SWAPPED when the outcome is FAILED, got ${String(r.nextOfferer)}`)
  }

  return { sessionId: r.sessionId, outcome: 'failed', elapsedMs: r.elapsedMs, retryAfterMs: r.retryAfterMs, nextOfferer }
}

// ---------------------------------------------------------------------------
// shared parts
// ---------------------------------------------------------------------------

function validateNatProfile (n: WireNatProfile | undefined, field: string, now: number): NatProfile {
  if (n == null) {
    throw new InvalidCoordinationMessageError(field, 'must be set')
  }

  const reachability = REACHABILITIES.get(n.reachability)
  const mapping = MAPPINGS.get(n.mapping)
  const filtering = FILTERINGS.get(n.filtering)
  const allocationKind = ALLOCATIONS.get(n.allocation)

  for (const [name, value, raw] of [['reachability', reachability, n.reachability], ['mapping', mapping, n.mapping], ['filtering', filtering, n.filtering], ['allocation', allocationKind, n.allocation]] as const) {
    if (value == null) {
      throw new InvalidCoordinationMessageError(`${field}.${name}`, `must be a defined value, got ${String(raw)}`)
    }
  }

  checkRange(n.confidence, 0, 1000, `${field}.confidence`)
  checkRange(n.observedAgeMs, 0, 0xFFFFFFFF, `${field}.observedAgeMs`)

  let allocation: PortAllocation

  if (allocationKind === 'sequential') {
    if (!Number.isInteger(n.delta) || n.delta === 0 || Math.abs(n.delta) > MAX_SEQUENTIAL_DELTA) {
      throw new InvalidCoordinationMessageError(`${field}.delta`, `must be a non-zero integer within ±${MAX_SEQUENTIAL_DELTA} when allocation is SEQUENTIAL, got ${n.delta}`)
    }

    checkRange(n.reliability, 0, 1000, `${field}.reliability`)
    allocation = { kind: 'sequential', delta: n.delta, reliability: n.reliability / 1000 }
  } else {
    if (n.delta !== 0) {
      throw new InvalidCoordinationMessageError(`${field}.delta`, 'must be 0 unless allocation is SEQUENTIAL')
    }

    if (n.reliability !== 0) {
      throw new InvalidCoordinationMessageError(`${field}.reliability`, 'must be 0 unless allocation is SEQUENTIAL')
    }

    allocation = { kind: allocationKind as 'preserving' | 'random' | 'unknown' }
  }

  if (n.publicAddresses.length > MAX_PUBLIC_ADDRESSES) {
    throw new InvalidCoordinationMessageError(`${field}.publicAddresses`, `must have at most ${MAX_PUBLIC_ADDRESSES} entries`)
  }

  const publicAddresses: TransportAddress[] = n.publicAddresses.map((c, i) => {
    const f = `${field}.publicAddresses[${i}]`
    const candidate = validateCandidate(c, f)

    if (candidate.kind !== 'public') {
      throw new InvalidCoordinationMessageError(`${f}.kind`, 'must be PUBLIC')
    }

    return { host: candidate.host, port: candidate.port, family: candidate.family }
  })

  checkUnique(publicAddresses, `${field}.publicAddresses`)

  return {
    reachability: reachability as NatProfile['reachability'],
    mapping: mapping as NatProfile['mapping'],
    filtering: filtering as NatProfile['filtering'],
    allocation,
    publicAddresses,
    confidence: n.confidence / 1000,
    observedAt: now - n.observedAgeMs
  }
}

function validateCandidates (list: WireCandidate[], field: string): Candidate[] {
  if (list.length > MAX_CANDIDATES) {
    throw new InvalidCoordinationMessageError(field, `must have at most ${MAX_CANDIDATES} entries`)
  }

  const out = list.map((c, i) => validateCandidate(c, `${field}[${i}]`))
  checkUnique(out, field)

  return out
}

function validateCandidate (c: WireCandidate, field: string): Candidate {
  const kind = KINDS.get(c.kind)

  if (kind == null) {
    throw new InvalidCoordinationMessageError(`${field}.kind`, `must be PUBLIC, LAN, PREDICTED or OBSERVED, got ${String(c.kind)}`)
  }

  const host = bytesToIp(c.ip)

  if (host == null) {
    throw new InvalidCoordinationMessageError(`${field}.ip`, `must be 4 (IPv4) or 16 (IPv6) bytes, got ${c.ip.byteLength}`)
  }

  const scope = addressScope(c.ip)

  if (scope === 'unspecified' || scope === 'multicast' || scope === 'broadcast' || scope === 'ipv4-mapped') {
    throw new InvalidCoordinationMessageError(`${field}.ip`, `must be a unicast address (${host} is ${scope}; send IPv4-mapped addresses as 4 bytes)`)
  }

  if (scope === 'link-local' && c.ip.byteLength === 16) {
    throw new InvalidCoordinationMessageError(`${field}.ip`, `must not be IPv6 link-local (${host}): its zone cannot be carried`)
  }

  // loopback, IPv4 link-local and private addresses are well-formed: which
  // of them we ever probe is the address policy's decision
  // (src/punch/address-policy.ts), not the wire format's

  checkRange(c.port, 1, 65535, `${field}.port`)

  return { host, port: c.port, family: c.ip.byteLength === 4 ? 4 : 6, kind, source: 'remote' }
}

function checkUnique (list: Array<{ host: string, port: number }>, field: string): void {
  const seen = new Set<string>()

  for (const c of list) {
    const key = `${c.host}|${c.port}`

    if (seen.has(key)) {
      throw new InvalidCoordinationMessageError(field, `must not repeat an address (${c.host} port ${c.port})`)
    }

    seen.add(key)
  }
}

function checkVersion (version: number, field: string): void {
  if (!Number.isInteger(version) || version < 1) {
    throw new InvalidCoordinationMessageError(field, `must be set (≥ 1), got ${version}`)
  }

  if (version !== COORDINATION_VERSION) {
    throw new UnsupportedCoordinationVersionError(version)
  }
}

function checkBytes (value: Uint8Array | undefined, length: number, field: string): void {
  if (!(value instanceof Uint8Array) || value.byteLength !== length) {
    throw new InvalidCoordinationMessageError(field, `must be ${length} bytes, got ${value?.byteLength ?? 'none'}`)
  }
}

function checkStreamId (id: number, field: string): void {
  checkRange(id, 1, 0xFFFFFFFF, field)
}

function checkRange (value: number, min: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidCoordinationMessageError(field, `must be an integer in ${min}..${max}, got ${value}`)
  }
}
