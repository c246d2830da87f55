import { expect } from 'aegir/chai'
import { COORDINATION_PROTOCOL, MAX_CANDIDATES, MAX_COORDINATION_MESSAGE_SIZE } from '../../src/constants.ts'
import { Abort, Candidate as WireCandidate, Message, NatProfile as WireNat, PlanSummary as WirePlan, Result } from '../../src/protocol/coordination.ts'
import { encodeWire, toWire } from '../../src/protocol/messages.ts'
import { checkAnswerMatchesOffer, checkSession, decodeCoordinationMessage, encodeCoordinationMessage, validateMessage } from '../../src/protocol/validate.ts'
import { planPair } from '../../src/punch/planner.ts'
import { candidate, input, NATS, NOW, peer } from '../punch/fixtures.ts'
import type { CoordinationMessage, OfferInfo } from '../../src/protocol/messages.ts'

const SESSION = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i + 1)

/** n distinct wire candidates 203.0.113.1.. */
function wireCandidates (n: number): WireCandidate[] {
  return Array.from({ length: n }, (_, i) => ({ ip: Uint8Array.from([203, 0, 113, i + 1]), port: 1000, kind: WireCandidate.Kind.PUBLIC }))
}

function offer (): OfferInfo {
  return {
    version: 1,
    features: 0,
    sessionId: SESSION,
    secret: SECRET,
    streamId: 0xDEADBEEF,
    attempt: 0,
    peer: peer(NATS.symmetricSeq('198.51.100.20', 50000, 2, 0.75), [candidate('192.168.1.10', 4001, 'lan'), candidate('2001:db8::5', 4001, 'observed')], 128)
  }
}

function wireOffer (): Message {
  return toWire({ type: 'offer', offer: offer() }, NOW)
}

/** a mutated copy of a valid wire message */
function mutate (base: Message, change: (m: any) => void): Message {
  const copy = structuredClone(base)
  change(copy)
  return copy
}

function rejection (msg: Message): { name: string, field?: string } {
  try {
    validateMessage(msg, NOW)
  } catch (err: any) {
    return { name: err.name, field: err.field }
  }

  throw new Error('expected the message to be rejected')
}

const sync: CoordinationMessage = { type: 'sync', sync: { sessionId: SESSION, plan: planPair(input(peer(NATS.portRestricted()), peer(NATS.symmetricRandom()))).summary, lanCandidates: [] } }
const abort: CoordinationMessage = { type: 'abort', abort: { sessionId: SESSION, reason: 'cancelled', message: 'user aborted' } }
const failed: CoordinationMessage = { type: 'result', result: { sessionId: SESSION, outcome: 'failed', elapsedMs: 9000, retryAfterMs: 4000, nextOfferer: 'swapped' } }

