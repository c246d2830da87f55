import { expect } from 'aegir/chai'
import { LabTopologyError } from '../../src/lab/errors.ts'
import { BLACKHOLE_TABLE, blackholeRuleset, planRebinding, planWanChange } from '../../src/lab/network-changes.ts'
import { planTopology } from '../../src/lab/topology.ts'
import type { RouterSpec } from '../../src/lab/topology.ts'
import type { SiteOptions } from '../../src/lab/types.ts'

function router (site: Omit<SiteOptions, 'name'>): RouterSpec {
  return planTopology('t', { sites: [{ name: 'a', ...site }] }).sites[0].router
}

describe('lab network changes (pure planning)', () => {
  describe('rebinding a socket to a new public port', () => {
    it('puts one snat rule per socket at the top of the translation chain, then deletes only that socket\'s UDP bindings', () => {
      const commands = planRebinding(router({ nat: 'port-restricted' }), [
        { host: '10.1.0.10', port: 40000, newPort: 45000 },
        { host: '10.1.0.11', port: 40001, newPort: 45001 }
      ])
      expect(commands).to.deep.equal([
        ['nft', 'insert', 'rule', 'ip', 'lab', 'postrouting', 'oifname', 'wan', 'ip', 'saddr', '10.1.0.10', 'udp', 'sport', '40000', 'snat', 'ip', 'to', '203.0.113.100:45000'],
        ['nft', 'insert', 'rule', 'ip', 'lab', 'postrouting', 'oifname', 'wan', 'ip', 'saddr', '10.1.0.11', 'udp', 'sport', '40001', 'snat', 'ip', 'to', '203.0.113.100:45001'],
        ['conntrack', '-D', '-p', 'udp', '--orig-src', '10.1.0.10', '--orig-port-src', '40000'],
        ['conntrack', '-D', '-p', 'udp', '--orig-src', '10.1.0.11', '--orig-port-src', '40001']
      ])
    })

    it('works for cone NATs too (their mappings map records the new port after the translation)', () => {
      expect(planRebinding(router({ nat: 'full-cone' }), [{ host: '10.1.0.10', port: 40000, newPort: 45000 }])).to.have.lengthOf(2)
    })

    const refused: Array<[string, Omit<SiteOptions, 'name'>, Array<{ host: string, port: number, newPort: number }>]> = [
      ['a site without NAT', { nat: 'none' }, [{ host: '192.0.2.2', port: 40000, newPort: 45000 }]],
      ['a router behind a carrier NAT', { nat: 'port-restricted', carrier: { nat: 'port-restricted' } }, [{ host: '10.1.0.10', port: 40000, newPort: 45000 }]],
      ['a router that runs miniupnpd', { nat: 'port-restricted', portMapping: true }, [{ host: '10.1.0.10', port: 40000, newPort: 45000 }]],
      ['no socket', { nat: 'port-restricted' }, []],
      ['a host that is not an address', { nat: 'port-restricted' }, [{ host: '10.1.0.10; flush ruleset', port: 40000, newPort: 45000 }]],
      ['port 0', { nat: 'port-restricted' }, [{ host: '10.1.0.10', port: 0, newPort: 45000 }]],
      ['a port above 65535', { nat: 'port-restricted' }, [{ host: '10.1.0.10', port: 40000, newPort: 70000 }]]
    ]
    for (const [what, site, rebindings] of refused) {
      it(`refuses ${what}`, () => {
        expect(() => planRebinding(router(site), rebindings)).to.throw(LabTopologyError)
      })
    }
  })

  describe('blackholing remote addresses', () => {
    it('drops forwarded packets to and from the addresses in a table of its own, before the NAT\'s forward chain', () => {
      const text = blackholeRuleset(['203.0.113.101', '203.0.113.102'])
      expect(text).to.include(`table inet ${BLACKHOLE_TABLE} {`)
      expect(text).to.include('type filter hook forward priority filter - 10; policy accept;')
      expect(text).to.include('ip saddr { 203.0.113.101, 203.0.113.102 } counter drop')
      expect(text).to.include('ip daddr { 203.0.113.101, 203.0.113.102 } counter drop')
      expect(text).to.not.include('flush ruleset')
    })

    it('drops IPv6 addresses too, in the same table', () => {
      const text = blackholeRuleset(['203.0.113.101', '2001:db8:2::10'])
      expect(text).to.include('ip saddr { 203.0.113.101 } counter drop')
      expect(text).to.include('ip6 saddr { 2001:db8:2::10 } counter drop')
      expect(text).to.include('ip6 daddr { 2001:db8:2::10 } counter drop')
    })

    it('refuses an empty list and anything that is not an IP address', () => {
      expect(() => blackholeRuleset([])).to.throw(LabTopologyError)
      expect(() => blackholeRuleset(['203.0.113.1 } accept'])).to.throw(LabTopologyError)
      expect(() => blackholeRuleset(['203.0.113.256'])).to.throw(LabTopologyError)
      expect(() => blackholeRuleset(['2001:db8::1 } accept'])).to.throw(LabTopologyError)
    })
  })

  describe('changing a router\'s WAN address', () => {
    it('adds the new address before removing the old one, with secondaries promoted, and rewrites the NAT for it', () => {
      const before = router({ nat: 'full-cone' })
      const plan = planWanChange(before, '203.0.113.200')
      expect(plan.sysctls).to.deep.equal({ 'net.ipv4.conf.wan.promote_secondaries': '1' })
      expect(plan.ipBatch).to.deep.equal(['addr add 203.0.113.200/24 dev wan', 'addr del 203.0.113.100/24 dev wan'])
      expect(plan.ruleset).to.include('snat ip to 203.0.113.200')
      expect(plan.ruleset).to.include('ip daddr 203.0.113.200 meta l4proto udp dnat')
      expect(plan.ruleset).to.not.include('203.0.113.100')
      expect(plan.router.wanIp).to.equal('203.0.113.200')
      expect(before.wanIp, 'the lab\'s own spec is left alone').to.equal('203.0.113.100')
    })

    it('refuses the same address, an address outside the lab\'s internet, and routers it cannot change', () => {
      expect(() => planWanChange(router({ nat: 'port-restricted' }), '203.0.113.100')).to.throw(LabTopologyError)
      expect(() => planWanChange(router({ nat: 'port-restricted' }), '192.168.1.1')).to.throw(LabTopologyError)
      expect(() => planWanChange(router({ nat: 'port-restricted' }), 'not an ip')).to.throw(LabTopologyError)
      expect(() => planWanChange(router({ nat: 'none' }), '203.0.113.200')).to.throw(LabTopologyError)
      expect(() => planWanChange(router({ nat: 'port-restricted', carrier: { nat: 'symmetric-random' } }), '203.0.113.200')).to.throw(LabTopologyError)
    })
  })
})
