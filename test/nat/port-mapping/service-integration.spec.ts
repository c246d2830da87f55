/*
 * How a usable port mapping reaches the punch: the NAT monitor's profile is
 * `public` with the mapped address first, and the candidate gatherer offers
 * it before everything else. The mapper is a stand-in here (its states are
 * data); the lab spec test/service/lab/port-mapping.spec.ts makes real ones.
 */

import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { UNKNOWN_NAT_PROFILE } from '../../../src/nat/nat-profile.ts'
import { isUsableMapping } from '../../../src/nat/port-mapping/types.ts'
import { addressPolicy } from '../../../src/punch/address-policy.ts'
import { CandidateGatherer } from '../../../src/service/candidate-gatherer.ts'
import { NatMonitor } from '../../../src/service/nat-monitor.ts'
import type { NatProfile } from '../../../src/nat/nat-profile.ts'
import type { PortMappingState } from '../../../src/nat/port-mapping/types.ts'
import type { BoundSocket } from '../../../src/socket/bound-socket.ts'

const PORT = 40000
const SRFLX = { host: '203.0.113.100', port: 51234, family: 4 as const }

function mapping (verification: PortMappingState['verification'], extra: Partial<PortMappingState> = {}): PortMappingState {
  return {
    protocol: 'pcp',
    gateway: '10.1.0.1',
    internal: { host: '10.1.0.10', port: PORT, family: 4 },
    external: { host: '203.0.113.100', port: PORT, family: 4 },
    lifetime: 7200,
    mappedAt: 1,
    verification,
    ...extra
  }
}

function mapperOf (states: PortMappingState[]): { mappings(): PortMappingState[], usableMappings(family?: 4 | 6): PortMappingState[] } {
  return {
    mappings: () => states,
    usableMappings: (family) => states.filter(s => isUsableMapping(s) && (family == null || s.external.family === family))
  }
}

const socket = { address: () => ({ host: '10.1.0.10', port: PORT, family: 4 as const }) } as unknown as BoundSocket

/** a symmetric NAT's profile, as discovery would find it */
const SYMMETRIC: NatProfile = {
  ...UNKNOWN_NAT_PROFILE,
  reachability: 'private',
  mapping: 'APDM',
  filtering: 'APDF',
  allocation: { kind: 'random' },
  publicAddresses: [SRFLX],
  confidence: 0.8,
  observedAt: 1
}

describe('port mapping in the NAT profile and the candidates', () => {
  const monitorWith = (states: PortMappingState[]): NatMonitor => {
    const monitor = new NatMonitor({ logger: defaultLogger(), servers: [], socket: () => socket, portMapper: mapperOf(states) })
    // what the last discovery found
    ;(monitor as unknown as { profile: NatProfile }).profile = SYMMETRIC
    return monitor
  }

  const cases: Array<{ title: string, states: PortMappingState[], reachability: string, first: typeof SRFLX }> = [
    { title: 'a verified mapping makes the profile public, mapped address first', states: [mapping('verified')], reachability: 'public', first: { ...SRFLX, port: PORT } },
    { title: 'a mapping trusted without verification (verify: false) does too', states: [mapping('skipped')], reachability: 'public', first: { ...SRFLX, port: PORT } },
    { title: 'an unverified mapping does not', states: [mapping('pending')], reachability: 'private', first: SRFLX },
    { title: 'a mapping whose verification failed does not', states: [mapping('failed')], reachability: 'private', first: SRFLX },
    { title: 'a double-NAT mapping does not', states: [mapping('refused', { doubleNat: 'private', external: { host: '172.16.3.2', port: PORT, family: 4 } })], reachability: 'private', first: SRFLX },
    { title: 'no mapping leaves the profile as discovery found it', states: [], reachability: 'private', first: SRFLX }
  ]

  for (const { title, states, reachability, first } of cases) {
    it(title, () => {
      const monitor = monitorWith(states)
      const profile = monitor.getProfile()
      expect(profile.reachability).to.equal(reachability)
      expect(profile.publicAddresses[0]).to.deep.equal(first)
      expect(profile.mapping).to.equal('APDM')
      expect(monitor.portMappings()).to.deep.equal(states)
      expect(monitor.advice().usable).to.be.true()
    })
  }

  it('offers a usable mapping of the socket\'s port as the first candidate', () => {
    const states = [mapping('verified'), mapping('verified', { internal: { host: '10.1.0.10', port: PORT + 1, family: 4 }, external: { host: '203.0.113.100', port: PORT + 1, family: 4 } })]
    const gatherer = new CandidateGatherer({ nat: monitorWith(states), policy: addressPolicy(() => 'public'), portMapper: mapperOf(states), lanAddressFilter: () => false })
    const { shared } = gatherer.candidates(socket)

    expect(shared[0]).to.deep.equal({ host: '203.0.113.100', port: PORT, family: 4, kind: 'public', source: 'port-mapping:pcp' })
    expect(shared.filter(c => c.host === '203.0.113.100' && c.port === PORT)).to.have.lengthOf(1)
    expect(shared.some(c => c.port === PORT + 1)).to.be.false()
  })

  it('offers no unverified mapping', () => {
    const states = [mapping('unknown')]
    const gatherer = new CandidateGatherer({ nat: monitorWith(states), policy: addressPolicy(() => 'public'), portMapper: mapperOf(states), lanAddressFilter: () => false })
    expect(gatherer.candidates(socket).shared.some(c => c.source.startsWith('port-mapping'))).to.be.false()
  })
})
