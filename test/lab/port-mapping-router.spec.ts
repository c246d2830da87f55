import { expect } from 'aegir/chai'
import { LabTopologyError } from '../../src/lab/errors.ts'
import { routerRuleset } from '../../src/lab/nft-ruleset.ts'
import { miniupnpdConfig, parseMiniupnpdRedirects } from '../../src/lab/port-mapping-daemon.ts'
import { planSetup } from '../../src/lab/setup-plan.ts'
import { planTopology } from '../../src/lab/topology.ts'
import type { SetupStep } from '../../src/lab/setup-plan.ts'

describe('lab/port-mapping routers (miniupnpd)', () => {
  const topology = planTopology('abc123', {
    sites: [
      { name: 'a', nat: 'symmetric-random', portMapping: true },
      { name: 'b', nat: 'port-restricted', portMapping: { pcp: false, upnp: false }, carrier: { nat: 'port-restricted' } },
      { name: 'c', nat: 'full-cone' }
    ],
    publicHosts: ['relay']
  })
  const [a, b, c] = topology.sites

  it('resolves the options, with the STUN responder right upstream of each router', () => {
    expect(a.router.portMapping).to.deep.equal({
      upnp: true,
      natPmp: true,
      pcp: true,
      igdVersion: 2,
      minLifetime: 120,
      maxLifetime: 86400,
      stun: { ips: ['203.0.113.2', '198.51.100.2'], ports: [3478, 3479] }
    })
    expect(b.router.portMapping?.stun.ips).to.deep.equal(['172.16.2.1', '172.16.2.3'])
    expect(b.carrier?.gatewayStunIp).to.equal('172.16.2.3')
    expect(c.router.portMapping).to.equal(undefined)
    expect(topology.gatewayStun).to.deep.equal([
      { namespace: topology.internetNamespace, ips: ['203.0.113.2', '198.51.100.2'], ports: [3478, 3479] },
      { namespace: b.carrier?.namespace, ips: ['172.16.2.1', '172.16.2.3'], ports: [3478, 3479] }
    ])
  })

  it('adds no responder and no rules to a lab without port mapping', () => {
    const plain = planTopology('abc124', { sites: [{ name: 'a', nat: 'port-restricted' }] })
    expect(plain.gatewayStun).to.deep.equal([])
    expect(routerRuleset(plain.sites[0].router)).to.not.include('miniupnpd')
  })

  const refusals: Array<{ title: string, portMapping: any, nat?: 'none' }> = [
    { title: 'every protocol off', portMapping: { upnp: false, natPmp: false, pcp: false } },
    { title: 'an unknown IGD version', portMapping: { igdVersion: 3 } },
    { title: 'a longest lifetime below the shortest', portMapping: { minLifetime: 600, maxLifetime: 60 } },
    { title: 'a router without NAT', portMapping: true, nat: 'none' }
  ]

  refusals.forEach(({ title, portMapping, nat }) => {
    it(`refuses ${title}`, () => {
      expect(() => planTopology('abc125', { sites: [{ name: 'a', nat: nat ?? 'port-restricted', portMapping }] })).to.throw(LabTopologyError)
    })
  })

  it('gives the router the table miniupnpd fills, lets in what it serves, and does not translate its own packets', () => {
    const ruleset = routerRuleset(a.router)
    expect(ruleset).to.include('table inet miniupnpd {')
    expect(ruleset).to.include('type nat hook prerouting priority dstnat - 1; policy accept;')
    expect(ruleset).to.include('oifname "wan" ip saddr 203.0.113.100 accept')
    expect(ruleset.indexOf('oifname "wan" ip saddr 203.0.113.100 accept')).to.be.lessThan(ruleset.indexOf('fully-random'))
    expect(ruleset).to.include('iifname "lan" udp dport { 1900, 5351 } accept')
    expect(ruleset).to.include('iifname "lan" tcp dport 5000 accept')
    expect(ruleset).to.include('iifname "wan" ip saddr { 203.0.113.2, 198.51.100.2 } udp sport { 3478, 3479 } accept')
    expect(ruleset).to.not.include('@th,64,8')
  })

  it('drops the requests of a protocol switched off alone (first payload byte: 0 NAT-PMP, 2 PCP)', () => {
    const ruleset = routerRuleset(b.router)
    expect(ruleset).to.include('iifname "lan" udp dport 5351 @th,64,8 2 drop')
    expect(ruleset).to.not.include('@th,64,8 0 drop')
    expect(ruleset.indexOf('@th,64,8 2 drop')).to.be.lessThan(ruleset.indexOf('udp dport { 1900, 5351 } accept'))
  })

  it('lets the carrier answer its router\'s STUN test on its two LAN addresses', () => {
    const carrier = b.carrier
    expect(carrier).to.not.equal(undefined)
    const ruleset = routerRuleset(carrier as NonNullable<typeof carrier>)
    expect(ruleset).to.include('iifname "lan" ip daddr { 172.16.2.1, 172.16.2.3 } udp dport { 3478, 3479 } accept')
    expect(ruleset).to.not.include('miniupnpd')
  })

  it('puts the responder addresses on the internet bridge and the carrier\'s LAN', () => {
    const steps = planSetup(topology).phases.flat().filter((s): s is Extract<SetupStep, { kind: 'ip-batch' }> => s.kind === 'ip-batch')
    const internet = steps.find(s => s.namespace === topology.internetNamespace)
    expect(internet?.lines).to.include.members(['addr add 203.0.113.2/24 dev br0', 'addr add 198.51.100.2/24 dev br0'])
    const carrier = steps.find(s => s.namespace === b.carrier?.namespace && s.lines.some(l => l.startsWith('addr add')))
    expect(carrier?.lines).to.include('addr add 172.16.2.3/24 dev lan')
  })

  it('configures miniupnpd for the router', () => {
    const config = miniupnpdConfig(b.router, 'uuid-1')
    expect(config.split('\n')).to.include.members([
      'ext_ifname=wan', 'listening_ip=lan', 'http_port=5000', 'enable_upnp=no', 'enable_natpmp=yes',
      'ext_perform_stun=yes', 'ext_stun_host=172.16.2.1', 'ext_stun_port=3478', 'upnp_table_name=miniupnpd',
      'upnp_nat_chain=prerouting_miniupnpd', 'secure_mode=yes', 'force_igd_desc_v1=no', 'uuid=uuid-1',
      'allow 1024-65535 10.2.0.0/24 1024-65535', 'deny 0-65535 0.0.0.0/0 0-65535'
    ])
    expect(() => miniupnpdConfig(c.router, 'x')).to.throw()
  })

  it('reads the mappings from miniupnpd\'s DNAT chain', () => {
    const text = [
      'table inet miniupnpd {',
      '\tchain prerouting_miniupnpd {',
      '\t\tiif "wan" @nh,72,8 0x11 th dport 40000 dnat ip to 10.1.0.10:40000',
      '\t\tiif "wan" @nh,72,8 0x6 th dport 8080 dnat ip to 10.1.0.11:80',
      '\t}',
      '}'
    ].join('\n')
    expect(parseMiniupnpdRedirects(text)).to.deep.equal([
      { protocol: 'udp', externalPort: 40000, internalHost: '10.1.0.10', internalPort: 40000 },
      { protocol: 'tcp', externalPort: 8080, internalHost: '10.1.0.11', internalPort: 80 }
    ])
    expect(parseMiniupnpdRedirects('')).to.deep.equal([])
  })
})
