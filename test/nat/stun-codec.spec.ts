import { expect } from 'aegir/chai'
import { StunDecodeError, StunEncodeError } from '../../src/errors.ts'
import { ATTR_RESPONSE_PORT, RESPONSE_PORT_REQUEST_BYTES, encodeResponsePortRequest } from '../../src/nat/port-mapping/response-port-request.ts'
import { crc32 } from '../../src/nat/stun/crc32.ts'
import { decodeStunMessage, isStunMessage, peekStunClass } from '../../src/nat/stun/decode.ts'
import { encodeStunMessage } from '../../src/nat/stun/encode.ts'
import { ATTR, METHOD_BINDING, classOf, messageType, methodOf } from '../../src/nat/stun/message.ts'
import { createTransactionId } from '../../src/nat/stun/transaction-id.ts'
import type { StunAttributes, StunClass } from '../../src/nat/stun/message.ts'

function hex (s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '')

  return Uint8Array.from(clean.match(/../g) ?? [], b => parseInt(b, 16))
}

// RFC 5769 section 2.2 and 2.3 sample responses (test vectors from the RFC)
const RFC5769_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`)
const RFC5769_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`)

function binding (cls: StunClass, attributes: StunAttributes): Uint8Array {
  return encodeStunMessage({ method: METHOD_BINDING, class: cls, transactionId: createTransactionId(), attributes })
}

function expectDecodeError (bytes: Uint8Array, reason: string): void {
  let error: unknown

  try {
    decodeStunMessage(bytes)
  } catch (err) {
    error = err
  }

  expect(error).to.be.an.instanceOf(StunDecodeError)
  expect((error as StunDecodeError).name).to.equal('StunDecodeError')
  expect((error as StunDecodeError).reason).to.equal(reason)
}

