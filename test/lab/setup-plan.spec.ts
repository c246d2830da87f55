import { expect } from 'aegir/chai'
import { planSetup, planTeardown } from '../../src/lab/setup-plan.ts'
import { planTopology } from '../../src/lab/topology.ts'
import type { SetupStep } from '../../src/lab/setup-plan.ts'

describe('lab setup planning', () => {
  const topology = planTopology('p1', {
    sites: [
      { name: 'a', nat: 'port-restricted', bindingTimeoutMs: 4000 },
      { name: 'b', nat: 'symmetric-seq', carrier: { nat: 'symmetric-random' } }
    ],
    publicHosts: ['relay', { name: 'stun', delayMs: 5 }]
  })
  const plan = planSetup(topology)
  const steps = plan.phases.flat()
  const ipLines = (namespace?: string): string[] => steps
    .filter((s): s is Extract<SetupStep, { kind: 'ip-batch' }> => s.kind === 'ip-batch' && s.namespace === namespace)
    .flatMap(s => s.lines)

  it('creates every namespace first, in one batch', () => {
    expect(plan.phases[0]).to.deep.equal([{ kind: 'ip-batch', lines: topology.namespaces.map(ns => `netns add ${ns}`) }])
  })

  it('runs nothing in the root namespace except adding and deleting namespaces', () => {
    expect(ipLines(undefined).every(line => line.startsWith('netns add '))).to.equal(true)
    for (const step of steps) {
      if (step.kind !== 'ip-batch') {
        expect(step.namespace.startsWith('hpl-p1-')).to.equal(true)
      }
    }
  })

  it('creates both ends of every veth pair inside lab namespaces', () => {
    const adds = steps.flatMap(s => s.kind === 'ip-batch' ? s.lines.filter(l => l.startsWith('link add') && l.includes('veth')) : [])
    expect(adds).to.have.length(topology.ports.length + 2 + 1) // internet ports, two LAN hosts, one carrier link
    for (const line of adds) {
      expect(line).to.match(/peer name \S+ netns hpl-p1-\S+$/)
    }
  })

  it('sets each router\'s binding timeout through its own conntrack sysctls', () => {
    const sysctls = steps.filter(s => s.kind === 'sysctl' && s.namespace === topology.sites[0].router.namespace)
    expect(sysctls).to.deep.equal([
      {
        kind: 'sysctl',
        namespace: topology.sites[0].router.namespace,
        values: {
          'net.ipv4.ip_forward': '1',
          'net.netfilter.nf_conntrack_udp_timeout': '4',
          'net.netfilter.nf_conntrack_udp_timeout_stream': '4'
        }
      },
      {
        kind: 'sysctl',
        namespace: topology.sites[0].router.namespace,
        values: { 'net.bridge.bridge-nf-call-iptables': '0' },
        ifPresent: true
      }
    ])
  })

  it('sets sysctls in a last phase, after the rulesets that load conntrack', () => {
    expect(plan.phases[3].every(step => step.kind === 'sysctl')).to.equal(true)
    expect(plan.phases.slice(0, 3).flat().some(step => step.kind === 'sysctl')).to.equal(false)
  })

  it('loads one ruleset per NAT namespace', () => {
    const nft = steps.filter(s => s.kind === 'nft').map(s => s.namespace)
    expect(nft).to.have.members([
      topology.sites[0].router.namespace,
      topology.sites[1].router.namespace,
      topology.sites[1].carrier?.namespace
    ])
  })

  it('routes a router behind a carrier through the carrier, and the carrier to the site LAN', () => {
    expect(ipLines(topology.sites[1].router.namespace)).to.include('route add default via 172.16.2.1 dev wan')
    expect(ipLines(topology.sites[1].carrier?.namespace)).to.include('route add 10.2.0.0/24 via 172.16.2.2 dev lan')
  })

  it('starts a delay stage for the delayed links only', () => {
    expect(plan.delayStage).to.deep.equal({ namespace: topology.internetNamespace, queues: [{ queue: 2, delayMs: 5 }, { queue: 3, delayMs: 5 }] })
  })

  it('tears down by deleting the namespaces', () => {
    expect(planTeardown(['hpl-x-a', 'hpl-x-b'])).to.deep.equal({ kind: 'ip-batch', lines: ['netns delete hpl-x-a', 'netns delete hpl-x-b'] })
  })
})