describe('coordination messages', () => {
  it('use the protocol id /libp2p-udp-holepunch/coordinate/1.0.0', () => {
    expect(COORDINATION_PROTOCOL).to.equal('/libp2p-udp-holepunch/coordinate/1.0.0')
  })

  describe('round trips', () => {
    it('carry an OFFER with its NAT profile and candidates', () => {
      const got = decodeCoordinationMessage(encodeCoordinationMessage({ type: 'offer', offer: offer() }, NOW), NOW + 500)

      expect(got.type).to.equal('offer')
      const o = (got as { offer: OfferInfo }).offer
      const sent = offer()

      expect(o.sessionId).to.deep.equal(SESSION)
      expect(o.secret).to.deep.equal(SECRET)
      expect(o.streamId).to.equal(0xDEADBEEF)
      expect(o.peer.maxExtraSockets).to.equal(128)
      expect(o.peer.candidates.map(c => [c.host, c.port, c.kind])).to.deep.equal(sent.peer.candidates.map(c => [c.host, c.port, c.kind]))
      // observedAt survives as an age, on the receiver's clock
      expect(o.peer.profile).to.deep.equal({ ...sent.peer.profile, observedAt: sent.peer.profile.observedAt + 500 })
    })

    it('carry an ANSWER, a SYNC with the plan, an ABORT and a RESULT', () => {
      const answer: CoordinationMessage = { type: 'answer', answer: { version: 1, features: 5, sessionId: SESSION, streamId: 7, peer: peer(NATS.portRestricted()), holdMs: 12 } }

      for (const msg of [sync, abort, failed]) {
        expect(decodeCoordinationMessage(encodeCoordinationMessage(msg, NOW), NOW)).to.deep.equal(msg)
      }

      const got = decodeCoordinationMessage(encodeCoordinationMessage(answer, NOW), NOW)

      expect(got.type).to.equal('answer')
      expect(got.type === 'answer' && got.answer).to.deep.include({ version: 1, features: 5, sessionId: SESSION, streamId: 7, holdMs: 12 })
      expect(got.type === 'answer' && got.answer.peer.profile).to.deep.equal(NATS.portRestricted())
      // candidates received from the peer are marked as such
      expect(got.type === 'answer' && got.answer.peer.candidates).to.deep.equal([{ ...candidate('203.0.113.10', 40000, 'public'), source: 'remote' }])
    })

    it('fit a full OFFER (32 IPv6 candidates, 8 public addresses) in the size limit', () => {
      const o = offer()
      o.peer.candidates = Array.from({ length: MAX_CANDIDATES }, (_, i) => candidate(`2001:db8:ffff:ffff:ffff:ffff:ffff:${(i + 1).toString(16)}`, 65535, 'public'))
      o.peer.profile.publicAddresses = Array.from({ length: 8 }, (_, i) => ({ host: `2001:db8::${i + 1}`, port: 65535, family: 6 as const }))

      expect(encodeCoordinationMessage({ type: 'offer', offer: o }, NOW).byteLength).to.be.below(MAX_COORDINATION_MESSAGE_SIZE / 2)
    })

    it('do not send none-fallback in SYNC', () => {
      const none = planPair(input(peer(NATS.symmetricRandom()), peer(NATS.symmetricRandom('198.51.100.31')))).summary

      expect(() => encodeCoordinationMessage({ type: 'sync', sync: { sessionId: SESSION, plan: none, lanCandidates: [] } }, NOW)).to.throw().with.property('field', 'sync.plan.strategy')
    })

    it('refuse to send what the peer would reject', () => {
      const o = offer()
      o.streamId = 0

      expect(() => encodeCoordinationMessage({ type: 'offer', offer: o }, NOW)).to.throw().with.property('field', 'offer.streamId')
    })
  })

  describe('envelope', () => {
    it('rejects an unspecified type', () => {
      expect(rejection(mutate(wireOffer(), m => { m.type = Message.Type.TYPE_UNSPECIFIED }))).to.deep.equal({ name: 'InvalidCoordinationMessageError', field: 'type' })
    })

    it('rejects a type whose payload is missing', () => {
      expect(rejection(mutate(wireOffer(), m => { m.type = Message.Type.ANSWER }))).to.include({ field: 'answer' })
    })

    it('rejects a second payload', () => {
      expect(rejection(mutate(wireOffer(), m => { m.abort = { sessionId: SESSION, reason: Abort.Reason.CANCELLED, message: '' } }))).to.include({ field: 'abort' })
    })

    it('rejects bytes that are not a protobuf message', () => {
      expect(() => decodeCoordinationMessage(Uint8Array.from([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), NOW)).to.throw().with.property('field', 'message')
    })

    it('rejects an enum value it does not know', () => {
      // field 1 (type), varint 99
      expect(() => decodeCoordinationMessage(Uint8Array.from([0x08, 99]), NOW)).to.throw().with.property('name', 'InvalidCoordinationMessageError')
    })

    it('rejects a message larger than the limit before decoding it', () => {
      expect(() => decodeCoordinationMessage(new Uint8Array(MAX_COORDINATION_MESSAGE_SIZE + 1), NOW)).to.throw().with.property('name', 'CoordinationMessageTooLargeError')
    })

    it('refuses to encode a message larger than the limit', () => {
      const m = mutate(wireOffer(), m => { m.offer.candidates = [] })
      ;(m.offer as any).secret = new Uint8Array(MAX_COORDINATION_MESSAGE_SIZE)

      expect(() => encodeWire(m)).to.throw().with.property('name', 'CoordinationMessageTooLargeError')
    })

    it('rejects more than 32 candidates while decoding', () => {
      const m = mutate(wireOffer(), m => {
        m.offer.candidates = wireCandidates(MAX_CANDIDATES + 1)
      })

      expect(() => decodeCoordinationMessage(Message.encode(m), NOW)).to.throw().with.property('field', 'candidates')
    })
  })

  describe('OFFER rules', () => {
    const rules: Array<[string, string, (m: any) => void, string?]> = [
      ['a missing version', 'offer.version', m => { m.offer.version = 0 }],
      ['a session id that is not 8 bytes', 'offer.sessionId', m => { m.offer.sessionId = new Uint8Array(7) }],
      ['a secret that is not 32 bytes', 'offer.secret', m => { m.offer.secret = new Uint8Array(31) }],
      ['an all-zero secret', 'offer.secret', m => { m.offer.secret = new Uint8Array(32) }],
      ['stream id 0', 'offer.streamId', m => { m.offer.streamId = 0 }],
      ['more than 256 extra sockets', 'offer.maxExtraSockets', m => { m.offer.maxExtraSockets = 257 }],
      ['an attempt above 15', 'offer.attempt', m => { m.offer.attempt = 16 }],
      ['a missing NAT profile', 'offer.nat', m => { delete m.offer.nat }],
      ['an undefined mapping', 'offer.nat.mapping', m => { m.offer.nat.mapping = 'BOGUS' }],
      ['an undefined reachability', 'offer.nat.reachability', m => { m.offer.nat.reachability = 'BOGUS' }],
      ['an undefined filtering', 'offer.nat.filtering', m => { m.offer.nat.filtering = 'BOGUS' }],
      ['an undefined allocation', 'offer.nat.allocation', m => { m.offer.nat.allocation = 'BOGUS' }],
      ['a confidence above 1000 ‰', 'offer.nat.confidence', m => { m.offer.nat.confidence = 1001 }],
      ['a sequential delta of 0', 'offer.nat.delta', m => { m.offer.nat.delta = 0 }],
      ['a sequential delta beyond ±1024', 'offer.nat.delta', m => { m.offer.nat.delta = -1025 }],
      ['a reliability above 1000 ‰', 'offer.nat.reliability', m => { m.offer.nat.reliability = 1001 }],
      ['a delta without sequential allocation', 'offer.nat.delta', m => { m.offer.nat.allocation = WireNat.Allocation.ALLOCATION_RANDOM; m.offer.nat.reliability = 0 }],
      ['a reliability without sequential allocation', 'offer.nat.reliability', m => { m.offer.nat.allocation = WireNat.Allocation.ALLOCATION_RANDOM; m.offer.nat.delta = 0 }],
      ['more than 8 public addresses', 'offer.nat.publicAddresses', m => {
        m.offer.nat.publicAddresses = wireCandidates(9)
      }],
      ['a public address that is not of kind PUBLIC', 'offer.nat.publicAddresses[0].kind', m => { m.offer.nat.publicAddresses[0].kind = WireCandidate.Kind.LAN }],
      ['a repeated public address', 'offer.nat.publicAddresses', m => { m.offer.nat.publicAddresses.push(structuredClone(m.offer.nat.publicAddresses[0])) }],
      ['more than 32 candidates', 'offer.candidates', m => {
        m.offer.candidates = wireCandidates(33)
      }],
      ['a repeated candidate address', 'offer.candidates', m => { m.offer.candidates.push({ ...structuredClone(m.offer.candidates[0]), kind: WireCandidate.Kind.OBSERVED }) }],
      ['a candidate ip of 5 bytes', 'offer.candidates[0].ip', m => { m.offer.candidates[0].ip = new Uint8Array(5) }],
      ['an unspecified candidate ip', 'offer.candidates[0].ip', m => { m.offer.candidates[0].ip = new Uint8Array(4) }],
      ['a multicast candidate ip', 'offer.candidates[0].ip', m => { m.offer.candidates[0].ip = Uint8Array.from([239, 1, 1, 1]) }],
      ['a broadcast candidate ip', 'offer.candidates[0].ip', m => { m.offer.candidates[0].ip = Uint8Array.from([255, 255, 255, 255]) }],
      ['an IPv4-mapped IPv6 candidate ip', 'offer.candidates[0].ip', m => { m.offer.candidates[0].ip = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 203, 0, 113, 1]) }],
      ['an IPv6 link-local candidate ip', 'offer.candidates[0].ip', m => { m.offer.candidates[0].ip = Uint8Array.from([0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) }],
      ['candidate port 0', 'offer.candidates[0].port', m => { m.offer.candidates[0].port = 0 }],
      ['candidate port 65536', 'offer.candidates[0].port', m => { m.offer.candidates[0].port = 65536 }],
      ['an unspecified candidate kind', 'offer.candidates[0].kind', m => { m.offer.candidates[0].kind = WireCandidate.Kind.KIND_UNSPECIFIED }]
    ]

    for (const [what, field, change] of rules) {
      it(`rejects ${what}`, () => {
        expect(rejection(mutate(wireOffer(), change))).to.deep.equal({ name: 'InvalidCoordinationMessageError', field })
      })
    }

    it('accepts a loopback candidate: whether it is ever probed is the address policy\'s decision, not the wire format\'s', () => {
      for (const i of [0, 1]) {
        const m = mutate(wireOffer(), m => { m.offer.candidates[i].ip = Uint8Array.from([127, 0, 0, 1]) })

        expect(validateMessage(m, NOW).type).to.equal('offer')
      }
    })

    it('accepts unknown feature bits', () => {
      expect(validateMessage(mutate(wireOffer(), m => { m.offer.features = 0xFFFFFFFF }), NOW).type).to.equal('offer')
    })

    it('rejects another protocol version with a dedicated error', () => {
      expect(rejection(mutate(wireOffer(), m => { m.offer.version = 2 }))).to.deep.equal({ name: 'UnsupportedCoordinationVersionError', field: undefined })
    })
  })

  describe('ANSWER rules', () => {
    const wireAnswer = (): Message => toWire({ type: 'answer', answer: { version: 1, features: 0, sessionId: SESSION, streamId: 9, peer: peer(NATS.portRestricted()), holdMs: 0 } }, NOW)
    const rules: Array<[string, string, (m: any) => void]> = [
      ['a missing version', 'answer.version', m => { m.answer.version = 0 }],
      ['a session id that is not 8 bytes', 'answer.sessionId', m => { m.answer.sessionId = new Uint8Array(9) }],
      ['stream id 0', 'answer.streamId', m => { m.answer.streamId = 0 }],
      ['more than 256 extra sockets', 'answer.maxExtraSockets', m => { m.answer.maxExtraSockets = 1000 }],
      ['a hold time above 10 s', 'answer.holdMs', m => { m.answer.holdMs = 10_001 }],
      ['a missing NAT profile', 'answer.nat', m => { delete m.answer.nat }],
      ['a bad candidate', 'answer.candidates[0].port', m => { m.answer.candidates[0].port = 0 }]
    ]

    for (const [what, field, change] of rules) {
      it(`rejects ${what}`, () => {
        expect(rejection(mutate(wireAnswer(), change))).to.deep.equal({ name: 'InvalidCoordinationMessageError', field })
      })
    }

    it('must echo the offer\'s session id', () => {
      expect(() => checkAnswerMatchesOffer(offer(), { sessionId: new Uint8Array(8), streamId: 9 })).to.throw().with.property('field', 'answer.sessionId')
    })

    it('must use a stream id different from the offer\'s', () => {
      expect(() => checkAnswerMatchesOffer(offer(), { sessionId: SESSION, streamId: offer().streamId })).to.throw().with.property('field', 'answer.streamId')
      expect(() => checkAnswerMatchesOffer(offer(), { sessionId: SESSION, streamId: 9 })).to.not.throw()
    })
  })

  describe('SYNC rules', () => {
    const wireSync = (): Message => toWire(sync, NOW)
    const rules: Array<[string, string, (m: any) => void]> = [
      ['a session id that is not 8 bytes', 'sync.sessionId', m => { m.sync.sessionId = new Uint8Array(0) }],
      ['a missing plan', 'sync.plan', m => { delete m.sync.plan }],
      ['an unspecified strategy', 'sync.plan.strategy', m => { m.sync.plan.strategy = WirePlan.Strategy.STRATEGY_UNSPECIFIED }],
      ['an unspecified offerer role', 'sync.plan.offererRole', m => { m.sync.plan.offererRole = WirePlan.Role.ROLE_UNSPECIFIED }],
      ['an unspecified answerer role', 'sync.plan.answererRole', m => { m.sync.plan.answererRole = WirePlan.Role.ROLE_UNSPECIFIED }],
      ['a budget below 1 s', 'sync.plan.budgetMs', m => { m.sync.plan.budgetMs = 999 }],
      ['a budget above 60 s', 'sync.plan.budgetMs', m => { m.sync.plan.budgetMs = 60_001 }],
      ['more than 256 offerer sockets', 'sync.plan.offererExtraSockets', m => { m.sync.plan.offererExtraSockets = 257 }],
      ['more than 256 answerer sockets', 'sync.plan.answererExtraSockets', m => { m.sync.plan.answererExtraSockets = 257 }],
      ['a window above 256', 'sync.plan.window', m => { m.sync.plan.window = 257 }],
      ['more than 8192 random ports', 'sync.plan.randomPorts', m => { m.sync.plan.randomPorts = 8193 }],
      ['LAN candidates without race_lan', 'sync.lanCandidates', m => { m.sync.plan.raceLan = false; m.sync.lanCandidates = [{ ip: Uint8Array.from([192, 168, 1, 2]), port: 4000, kind: WireCandidate.Kind.LAN }] }],
      ['a LAN candidate of another kind', 'sync.lanCandidates[0].kind', m => { m.sync.plan.raceLan = true; m.sync.lanCandidates = [{ ip: Uint8Array.from([192, 168, 1, 2]), port: 4000, kind: WireCandidate.Kind.PUBLIC }] }]
    ]

    for (const [what, field, change] of rules) {
      it(`rejects ${what}`, () => {
        expect(rejection(mutate(wireSync(), change))).to.deep.equal({ name: 'InvalidCoordinationMessageError', field })
      })
    }

    it('must name the session of the stream', () => {
      expect(() => checkSession(SESSION, new Uint8Array(8), 'sync.sessionId')).to.throw().with.property('field', 'sync.sessionId')
      expect(() => checkSession(SESSION, Uint8Array.from(SESSION))).to.not.throw()
    })
  })

  describe('ABORT rules', () => {
    const rules: Array<[string, string, (m: any) => void]> = [
      ['a session id that is not 8 bytes', 'abort.sessionId', m => { m.abort.sessionId = new Uint8Array(3) }],
      ['an unspecified reason', 'abort.reason', m => { m.abort.reason = Abort.Reason.REASON_UNSPECIFIED }],
      ['a message over 256 UTF-8 bytes', 'abort.message', m => { m.abort.message = 'é'.repeat(129) }]
    ]

    for (const [what, field, change] of rules) {
      it(`rejects ${what}`, () => {
        expect(rejection(mutate(toWire(abort, NOW), change))).to.deep.equal({ name: 'InvalidCoordinationMessageError', field })
      })
    }
  })

  describe('RESULT rules', () => {
    const success: CoordinationMessage = { type: 'result', result: { sessionId: SESSION, outcome: 'success', elapsedMs: 800, retryAfterMs: 0, nextOfferer: 'none' } }
    const rules: Array<[string, string, CoordinationMessage, (m: any) => void]> = [
      ['a session id that is not 8 bytes', 'result.sessionId', failed, m => { m.result.sessionId = new Uint8Array(1) }],
      ['an unspecified outcome', 'result.outcome', failed, m => { m.result.outcome = Result.Outcome.OUTCOME_UNSPECIFIED }],
      ['an elapsed time above 10 minutes', 'result.elapsedMs', failed, m => { m.result.elapsedMs = 600_001 }],
      ['a retry delay above a day', 'result.retryAfterMs', failed, m => { m.result.retryAfterMs = 86_400_001 }],
      ['a retry delay on success', 'result.retryAfterMs', success, m => { m.result.retryAfterMs = 5 }],
      ['a next offerer on success', 'result.nextOfferer', success, m => { m.result.nextOfferer = Result.NextOfferer.NEXT_OFFERER_SWAPPED }],
      ['a failure without a next offerer', 'result.nextOfferer', failed, m => { m.result.nextOfferer = Result.NextOfferer.NEXT_OFFERER_UNSPECIFIED }]
    ]

    for (const [what, field, base, change] of rules) {
      it(`rejects ${what}`, () => {
        expect(rejection(mutate(toWire(base, NOW), change))).to.deep.equal({ name: 'InvalidCoordinationMessageError', field })
      })
    }

    it('accepts a success', () => {
      expect(decodeCoordinationMessage(encodeCoordinationMessage(success, NOW), NOW)).to.deep.equal(success)
    })
  })
})
