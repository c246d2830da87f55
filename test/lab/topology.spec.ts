import { expect } from 'aegir/chai'
import { LabTopologyError } from '../../src/lab/errors.ts'
import { planTopology } from '../../src/lab/topology.ts'
import type { SiteSpec } from '../../src/lab/topology.ts'

const DOCUMENTATION_OR_PRIVATE = [
  /^203\.0\.113\.\d+$/,
  /^198\.51\.100\.\d+$/,
  /^192\.0\.2\.\d+$/,
  /^10\.\d+\.\d+\.\d+$/,
  /^172\.(1[6-9]|2\d|3[01])\.\d+\.\d+$/
]

describe('lab topology planning', () => {
  const topology = planTopology('abc123', {
    sites: [
      { name: 'a', nat: 'port-restricted', hosts: 2 },
      { name: 'b', nat: 'none' },
      { name: 'c', nat: 'port-restricted', carrier: { nat: 'symmetric-random' } }
    ],
    publicHosts: ['relay', { name: 'stun', delayMs: 10 }]
  })

  it('prefixes every namespace with hpl-<id>-', () => {
    for (const ns of topology.namespaces) {
      expect(ns).to.match(/^hpl-abc123-/)
    }
    expect(new Set(topology.namespaces).size).to.equal(topology.namespaces.length)
  })

  it('names LAN hosts after their site and public hosts as given', () => {
    expect(topology.sites[0].hosts.map(h => h.name)).to.deep.equal(['a1', 'a2'])
    expect(topology.publicHosts.map(h => h.name)).to.deep.equal(['relay', 'stun'])
  })

  it('gives public hosts one address in each internet subnet', () => {
    expect(topology.publicHosts[0].ips).to.deep.equal(['203.0.113.10', '198.51.100.10'])
    expect(topology.publicHosts[1].ips).to.deep.equal(['203.0.113.11', '198.51.100.11'])
  })

  it('puts NAT sites on 10.x LANs and sites without NAT on public 192.0.2.x LANs', () => {
    expect(topology.sites[0].hosts.map(h => h.ips[0])).to.deep.equal(['10.1.0.10', '10.1.0.11'])
    expect(topology.sites[0].hosts[0].gateway).to.equal('10.1.0.1')
    expect(topology.sites[1].hosts[0].ips[0]).to.equal('192.0.2.2')
    expect(topology.internetRoutes).to.deep.equal([{ subnet: '192.0.2.0/28', via: topology.sites[1].router.wanIp }])
  })

  it('puts a double-NAT site router on a carrier network behind the carrier NAT', () => {
    const site = topology.sites[2]
    expect(site.carrier?.onInternet).to.equal(true)
    expect(site.router.onInternet).to.equal(false)
    expect(site.router.wanIp).to.equal('172.16.3.2')
    expect(site.router.wanGateway).to.equal('172.16.3.1')
    expect(site.publicIp).to.equal(site.carrier?.wanIp)
  })

  it('uses only documentation and private addresses', () => {
    const addresses = [
      ...topology.publicHosts.flatMap(h => h.ips),
      ...topology.sites.flatMap(s => [
        ...s.hosts.flatMap(h => h.ips),
        s.router.wanIp, s.router.lanIp,
        ...(s.carrier != null ? [s.carrier.wanIp, s.carrier.lanIp] : [])
      ])
    ]
    for (const ip of addresses) {
      expect(DOCUMENTATION_OR_PRIVATE.some(re => re.test(ip)), ip).to.equal(true)
    }
  })

  it('gives every internet link its impairments', () => {
    expect(topology.ports.map(p => [p.iface, p.delayMs])).to.deep.equal([['p0', 0], ['p1', 10], ['s2', 0], ['s3', 0], ['s4', 0]])
  })

  const invalid: Array<[string, Parameters<typeof planTopology>[1]]> = [
    ['a site name with a dash', { sites: [{ name: 'a-b', nat: 'none' }] }],
    ['an unknown NAT type', { sites: [{ name: 'a', nat: 'cone' as any }] }],
    ['two sites with one name', { sites: [{ name: 'a', nat: 'none' }, { name: 'a', nat: 'none' }] }],
    ['a public host named like a LAN host', { sites: [{ name: 'a', nat: 'none' }], publicHosts: ['a1'] }],
    ['a binding timeout that is not whole seconds', { sites: [{ name: 'a', nat: 'full-cone', bindingTimeoutMs: 1500 }] }],
    ['a sequential pool below 1,000 ports', { sites: [{ name: 'a', nat: 'symmetric-seq', poolSize: 100 }] }],
    ['a sequential pool beyond port 65535', { sites: [{ name: 'a', nat: 'symmetric-seq', portDelta: 40 }] }],
    ['a port delta on a cone NAT', { sites: [{ name: 'a', nat: 'full-cone', portDelta: 2 }] }],
    ['a loss above 100 %', { sites: [{ name: 'a', nat: 'none', lossPercent: 101 }] }],
    ['a negative delay', { publicHosts: [{ name: 'r', delayMs: -1 }] }],
    ['no LAN hosts', { sites: [{ name: 'a', nat: 'none', hosts: 0 }] }]
  ]

  for (const [what, options] of invalid) {
    it(`rejects ${what}`, () => {
      expect(() => planTopology('x', options)).to.throw(LabTopologyError)
    })
  }
})

