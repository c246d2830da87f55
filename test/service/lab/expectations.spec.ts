import { expect } from 'aegir/chai'
import { NAT_TYPES } from '../../../src/lab/index.ts'
import { expectPair, expectPairIn, minimumDirect } from './expectations.ts'
import type { SiteSpec } from './expectations.ts'
import type { NatType } from '../../../src/lab/index.ts'

/**
 * docs/PROTOCOL.md section 7 ("Strategy by NAT pair") applied by hand to
 * the lab's NAT types: none and full-cone are `open`, restricted is a cone
 * with ADF filtering, port-restricted a cone with APDF, symmetric-seq
 * `seq`, symmetric-random `random`. The NAT-lab matrix takes its
 * expectations from the planner; this table makes sure the planner still
 * says what the protocol document says, so the matrix cannot go soft
 * because the planner did.
 */
const DOCUMENTED: Record<string, string> = {
  'none ~ none': 'direct-cone',
  'none ~ full-cone': 'direct-cone',
  'none ~ restricted': 'direct-cone',
  'none ~ port-restricted': 'direct-cone',
  'none ~ symmetric-seq': 'direct-cone',
  'none ~ symmetric-random': 'direct-cone',
  'full-cone ~ full-cone': 'direct-cone',
  'full-cone ~ restricted': 'direct-cone',
  'full-cone ~ port-restricted': 'direct-cone',
  'full-cone ~ symmetric-seq': 'direct-cone',
  'full-cone ~ symmetric-random': 'direct-cone',
  'restricted ~ restricted': 'direct-cone',
  'restricted ~ port-restricted': 'direct-cone',
  // cone with ADF ↔ seq/random: the cone's probes open its filter for the peer's IP
  'restricted ~ symmetric-seq': 'direct-cone',
  'restricted ~ symmetric-random': 'direct-cone',
  'port-restricted ~ port-restricted': 'direct-cone',
  'port-restricted ~ symmetric-seq': 'predict-sequential',
  'port-restricted ~ symmetric-random': 'birthday',
  'symmetric-seq ~ symmetric-seq': 'predict-both',
  'symmetric-seq ~ symmetric-random': 'birthday',
  'symmetric-random ~ symmetric-random': 'none-fallback'
}

describe('NAT-lab expectations (planner on the lab\'s true NAT types)', () => {
  for (let i = 0; i < NAT_TYPES.length; i++) {
    for (let j = i; j < NAT_TYPES.length; j++) {
      const a: NatType = NAT_TYPES[i]
      const b: NatType = NAT_TYPES[j]
      const key = `${a} ~ ${b}`

      it(`${key}: ${DOCUMENTED[key]} whichever side initiates`, () => {
        expect(expectPair({ nat: a }, { nat: b }, 3).strategy).to.equal(DOCUMENTED[key])
        expect(expectPair({ nat: b }, { nat: a }, 3).strategy).to.equal(DOCUMENTED[key])
      })
    }
  }

  it('the double NATs of the scenario tests: port-restricted behind symmetric-seq is seq, behind symmetric-random is random', () => {
    const dseq: SiteSpec = { nat: 'port-restricted', carrier: { nat: 'symmetric-seq' } }
    const drand: SiteSpec = { nat: 'port-restricted', carrier: { nat: 'symmetric-random' } }
    expect(expectPair(dseq, { nat: 'port-restricted' }, 3).strategy).to.equal('predict-sequential')
    expect(expectPair(drand, { nat: 'port-restricted' }, 3).strategy).to.equal('birthday')
  })

  it('birthday minimums: port-restricted ~ symmetric-random (model ≥ 99%) needs 2 of 3; symmetric-seq ~ symmetric-random (model ~12%) has none', () => {
    const cone = expectPair({ nat: 'port-restricted' }, { nat: 'symmetric-random' }, 3)
    expect(cone.expectedSuccess).to.be.at.least(0.99)
    expect(cone.minDirect).to.equal(2)
    const seq = expectPair({ nat: 'symmetric-seq' }, { nat: 'symmetric-random' }, 3)
    expect(seq.expectedSuccess).to.be.within(0.05, 0.2)
    expect(seq.minDirect).to.equal(0)
  })

  it('minimumDirect is the largest k with P(Binomial(n, p) < k) ≤ 1%', () => {
    expect(minimumDirect(1, 3)).to.equal(3)
    expect(minimumDirect(0.99, 3)).to.equal(2) // P(X < 3) = 3.0%, P(X < 2) = 0.03%
    expect(minimumDirect(0.99, 5)).to.equal(4) // P(X < 5) = 4.9%, P(X < 4) = 0.1%
    expect(minimumDirect(0.95, 3)).to.equal(2) // P(X < 2) = 0.7%
    expect(minimumDirect(0.9, 3)).to.equal(1) // P(X < 2) = 2.8%, P(X < 1) = 0.1%
    expect(minimumDirect(0.12, 3)).to.equal(0)
    expect(minimumDirect(0, 3)).to.equal(0)
  })

  describe('issue 9 targets per lab configuration (expectPairIn)', () => {
    const pairs: Array<[NatType, NatType]> = []
    for (let i = 0; i < NAT_TYPES.length; i++) {
      for (let j = i; j < NAT_TYPES.length; j++) {
        pairs.push([NAT_TYPES[i], NAT_TYPES[j]])
      }
    }
    const CONE_TYPES: NatType[] = ['none', 'full-cone', 'restricted', 'port-restricted']

    it('configured: exactly expectPair', () => {
      for (const [a, b] of pairs) {
        expect(expectPairIn('configured', { nat: a }, { nat: b }, 3)).to.deep.equal(expectPair({ nat: a }, { nat: b }, 3))
      }
    })

    it('zero-config and coturn: the configured expectations, except that the none-fallback pair only has to end on a usable connection', () => {
      for (const config of ['zero-config', 'coturn'] as const) {
        for (const [a, b] of pairs) {
          const e = expectPairIn(config, { nat: a }, { nat: b }, 3)
          const base = expectPair({ nat: a }, { nat: b }, 3)
          if (base.kind === 'relayed') {
            expect(e.kind, `${config} ${a} ~ ${b}`).to.equal('usable')
            expect(e.targeted).to.be.false()
          } else {
            expect([e.kind, e.minDirect, e.targeted], `${config} ${a} ~ ${b}`).to.deep.equal([base.kind, base.minDirect, base.targeted])
          }
        }
      }
    })

    it('stock-relay: every pair with a none side and every pair of port-preserving EIM NATs is direct in every trial; the others have no target', () => {
      const targeted: string[] = []
      for (const [a, b] of pairs) {
        const e = expectPairIn('stock-relay', { nat: a }, { nat: b }, 3)
        const named = a === 'none' || b === 'none' || (CONE_TYPES.includes(a) && CONE_TYPES.includes(b))
        expect(e.kind, `${a} ~ ${b}`).to.equal(named ? 'direct-every-trial' : 'usable')
        expect(e.minDirect).to.equal(named ? 3 : 0)
        if (e.targeted) {
          targeted.push(`${a} ~ ${b}`)
        }
      }
      expect(targeted).to.have.length(12)
    })

    it('targeted pairs of the configured case: every pair with a direct minimum', () => {
      const targeted = pairs.filter(([a, b]) => expectPairIn('configured', { nat: a }, { nat: b }, 3).targeted).map(([a, b]) => `${a} ~ ${b}`)
      expect(targeted).to.have.length(19)
      expect(targeted).to.not.include('symmetric-seq ~ symmetric-random')
      expect(targeted).to.not.include('symmetric-random ~ symmetric-random')
    })
  })
})
