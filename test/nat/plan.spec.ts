import { expect } from 'aegir/chai'
import { createProbePlan, validateProbePlan } from '../../src/nat/discovery/plan.ts'
import type { ProbePlan, ProbeStep } from '../../src/nat/discovery/plan.ts'

const SERVERS = [{ host: '198.51.100.1', port: 3478 }, { host: '192.0.2.1', port: 3478 }]

/** every step that `step` waits for, directly or through others */
function ancestors (plan: ProbePlan, step: ProbeStep): Set<string> {
  const byId = new Map(plan.steps.map(s => [s.id, s]))
  const out = new Set<string>()
  const queue = [...step.after]

  while (queue.length > 0) {
    const id = queue.pop() as string

    if (!out.has(id)) {
      out.add(id)
      queue.push(...(byId.get(id)?.after ?? []))
    }
  }

  return out
}

describe('nat/discovery plan', () => {
  it('is valid: unique ids, dependencies on earlier steps only', () => {
    expect(validateProbePlan(createProbePlan(SERVERS))).to.deep.equal([])
  })

  it('runs mapping test I, filtering tests II and III, then mapping tests II, III and IV per server', () => {
    const plan = createProbePlan([SERVERS[0]])
    expect(plan.steps.map(s => s.test)).to.deep.equal(['mapping-I', 'filtering-II', 'filtering-III', 'mapping-II', 'mapping-III', 'mapping-IV'])
    expect(plan.steps.find(s => s.test === 'filtering-II')?.change).to.deep.equal({ ip: true, port: true })
    expect(plan.steps.find(s => s.test === 'filtering-III')?.change).to.deep.equal({ ip: false, port: true })
  })

  it('sends nothing to any other address from the main socket before every filtering test on it has finished', () => {
    const plan = createProbePlan(SERVERS)
    const filtering = plan.steps.filter(s => s.change != null).map(s => s.id)

    for (const step of plan.steps) {
      if (step.change == null && (step.target.ip === 'other' || step.target.port === 'other')) {
        expect([...ancestors(plan, step)], step.id).to.include.members(filtering)
      }
    }
  })

  it('chains the mapping tests of a server so the NAT makes the mappings in a known order', () => {
    const plan = createProbePlan([SERVERS[0]])
    const iv = plan.steps.find(s => s.test === 'mapping-IV') as ProbeStep
    expect([...ancestors(plan, iv)]).to.include.members(['0/mapping-I', '0/mapping-II', '0/mapping-III'])
  })

  it('has only one binding request per server without RFC 5780', () => {
    const plan = createProbePlan(SERVERS, { rfc5780: false })
    expect(plan.steps.map(s => s.id)).to.deep.equal(['0/mapping-I', '1/mapping-I'])
  })

  it('with fresh sockets: an allocation burst right after mapping test I, filtering on a socket per server that sends nowhere else', () => {
    const plan = createProbePlan(SERVERS, { allocationSockets: 3, filteringSockets: true })
    expect(validateProbePlan(plan)).to.deep.equal([])
    expect(plan.steps.slice(0, 5).map(s => s.id)).to.deep.equal(['0/mapping-I', '1/mapping-I', 'allocation/0', 'allocation/1', 'allocation/2'])

    const allocation = plan.steps.filter(s => s.test === 'allocation')
    expect(allocation.map(s => [s.server, s.socket, s.after.length])).to.deep.equal([[0, 'allocation-0', 0], [1, 'allocation-1', 0], [0, 'allocation-2', 0]])

    for (const step of plan.steps.filter(s => s.change != null)) {
      expect(step.socket, step.id).to.equal(`filtering-${step.server}`)
    }

    // every socket that runs filtering tests runs nothing else
    for (const socket of new Set(plan.steps.filter(s => s.change != null).map(s => s.socket))) {
      expect(plan.steps.filter(s => s.socket === socket).every(s => s.change != null)).to.equal(true)
    }

    // so the main socket's mapping tests need not wait for them
    const ii = plan.steps.find(s => s.id === '0/mapping-II') as ProbeStep
    expect([...ancestors(plan, ii)]).to.deep.equal(['0/mapping-I'])
  })

  it('on the main socket, a server\'s first request waits for the filtering tests of the servers before it', () => {
    const three = [...SERVERS, { host: '198.51.100.1', port: 3479 }]
    const plan = createProbePlan(three, { allocationSockets: 2 })
    expect(validateProbePlan(plan)).to.deep.equal([])
    const byId = new Map(plan.steps.map(s => [s.id, s]))

    expect(byId.get('0/mapping-I')?.after).to.deep.equal([])
    expect(byId.get('1/mapping-I')?.after).to.deep.equal(['0/filtering-II', '0/filtering-III'])
    expect(byId.get('2/mapping-I')?.after).to.deep.equal(['0/filtering-II', '0/filtering-III', '1/filtering-II', '1/filtering-III'])
    // the allocation burst needs nothing: its pacing slots follow the first request
    expect(plan.steps.slice(0, 5).map(s => s.id)).to.deep.equal(['0/mapping-I', '0/filtering-II', '0/filtering-III', 'allocation/0', 'allocation/1'])
    expect(plan.steps.filter(s => s.test === 'allocation').every(s => s.after.length === 0)).to.equal(true)
  })

  it('with fresh filtering sockets, every server\'s first request starts at once', () => {
    const plan = createProbePlan(SERVERS, { filteringSockets: true })
    expect(plan.steps.filter(s => s.test === 'mapping-I').map(s => s.after)).to.deep.equal([[], []])
  })

  it('refuses a negative number of allocation sockets', () => {
    expect(() => createProbePlan(SERVERS, { allocationSockets: -1 })).to.throw(RangeError)
  })

  it('reports dependencies on later or missing steps and unknown servers', () => {
    const plan: ProbePlan = {
      servers: [SERVERS[0]],
      steps: [
        { id: 'a', server: 0, test: 'mapping-I', target: { ip: 'primary', port: 'primary' }, after: ['b'] },
        { id: 'b', server: 1, test: 'mapping-II', target: { ip: 'other', port: 'primary' }, after: [] },
        { id: 'b', server: 0, test: 'mapping-II', target: { ip: 'other', port: 'primary' }, after: [] }
      ]
    }
    expect(validateProbePlan(plan)).to.have.length(3)
  })
})