describe('lab topology planning with IPv6', () => {
  const topology = planTopology('v6', {
    ipv6: true,
    sites: [
      { name: 'a', nat: 'port-restricted', hosts: 2 },
      { name: 'b', nat: 'none' },
      { name: 'c', nat: 'port-restricted', carrier: { nat: 'symmetric-random' } },
      { name: 'd', nat: 'symmetric-seq', ipv6: 'open' },
      { name: 'e', nat: 'full-cone', ipv6: false }
    ],
    publicHosts: ['relay', { name: 'old', ipv6: false }]
  })
  const site = (name: string): SiteSpec => {
    const found = topology.sites.find(s => s.name === name)
    if (found == null) {
      throw new Error(`no site ${name}`)
    }
    return found
  }

  it('is off unless asked for, and leaves IPv4-only labs as they were', () => {
    const plain = planTopology('v4', { sites: [{ name: 'a', nat: 'port-restricted' }], publicHosts: ['relay'] })
    expect(plain.ipv6).to.equal(false)
    expect(plain.internetRoutes6).to.deep.equal([])
    expect(plain.sites[0].ipv6).to.equal(undefined)
    expect(plain.sites[0].router.ipv6).to.equal(undefined)
    expect(plain.publicHosts[0].ips6).to.equal(undefined)
    expect(plain.sites[0].hosts[0].ips6).to.equal(undefined)
  })

  it('turns IPv6 on for the lab when a site asks for a mode, and refuses a contradiction', () => {
    expect(planTopology('x', { sites: [{ name: 'a', nat: 'port-restricted', ipv6: 'firewall' }, { name: 'b', nat: 'port-restricted' }] }).sites.map(s => s.ipv6?.mode))
      .to.deep.equal(['firewall', 'firewall'])
    expect(planTopology('x', { sites: [{ name: 'a', nat: 'port-restricted', ipv6: false }] }).ipv6).to.equal(false)
    expect(() => planTopology('x', { ipv6: false, sites: [{ name: 'a', nat: 'port-restricted', ipv6: 'open' }] })).to.throw(LabTopologyError, /ipv6: false/)
    expect(() => planTopology('x', { ipv6: true, sites: [{ name: 'a', nat: 'port-restricted', ipv6: 'nat66' as any }] })).to.throw(LabTopologyError, /firewall/)
  })

  it('puts a firewall in front of NAT sites and leaves sites without NAT open by default', () => {
    expect(topology.sites.map(s => s.ipv6?.mode ?? false)).to.deep.equal(['firewall', 'open', 'firewall', 'open', false])
    expect(site('a').ipv6?.truth).to.deep.equal({ mode: 'firewall', translation: 'none', mapping: 'EIM', filtering: 'APDF', allocation: 'preserving' })
    expect(site('b').ipv6?.truth.filtering).to.equal('EIF')
  })

  it('gives public hosts two addresses of 2001:db8::/64, written like their IPv4 ones', () => {
    expect(topology.publicHosts[0].ips6).to.deep.equal(['2001:db8::10', '2001:db8::1:10'])
    expect(topology.publicHosts[1].ips6).to.equal(undefined)
  })

  it('numbers each site\'s /64 after the site, and routers like their IPv4 WAN addresses', () => {
    expect(site('a').ipv6?.prefix).to.equal('2001:db8:1::/64')
    expect(site('a').hosts.map(h => [h.ips6, h.gateway6])).to.deep.equal([[['2001:db8:1::10'], '2001:db8:1::1'], [['2001:db8:1::11'], '2001:db8:1::1']])
    expect(site('a').router.ipv6).to.deep.equal({ mode: 'firewall', wanIp: '2001:db8::100', lanIp: '2001:db8:1::1', lanSubnet: '2001:db8:1::/64', prefixLength: 64 })
    expect(site('b').router.ipv6?.wanIp).to.equal('2001:db8::101')
    expect(site('b').hosts[0].ips6).to.deep.equal(['2001:db8:2::10'])
    expect(site('d').router.ipv6?.wanIp).to.equal('2001:db8::103')
  })

  it('routes IPv6 through a carrier as a plain router, on a carrier link /64', () => {
    const c = site('c')
    expect(c.carrier?.ipv6).to.deep.equal({ mode: 'open', wanIp: '2001:db8::102', lanIp: '2001:db8:3:ff::1', lanSubnet: '2001:db8:3:ff::/64', prefixLength: 64 })
    expect(c.router.ipv6).to.deep.equal({ mode: 'firewall', wanIp: '2001:db8:3:ff::2', wanGateway: '2001:db8:3:ff::1', lanIp: '2001:db8:3::1', lanSubnet: '2001:db8:3::/64', prefixLength: 64 })
  })

  it('keeps an IPv4-only site without any IPv6', () => {
    expect(site('e').ipv6).to.equal(undefined)
    expect(site('e').router.ipv6).to.equal(undefined)
    expect(site('e').hosts[0].ips6).to.equal(undefined)
  })

  it('routes every dual-stack site\'s /64 via its internet-facing router', () => {
    expect(topology.internetRoutes6).to.deep.equal([
      { subnet: '2001:db8:1::/64', via: '2001:db8::100' },
      { subnet: '2001:db8:2::/64', via: '2001:db8::101' },
      { subnet: '2001:db8:3::/64', via: '2001:db8::102' },
      { subnet: '2001:db8:4::/64', via: '2001:db8::103' }
    ])
  })

  it('uses documentation addresses (2001:db8::/32) only', () => {
    const all = [
      ...topology.publicHosts.flatMap(h => h.ips6 ?? []),
      ...topology.sites.flatMap(s => [...s.hosts.flatMap(h => h.ips6 ?? []), s.router.ipv6?.wanIp, s.router.ipv6?.lanIp, s.carrier?.ipv6?.wanIp, s.carrier?.ipv6?.lanIp])
    ].filter((ip): ip is string => ip != null)
    expect(all.length).to.be.greaterThan(10)
    for (const ip of all) {
      expect(ip).to.match(/^2001:db8:/)
      // canonical text (RFC 5952), as conntrack and Node print it
      expect(new URL(`http://[${ip}]/`).hostname).to.equal(`[${ip}]`)
    }
    expect(new Set(all).size).to.equal(all.length)
  })
})
