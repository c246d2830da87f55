import { expect } from 'aegir/chai'
import { PATH_MAX_MIGRATIONS_PER_MINUTE, PATH_MAX_OUTSTANDING, PATH_SEND_BURST } from '../../src/constants.ts'
import { decodePathMessage, encodePathMessage, PathMessageType } from '../../src/transport/path-message.ts'
import { PathValidator } from '../../src/transport/path-validator.ts'
import type { PathAction, PathAddress } from '../../src/transport/path-validator.ts'

const KEY = Uint8Array.from({ length: 32 }, (_, i) => 100 + i)
const A_ID = 1111
const B_ID = 2222
/** a behind a NAT: b sees it at A_OLD, later at A_NEW */
const A_OLD = { host: '198.51.100.7', port: 40000 }
const A_NEW = { host: '198.51.100.7', port: 45001 }
const B_ADDR = { host: '203.0.113.10', port: 4001 }
const INTERVAL = 1_000

function sends (actions: PathAction[]): Array<Extract<PathAction, { type: 'send' }>> {
  return actions.filter((a): a is Extract<PathAction, { type: 'send' }> => a.type === 'send')
}

function types (actions: PathAction[]): string[] {
  return actions.map(a => {
    if (a.type === 'send') {
      return `send ${a.kind}`
    }
    return a.type === 'drop' ? `drop ${a.reason}` : a.type
  })
}

