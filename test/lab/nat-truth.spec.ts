import { expect } from 'aegir/chai'
import { ipv6Truth, natTruth, siteTruth } from '../../src/lab/nat-truth.ts'
import type { NatTruth, NatType } from '../../src/lab/types.ts'

describe('lab NAT truth', () => {
  const table: Array<[NatType, NatTruth]> = [
    ['none', { mapping: 'EIM', filtering: 'EIF', allocation: 'preserving' }],
    ['full-cone', { mapping: 'EIM', filtering: 'EIF', allocation: 'preserving' }],
    ['restricted', { mapping: 'EIM', filtering: 'ADF', allocation: 'preserving' }],
    ['port-restricted', { mapping: 'EIM', filtering: 'APDF', allocation: 'preserving' }],
    ['symmetric-seq', { mapping: 'APDM', filtering: 'APDF', allocation: 'sequential', portDelta: 1 }],
    ['symmetric-random', { mapping: 'APDM', filtering: 'APDF', allocation: 'random' }]
  ]

  for (const [nat, truth] of table) {
    it(`says ${nat} is ${truth.mapping} + ${truth.filtering} with ${truth.allocation} ports`, () => {
      expect(natTruth(nat)).to.deep.equal(truth)
    })
  }

  it('reports the configured port delta of a sequential NAT', () => {
    expect(natTruth({ nat: 'symmetric-seq', portDelta: 3 }).portDelta).to.equal(3)
  })

  it('says a port-restricted router behind a symmetric carrier looks symmetric with the carrier\'s allocation', () => {
    expect(siteTruth({ nat: 'port-restricted', carrier: { nat: 'symmetric-seq', portDelta: 2 } }))
      .to.deep.equal({ mapping: 'APDM', filtering: 'APDF', allocation: 'sequential', portDelta: 2 })
    expect(siteTruth({ nat: 'port-restricted', carrier: { nat: 'symmetric-random' } }))
      .to.deep.equal({ mapping: 'APDM', filtering: 'APDF', allocation: 'random' })
  })

  it('says a full-cone carrier shows the site router\'s behaviour with its strictest filtering', () => {
    expect(siteTruth({ nat: 'symmetric-random', carrier: { nat: 'full-cone' } }))
      .to.deep.equal({ mapping: 'APDM', filtering: 'APDF', allocation: 'random' })
    expect(siteTruth({ nat: 'full-cone', carrier: { nat: 'restricted' } }))
      .to.deep.equal({ mapping: 'EIM', filtering: 'ADF', allocation: 'preserving' })
  })
})

describe('lab IPv6 truth', () => {
  it('translates nothing and filters like a port-restricted NAT behind a firewall, not at all when open', () => {
    expect(ipv6Truth('firewall')).to.deep.equal({ mode: 'firewall', translation: 'none', mapping: 'EIM', filtering: 'APDF', allocation: 'preserving' })
    expect(ipv6Truth('open')).to.deep.equal({ mode: 'open', translation: 'none', mapping: 'EIM', filtering: 'EIF', allocation: 'preserving' })
    expect(() => ipv6Truth('nat66' as any)).to.throw(TypeError)
  })
})
