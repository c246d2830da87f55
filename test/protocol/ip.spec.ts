import { expect } from 'aegir/chai'
import { addressScope, bytesToIp, ipToBytes } from '../../src/protocol/ip.ts'

describe('protocol ip addresses', () => {
  const roundTrips = ['0.0.0.0', '203.0.113.7', '255.255.255.255', '::', '::1', '2001:db8::1', '2001:db8:0:1:1:1:1:1', '2001:0:0:1::1', 'fe80::1:2', '1::', '::ffff:c000:280']

  for (const ip of roundTrips) {
    it(`round-trips ${ip} in RFC 5952 form`, () => {
      const bytes = ipToBytes(ip)

      expect(bytes).to.not.equal(undefined)
      expect(bytesToIp(bytes as Uint8Array)).to.equal(ip)
    })
  }

  it('canonicalises IPv6 text: lowercase, leading zeros dropped, the longest zero run compressed', () => {
    expect(bytesToIp(ipToBytes('2001:0DB8:0000:0000:0001:0000:0000:0001') as Uint8Array)).to.equal('2001:db8::1:0:0:1')
    expect(bytesToIp(ipToBytes('::ffff:192.0.2.128') as Uint8Array)).to.equal('::ffff:c000:280')
  })

  const invalid = ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', 'a.b.c.d', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'fe80::1%eth0', 'g::1', '::1.2.3']

  for (const ip of invalid) {
    it(`rejects "${ip}"`, () => {
      expect(ipToBytes(ip)).to.equal(undefined)
    })
  }

  it('formats only 4 or 16 bytes', () => {
    expect(bytesToIp(new Uint8Array(5))).to.equal(undefined)
  })

  it('knows address scopes', () => {
    const scope = (ip: string): string => addressScope(ipToBytes(ip) as Uint8Array)

    expect(scope('0.0.0.0')).to.equal('unspecified')
    expect(scope('127.0.0.1')).to.equal('loopback')
    expect(scope('224.0.0.1')).to.equal('multicast')
    expect(scope('255.255.255.255')).to.equal('broadcast')
    expect(scope('169.254.1.1')).to.equal('link-local')
    expect(scope('10.1.2.3')).to.equal('private')
    expect(scope('172.16.0.1')).to.equal('private')
    expect(scope('172.32.0.1')).to.equal('global')
    expect(scope('100.64.0.1')).to.equal('private')
    expect(scope('203.0.113.1')).to.equal('global')
    expect(scope('::')).to.equal('unspecified')
    expect(scope('::1')).to.equal('loopback')
    expect(scope('::ffff:1.2.3.4')).to.equal('ipv4-mapped')
    expect(scope('ff02::1')).to.equal('multicast')
    expect(scope('fe80::1')).to.equal('link-local')
    expect(scope('fd00::1')).to.equal('private')
    expect(scope('2001:db8::1')).to.equal('global')
  })
})
