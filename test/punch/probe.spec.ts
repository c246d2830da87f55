import { expect } from 'aegir/chai'
import { PROBE_MAGIC, PROBE_SIZE } from '../../src/constants.ts'
import { ackFor, decodeProbe, elapsedSince, encodeProbe, isProbeDatagram, parseProbe, probeTimestamp } from '../../src/punch/probe.ts'
import { seeded } from './fixtures.ts'
import type { ProbeDatagram } from '../../src/punch/probe.ts'

const SESSION = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1)
const PROBE: ProbeDatagram = { type: 'probe', sender: 'initiator', sessionId: SESSION, seq: 42, timestamp: 123456 }
const FROM_INITIATOR = { sessionId: SESSION, secret: SECRET, sender: 'initiator' as const }

function errorName (fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err: any) {
    return err.name
  }
}

describe('probe datagrams', () => {
  it('round-trip every type and sender', () => {
    for (const type of ['probe', 'ack', 'keepalive', 'abort', 'select'] as const) {
      for (const sender of ['initiator', 'responder'] as const) {
        const p = { ...PROBE, type, sender, seq: 0xFFFFFFFF, timestamp: 0 }

        expect(decodeProbe(encodeProbe(p, SECRET), { ...FROM_INITIATOR, sender })).to.deep.equal(p)
      }
    }
  })

  it('have a fixed size and layout: magic, version, type, sender, session id, seq, timestamp, tag', () => {
    const bytes = encodeProbe(PROBE, SECRET)

    expect(bytes.byteLength).to.equal(PROBE_SIZE)
    expect(Array.from(bytes.subarray(0, 4))).to.deep.equal([0xA7, 0x01, 0x01, 0x00])
    expect(Array.from(bytes.subarray(4, 12))).to.deep.equal(Array.from(SESSION))
    expect(Array.from(bytes.subarray(12, 16))).to.deep.equal([0, 0, 0, 42])
    expect(Array.from(bytes.subarray(16, 20))).to.deep.equal([0x00, 0x01, 0xE2, 0x40])
  })

  it('can never be mistaken for UDX or STUN', () => {
    const bytes = encodeProbe(PROBE, SECRET)

    expect(bytes[0]).to.not.equal(0xFF) // UDX: FF 01
    expect(bytes[0] & 0xC0).to.not.equal(0) // STUN: first two bits 00
  })

  it('are recognised cheaply by the demultiplexer, which rejects UDX, STUN and short datagrams', () => {
    expect(isProbeDatagram(encodeProbe(PROBE, SECRET))).to.equal(true)
    expect(isProbeDatagram(Uint8Array.from([0xFF, 0x01, ...new Array(34).fill(0)]))).to.equal(false)
    const stun = new Uint8Array(36)
    stun.set([0x00, 0x01, 0x00, 0x10, 0x21, 0x12, 0xA4, 0x42])
    expect(isProbeDatagram(stun)).to.equal(false)
    expect(isProbeDatagram(Uint8Array.from([PROBE_MAGIC, 1]))).to.equal(false)
  })

  it('verify only with the right secret', () => {
    const other = Uint8Array.from(SECRET, b => b ^ 1)

    expect(errorName(() => decodeProbe(encodeProbe(PROBE, SECRET), { ...FROM_INITIATOR, secret: other }))).to.equal('ProbeAuthenticationError')
  })

  it('of another session fail authentication', () => {
    const bytes = encodeProbe({ ...PROBE, sessionId: Uint8Array.from([9, 9, 9, 9, 9, 9, 9, 9]) }, SECRET)

    expect(() => decodeProbe(bytes, FROM_INITIATOR)).to.throw().with.property('reason', 'session')
  })

  it('reflected back to their sender fail authentication', () => {
    const ours = encodeProbe(PROBE, SECRET)

    // we are the initiator and expect the responder's probes
    expect(() => decodeProbe(ours, { ...FROM_INITIATOR, sender: 'responder' })).to.throw().with.property('reason', 'sender')
  })

  it('name the broken rule when malformed', () => {
    const good = encodeProbe(PROBE, SECRET)
    const cases: Array<[string, Uint8Array]> = [
      ['size', good.subarray(0, 35)],
      ['size', Uint8Array.from([...good, 0])],
      ['magic', Uint8Array.from(good, (b, i) => i === 0 ? 0xA6 : b)],
      ['version', Uint8Array.from(good, (b, i) => i === 1 ? 2 : b)],
      ['type', Uint8Array.from(good, (b, i) => i === 2 ? 0 : b)],
      ['type', Uint8Array.from(good, (b, i) => i === 2 ? 6 : b)],
      ['sender', Uint8Array.from(good, (b, i) => i === 3 ? 2 : b)]
    ]

    for (const [reason, bytes] of cases) {
      expect(() => parseProbe(bytes), reason).to.throw().with.property('reason', reason)
    }
  })

  it('refuse to encode with a wrong-size secret or session id, or out-of-range numbers', () => {
    expect(errorName(() => encodeProbe(PROBE, new Uint8Array(16)))).to.equal('InvalidProbeError')
    expect(errorName(() => encodeProbe({ ...PROBE, sessionId: new Uint8Array(7) }, SECRET))).to.equal('InvalidProbeError')
    expect(errorName(() => encodeProbe({ ...PROBE, seq: 2 ** 32 }, SECRET))).to.equal('InvalidProbeError')
    expect(errorName(() => encodeProbe({ ...PROBE, timestamp: -1 }, SECRET))).to.equal('InvalidProbeError')
  })

  it('decode from a view into a larger buffer', () => {
    const bytes = encodeProbe(PROBE, SECRET)
    const big = new Uint8Array(100)
    big.set(bytes, 10)

    expect(decodeProbe(big.subarray(10, 46), FROM_INITIATOR)).to.deep.equal(PROBE)
  })

  it('ack a probe by echoing its sequence and timestamp, so the prober measures the direct RTT across clock wrap', () => {
    const ack = ackFor(PROBE, 'responder')
    const sentAt = 2 ** 32 - 10

    expect(ack).to.deep.include({ type: 'ack', sender: 'responder', seq: 42, timestamp: 123456 })
    expect(elapsedSince(probeTimestamp(sentAt), 2 ** 32 + 25)).to.equal(35)
  })

  describe('fuzzing', () => {
    const N = 10_000

    it(`rejects ${N} random datagrams with a named error, never anything else`, () => {
      const random = seeded(0xC0FFEE)
      const names = new Map<string, number>()

      for (let i = 0; i < N; i++) {
        // half of them start like a probe so the deeper checks run
        const len = i % 2 === 0 ? PROBE_SIZE : Math.floor(random() * 80)
        const bytes = Uint8Array.from({ length: len }, () => Math.floor(random() * 256))

        if (i % 2 === 0) {
          // a valid header, and for half of these our session id, so the MAC check runs
          bytes[0] = PROBE_MAGIC
          bytes[1] = 1
          bytes[2] = 1 + Math.floor(random() * 5)
          bytes[3] = i % 8 === 0 ? 1 : 0

          if (i % 4 === 0) {
            bytes.set(SESSION, 4)
          }
        }

        let name = 'accepted'

        try {
          decodeProbe(bytes, FROM_INITIATOR)
        } catch (err: any) {
          name = `${err.name}:${err.reason}`
        }

        names.set(name, (names.get(name) ?? 0) + 1)
      }

      expect([...names.keys()].sort()).to.deep.equal([
        'InvalidProbeError:magic',
        'InvalidProbeError:size',
        'ProbeAuthenticationError:mac',
        'ProbeAuthenticationError:sender',
        'ProbeAuthenticationError:session'
      ])
    })

    it(`rejects ${N} mutations of a valid probe (bit flips, byte changes, truncation, extension)`, () => {
      const random = seeded(0xBEEF)
      const good = encodeProbe(PROBE, SECRET)
      let rejected = 0

      for (let i = 0; i < N; i++) {
        let bytes = Uint8Array.from(good)
        const what = i % 4

        if (what === 0) {
          const bit = Math.floor(random() * PROBE_SIZE * 8)
          bytes[bit >> 3] ^= 1 << (bit & 7)
        } else if (what === 1) {
          const at = Math.floor(random() * PROBE_SIZE)
          bytes[at] = (bytes[at] + 1 + Math.floor(random() * 255)) & 0xFF
        } else if (what === 2) {
          bytes = bytes.subarray(0, Math.floor(random() * PROBE_SIZE))
        } else {
          bytes = Uint8Array.from([...bytes, ...Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 256))])
        }

        const name = errorName(() => decodeProbe(bytes, FROM_INITIATOR))

        expect(name, `mutation ${i}`).to.be.oneOf(['InvalidProbeError', 'ProbeAuthenticationError'])
        rejected++
      }

      expect(rejected).to.equal(N)
      // and the original still verifies
      expect(decodeProbe(good, FROM_INITIATOR)).to.deep.equal(PROBE)
    })
  })
})
