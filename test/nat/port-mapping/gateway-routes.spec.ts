import { expect } from 'aegir/chai'
import { parseIpv4Routes, parseIpv6Routes } from '../../../src/nat/port-mapping/gateway-routes.ts'

const IPV4 = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t50\t00000000\t0\t0\t0
tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0
down0\t00000000\t0102A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0
`

const IPV6 = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000100 00000002 00000000 00000003     eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000002 00000000 00000001     lo
`

describe('nat/port-mapping/gateway-routes', () => {
  it('reads the IPv4 default routes with a gateway, lowest metric first, little-endian addresses', () => {
    expect(parseIpv4Routes(IPV4)).to.deep.equal([
      { host: '192.168.1.1', family: 4, iface: 'wlan0', metric: 50 },
      { host: '10.0.0.1', family: 4, iface: 'eth0', metric: 100 }
    ])
  })

  it('reads the IPv6 default routes, a link-local next hop with its zone', () => {
    expect(parseIpv6Routes(IPV6)).to.deep.equal([
      { host: '2001:db8::1', family: 6, iface: 'eth1', metric: 256 },
      { host: 'fe80::1%eth0', family: 6, iface: 'eth0', metric: 1024 }
    ])
  })

  it('ignores garbage and empty tables', () => {
    expect(parseIpv4Routes('')).to.deep.equal([])
    expect(parseIpv4Routes('header\nnot a route\neth0 00000000 zzzzzzzz 0003 0 0 0 00000000')).to.deep.equal([])
    expect(parseIpv6Routes('x y z')).to.deep.equal([])
  })
})
