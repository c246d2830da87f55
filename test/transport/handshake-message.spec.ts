import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { HANDSHAKE_OPEN_SIZE } from '../../src/constants.ts'
import { decodeHandshake, encodeHandshake, HandshakeType, isHandshakeDatagram } from '../../src/transport/handshake-message.ts'

describe('handshake messages', () => {
  const nonce = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])

  it('round-trips OPEN, ACCEPT and RESET', () => {
    for (const message of [
      { type: HandshakeType.OPEN, nonce, streamId: 0xFFFFFFFF, echoedStreamId: 0 },
      { type: HandshakeType.ACCEPT, nonce, streamId: 5, echoedStreamId: 6 },
      { type: HandshakeType.RESET, nonce, streamId: 0, echoedStreamId: 0 }
    ]) {
      expect(decodeHandshake(encodeHandshake(message))).to.deep.equal(message)
    }
  })

  it('pads OPEN so that no answer is larger than the request (no amplification)', () => {
    const open = encodeHandshake({ type: HandshakeType.OPEN, nonce, streamId: 1, echoedStreamId: 0 })
    const accept = encodeHandshake({ type: HandshakeType.ACCEPT, nonce, streamId: 2, echoedStreamId: 1 })
    expect(open.byteLength).to.equal(HANDSHAKE_OPEN_SIZE)
    expect(accept.byteLength).to.be.below(open.byteLength)
  })

  it('is told apart from UDX packets and STUN messages by its first byte', () => {
    expect(isHandshakeDatagram(encodeHandshake({ type: HandshakeType.RESET, nonce, streamId: 0, echoedStreamId: 0 }))).to.be.true()
    expect(isHandshakeDatagram(Uint8Array.from([0xFF, 0x01]))).to.be.false()
    expect(isHandshakeDatagram(Uint8Array.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]))).to.be.false()
    expect(isHandshakeDatagram(new Uint8Array(0))).to.be.false()
  })

  const valid = encodeHandshake({ type: HandshakeType.ACCEPT, nonce, streamId: 5, echoedStreamId: 6 })
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['too short', valid.subarray(0, 19), /too short/],
    ['wrong magic', Uint8Array.from([0xA7, ...valid.subarray(1)]), /not a handshake/],
    ['unknown version', Uint8Array.from([0xA6, 9, ...valid.subarray(2)]), /version/],
    ['unknown type', Uint8Array.from([0xA6, 1, 7, ...valid.subarray(3)]), /unknown handshake type/],
    ['wrong length', Uint8Array.from([...valid, 0]), /must be 20 bytes/],
    ['reserved byte set', Uint8Array.from([0xA6, 1, 2, 1, ...valid.subarray(4)]), /reserved/],
    ['zero stream id', encodeHandshake({ type: HandshakeType.ACCEPT, nonce, streamId: 0, echoedStreamId: 6 }), /stream id must not be 0/],
    ['ACCEPT without echo', encodeHandshake({ type: HandshakeType.ACCEPT, nonce, streamId: 5, echoedStreamId: 0 }), /echo/]
  ]

  for (const [name, bytes, error] of cases) {
    it(`rejects a datagram with ${name} with a named error`, () => {
      expect(() => decodeHandshake(bytes)).to.throw(error).with.property('name', 'InvalidHandshakeMessageError')
    })
  }

  it('never throws anything but InvalidHandshakeMessageError on 20,000 random inputs', () => {
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(i % 80)
      if (i % 2 === 0 && bytes.byteLength > 0) {
        bytes[0] = 0xA6
      }
      try {
        decodeHandshake(bytes)
      } catch (err: any) {
        expect(err.name).to.equal('InvalidHandshakeMessageError')
      }
    }
  })
})
