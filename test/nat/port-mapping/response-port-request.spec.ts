import { expect } from 'aegir/chai'
import { RESPONSE_PORT_REQUEST_BYTES, encodeResponsePortRequest } from '../../../src/nat/port-mapping/response-port-request.ts'
import { decodeStunMessage, isStunMessage } from '../../../src/nat/stun/decode.ts'

const ID = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i)

describe('nat/port-mapping/encodeResponsePortRequest', () => {
  it('is a padded Binding request with CHANGE-REQUEST (change port), RESPONSE-PORT and a valid FINGERPRINT', () => {
    const bytes = encodeResponsePortRequest({ transactionId: ID, responsePort: 40000 })
    expect(bytes).to.have.lengthOf(RESPONSE_PORT_REQUEST_BYTES)
    expect(isStunMessage(bytes)).to.be.true()

    const message = decodeStunMessage(bytes)
    expect(message.class).to.equal('request')
    expect(message.transactionId).to.deep.equal(ID)
    expect(message.fingerprint).to.be.true()
    expect(message.attributes.changeRequest).to.deep.equal({ changeIp: false, changePort: true })
    // our codec knows RESPONSE-PORT (our STUN server honours it)
    expect(message.unknownRequired).to.deep.equal([])
    expect(message.attributes.responsePort).to.equal(40000)
    // the port is the attribute's first two bytes
    expect(Buffer.from(bytes).readUInt16BE(32)).to.equal(40000)
  })

  it('leaves CHANGE-REQUEST empty when asked', () => {
    const message = decodeStunMessage(encodeResponsePortRequest({ transactionId: ID, responsePort: 1, changePort: false }))
    expect(message.attributes.changeRequest).to.deep.equal({ changeIp: false, changePort: false })
  })

  it('refuses a port out of range and a short transaction id', () => {
    expect(() => encodeResponsePortRequest({ transactionId: ID, responsePort: 0 })).to.throw(RangeError)
    expect(() => encodeResponsePortRequest({ transactionId: ID, responsePort: 65536 })).to.throw(RangeError)
    expect(() => encodeResponsePortRequest({ transactionId: ID.subarray(0, 8), responsePort: 1 })).to.throw(RangeError)
  })
})
