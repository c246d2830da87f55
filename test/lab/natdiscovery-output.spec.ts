import { expect } from 'aegir/chai'
import { parseHairpinning, parseMappingLifetime, parseNatDiscovery } from './helpers/natdiscovery-output.ts'

const MAPPING_AND_FILTERING = `
-= Mapping Behavior Discovery =-
0: : IPv4. UDP reflexive addr: 203.0.113.104:20000
========================================
NAT with Address and Port Dependent Mapping!
========================================

-= Filtering Behavior Discovery =-
========================================
NAT with Address Dependent Filtering!
========================================
`

describe('reading turnutils_natdiscovery output', () => {
  it('reads the mapping and filtering verdicts', () => {
    expect(parseNatDiscovery(MAPPING_AND_FILTERING)).to.deep.equal({ mapping: 'APDM', filtering: 'ADF' })
    expect(parseNatDiscovery('NAT with Endpoint Independent Mapping!\nNAT with Endpoint Independent Filtering!'))
      .to.deep.equal({ mapping: 'EIM', filtering: 'EIF' })
    expect(parseNatDiscovery('NAT with Address Dependent Mapping!\nNAT with Address and Port Dependent Filtering!'))
      .to.deep.equal({ mapping: 'ADM', filtering: 'APDF' })
  })

  it('says unknown when there is no verdict', () => {
    expect(parseNatDiscovery('STUN receive timeout..')).to.deep.equal({ mapping: 'unknown', filtering: 'unknown' })
  })

  it('reads hairpinning', () => {
    expect(parseHairpinning(' -= Hairpinning Behavior Discovery =-\nReceived a request (maybe a successful hairpinning)')).to.equal(true)
    expect(parseHairpinning(' -= Hairpinning Behavior Discovery =-\n')).to.equal(false)
  })

  it('reads whether the binding outlived the wait', () => {
    expect(parseMappingLifetime(' -= Mapping Lifetime Behavior Discovery =-\n2: : IPv4. UDP reflexive addr: 203.0.113.100:51206\n2: : IPv4. Local addr: : 0.0.0.0:51206 \n')).to.equal('alive')
    expect(parseMappingLifetime([
      '-= Mapping Lifetime Behavior Discovery =-',
      '0: : IPv4. UDP reflexive addr: 203.0.113.100:60630',
      '0: : IPv4. Local addr: : 0.0.0.0:60794',
      'STUN receive timeout..',
      ''
    ].join('\n'))).to.equal('expired')
    expect(parseMappingLifetime(' -= Mapping Lifetime Behavior Discovery =-\nSTUN receive timeout.. ')).to.equal('expired')
    expect(parseMappingLifetime('')).to.equal('unknown')
  })
})
