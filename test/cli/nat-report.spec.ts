import { expect } from 'aegir/chai'
import { allocationText, buildNatReport, formatAddress, formatNatReport, formatRtt, natTypeName, punchOutlook, shortPeerId } from '../../src/cli/nat-report.ts'
import { portMappingResult } from '../../src/cli/nat.ts'
import { natAdvice } from '../../src/nat/advice.ts'
import { UNKNOWN_NAT_PROFILE } from '../../src/nat/nat-profile.ts'
import type { NatReportInput } from '../../src/cli/nat-report.ts'
import type { NatProfile, PortMappingState } from '../../src/index.ts'

const RELAY = '12D3KooWRelayRelayRelayRelayRelayRelayRelayRelay'

function profile (overrides: Partial<NatProfile>): NatProfile {
  return {
    reachability: 'private',
    mapping: 'EIM',
    filtering: 'APDF',
    allocation: { kind: 'preserving' },
    publicAddresses: [{ host: '203.0.113.100', port: 40000, family: 4 }],
    confidence: 0.9,
    observedAt: 1,
    ...overrides
  }
}

function input (p: NatProfile, overrides: Partial<NatReportInput> = {}): NatReportInput {
  return {
    profile: p,
    advice: natAdvice(p, { serversKnown: 2 }),
    relays: [{ address: `/ip4/198.51.100.7/tcp/4001/p2p/${RELAY}`, peerId: RELAY, connected: true, runsPackage: true, stunServers: ['198.51.100.7:4001', '198.51.100.7:4002'] }],
    sources: [
      { host: '198.51.100.7', port: 4001, origin: 'relay', relay: RELAY, rttMs: 12.34, answered: 3, samples: 3 },
      { host: '198.51.100.7', port: 4002, origin: 'relay', relay: RELAY, rttMs: 0.0412, answered: 2, samples: 3 },
      { host: '192.0.2.9', port: 3478, origin: 'configured', answered: 0, samples: 3 }
    ],
    ipv6: { status: 'no', reason: 'no global IPv6 address on this host' },
    portMapping: { status: 'not-checked', protocols: [], reason: 'not available in this version' },
    durationMs: 2345.6,
    ...overrides
  }
}

