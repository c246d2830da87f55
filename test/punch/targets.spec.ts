import { expect } from 'aegir/chai'
import { NAT_PORT_MAX, NAT_PORT_MIN } from '../../src/constants.ts'
import { expandTargets, randomDistinctPorts, targetCount, wrapPort } from '../../src/punch/targets.ts'
import { seeded } from './fixtures.ts'

describe('punch targets', () => {
  it('wrap predicted ports around the NAT port range', () => {
    expect(wrapPort(NAT_PORT_MAX + 1)).to.equal(NAT_PORT_MIN)
    expect(wrapPort(NAT_PORT_MIN - 1)).to.equal(NAT_PORT_MAX)
    expect(wrapPort(40000)).to.equal(40000)
  })

  it('expand a window of predicted ports with a negative step', () => {
    const ports = expandTargets({ kind: 'window', host: '198.51.100.1', family: 4, first: 1025, step: -1, count: 3 }, Math.random).map(t => t.port)

    expect(ports).to.deep.equal([1025, 1024, 65535])
  })

  it('draw distinct random ports inside the NAT range, all of them when asked', () => {
    const ports = randomDistinctPorts(NAT_PORT_MAX - NAT_PORT_MIN + 1, seeded(1))

    expect(new Set(ports).size).to.equal(ports.length)
    expect(Math.min(...ports)).to.equal(NAT_PORT_MIN)
    expect(Math.max(...ports)).to.equal(NAT_PORT_MAX)
  })

  it('draw different ports for different randomness', () => {
    expect(randomDistinctPorts(10, seeded(1))).to.not.deep.equal(randomDistinctPorts(10, seeded(2)))
  })

  it('survive a random source that returns values at the edge', () => {
    expect(randomDistinctPorts(3, () => 0.9999999999)).to.have.length(3)
  })

  it('refuse more distinct ports than exist', () => {
    expect(() => randomDistinctPorts(70000, Math.random)).to.throw().with.property('name', 'InvalidPlanInputError')
  })

  it('count the addresses of one pass', () => {
    expect(targetCount({ kind: 'random-ports', host: '198.51.100.1', family: 4, count: 7 })).to.equal(7)
    expect(targetCount({ kind: 'list', candidates: [] })).to.equal(0)
  })
})
