import { expect } from 'aegir/chai'
import { LabTopologyError } from '../../src/lab/errors.ts'
import { planTopology } from '../../src/lab/topology.ts'

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
