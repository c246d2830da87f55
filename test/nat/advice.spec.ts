import { expect } from 'aegir/chai'
import { natAdvice } from '../../src/nat/advice.ts'
import { UNKNOWN_NAT_PROFILE } from '../../src/nat/nat-profile.ts'
import type { NatAdviceCode } from '../../src/nat/advice.ts'
import type { NatProfile } from '../../src/nat/nat-profile.ts'

const MAPPED = { host: '198.51.100.7', port: 40_000, family: 4 as const }

function profile (p: Partial<NatProfile>): NatProfile {
  return { ...UNKNOWN_NAT_PROFILE, allocation: { kind: 'unknown' }, publicAddresses: [], ...p }
}

describe('nat/natAdvice', () => {
  const cases: Array<{ title: string, profile: NatProfile, servers: number, usable: boolean, code: NatAdviceCode, says?: RegExp }> = [
    { title: 'nothing known, no server', profile: UNKNOWN_NAT_PROFILE, servers: 0, usable: false, code: 'no-stun-servers', says: /stunServers.*relay that runs holePunch/ },
    { title: 'nothing known, servers that did not answer', profile: UNKNOWN_NAT_PROFILE, servers: 2, usable: false, code: 'no-answer', says: /none of the 2 STUN server/ },
    { title: 'a negative server count counts as none', profile: UNKNOWN_NAT_PROFILE, servers: -1, usable: false, code: 'no-stun-servers' },
    { title: 'private without a public address (identify said nothing either)', profile: profile({ reachability: 'private', mapping: 'EIM' }), servers: 1, usable: false, code: 'no-answer' },
    { title: 'public: nothing else matters', profile: profile({ reachability: 'public', publicAddresses: [MAPPED] }), servers: 0, usable: true, code: 'ok' },
    { title: 'public even without STUN (host candidate only)', profile: profile({ reachability: 'public' }), servers: 0, usable: true, code: 'ok' },
    { title: 'one plain server: an address but no mapping verdict', profile: profile({ reachability: 'private', publicAddresses: [MAPPED] }), servers: 1, usable: true, code: 'mapping-unknown', says: /another host.*second port/ },
    { title: 'symmetric with unknown allocation', profile: profile({ reachability: 'private', mapping: 'APDM', filtering: 'APDF', publicAddresses: [MAPPED] }), servers: 2, usable: true, code: 'allocation-unknown' },
    { title: 'address-dependent with unknown allocation', profile: profile({ reachability: 'private', mapping: 'ADM', filtering: 'APDF', publicAddresses: [MAPPED] }), servers: 2, usable: true, code: 'allocation-unknown' },
    { title: 'symmetric, random allocation: complete', profile: profile({ reachability: 'private', mapping: 'APDM', filtering: 'unknown', allocation: { kind: 'random' }, publicAddresses: [MAPPED] }), servers: 2, usable: true, code: 'ok' },
    { title: 'cone with unknown filtering (two plain servers)', profile: profile({ reachability: 'private', mapping: 'EIM', filtering: 'unknown', allocation: { kind: 'preserving' }, publicAddresses: [MAPPED] }), servers: 2, usable: true, code: 'filtering-unknown', says: /second port/ },
    { title: 'cone with known filtering', profile: profile({ reachability: 'private', mapping: 'EIM', filtering: 'APDF', publicAddresses: [MAPPED] }), servers: 1, usable: true, code: 'ok' },
    { title: 'unknown reachability with an address and a verdict', profile: profile({ mapping: 'EIM', filtering: 'ADF', publicAddresses: [MAPPED] }), servers: 1, usable: true, code: 'ok' }
  ]

  cases.forEach(({ title, profile, servers, usable, code, says }) => {
    it(`${title}: ${code}`, () => {
      const advice = natAdvice(profile, { serversKnown: servers })

      expect(advice).to.deep.include({ usable, code })
      expect(advice.message === '', 'a message exactly when something is missing').to.equal(code === 'ok')

      if (says != null) {
        expect(advice.message).to.match(says)
      }
    })
  })
})
