import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { HANDSHAKE_COOKIE_SIZE, HANDSHAKE_OPEN_SIZE } from '../../src/constants.ts'
import { decodeHandshake, encodeHandshake, HandshakeType, isHandshakeDatagram } from '../../src/transport/handshake-message.ts'

describe('handshake messages', () => {
  const nonce = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
  const cookie = Uint8Array.from({ length: HANDSHAKE_COOKIE_SIZE }, (_, i) => i + 1)

  it('round-trips OPEN (with and without cookie), ACCEPT, RESET and RETRY', () => {
    for (const message of [
      { type: HandshakeType.OPEN, nonce, streamId: 0xFFFFFFFF, echoedStreamId: 0 },
      { type: HandshakeType.OPEN, nonce, streamId: 3, echoedStreamId: 0, cookie },
      { type: HandshakeType.ACCEPT, nonce, streamId: 5, echoedStreamId: 6 },
      { type: HandshakeType.RESET, nonce, streamId: 0, echoedStreamId: 0 },
      { type: HandshakeType.RETRY, nonce, streamId: 0, echoedStreamId: 6, cookie }
    ]) {
      expect(decodeHandshake(encodeHandshake(message))).to.deep.equal(message)
    }
  })

  it('pads OPEN so that no answer is larger than the request (no amplification)', () => {
    const open = encodeHandshake({ type: HandshakeType.OPEN, nonce, streamId: 1, echoedStreamId: 0 })
    const accept = encodeHandshake({ type: HandshakeType.ACCEPT, nonce, streamId: 2, echoedStreamId: 1 })
    const retry = encodeHandshake({ type: HandshakeType.RETRY, nonce, streamId: 0, echoedStreamId: 1, cookie })
    const openWithCookie = encodeHandshake({ type: HandshakeType.OPEN, nonce, streamId: 1, echoedStreamId: 0, cookie })
    expect(open.byteLength).to.equal(HANDSHAKE_OPEN_SIZE)
    expect(openWithCookie.byteLength).to.equal(HANDSHAKE_OPEN_SIZE)
    expect(accept.byteLength).to.be.below(open.byteLength)
    expect(retry.byteLength).to.equal(40)
    expect(retry.byteLength).to.be.below(open.byteLength)
  })

  it('refuses to encode a RETRY without cookie or a cookie of the wrong size', () => {
    expect(() => encodeHandshake({ type: HandshakeType.RETRY, nonce, streamId: 0, echoedStreamId: 1 })).to.throw(/cookie/)
    expect(() => encodeHandshake({ type: HandshakeType.OPEN, nonce, streamId: 1, echoedStreamId: 0, cookie: cookie.subarray(1) })).to.throw(/cookie/)
    expect(() => encodeHandshake({ type: HandshakeType.ACCEPT, nonce, streamId: 1, echoedStreamId: 1, cookie })).to.throw(/cookie/)
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
    ['ACCEPT without echo', encodeHandshake({ type: HandshakeType.ACCEPT, nonce, streamId: 5, echoedStreamId: 0 }), /echo/],
    ['RETRY without echo', retryWith({ echo: 0 }), /echo/],
    ['RETRY with a stream id', retryWith({ streamId: 9 }), /stream id 0/],
    ['RETRY with an all-zero cookie', retryWith({ cookie: new Uint8Array(HANDSHAKE_COOKIE_SIZE) }), /cookie/],
    ['RETRY of OPEN size', Uint8Array.from([...retryWith({}), ...new Uint8Array(24)]), /must be 40 bytes/]
  ]

  function retryWith (fields: { echo?: number, streamId?: number, cookie?: Uint8Array }): Uint8Array {
    const bytes = encodeHandshake({ type: HandshakeType.RETRY, nonce, streamId: 0, echoedStreamId: 1, cookie })
    const view = new DataView(bytes.buffer)
    if (fields.echo != null) { view.setUint32(16, fields.echo) }
    if (fields.streamId != null) { view.setUint32(12, fields.streamId) }
    if (fields.cookie != null) { bytes.set(fields.cookie, 20) }
    return bytes
  }

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
