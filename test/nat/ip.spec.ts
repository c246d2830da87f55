import { expect } from 'aegir/chai'
import { canonicalHost, formatIP, parseIP, sameAddress, sameHost } from '../../src/nat/ip.ts'

describe('nat/ip', () => {
  const roundTrips: Array<[string, string]> = [
    ['192.0.2.1', '192.0.2.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:1234:5678:11:2233:4455:6677', '2001:db8:1234:5678:11:2233:4455:6677'],
    ['1:0:1:1:1:1:1:1', '1:0:1:1:1:1:1:1'],
    ['fe80::', 'fe80::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201']
  ]

  for (const [input, formatted] of roundTrips) {
    it(`parses ${input} and formats it as ${formatted}`, () => {
      const bytes = parseIP(input)
      expect(bytes).to.be.an.instanceOf(Uint8Array)
      expect(formatIP(bytes as Uint8Array)).to.equal(formatted)
    })
  }

  const invalid = ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', ':::', '1::2::3', '12345::',
    '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '::1.2.3', '1:2:3:4:5:6:7::8', 'example.com', '[::1]']

  for (const input of invalid) {
    it(`rejects "${input}"`, () => {
      expect(parseIP(input)).to.be.undefined()
    })
  }

  it('treats an IPv4-mapped IPv6 address as the same host as its IPv4 address', () => {
    expect(canonicalHost('::ffff:192.0.2.1')).to.equal('192.0.2.1')
    expect(sameHost('::ffff:192.0.2.1', '192.0.2.1')).to.be.true()
    expect(sameHost('2001:db8::1', '2001:DB8:0::1')).to.be.true()
    expect(sameHost('192.0.2.1', '192.0.2.2')).to.be.false()
  })

  it('compares transport addresses by host and port', () => {
    expect(sameAddress({ host: '2001:db8::1', port: 1, family: 6 }, { host: '2001:db8:0::1', port: 1, family: 6 })).to.be.true()
    expect(sameAddress({ host: '192.0.2.1', port: 1, family: 4 }, { host: '192.0.2.1', port: 2, family: 4 })).to.be.false()
  })
})
