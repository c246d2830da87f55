import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { DATAGRAM_MAGIC_HANDSHAKE, PATH_DATAGRAM_SIZE, PROBE_MAGIC, UDX_HEADER_MAGIC } from '../../src/constants.ts'
import { decodePathMessage, encodePathMessage, isPathDatagram, PathMessageType, verifyPathDatagram } from '../../src/transport/path-message.ts'
import type { PathMessage } from '../../src/transport/path-message.ts'

describe('path datagrams', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i)
  const nonce = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
  const challenge: PathMessage = {
    type: PathMessageType.CHALLENGE,
    senderInitiator: true,
    receiverStreamId: 0xDEADBEEF,
    senderStreamId: 7,
    seq: 1,
    nonce
  }

  it('round-trips a challenge and a response of either role', () => {
    for (const message of [
      challenge,
      { ...challenge, senderInitiator: false, seq: 0xFFFFFFFF },
      { ...challenge, type: PathMessageType.RESPONSE, receiverStreamId: 7, senderStreamId: 0xDEADBEEF }
    ]) {
      const data = encodePathMessage(message, key)
      expect(decodePathMessage(data)).to.deep.equal(message)
      expect(verifyPathDatagram(data, key)).to.be.true()
    }
  })

  it('lays the fields out byte by byte as docs/PROTOCOL.md says', () => {
    const data = encodePathMessage({ ...challenge, seq: 0x01020304 }, key)
    expect(data.byteLength).to.equal(40)
    expect([...data.subarray(0, 24)]).to.deep.equal([
      0xA8, 1, 1, 0,
      0xDE, 0xAD, 0xBE, 0xEF,
      0, 0, 0, 7,
      1, 2, 3, 4,
      1, 2, 3, 4, 5, 6, 7, 8
    ])
  })

  it('makes a response exactly as large as its challenge (no amplification)', () => {
    const response = encodePathMessage({ ...challenge, type: PathMessageType.RESPONSE }, key)
    expect(response.byteLength).to.equal(encodePathMessage(challenge, key).byteLength)
    expect(response.byteLength).to.equal(PATH_DATAGRAM_SIZE)
  })

  it('fails verification under another key and after any bit flip', () => {
    const data = encodePathMessage(challenge, key)
    expect(verifyPathDatagram(data, randomBytes(32))).to.be.false()

    for (let byte = 0; byte < data.byteLength; byte++) {
      const flipped = data.slice()
      flipped[byte] ^= 0x01
      expect(verifyPathDatagram(flipped, key), `bit flip in byte ${byte}`).to.be.false()
    }
  })

  it('is told apart from UDX packets, STUN, the handshake and punch probes by its first byte', () => {
    const data = encodePathMessage(challenge, key)
    expect(isPathDatagram(data)).to.be.true()
    // STUN: first two bits 00
    expect(data[0] & 0xC0).to.not.equal(0)

    for (const other of [UDX_HEADER_MAGIC, DATAGRAM_MAGIC_HANDSHAKE, PROBE_MAGIC, 0x00, 0x01]) {
      expect(isPathDatagram(Uint8Array.from([other, 1]))).to.be.false()
    }
  })

  const malformed: Array<[string, (data: Uint8Array) => Uint8Array, RegExp]> = [
    ['too short', data => data.subarray(0, 39), /40 bytes/],
    ['too long', data => Uint8Array.from([...data, 0]), /40 bytes/],
    ['wrong magic', data => { data[0] = 0xA7; return data }, /not a path datagram/],
    ['unknown version', data => { data[1] = 2; return data }, /version/],
    ['unknown type', data => { data[2] = 3; return data }, /type/],
    ['type zero', data => { data[2] = 0; return data }, /type/],
    ['unknown role', data => { data[3] = 2; return data }, /role/]
  ]

  for (const [title, mangle, message] of malformed) {
    it(`rejects a datagram with ${title} with InvalidPathDatagramError`, () => {
      const data = mangle(encodePathMessage(challenge, key))
      expect(() => decodePathMessage(data)).to.throw(message).with.property('name', 'InvalidPathDatagramError')
    })
  }

  it('never throws anything but InvalidPathDatagramError on 20,000 random inputs', () => {
    for (let i = 0; i < 20_000; i++) {
      const data = randomBytes(i % 3 === 0 ? 40 : i % 64)
      data[0] = 0xA8
      try {
        decodePathMessage(data)
      } catch (err: any) {
        expect(err.name).to.equal('InvalidPathDatagramError')
      }
      expect(verifyPathDatagram(data, key)).to.be.false()
    }
  })

  it('refuses to encode a nonce of the wrong size', () => {
    expect(() => encodePathMessage({ ...challenge, nonce: nonce.subarray(1) }, key)).to.throw(/nonce/)
  })
})
