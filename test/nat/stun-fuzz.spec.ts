import { expect } from 'aegir/chai'
import { StunDecodeError } from '../../src/errors.ts'
import { crc32 } from '../../src/nat/stun/crc32.ts'
import { decodeStunMessage, isStunMessage } from '../../src/nat/stun/decode.ts'
import { encodeStunMessage } from '../../src/nat/stun/encode.ts'
import { METHOD_BINDING } from '../../src/nat/stun/message.ts'
import type { StunAttributes, StunClass } from '../../src/nat/stun/message.ts'

const ITERATIONS = 100_000
const SEED = Number(process.env.STUN_FUZZ_SEED ?? 0x5eed)

/** mulberry32: a small seeded PRNG so a failure can be replayed */
function prng (seed: number): () => number {
  let a = seed >>> 0

  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)

    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('nat/stun codec fuzzing', function () {
  this.timeout(120_000)

  const random = prng(SEED)
  const int = (n: number): number => Math.floor(random() * n)
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256))
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]

  function randomAddress (): { host: string, port: number, family: 4 | 6 } {
    if (random() < 0.5) {
      return { host: `${int(256)}.${int(256)}.${int(256)}.${int(256)}`, port: int(65536), family: 4 }
    }

    const groups = Array.from({ length: 8 }, () => int(65536).toString(16))

    return { host: groups.join(':'), port: int(65536), family: 6 }
  }

  function validMessage (): Uint8Array {
    const attributes: StunAttributes = {}

    if (random() < 0.5) { attributes.xorMappedAddress = randomAddress() }
    if (random() < 0.3) { attributes.mappedAddress = randomAddress() }
    if (random() < 0.3) { attributes.otherAddress = randomAddress() }
    if (random() < 0.3) { attributes.responseOrigin = randomAddress() }
    if (random() < 0.3) { attributes.changeRequest = { changeIp: random() < 0.5, changePort: random() < 0.5 } }
    if (random() < 0.2) { attributes.errorCode = { code: 300 + int(400), reason: 'x'.repeat(int(40)) } }
    if (random() < 0.2) { attributes.unknownAttributes = Array.from({ length: int(5) }, () => int(65536)) }
    if (random() < 0.3) { attributes.software = 'sw'.repeat(int(30)) }
    if (random() < 0.3) { attributes.padding = int(64) }
    if (random() < 0.2) { attributes.responsePort = int(65536) }

    const extraAttributes = random() < 0.2 ? [{ type: int(65536), value: bytes(int(16)) }] : []

    return encodeStunMessage({
      method: random() < 0.9 ? METHOD_BINDING : int(0x1000),
      class: pick<StunClass>(['request', 'indication', 'success', 'error']),
      transactionId: bytes(12),
      attributes
    }, { fingerprint: random() < 0.8, extraAttributes })
  }

  function setLength (data: Uint8Array): Uint8Array {
    if (data.length >= 4) {
      const body = Math.max(0, data.length - 20)
      data[2] = (body >> 8) & 0xff
      data[3] = body & 0xff
    }

    return data
  }

  function refingerprint (data: Uint8Array): Uint8Array {
    // if the message ends in a FINGERPRINT attribute, make it valid again
    const n = data.length

    if (n >= 28 && data[n - 8] === 0x80 && data[n - 7] === 0x28) {
      const crc = (crc32(data.subarray(0, n - 8)) ^ 0x5354554e) >>> 0
      new DataView(data.buffer, data.byteOffset).setUint32(n - 4, crc)
    }

    return data
  }

  /** offsets of the attribute headers of a well-formed message */
  function attributeOffsets (data: Uint8Array): number[] {
    const offsets: number[] = []
    let offset = 20

    while (offset + 4 <= data.length) {
      offsets.push(offset)
      offset += 4 + ((((data[offset + 2] << 8) | data[offset + 3]) + 3) & ~3)
    }

    return offsets
  }

  const mutations: Record<string, (data: Uint8Array) => Uint8Array> = {
    'random bytes': () => bytes(int(120)),
    'random body behind a valid header': () => {
      const data = bytes(20 + int(30) * 4)
      data[0] &= 0x3f
      data.set([0x21, 0x12, 0xa4, 0x42], 4)

      return setLength(data)
    },
    'bit flips': (data) => {
      const copy = data.slice()

      for (let i = 1 + int(8); i > 0; i--) {
        copy[int(copy.length)] ^= 1 << int(8)
      }

      return copy
    },
    'bit flips, fingerprint fixed': (data) => refingerprint(mutations['bit flips'](data)),
    truncation: (data) => data.slice(0, int(data.length)),
    'truncation, length fixed': (data) => setLength(data.slice(0, 20 + int(Math.max(1, data.length - 20)))),
    'length field lies': (data) => {
      const copy = data.slice()
      const lie = random() < 0.5 ? int(65536) : ((copy[2] << 8) | copy[3]) + (int(9) - 4) * 4
      copy[2] = (lie >> 8) & 0xff
      copy[3] = lie & 0xff

      return copy
    },
    'attribute length lies': (data) => {
      const copy = data.slice()
      const offsets = attributeOffsets(copy)

      if (offsets.length > 0) {
        const at = pick(offsets)
        const current = (copy[at + 2] << 8) | copy[at + 3]
        const lie = random() < 0.5 ? int(65536) : Math.max(0, current + int(17) - 8)
        copy[at + 2] = (lie >> 8) & 0xff
        copy[at + 3] = lie & 0xff
      }

      return refingerprint(copy)
    },
    'attribute type swap': (data) => {
      const copy = data.slice()
      const offsets = attributeOffsets(copy)

      if (offsets.length > 0) {
        const at = pick(offsets)
        const type = pick([0x0001, 0x0003, 0x0009, 0x000a, 0x0020, 0x0026, 0x8022, 0x8028, 0x802b, 0x802c, int(65536)])
        copy[at] = type >> 8
        copy[at + 1] = type & 0xff
      }

      return refingerprint(copy)
    },
    'bytes appended, length fixed': (data) => {
      const copy = new Uint8Array(data.length + 4 * (1 + int(4)))
      copy.set(data)
      copy.set(bytes(copy.length - data.length), data.length)

      return setLength(copy)
    }
  }

  it(`decodes ${ITERATIONS.toLocaleString('en')} random and mutated messages to a result or a StunDecodeError, in bounded time`, () => {
    const names = Object.keys(mutations)
    const reasons = new Map<string, number>()
    let decoded = 0
    let slowest = 0
    const started = performance.now()

    for (let i = 0; i < ITERATIONS; i++) {
      const name = names[i % names.length]
      const input = mutations[name](validMessage())
      const t0 = performance.now()
      let result

      try {
        result = decodeStunMessage(input)
      } catch (err) {
        if (!(err instanceof StunDecodeError)) {
          throw new Error(`iteration ${i} (${name}, seed ${SEED}) threw ${String(err)} for ${Buffer.from(input).toString('hex')}`)
        }

        reasons.set(err.reason, (reasons.get(err.reason) ?? 0) + 1)
      }

      slowest = Math.max(slowest, performance.now() - t0)

      if (result != null) {
        decoded++
        // a decodable message always passes the demultiplexer's cheap check
        expect(isStunMessage(input), `iteration ${i}`).to.be.true()
        expect(result.transactionId).to.have.length(12)
        // nothing decoded can be larger than the input
        const text = (result.attributes.software ?? '').length + (result.attributes.errorCode?.reason.length ?? 0)
        expect(text).to.be.at.most(input.length)
        expect((result.attributes.unknownAttributes?.length ?? 0) * 2 + result.unknownRequired.length * 4).to.be.at.most(input.length)
        expect(result.attributes.padding ?? 0).to.be.at.most(input.length)
      }
    }

    const elapsed = performance.now() - started

    // the fuzzer must reach deep: valid results and many distinct rejection reasons
    expect(decoded, 'messages decoded').to.be.above(ITERATIONS / 20)
    expect([...reasons.keys()], 'rejection reasons seen').to.include.members([
      'too-short', 'not-stun', 'bad-magic-cookie', 'length-not-multiple-of-4', 'length-mismatch',
      'attribute-length-overflow', 'bad-fingerprint', 'bad-fingerprint-length', 'bad-address-family',
      'bad-address-length', 'bad-change-request-length', 'bad-error-code', 'bad-error-code-length',
      'bad-unknown-attributes-length'
    ])
    // linear time: 100k messages of at most a few hundred bytes
    expect(elapsed, 'total ms').to.be.below(60_000)
    expect(slowest, 'slowest single decode in ms').to.be.below(100)
  })

  it('never throws from isStunMessage, whatever the bytes', () => {
    for (let i = 0; i < 20_000; i++) {
      const data = i % 2 === 0 ? bytes(int(64)) : mutations['bit flips'](validMessage())
      expect(typeof isStunMessage(data)).to.equal('boolean')
    }
  })
})
