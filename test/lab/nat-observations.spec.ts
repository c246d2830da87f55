import { expect } from 'aegir/chai'
import { judgeObservations } from './helpers/nat-observations.ts'
import type { NatObservations } from './helpers/nat-observations.ts'

const TO = ['P:1', 'P:2', 'A:1', 'A:2', 'P:3', 'P:4']

function observations (ports: number[], filtering: [boolean, boolean, boolean], address = '203.0.113.100'): NatObservations {
  return {
    localPort: 40000,
    mappings: ports.map((port, i) => ({ to: TO[i], mapped: { address, port } })),
    filtering: { samePortOther: filtering[0], otherAddress: filtering[1], thirdHost: filtering[2] },
    hairpin: false,
    binding: { before: { atMs: 2250, delivered: true }, after: { atMs: 4000, delivered: false } }
  }
}

describe('the NAT self-test\'s judgement of observations', () => {
  it('calls one preserved mapping for every endpoint EIM with preserving allocation', () => {
    expect(judgeObservations(observations([40000, 40000, 40000, 40000, 40000, 40000], [true, true, true])))
      .to.include({ mapping: 'EIM', allocation: 'preserving', filtering: 'EIF' })
  })

  it('calls a new mapping per endpoint with a constant step APDM with sequential allocation', () => {
    expect(judgeObservations(observations([20000, 20002, 20004, 20006, 20008, 20010], [false, false, false])))
      .to.include({ mapping: 'APDM', allocation: 'sequential', portDelta: 2, filtering: 'APDF' })
  })

  it('calls a new mapping per endpoint without a constant step random', () => {
    expect(judgeObservations(observations([9160, 24495, 37350, 41271, 5756, 57842], [false, false, false])))
      .to.include({ mapping: 'APDM', allocation: 'random' })
  })

  it('still calls a random APDM NAT random when it happens to reuse a port for another destination', () => {
    expect(judgeObservations(observations([13657, 32465, 64624, 13657, 64830, 23993], [false, false, false])))
      .to.include({ mapping: 'APDM', allocation: 'random' })
  })

  it('calls a mapping shared by the ports of one address ADM', () => {
    expect(judgeObservations(observations([5000, 5000, 5001, 5001, 5000, 5000], [true, false, false])))
      .to.include({ mapping: 'ADM', filtering: 'ADF' })
  })

  it('refuses to classify filtering that lets another address in but not another port', () => {
    expect(judgeObservations(observations([40000, 40000, 40000, 40000, 40000, 40000], [false, true, false])))
      .to.include({ filtering: 'inconsistent' })
  })

  it('reads the binding checks as alive before and expired after the timeout', () => {
    expect(judgeObservations(observations([1, 1, 1, 1, 1, 1], [true, true, true])))
      .to.include({ aliveBeforeTimeout: true, expiredAfterTimeout: true })
  })
})
