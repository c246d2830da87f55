import { expect } from 'aegir/chai'
import { MAX_STUN_ENDPOINTS } from '../../src/constants.ts'
import { decodeStunEndpoints, encodeStunEndpoints } from '../../src/protocol/stun-endpoints-message.ts'
import { StunEndpoints } from '../../src/protocol/stun-endpoints.ts'

describe('the STUN endpoints message', () => {
  it('carries wildcard and bound sockets of both families', () => {
    const endpoints = [
      { family: 4 as const, port: 4001 },
      { host: '203.0.113.7', family: 4 as const, port: 4002 },
      { host: '2001:db8::7', family: 6 as const, port: 4003 }
    ]

    expect(decodeStunEndpoints(encodeStunEndpoints(endpoints))).to.deep.equal(endpoints)
  })

  it('sends at most MAX_STUN_ENDPOINTS endpoints', () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ family: 4 as const, port: 4000 + i }))

    expect(decodeStunEndpoints(encodeStunEndpoints(many))).to.have.lengthOf(MAX_STUN_ENDPOINTS)
  })

  const invalid: Array<[string, Uint8Array, string]> = [
    ['a family other than 4 or 6', StunEndpoints.encode({ endpoints: [{ ip: new Uint8Array(0), family: 5, port: 4001 }] }), 'stunEndpoints.endpoints[0].family'],
    ['port 0', StunEndpoints.encode({ endpoints: [{ ip: new Uint8Array(0), family: 4, port: 0 }] }), 'stunEndpoints.endpoints[0].port'],
    ['port 65536', StunEndpoints.encode({ endpoints: [{ ip: new Uint8Array(0), family: 4, port: 65536 }] }), 'stunEndpoints.endpoints[0].port'],
    ['an IP of 5 bytes', StunEndpoints.encode({ endpoints: [{ ip: new Uint8Array(5), family: 4, port: 4001 }] }), 'stunEndpoints.endpoints[0].ip'],
    ['an IPv6 address announced as family 4', StunEndpoints.encode({ endpoints: [{ ip: new Uint8Array(16).fill(1), family: 4, port: 4001 }] }), 'stunEndpoints.endpoints[0].ip'],
    ['more endpoints than the limit', StunEndpoints.encode({ endpoints: Array.from({ length: MAX_STUN_ENDPOINTS + 1 }, () => ({ ip: new Uint8Array(0), family: 4, port: 4001 })) }), 'stunEndpoints'],
    ['bytes that are not a message', Uint8Array.from([0xFF, 0xFF, 0xFF]), 'stunEndpoints'],
    ['a message over 256 bytes', new Uint8Array(300), 'stunEndpoints']
  ]

  for (const [what, bytes, field] of invalid) {
    it(`rejects ${what}, naming the field`, () => {
      expect(() => decodeStunEndpoints(bytes)).to.throw().with.property('field', field)
    })
  }
})