describe('path validator', () => {
  let now: number
  let counter: number
  let a: PathValidator
  let b: PathValidator

  function validator (initiator: boolean, remote: PathAddress): PathValidator {
    return new PathValidator({
      key: KEY,
      localStreamId: initiator ? A_ID : B_ID,
      remoteStreamId: initiator ? B_ID : A_ID,
      initiator,
      remote,
      challengeIntervalMs: INTERVAL,
      now: () => now,
      // deterministic nonces
      randomBytes: (length) => Uint8Array.from({ length }, () => counter++ & 0xFF)
    })
  }

  /** deliver a datagram the other side produced */
  function deliver (to: PathValidator, datagram: Uint8Array, from: PathAddress): PathAction[] {
    return to.receive(datagram, decodePathMessage(datagram), from)
  }

  beforeEach(() => {
    now = 0
    counter = 0
    a = validator(true, B_ADDR)
    b = validator(false, A_OLD)
  })

  it('challenges the current address once per interval, twice while quiet', () => {
    expect(a.tick(false)).to.be.empty()
    now = 999
    expect(a.tick(false)).to.be.empty()
    now = 1_000
    const [challenge] = sends(a.tick(false))
    expect(challenge).to.deep.include({ kind: 'challenge', to: B_ADDR })
    expect(decodePathMessage(challenge.datagram)).to.deep.include({ type: PathMessageType.CHALLENGE, receiverStreamId: B_ID, senderStreamId: A_ID, senderInitiator: true, seq: 1 })
    now = 1_500
    expect(a.tick(false)).to.be.empty()
    expect(sends(a.tick(true))).to.have.lengthOf(1)
    now = 2_000
    expect(sends(a.tick(true))).to.have.lengthOf(1)
  })

  it('answers a challenge from the current address and takes the answer as a sign of life', () => {
    now = 1_000
    const [challenge] = sends(a.tick(false))
    const answered = deliver(b, challenge.datagram, A_OLD)
    expect(types(answered)).to.deep.equal(['send response', 'heard'])
    const [response] = sends(answered)
    expect(response.to).to.deep.equal(A_OLD)
    expect(response.datagram.byteLength).to.equal(challenge.datagram.byteLength)
    expect(types(deliver(a, response.datagram, B_ADDR))).to.deep.equal(['heard'])
    expect(a.outstandingCount).to.equal(0)
  })

  it('validates the new address of a challenge and migrates when it answers', () => {
    now = 1_000
    const [challenge] = sends(a.tick(false))

    // a's NAT moved it: the challenge arrives from A_NEW
    const atB = deliver(b, challenge.datagram, A_NEW)
    expect(types(atB)).to.deep.equal(['send response', 'send validation'])
    const [response, validation] = sends(atB)
    expect(response.to).to.deep.equal(A_NEW)
    expect(validation.to).to.deep.equal(A_NEW)
    // not moved yet: only an answer from A_NEW moves b
    expect(b.remote).to.deep.equal(A_OLD)

    expect(types(deliver(a, response.datagram, B_ADDR))).to.deep.equal(['heard'])
    const atA = deliver(a, validation.datagram, B_ADDR)
    expect(types(atA)).to.deep.equal(['send response', 'heard'])

    const moved = deliver(b, sends(atA)[0].datagram, A_NEW)
    expect(moved).to.deep.equal([{ type: 'heard' }, { type: 'migrate', from: A_OLD, to: A_NEW }])
    expect(b.remote).to.deep.equal(A_NEW)
  })

  it('validates a new address at most twice per interval, however many challenges come from it', () => {
    const kinds: string[] = []

    for (let i = 1; i <= 10; i++) {
      now = i * 100
      kinds.push(...types(deliver(b, challengeFromA(i), A_NEW)))
    }

    expect(kinds.filter(k => k === 'send validation')).to.have.lengthOf(2)
  })

  it('drops a replayed challenge and a response nobody asked for', () => {
    const challenge = challengeFromA(5)
    expect(types(deliver(b, challenge, A_OLD))).to.deep.equal(['send response', 'heard'])
    expect(types(deliver(b, challenge, A_OLD))).to.deep.equal(['drop path-replay'])
    expect(types(deliver(b, challengeFromA(5 + 64), A_OLD))).to.deep.equal(['send response', 'heard'])
    expect(types(deliver(b, challengeFromA(4), A_OLD))).to.deep.equal(['drop path-too-old'])

    const unasked = encodePathMessage({ type: PathMessageType.RESPONSE, senderInitiator: true, receiverStreamId: B_ID, senderStreamId: A_ID, seq: 1, nonce: new Uint8Array(8) }, KEY)
    expect(types(deliver(b, unasked, A_OLD))).to.deep.equal(['drop path-unexpected-response'])
  })

  it('takes a response once', () => {
    now = 1_000
    const [challenge] = sends(a.tick(false))
    const [response] = sends(deliver(b, challenge.datagram, A_OLD))
    expect(types(deliver(a, response.datagram, B_ADDR))).to.deep.equal(['heard'])
    expect(types(deliver(a, response.datagram, B_ADDR))).to.deep.equal(['drop path-unexpected-response'])
  })

  it('drops datagrams of another connection, of its own role, or with a bad MAC before any other work', () => {
    const foreign = encodePathMessage({ type: PathMessageType.CHALLENGE, senderInitiator: true, receiverStreamId: B_ID, senderStreamId: 9, seq: 1, nonce: new Uint8Array(8) }, KEY)
    const reflected = encodePathMessage({ type: PathMessageType.CHALLENGE, senderInitiator: false, receiverStreamId: B_ID, senderStreamId: A_ID, seq: 1, nonce: new Uint8Array(8) }, KEY)
    const forged = encodePathMessage({ type: PathMessageType.CHALLENGE, senderInitiator: true, receiverStreamId: B_ID, senderStreamId: A_ID, seq: 1, nonce: new Uint8Array(8) }, new Uint8Array(32))

    expect(types(deliver(b, foreign, A_OLD))).to.deep.equal(['drop path-wrong-sender'])
    expect(types(deliver(b, reflected, A_OLD))).to.deep.equal(['drop path-wrong-sender'])
    expect(types(deliver(b, forged, A_NEW))).to.deep.equal(['drop path-bad-mac'])
    // none of them used up a number: the genuine challenge 1 is still fresh
    expect(types(deliver(b, challengeFromA(1), A_OLD))).to.deep.equal(['send response', 'heard'])
  })

  it('sends at most its burst, then its rate, whatever the peer sends', () => {
    let sent = 0
    let limited = 0

    // 100 fresh challenges within one second
    for (let i = 1; i <= 100; i++) {
      now = i * 10
      for (const action of deliver(b, challengeFromA(i), A_OLD)) {
        if (action.type === 'send') {
          sent++
        }
        if (action.type === 'drop' && action.reason === 'path-send-limited') {
          limited++
        }
      }
    }

    expect(sent).to.be.at.most(PATH_SEND_BURST + 8)
    expect(limited).to.equal(100 - sent)
  })

  it('migrates at most PATH_MAX_MIGRATIONS_PER_MINUTE times a minute', () => {
    let migrations = 0
    let limited = 0
    let seq = 1

    // the peer flaps between two addresses, both of which answer, for 8 s
    for (let round = 0; round < 20; round++) {
      now += 400
      const from = round % 2 === 0 ? A_NEW : A_OLD
      const [, validation] = sends(deliver(b, challengeFromA(seq++), from))

      if (validation == null) {
        // from the address b stayed on (a migration was refused)
        continue
      }

      const answer = sends(deliver(a, validation.datagram, B_ADDR))[0]
      for (const action of deliver(b, answer.datagram, from)) {
        if (action.type === 'migrate') {
          migrations++
        }
        if (action.type === 'drop' && action.reason === 'path-migration-limited') {
          limited++
        }
      }
    }

    expect(migrations).to.equal(PATH_MAX_MIGRATIONS_PER_MINUTE)
    expect(limited).to.be.above(0)
    // a minute later it may move again
    now += 60_000
    const [, validation] = sends(deliver(b, challengeFromA(seq++), b.remote.port === A_NEW.port ? A_OLD : A_NEW))
    const answer = sends(deliver(a, validation.datagram, B_ADDR))[0]
    expect(types(deliver(b, answer.datagram, A_NEW))).to.include('migrate')
  })

  it('keeps at most PATH_MAX_OUTSTANDING challenges, and forgets them after their lifetime', () => {
    for (let i = 1; i <= 20; i++) {
      now = i * INTERVAL / 2
      a.tick(true)
    }
    expect(a.outstandingCount).to.be.at.most(PATH_MAX_OUTSTANDING)

    now += 10 * INTERVAL
    a.tick(false)
    // the one just sent is all that is left
    expect(a.outstandingCount).to.equal(1)
  })

  it('ignores the late answer to a liveness challenge sent to the address it left', () => {
    now = 1_000
    const [toOld] = sends(b.tick(false)) // b challenges A_OLD
    // b migrates to A_NEW
    const [, validation] = sends(deliver(b, challengeFromA(1), A_NEW))
    const answer = sends(deliver(a, validation.datagram, B_ADDR))[0]
    expect(types(deliver(b, answer.datagram, A_NEW))).to.deep.equal(['heard', 'migrate'])

    // a finally answers the challenge b sent to A_OLD
    const late = sends(deliver(a, toOld.datagram, B_ADDR))[0]
    expect(types(deliver(b, late.datagram, A_NEW))).to.deep.equal(['drop path-stale-response'])
    expect(b.remote).to.deep.equal(A_NEW)
  })

  /** a challenge with number `seq` as a would send it */
  function challengeFromA (seq: number): Uint8Array {
    return encodePathMessage({ type: PathMessageType.CHALLENGE, senderInitiator: true, receiverStreamId: B_ID, senderStreamId: A_ID, seq, nonce: Uint8Array.from([seq & 0xFF, 1, 2, 3, 4, 5, 6, 7]) }, KEY)
  }
})