describe('cli: the nat report', () => {
  const names: Array<[Partial<NatProfile>, string]> = [
    [{ reachability: 'public' }, 'none (a public address)'],
    [{ mapping: 'EIM', filtering: 'EIF' }, 'full cone'],
    [{ mapping: 'EIM', filtering: 'ADF' }, 'restricted cone'],
    [{ mapping: 'EIM', filtering: 'APDF' }, 'port-restricted cone'],
    [{ mapping: 'EIM', filtering: 'unknown' }, 'cone (filtering unknown)'],
    [{ mapping: 'APDM', allocation: { kind: 'sequential', delta: 2, reliability: 1 } }, 'symmetric, sequential ports (delta 2)'],
    [{ mapping: 'APDM', allocation: { kind: 'random' } }, 'symmetric, random ports'],
    [{ mapping: 'APDM', allocation: { kind: 'unknown' } }, 'symmetric, port allocation unknown'],
    [{ mapping: 'ADM', allocation: { kind: 'preserving' } }, 'address-dependent mapping, ports preserved'],
    [{ mapping: 'unknown' }, 'unknown']
  ]

  for (const [overrides, name] of names) {
    it(`names ${JSON.stringify(overrides)} "${name}"`, () => {
      expect(natTypeName(profile(overrides))).to.equal(name)
    })
  }

  it('names the NAT behind a port mapping the package uses (the profile then says public)', () => {
    expect(natTypeName(profile({ reachability: 'public', filtering: 'APDF' }), true)).to.equal('port-restricted cone, port mapped')
    expect(natTypeName(profile({ reachability: 'public', mapping: 'unknown' }), true)).to.equal('unknown, port mapped')
    expect(punchOutlook(profile({ reachability: 'public' }), { usable: true }, true)).to.match(/mapped port/)
  })

  const outlooks: Array<[Partial<NatProfile>, RegExp]> = [
    [{ reachability: 'public' }, /no NAT in the way/],
    [{ mapping: 'EIM' }, /nearly every peer/],
    [{ mapping: 'APDM', allocation: { kind: 'sequential', delta: 1, reliability: 1 } }, /can be predicted/],
    [{ mapping: 'APDM', allocation: { kind: 'random' } }, /stays relayed/],
    [{ mapping: 'APDM', allocation: { kind: 'unknown' } }, /cannot be predicted/],
    [{ mapping: 'unknown' }, /not known well enough/],
    [{ publicAddresses: [], mapping: 'unknown' }, /fall back to the relay/]
  ]

  for (const [overrides, outlook] of outlooks) {
    it(`tells what ${JSON.stringify(overrides)} means for direct connections`, () => {
      const p = profile(overrides)
      expect(punchOutlook(p, natAdvice(p, { serversKnown: 1 }))).to.match(outlook)
    })
  }

  it('builds the JSON report: the profile as the package has it, addresses per family, sources with round trips', () => {
    const report = buildNatReport(input(profile({
      mapping: 'APDM',
      allocation: { kind: 'sequential', delta: 2, reliability: 0.75 },
      publicAddresses: [{ host: '203.0.113.100', port: 20002, family: 4 }, { host: '2001:db8::1', port: 41000, family: 6 }]
    }), {
      ipv6: { status: 'yes', reason: 'reached', address: { host: '2001:db8::2', port: 5000, family: 6 }, translated: true }
    }))

    expect(report).to.deep.include({
      reachability: 'private',
      nat: 'symmetric, sequential ports (delta 2)',
      mapping: 'APDM',
      filtering: 'APDF',
      allocation: { kind: 'sequential', delta: 2, reliability: 0.75 },
      publicAddresses: { ipv4: ['203.0.113.100:20002'], ipv6: ['[2001:db8::1]:41000', '[2001:db8::2]:5000'] },
      ipv6: { status: 'yes', reason: 'reached', address: '[2001:db8::2]:5000', translated: true },
      confidence: 0.9,
      durationMs: 2346
    })
    expect(report.stunSources).to.deep.equal([
      { address: '198.51.100.7:4001', origin: 'relay', relay: RELAY, rttMs: 12.34, answered: 3, samples: 3 },
      { address: '198.51.100.7:4002', origin: 'relay', relay: RELAY, rttMs: 0.041, answered: 2, samples: 3 },
      { address: '192.0.2.9:3478', origin: 'configured', answered: 0, samples: 3 }
    ])
    expect(report.advice.code).to.equal('ok')
    expect(formatNatReport(buildNatReport(input(profile({
      mapping: 'APDM',
      publicAddresses: [{ host: '203.0.113.100', port: 20002, family: 4 }, { host: '203.0.113.100', port: 20001, family: 4 }]
    }))))).to.include('  IPv4:          203.0.113.100:20002 (the latest of 2: a new port per destination)')
    // the whole report survives JSON
    expect(JSON.parse(JSON.stringify(report))).to.deep.equal(report)
  })

  it('prints the report as aligned text', () => {
    const lines = formatNatReport(buildNatReport(input(profile({}))))

    expect(lines).to.deep.equal([
      'NAT report (2.3 s)',
      '  Reachability:  behind a NAT',
      '  NAT type:      port-restricted cone',
      '  Mapping:       EIM   endpoint-independent: one public port for every destination',
      '  Filtering:     APDF  address-and-port-dependent: only answers from where we sent',
      '  Allocation:    preserving (the public port is the local port)',
      '  IPv4:          203.0.113.100:40000',
      '  IPv6:          no (no global IPv6 address on this host)',
      '  Port mapping:  not checked (not available in this version)',
      '  Confidence:    90%',
      '  Relays:',
      `    /ip4/198.51.100.7/tcp/4001/p2p/${RELAY}`,
      '      connected; answers STUN on 198.51.100.7:4001, 198.51.100.7:4002',
      '  STUN sources (round trip):',
      `    198.51.100.7:4001  relay ${shortPeerId(RELAY)}  12 ms`,
      `    198.51.100.7:4002  relay ${shortPeerId(RELAY)}  0.04 ms (1 of 3 lost)`,
      '    192.0.2.9:3478     configured             no answer',
      '  Direct:        direct connections with nearly every peer (one public port for all destinations)'
    ])
  })

  it('prints what to configure when the profile is not enough, and relays that gave nothing', () => {
    const p = { ...UNKNOWN_NAT_PROFILE }
    const lines = formatNatReport(buildNatReport(input(p, {
      advice: natAdvice(p, { serversKnown: 0 }),
      sources: [],
      relays: [
        { address: '/ip4/198.51.100.8/tcp/4001/p2p/QmStock', peerId: 'QmStock', connected: true, runsPackage: false, stunServers: [] },
        { address: '/ip4/198.51.100.9/tcp/4001/p2p/QmGone', connected: false, stunServers: [], error: 'The dial request timed out' }
      ]
    })))

    expect(lines).to.include('  NAT type:      unknown')
    expect(lines).to.include('  Mapping:       unknown')
    expect(lines).to.include('  Filtering:     unknown')
    expect(lines).to.include('  IPv4:          no public address learned')
    expect(lines).to.include('  STUN sources:  none')
    expect(lines).to.include('      connected; a relay without this package: no STUN from it')
    expect(lines).to.include('      not reached: The dial request timed out')
    expect(lines.find(l => l.startsWith('  Advice:'))).to.include('no STUN server is known')
    expect(lines.find(l => l.startsWith('  Direct:'))).to.include('fall back to the relay')
  })

  it('prints port mapping results and IPv6 answers', () => {
    const lines = formatNatReport(buildNatReport(input(profile({}), {
      portMapping: { status: 'found', protocols: ['PCP'], mapped: '203.0.113.100:41641', gateway: '10.1.0.1', verification: 'verified' },
      ipv6: { status: 'yes', reason: '', address: { host: '2001:db8::5', port: 41641, family: 6 }, translated: false }
    })))

    expect(lines).to.include('  Port mapping:  PCP at 10.1.0.1: mapped 203.0.113.100:41641 (verified)')

    // with the mapping in use the package calls us public, through the mapping
    const mapped = buildNatReport(input(profile({ reachability: 'public' }), {
      portMapping: { status: 'found', protocols: ['PCP'], mapped: '203.0.113.100:41641', gateway: '10.1.0.1', verification: 'verified' }
    }))
    expect(mapped).to.include({ reachability: 'public', portMapped: true, nat: 'port-restricted cone, port mapped' })
    expect(formatNatReport(mapped)).to.include('  Reachability:  public through the port mapping (behind a NAT)')

    // a mapping that failed verification, or one behind another NAT, is not used
    for (const pm of [
      { status: 'found' as const, protocols: ['UPnP-IGD'], mapped: '203.0.113.100:1', verification: 'failed' },
      { status: 'found' as const, protocols: ['UPnP-IGD'], mapped: '172.16.3.2:1', verification: 'refused', reason: 'another NAT' }
    ]) {
      expect(buildNatReport(input(profile({}), { portMapping: pm }))).to.include({ portMapped: false, nat: 'port-restricted cone' })
    }
    expect(lines).to.include('  IPv6:          yes, [2001:db8::5]:41641')
  })

  it('turns the port mapper\'s mappings into the report\'s port mapping entry', () => {
    const state = (overrides: Partial<PortMappingState>): PortMappingState => ({
      protocol: 'pcp',
      gateway: '10.1.0.1',
      internal: { host: '10.1.0.10', port: 40000, family: 4 },
      external: { host: '203.0.113.100', port: 41000, family: 4 },
      lifetime: 7200,
      mappedAt: 1,
      verification: 'verified',
      ...overrides
    })

    expect(portMappingResult([])).to.deep.equal({ status: 'none', protocols: [], reason: 'no gateway answered PCP, NAT-PMP or UPnP-IGD' })
    expect(portMappingResult([state({})])).to.deep.equal({ status: 'found', protocols: ['PCP'], mapped: '203.0.113.100:41000', gateway: '10.1.0.1', verification: 'verified' })
    expect(portMappingResult([state({ protocol: 'upnp', verification: 'refused', external: { host: '172.16.3.2', port: 41000, family: 4 }, doubleNat: 'private' })]))
      .to.deep.include({ status: 'found', protocols: ['UPnP-IGD'], mapped: '172.16.3.2:41000', verification: 'refused' })
      .and.have.property('reason').that.includes('another NAT')
    expect(formatNatReport(buildNatReport(input(profile({}), { portMapping: portMappingResult([]) })))).to.include('  Port mapping:  none found (no gateway answered PCP, NAT-PMP or UPnP-IGD)')
  })

  it('formats allocations, round trips and addresses', () => {
    expect(allocationText({ kind: 'sequential', delta: 1, reliability: 0.8 })).to.equal('sequential, delta 1 (80% of samples)')
    expect(allocationText({ kind: 'random' })).to.equal('random')
    expect(allocationText({ kind: 'unknown' })).to.equal('unknown')
    expect(formatRtt(0.0456)).to.equal('0.05 ms')
    expect(formatRtt(3.21)).to.equal('3.2 ms')
    expect(formatRtt(85.4)).to.equal('85 ms')
    expect(formatAddress({ host: '::1', port: 1 })).to.equal('[::1]:1')
    expect(shortPeerId('12D3KooWAbcdefghijklmnop')).to.equal('12D3KooW…klmnop')
    expect(shortPeerId('short')).to.equal('short')
  })
})
