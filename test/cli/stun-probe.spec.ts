import { expect } from 'aegir/chai'
import { bestRtt, globalIpv6Addresses, ipv6Answer } from '../../src/cli/stun-probe.ts'
import type { NetworkInterfaceInfo } from 'node:os'

function iface (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo {
  return { address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) } as NetworkInterfaceInfo
}

describe('cli: STUN latency and IPv6 verdicts', () => {
  it('takes the fastest clean sample, and a retransmitted one only when nothing else came', () => {
    expect(bestRtt([])).to.equal(undefined)
    expect(bestRtt([{ rtt: 5, transmissions: 1 }, { rtt: 3, transmissions: 2 }, { rtt: 4, transmissions: 1 }])).to.equal(4)
    expect(bestRtt([{ rtt: 700, transmissions: 2 }, { rtt: 600, transmissions: 3 }])).to.equal(600)
  })

  it('counts only global IPv6 addresses of interfaces as a way to the IPv6 internet', () => {
    expect(globalIpv6Addresses({
      lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
      eth0: [iface('192.0.2.2', 'IPv4'), iface('fe80::1', 'IPv6'), iface('fd00::5', 'IPv6'), iface('2001:db8::5', 'IPv6')]
    })).to.deep.equal(['2001:db8::5'])
    expect(globalIpv6Addresses({ eth0: [iface('192.0.2.2', 'IPv4'), iface('fe80::1', 'IPv6')] })).to.deep.equal([])
  })

  it('calls an IPv6 answer from one of our own addresses untranslated, and any other translated', () => {
    const server = { host: '2001:db8::53', port: 3478 }
    expect(ipv6Answer({ mapped: { host: '2001:DB8::5', port: 4000, family: 6 } }, server, ['2001:db8::5'])).to.deep.include({ status: 'yes', translated: false, server })
    expect(ipv6Answer({ mapped: { host: '2001:db8::99', port: 4000, family: 6 } }, server, ['2001:db8::5'])).to.deep.include({ status: 'yes', translated: true })
  })
})
