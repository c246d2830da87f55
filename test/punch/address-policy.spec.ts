import { expect } from 'aegir/chai'
import { addressPolicy, addressScope } from '../../src/punch/address-policy.ts'
import type { AddressScope } from '../../src/punch/address-policy.ts'

const TABLE: Array<[string, AddressScope, string]> = [
  // forbidden
  ['127.0.0.1', 'forbidden', 'IPv4 loopback'],
  ['127.255.255.254', 'forbidden', 'the whole of 127/8'],
  ['::1', 'forbidden', 'IPv6 loopback'],
  ['169.254.10.20', 'forbidden', 'IPv4 link-local'],
  ['fe80::1', 'forbidden', 'IPv6 link-local'],
  ['febf:ffff::1', 'forbidden', 'the top of fe80::/10'],
  ['224.0.0.251', 'forbidden', 'IPv4 multicast (mDNS)'],
  ['239.255.255.250', 'forbidden', 'the top of 224/4 (SSDP)'],
  ['ff02::1', 'forbidden', 'IPv6 multicast'],
  ['0.0.0.0', 'forbidden', 'the IPv4 unspecified address'],
  ['0.1.2.3', 'forbidden', 'the rest of 0/8'],
  ['::', 'forbidden', 'the IPv6 unspecified address'],
  ['255.255.255.255', 'forbidden', 'the limited broadcast address'],
  ['::ffff:203.0.113.5', 'forbidden', 'an IPv4-mapped IPv6 address'],
  ['::ffff:cb00:7105', 'forbidden', 'an IPv4-mapped IPv6 address in hex'],
  ['example.com', 'forbidden', 'a name'],
  ['fe80::1%eth0', 'forbidden', 'an address with a zone'],
  ['[2001:db8::1]', 'forbidden', 'an address in brackets'],
  ['203.0.113.256', 'forbidden', 'an octet out of range'],
  ['', 'forbidden', 'nothing'],
  // private
  ['10.1.2.3', 'private', 'RFC 1918 10/8'],
  ['172.16.0.1', 'private', 'the bottom of 172.16/12'],
  ['172.31.255.254', 'private', 'the top of 172.16/12'],
  ['192.168.1.10', 'private', 'RFC 1918 192.168/16'],
  ['100.64.0.1', 'private', 'the bottom of the shared (CGNAT) 100.64/10'],
  ['100.127.255.254', 'private', 'the top of 100.64/10'],
  ['fc00::1', 'private', 'IPv6 unique local fc00::/7'],
  ['fd12:3456::1', 'private', 'IPv6 unique local fd00::/8'],
  // public
  ['203.0.113.10', 'public', 'TEST-NET-3, the NAT lab\'s internet'],
  ['198.51.100.1', 'public', 'TEST-NET-2'],
  ['192.0.2.1', 'public', 'TEST-NET-1'],
  ['2001:db8::1', 'public', 'the IPv6 documentation prefix'],
  ['8.8.8.8', 'public', 'an ordinary public IPv4 address'],
  ['172.15.255.255', 'public', 'just below 172.16/12'],
  ['172.32.0.0', 'public', 'just above 172.16/12'],
  ['100.63.255.255', 'public', 'just below 100.64/10'],
  ['100.128.0.0', 'public', 'just above 100.64/10'],
  ['169.253.1.1', 'public', 'just below 169.254/16'],
  ['223.255.255.255', 'public', 'just below multicast'],
  ['2606:4700::1111', 'public', 'an ordinary global IPv6 address'],
  ['fec0::1', 'public', 'just above fe80::/10 (deprecated site-local)'],
  ['fb00::1', 'public', 'just below fc00::/7']
]

describe('address policy', () => {
  describe('default scope', () => {
    for (const [host, scope, what] of TABLE) {
      it(`calls ${what} (${host === '' ? 'empty' : host}) ${scope}`, () => {
        expect(addressScope(host)).to.equal(scope)
      })
    }
  })

  describe('policy', () => {
    it('allows NAT-facing targets only at public addresses', () => {
      const policy = addressPolicy()

      expect(policy.allowsNatTarget('203.0.113.10')).to.equal(true)
      expect(policy.allowsNatTarget('192.168.1.10')).to.equal(false)
      expect(policy.allowsNatTarget('127.0.0.1')).to.equal(false)
    })

    it('allows LAN targets at private and public addresses, never at forbidden ones', () => {
      const policy = addressPolicy()

      expect(policy.allowsLanTarget('192.168.1.10')).to.equal(true)
      expect(policy.allowsLanTarget('203.0.113.10')).to.equal(true)
      expect(policy.allowsLanTarget('169.254.1.1')).to.equal(false)
      expect(policy.allowsLanTarget('::1')).to.equal(false)
    })

    it('lets a lab override the scope of the addresses it names and keeps the default for the rest', () => {
      const lab = new Map<string, AddressScope>([['10.0.0.1', 'public'], ['203.0.113.99', 'forbidden']])
      const policy = addressPolicy(host => lab.get(host))

      expect(policy.scope('10.0.0.1')).to.equal('public')
      expect(policy.allowsNatTarget('10.0.0.1')).to.equal(true)
      expect(policy.scope('203.0.113.99')).to.equal('forbidden')
      expect(policy.allowsLanTarget('203.0.113.99')).to.equal(false)
      expect(policy.scope('192.168.1.1')).to.equal('private')
      expect(policy.scope('127.0.0.1')).to.equal('forbidden')
    })

    it('ignores an override answer that is not a scope', () => {
      const policy = addressPolicy(() => 'anything' as unknown as AddressScope)

      expect(policy.scope('127.0.0.1')).to.equal('forbidden')
      expect(policy.scope('203.0.113.1')).to.equal('public')
    })
  })
})
