import { expect } from 'aegir/chai'
import { delayQueueRules, internetRuleset, routerFirewall6, routerRuleset } from '../../src/lab/nft-ruleset.ts'
import { planTopology } from '../../src/lab/topology.ts'
import type { RouterSpec } from '../../src/lab/topology.ts'
import type { NatOptions, SiteOptions } from '../../src/lab/types.ts'

function ruleset (nat: NatOptions): string {
  const topology = planTopology('t', { sites: [{ name: 'a', ...nat }] })
  return routerRuleset(topology.sites[0].router)
}

describe('lab nftables rulesets', () => {
  it('translates a port-restricted NAT with plain snat (port-preserving) and no inbound DNAT', () => {
    const text = ruleset({ nat: 'port-restricted' })
    expect(text).to.include('oifname "wan" snat ip to 203.0.113.100\n')
    expect(text).to.not.include('dnat ip to')
    expect(text).to.not.include('map mappings')
  })

  it('sends all unsolicited inbound UDP of a full-cone NAT through the mappings map', () => {
    const text = ruleset({ nat: 'full-cone', bindingTimeoutMs: 5000 })
    expect(text).to.include('iifname "wan" ip daddr 203.0.113.100 meta l4proto udp dnat ip to udp dport map @mappings')
    expect(text).to.include('timeout 5000ms')
    expect(text).to.include('update @mappings { udp sport : ct original ip saddr . ct original proto-src }')
    expect(text).to.include('type filter hook postrouting priority srcnat + 1')
  })

  it('lets unsolicited inbound UDP of a restricted NAT in only from contacted addresses', () => {
    const text = ruleset({ nat: 'restricted' })
    expect(text).to.include('ip saddr . udp dport @contacted dnat ip to udp dport map @mappings')
    expect(text).to.include('update @contacted { ip daddr . udp sport }')
  })

  it('gives a sequential NAT a pool map stepping by the delta, one counter per protocol', () => {
    const text = ruleset({ nat: 'symmetric-seq', portDelta: 3, firstPort: 10000, poolSize: 1000 })
    expect(text).to.include('typeof numgen inc mod 1000 : udp sport')
    expect(text).to.match(/elements = \{ 0 : 10000, 1 : 10003, 2 : 10006, /)
    expect(text).to.include('999 : 12997 }')
    expect(text).to.include('meta l4proto udp snat ip to 203.0.113.100 : numgen inc mod 1000 map @seqports')
    expect(text).to.include('meta l4proto tcp snat ip to 203.0.113.100 : numgen inc mod 1000 map @seqports')
  })

  it('gives a random symmetric NAT fully-random ports', () => {
    expect(ruleset({ nat: 'symmetric-random' })).to.include('snat ip to 203.0.113.100 fully-random')
  })

  it('hairpins LAN packets to the public address back inside, translated to the public address', () => {
    const text = ruleset({ nat: 'port-restricted', hairpinning: true })
    expect(text).to.include('iifname "lan" ip daddr 203.0.113.100 meta l4proto udp dnat ip to udp dport map @mappings')
    expect(text).to.include('oifname "lan" ip saddr 10.1.0.0/24 ct status dnat snat ip to 203.0.113.100')
  })

  it('does not hairpin unless asked', () => {
    expect(ruleset({ nat: 'full-cone' })).to.not.include('iifname "lan" ip daddr')
  })

  it('forwards everything and translates nothing without NAT', () => {
    const text = ruleset({ nat: 'none' })
    expect(text).to.include('policy accept')
    expect(text).to.not.include('snat')
  })

  it('drops inbound that matches no binding silently (no ICMP from the router)', () => {
    const text = ruleset({ nat: 'symmetric-random' })
    expect(text).to.include('type filter hook forward priority filter; policy drop;')
    expect(text).to.include('meta l4proto { tcp, udp } drop')
  })

  it('drops a lossy link\'s IPv4 packets at random in both directions on the internet bridge', () => {
    const topology = planTopology('t', { sites: [{ name: 'a', nat: 'none', lossPercent: 12.5 }], publicHosts: ['r'] })
    const text = internetRuleset(topology.ports) ?? ''
    expect(text).to.include('table bridge lab')
    expect(text).to.include('meta protocol ip iifname "s1" numgen random mod 10000 < 1250 drop')
    expect(text).to.include('meta protocol ip oifname "s1" numgen random mod 10000 < 1250 drop')
    expect(text).to.not.include('"p0"')
  })

  it('never flushes the internet namespace\'s ruleset, which also holds the delay rules', () => {
    const topology = planTopology('t', { sites: [{ name: 'a', nat: 'none', lossPercent: 1, delayMs: 1 }] })
    expect(internetRuleset(topology.ports)).to.not.include('flush')
  })

  it('needs no internet ruleset when no link is lossy', () => {
    expect(internetRuleset(planTopology('t', { publicHosts: ['r'] }).ports)).to.equal(undefined)
  })

  it('queues a delayed link\'s packets once on the way in and once on the way out, in separate tables', () => {
    const topology = planTopology('t', { sites: [{ name: 'a', nat: 'none', delayMs: 25 }], publicHosts: ['r'] })
    const plan = delayQueueRules(topology.ports)
    expect(plan?.queues).to.deep.equal([{ queue: 2, delayMs: 25 }, { queue: 3, delayMs: 25 }])
    expect(plan?.rules).to.equal([
      '*mangle',
      '-A FORWARD -m physdev --physdev-in s1 -j NFQUEUE --queue-num 2',
      'COMMIT',
      '*filter',
      '-A FORWARD -m physdev --physdev-out s1 -j NFQUEUE --queue-num 3',
      'COMMIT',
      ''
    ].join('\n'))
  })
})

describe('lab nftables rulesets with IPv6', () => {
  const dualStack = (site: SiteOptions): RouterSpec => planTopology('t', { ipv6: true, sites: [site] }).sites[0].router

  it('leaves a dual-stack router\'s IPv4 table exactly as an IPv4-only router\'s, and adds table ip6 lab6 after it', () => {
    for (const nat of ['none', 'full-cone', 'restricted', 'port-restricted', 'symmetric-seq', 'symmetric-random'] as const) {
      const v4 = ruleset({ nat, hairpinning: true })
      const text = routerRuleset(dualStack({ name: 'a', nat, hairpinning: true }))
      expect(text.startsWith(v4), nat).to.equal(true)
      expect(text.slice(v4.length)).to.match(/^\ntable ip6 lab6 \{/)
    }
    expect(routerFirewall6(planTopology('t', { sites: [{ name: 'a', nat: 'port-restricted' }] }).sites[0].router)).to.equal(undefined)
  })

  it('builds a stateful firewall: replies and the LAN pass, new inbound from the WAN is dropped but PMTU and echo', () => {
    expect(routerFirewall6(dualStack({ name: 'a', nat: 'port-restricted' }))).to.equal([
      'table ip6 lab6 {',
      '  chain forward {',
      '    type filter hook forward priority filter; policy drop;',
      '    ct state established,related accept',
      '    ct state invalid drop',
      '    iifname "lan" oifname "wan" accept',
      '    iifname "wan" icmpv6 type { packet-too-big, echo-request } accept',
      '  }',
      '',
      '  chain input {',
      '    type filter hook input priority filter; policy accept;',
      '    ct state established,related accept',
      '    iifname "wan" meta l4proto { tcp, udp } drop',
      '  }',
      '}',
      ''
    ].join('\n'))
  })

  it('filters nothing on an open router, and only tracks the flows', () => {
    const text = routerFirewall6(dualStack({ name: 'a', nat: 'port-restricted', ipv6: 'open' }))
    expect(text).to.include('policy accept;')
    expect(text).to.include('ct state established,related accept')
    expect(text).to.not.include('drop')
    // a site without NAT is open by default
    expect(routerFirewall6(dualStack({ name: 'a', nat: 'none' }))).to.equal(text)
  })

  it('routes IPv6 through a carrier without a filter, the site router behind it firewalls', () => {
    const site = planTopology('t', { ipv6: true, sites: [{ name: 'a', nat: 'port-restricted', carrier: { nat: 'symmetric-random' } }] }).sites[0]
    expect(routerFirewall6(site.carrier as RouterSpec)).to.not.include('drop')
    expect(routerFirewall6(site.router)).to.include('policy drop')
  })

  it('drops IPv6 on lossy links too, but never neighbour discovery', () => {
    const topology = planTopology('t', { ipv6: true, publicHosts: [{ name: 'r', lossPercent: 2.5 }] })
    const text = internetRuleset(topology.ports, { ipv6: true })
    const lines = text?.split('\n') ?? []
    const nd = lines.findIndex(l => l.includes('icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept'))
    const drop6 = lines.findIndex(l => l === '    meta protocol ip6 iifname "p0" numgen random mod 10000 < 250 drop')
    expect(nd).to.be.greaterThan(0)
    expect(drop6).to.be.greaterThan(nd)
    expect(text).to.include('meta protocol ip6 oifname "p0" numgen random mod 10000 < 250 drop')
    expect(text).to.include('meta protocol ip iifname "p0" numgen random mod 10000 < 250 drop')
    // an IPv4-only lab's table is unchanged
    expect(internetRuleset(topology.ports)).to.not.include('ip6')
  })

  it('delays IPv6 through the same queues with ip6tables, letting neighbour discovery pass at once', () => {
    const topology = planTopology('t', { ipv6: true, sites: [{ name: 'a', nat: 'none', delayMs: 25 }], publicHosts: ['r'] })
    const plan = delayQueueRules(topology.ports, { ipv6: true })
    expect(plan?.queues).to.deep.equal([{ queue: 2, delayMs: 25 }, { queue: 3, delayMs: 25 }])
    expect(plan?.rules).to.equal(delayQueueRules(topology.ports)?.rules)
    const nd = ['router-solicitation', 'router-advertisement', 'neighbour-solicitation', 'neighbour-advertisement', 'redirect']
      .map(type => `-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j ACCEPT`)
    expect(plan?.rules6).to.equal([
      '*mangle',
      ...nd,
      '-A FORWARD -m physdev --physdev-in s1 -j NFQUEUE --queue-num 2',
      'COMMIT',
      '*filter',
      ...nd,
      '-A FORWARD -m physdev --physdev-out s1 -j NFQUEUE --queue-num 3',
      'COMMIT',
      ''
    ].join('\n'))
    expect(delayQueueRules(topology.ports)?.rules6).to.equal(undefined)
  })
})
