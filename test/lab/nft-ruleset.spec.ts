import { expect } from 'aegir/chai'
import { delayQueueRules, internetRuleset, routerRuleset } from '../../src/lab/nft-ruleset.ts'
import { planTopology } from '../../src/lab/topology.ts'
import type { NatOptions } from '../../src/lab/types.ts'

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
