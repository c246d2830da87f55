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

describe('lab setup planning with IPv6', () => {
  const sites = [
    { name: 'a', nat: 'port-restricted' as const, bindingTimeoutMs: 4000 },
    { name: 'b', nat: 'symmetric-seq' as const, carrier: { nat: 'symmetric-random' as const } },
    { name: 'c', nat: 'none' as const, ipv6: false }
  ]
  const topology = planTopology('p6', { ipv6: true, sites, publicHosts: ['relay', { name: 'stun', delayMs: 5, lossPercent: 1 }] })
  const plan = planSetup(topology)
  const steps = plan.phases.flat()
  const ipLines = (namespace?: string): string[] => steps
    .filter((s): s is Extract<SetupStep, { kind: 'ip-batch' }> => s.kind === 'ip-batch' && s.namespace === namespace)
    .flatMap(s => s.lines)
  const sysctls = (namespace: string): Record<string, string> => Object.assign({}, ...steps
    .filter((s): s is Extract<SetupStep, { kind: 'sysctl' }> => s.kind === 'sysctl' && s.namespace === namespace)
    .map(s => s.values))
  const [a, b, c] = topology.sites

  it('adds IPv6 addresses without duplicate address detection', () => {
    expect(ipLines(a.hosts[0].namespace)).to.include('addr add 2001:db8:1::10/64 dev eth0 nodad')
    expect(ipLines(a.router.namespace)).to.include.members(['addr add 2001:db8::100/64 dev wan nodad', 'addr add 2001:db8:1::1/64 dev lan nodad'])
    expect(ipLines(topology.publicHosts[0].namespace)).to.include.members(['addr add 2001:db8::10/64 dev eth0 nodad', 'addr add 2001:db8::1:10/64 dev eth0 nodad'])
  })

  it('routes LAN hosts through their router, routers behind a carrier through the carrier, and the carrier to the site', () => {
    expect(ipLines(a.hosts[0].namespace)).to.include('route add ::/0 via 2001:db8:1::1 dev eth0')
    expect(ipLines(b.router.namespace)).to.include('route add ::/0 via 2001:db8:2:ff::1 dev wan')
    expect(ipLines(b.carrier?.namespace)).to.include.members(['addr add 2001:db8::101/64 dev wan nodad', 'addr add 2001:db8:2:ff::1/64 dev lan nodad', 'route add 2001:db8:2::/64 via 2001:db8:2:ff::2 dev lan'])
  })

  it('routes every site /64 from the public hosts and from the other internet-facing routers', () => {
    expect(ipLines(topology.publicHosts[0].namespace)).to.include.members(['route add 2001:db8:1::/64 via 2001:db8::100 dev eth0', 'route add 2001:db8:2::/64 via 2001:db8::101 dev eth0'])
    expect(ipLines(a.router.namespace)).to.include('route add 2001:db8:2::/64 via 2001:db8::101 dev wan')
    expect(ipLines(a.router.namespace).filter(l => l.includes('via 2001:db8::100'))).to.deep.equal([])
    expect(ipLines(b.carrier?.namespace)).to.include('route add 2001:db8:1::/64 via 2001:db8::100 dev wan')
  })

  it('gives an IPv4-only site in a dual-stack lab no IPv6 address, route or sysctl', () => {
    for (const ns of [c.router.namespace, c.hosts[0].namespace]) {
      expect(ipLines(ns).filter(l => l.includes(':'))).to.deep.equal([])
      expect(Object.keys(sysctls(ns)).filter(k => k.includes('ipv6'))).to.deep.equal([])
    }
  })

  it('turns on IPv6 forwarding in routers and carriers and off router advertisements, autoconf and DAD everywhere', () => {
    for (const ns of [a.router.namespace, b.router.namespace, b.carrier?.namespace ?? '']) {
      expect(sysctls(ns)).to.include({
        'net.ipv6.conf.all.forwarding': '1',
        'net.ipv6.conf.wan.accept_ra': '0',
        'net.ipv6.conf.lan.accept_ra': '0',
        'net.ipv6.conf.default.autoconf': '0',
        'net.ipv6.conf.all.accept_dad': '0',
        'net.bridge.bridge-nf-call-ip6tables': '0'
      })
    }
    expect(sysctls(a.hosts[0].namespace)).to.include({ 'net.ipv6.conf.eth0.accept_ra': '0', 'net.ipv6.conf.eth0.autoconf': '0' })
    expect(sysctls(a.hosts[0].namespace)).to.not.have.property('net.ipv6.conf.all.forwarding')
  })

  it('keeps a firewall site\'s pinholes as long as its NAT bindings', () => {
    expect(sysctls(a.router.namespace)).to.include({ 'net.netfilter.nf_conntrack_udp_timeout': '4' })
  })

  it('delays and drops IPv6 on impaired links too', () => {
    const ip6 = steps.filter(s => s.kind === 'ip6tables-restore')
    expect(ip6).to.have.length(1)
    expect(sysctls(topology.internetNamespace)).to.include({ 'net.bridge.bridge-nf-call-iptables': '1', 'net.bridge.bridge-nf-call-ip6tables': '1' })
    const loss = steps.find((s): s is Extract<SetupStep, { kind: 'nft' }> => s.kind === 'nft' && s.namespace === topology.internetNamespace)
    expect(loss?.ruleset).to.include('meta protocol ip6 iifname "p1"')
  })

  it('leaves the plan of an IPv4-only lab as it was', () => {
    const v4 = planSetup(planTopology('p6', { sites, publicHosts: ['relay', { name: 'stun', delayMs: 5, lossPercent: 1 }] }))
    const text = JSON.stringify(v4)
    expect(text).to.not.include('2001:db8')
    expect(text).to.not.include('ipv6')
    expect(text).to.not.include('ip6')
  })
})