describe('nat/stun codec', () => {
  describe('message type', () => {
    it('encodes the Binding method in the four classes as RFC 8489 lists them', () => {
      expect(messageType(METHOD_BINDING, 'request')).to.equal(0x0001)
      expect(messageType(METHOD_BINDING, 'indication')).to.equal(0x0011)
      expect(messageType(METHOD_BINDING, 'success')).to.equal(0x0101)
      expect(messageType(METHOD_BINDING, 'error')).to.equal(0x0111)
    })

    it('splits any 12-bit method back out of the type', () => {
      for (const method of [0x001, 0x003, 0x00f, 0x010, 0x07f, 0x080, 0xfff]) {
        for (const cls of ['request', 'indication', 'success', 'error'] as const) {
          const type = messageType(method, cls)
          expect(methodOf(type)).to.equal(method)
          expect(classOf(type)).to.equal(cls)
        }
      }
    })
  })

  describe('RFC 5769 test vectors', () => {
    it('computes the CRC-32 of "123456789" as 0xCBF43926', () => {
      expect(crc32(new TextEncoder().encode('123456789'))).to.equal(0xCBF43926)
    })

    it('decodes the sample IPv4 response: 192.0.2.1:32853, a valid fingerprint, SOFTWARE', () => {
      const message = decodeStunMessage(RFC5769_IPV4_RESPONSE)
      expect(message.class).to.equal('success')
      expect(message.method).to.equal(METHOD_BINDING)
      expect(message.fingerprint).to.be.true()
      expect(message.attributes.xorMappedAddress).to.deep.equal({ host: '192.0.2.1', port: 32853, family: 4 })
      expect(message.attributes.software).to.equal('test vector')
      // we do not do authentication: MESSAGE-INTEGRITY is reported as not understood
      expect(message.unknownRequired).to.deep.equal([ATTR.MESSAGE_INTEGRITY])
    })

    it('decodes the sample IPv6 response: [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
      const message = decodeStunMessage(RFC5769_IPV6_RESPONSE)
      expect(message.fingerprint).to.be.true()
      expect(message.attributes.xorMappedAddress).to.deep.equal({ host: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853, family: 6 })
    })

    it('reproduces the sample IPv6 XOR-MAPPED-ADDRESS bytes when encoding', () => {
      const transactionId = RFC5769_IPV6_RESPONSE.slice(8, 20)
      const bytes = encodeStunMessage({
        method: METHOD_BINDING,
        class: 'success',
        transactionId,
        attributes: { xorMappedAddress: { host: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853, family: 6 } }
      }, { fingerprint: false })
      expect(bytes.subarray(20)).to.deep.equal(RFC5769_IPV6_RESPONSE.subarray(36, 60))
    })
  })

  describe('round trips', () => {
    const cases: Array<[string, StunClass, StunAttributes]> = [
      ['an empty request', 'request', {}],
      ['a request with CHANGE-REQUEST (IP and port)', 'request', { changeRequest: { changeIp: true, changePort: true } }],
      ['a request with CHANGE-REQUEST (port only)', 'request', { changeRequest: { changeIp: false, changePort: true } }],
      ['a padded request with SOFTWARE', 'request', { software: 'libp2p-udp-holepunch', padding: 37 }],
      ['a request with RESPONSE-PORT and CHANGE-REQUEST', 'request', { responsePort: 40000, changeRequest: { changeIp: false, changePort: true } }],
      ['a request with the highest RESPONSE-PORT', 'request', { responsePort: 65535 }],
      ['an IPv4 success response with RFC 5780 attributes', 'success', {
        xorMappedAddress: { host: '203.0.113.7', port: 40000, family: 4 },
        mappedAddress: { host: '203.0.113.7', port: 40000, family: 4 },
        responseOrigin: { host: '198.51.100.1', port: 3478, family: 4 },
        otherAddress: { host: '198.51.100.2', port: 3479, family: 4 }
      }],
      ['an IPv6 success response', 'success', {
        xorMappedAddress: { host: '2001:db8::7', port: 1, family: 6 },
        otherAddress: { host: '2001:db8::2', port: 65535, family: 6 }
      }],
      ['an error response with UNKNOWN-ATTRIBUTES', 'error', {
        errorCode: { code: 420, reason: 'Unknown Attribute' },
        unknownAttributes: [0x0003, 0x7fff, 0x1234]
      }],
      ['an error response with a non-ASCII reason', 'error', { errorCode: { code: 699, reason: 'défaut ☃' } }]
    ]

    for (const [name, cls, attributes] of cases) {
      it(`decodes ${name} to what was encoded`, () => {
        const bytes = binding(cls, attributes)
        expect(isStunMessage(bytes)).to.be.true()
        expect(peekStunClass(bytes)).to.equal(cls)
        const decoded = decodeStunMessage(bytes)
        expect(decoded.class).to.equal(cls)
        expect(decoded.fingerprint).to.be.true()
        expect(decoded.attributes).to.deep.equal(attributes)
        expect(decoded.unknownRequired).to.deep.equal([])
      })
    }

    it('keeps the first of two attributes of the same type', () => {
      const transactionId = createTransactionId()
      const bytes = encodeStunMessage({ method: METHOD_BINDING, class: 'success', transactionId, attributes: { software: 'first' } }, {
        extraAttributes: [{ type: ATTR.SOFTWARE, value: new TextEncoder().encode('second') }]
      })
      expect(decodeStunMessage(bytes).attributes.software).to.equal('first')
    })

    it('lists unknown comprehension-required attributes and ignores unknown optional ones', () => {
      const bytes = encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes: {} }, {
        extraAttributes: [{ type: 0x7001, value: new Uint8Array(3) }, { type: 0xC001, value: new Uint8Array(5) }]
      })
      expect(decodeStunMessage(bytes).unknownRequired).to.deep.equal([0x7001])
    })

    it('decodes a message without FINGERPRINT and says so', () => {
      const bytes = encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes: {} }, { fingerprint: false })
      expect(bytes.length).to.equal(20)
      expect(decodeStunMessage(bytes).fingerprint).to.be.false()
    })
  })

  describe('isStunMessage', () => {
    it('accepts a valid message and rejects UDX packets, short data and length lies', () => {
      const valid = binding('request', {})
      expect(isStunMessage(valid)).to.be.true()

      const udx = new Uint8Array(20)
      udx[0] = 0xff
      udx[1] = 0x01
      expect(isStunMessage(udx)).to.be.false()
      expect(isStunMessage(valid.subarray(0, 19))).to.be.false()

      const lie = valid.slice()
      lie[3] += 4
      expect(isStunMessage(lie)).to.be.false()

      const odd = valid.slice()
      odd[3] += 1
      expect(isStunMessage(odd)).to.be.false()

      const cookie = valid.slice()
      cookie[5] ^= 1
      expect(isStunMessage(cookie)).to.be.false()
    })
  })

  describe('malformed input', () => {
    const request = (): Uint8Array => binding('request', { changeRequest: { changeIp: true, changePort: false } })

    it('rejects fewer than 20 bytes', () => { expectDecodeError(new Uint8Array(19), 'too-short') })

    it('rejects a first byte with the top bits set', () => {
      const bytes = request()
      bytes[0] |= 0x80
      expectDecodeError(bytes, 'not-stun')
    })

    it('rejects a wrong magic cookie', () => {
      const bytes = request()
      bytes[7] ^= 0xff
      expectDecodeError(bytes, 'bad-magic-cookie')
    })

    it('rejects a length that is not a multiple of 4', () => {
      const bytes = request()
      bytes[3] += 2
      expectDecodeError(bytes, 'length-not-multiple-of-4')
    })

    it('rejects a length that does not match the datagram', () => {
      const bytes = request()
      bytes[3] += 4
      expectDecodeError(bytes, 'length-mismatch')
    })

    it('rejects an attribute whose length runs past the end', () => {
      const bytes = request()
      bytes[22] = 0x01 // CHANGE-REQUEST length 0x0104
      expectDecodeError(bytes, 'attribute-length-overflow')
    })

    it('rejects a wrong CHANGE-REQUEST length', () => {
      const bytes = encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes: {} }, {
        extraAttributes: [{ type: ATTR.CHANGE_REQUEST, value: new Uint8Array(8) }]
      })
      expectDecodeError(bytes, 'bad-change-request-length')
    })

    it('rejects a RESPONSE-PORT that is neither the 4-byte value nor just the port', () => {
      for (const length of [0, 1, 3, 8]) {
        const bytes = encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes: {} }, {
          extraAttributes: [{ type: ATTR.RESPONSE_PORT, value: new Uint8Array(length).fill(0x9c) }]
        })
        expectDecodeError(bytes, 'bad-response-port-length')
      }
    })

    it('reads a RESPONSE-PORT sent as just the 2-byte port', () => {
      const bytes = encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes: {} }, {
        extraAttributes: [{ type: ATTR.RESPONSE_PORT, value: Uint8Array.of(0x9c, 0x40) }]
      })
      const decoded = decodeStunMessage(bytes)
      expect(decoded.attributes.responsePort).to.equal(40000)
      expect(decoded.unknownRequired).to.deep.equal([])
    })

    it('rejects a corrupted fingerprint', () => {
      const bytes = request()
      bytes[bytes.length - 1] ^= 1
      expectDecodeError(bytes, 'bad-fingerprint')
    })

    it('rejects a body changed after the fingerprint was computed', () => {
      const bytes = request()
      bytes[27] ^= 0x04 // flip the change-IP flag
      expectDecodeError(bytes, 'bad-fingerprint')
    })

    it('rejects an attribute after FINGERPRINT', () => {
      const body = encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes: {} }, { fingerprint: false })
      const bytes = new Uint8Array(body.length + 16)
      const view = new DataView(bytes.buffer)
      bytes.set(body)
      view.setUint16(2, bytes.length - 20)
      // a valid FINGERPRINT (computed with the final length), then SOFTWARE
      view.setUint32(body.length, 0x80280004)
      view.setUint32(body.length + 4, (crc32(bytes.subarray(0, body.length)) ^ 0x5354554e) >>> 0)
      bytes.set([0x80, 0x22, 0x00, 0x04, 0x61, 0x62, 0x63, 0x64], body.length + 8)
      expectDecodeError(bytes, 'attribute-after-fingerprint')
    })

    it('rejects an unknown address family', () => {
      const bytes = binding('success', { xorMappedAddress: { host: '192.0.2.1', port: 1, family: 4 } })
      bytes[25] = 0x03
      // the fingerprint no longer matches either; check the address first
      expectDecodeError(bytes.subarray(0, bytes.length - 8).map((b, i) => i === 3 ? b - 8 : b), 'bad-address-family')
    })

    it('rejects an IPv6 family with an IPv4-sized value', () => {
      const bytes = binding('success', { xorMappedAddress: { host: '192.0.2.1', port: 1, family: 4 } })
      bytes[25] = 0x02
      expectDecodeError(bytes.subarray(0, bytes.length - 8).map((b, i) => i === 3 ? b - 8 : b), 'bad-address-length')
    })

    it('rejects an error code outside 300..699', () => {
      const bytes = encodeStunMessage({ method: METHOD_BINDING, class: 'error', transactionId: createTransactionId(), attributes: {} }, {
        extraAttributes: [{ type: ATTR.ERROR_CODE, value: Uint8Array.of(0, 0, 2, 0) }]
      })
      expectDecodeError(bytes, 'bad-error-code')
    })
  })

  describe('encoder', () => {
    it('refuses a host that is not an IP address, with a named error', () => {
      expect(() => binding('success', { xorMappedAddress: { host: 'example.com', port: 1, family: 4 } }))
        .to.throw(StunEncodeError).with.property('name', 'StunEncodeError')
    })

    it('refuses an error code outside 300..699 and a SOFTWARE of 128 characters', () => {
      expect(() => binding('error', { errorCode: { code: 200, reason: '' } })).to.throw(StunEncodeError)
      expect(() => binding('request', { software: 'x'.repeat(128) })).to.throw(StunEncodeError)
    })

    it('writes RESPONSE-PORT as the port and 2 bytes of padding (RFC 5780 section 7.5), and refuses a port out of range', () => {
      const bytes = binding('request', { responsePort: 0x1234 })
      // header, then the attribute: type 0x0027, length 4, port, padding
      expect([...bytes.subarray(20, 28)]).to.deep.equal([0x00, 0x27, 0x00, 0x04, 0x12, 0x34, 0x00, 0x00])

      for (const responsePort of [-1, 65536, 1.5]) {
        expect(() => binding('request', { responsePort })).to.throw(StunEncodeError)
      }
    })

    it('decodes the port-mapping verifier\'s request: RESPONSE-PORT understood, CHANGE-REQUEST, SOFTWARE padding to 100 bytes, no PADDING', () => {
      const bytes = encodeResponsePortRequest({ transactionId: createTransactionId(), responsePort: 40000 })
      expect(bytes).to.have.length(RESPONSE_PORT_REQUEST_BYTES).and.to.have.length(100)
      const decoded = decodeStunMessage(bytes)
      expect(decoded.attributes.responsePort).to.equal(40000)
      expect(decoded.attributes.changeRequest).to.deep.equal({ changeIp: false, changePort: true })
      expect(decoded.attributes.padding).to.be.undefined()
      expect(decoded.attributes.software).to.be.a('string')
      expect(decoded.unknownRequired).to.deep.equal([])
      expect(ATTR.RESPONSE_PORT).to.equal(ATTR_RESPONSE_PORT)
    })

    it('refuses a transaction id that is not 12 bytes', () => {
      expect(() => encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: new Uint8Array(16), attributes: {} }))
        .to.throw(StunEncodeError)
    })

    it('makes 96-bit transaction ids that differ', () => {
      const a = createTransactionId()
      const b = createTransactionId()
      expect(a).to.have.length(12)
      expect(a).to.not.deep.equal(b)
    })
  })
})

describe('STUN decoding of Buffers handed out by udx-native', () => {
  it('decodes a response that sits at an offset inside a larger Buffer without writing into it', async () => {
    const { encodeStunMessage } = await import('../../src/nat/stun/encode.ts')
    const { decodeStunMessage } = await import('../../src/nat/stun/decode.ts')
    const { createTransactionId } = await import('../../src/nat/stun/transaction-id.ts')
    const { expect } = await import('aegir/chai')
    const message = encodeStunMessage({
      class: 'success',
      method: 1,
      transactionId: createTransactionId(),
      attributes: { xorMappedAddress: { host: '203.0.113.9', port: 40000, family: 4 } }
    })
    const shared = Buffer.alloc(message.byteLength + 64)
    shared.set(message, 28)
    const view = shared.subarray(28, 28 + message.byteLength)
    const before = Buffer.from(view)

    const decoded = decodeStunMessage(view)

    expect(decoded.attributes.xorMappedAddress).to.deep.equal({ host: '203.0.113.9', port: 40000, family: 4 })
    expect(Buffer.from(view).equals(before)).to.be.true()
  })
})
