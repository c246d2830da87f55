/**
 * Which addresses a punch may aim at. Pure: text in, scope out.
 *
 * Everything a peer announces (its NAT profile, its candidates) is a claim,
 * and the planner turns claims into datagrams we send. The policy keeps
 * those datagrams on the internet and off our own machine and LAN:
 *
 * - `forbidden` is never a target: loopback (127/8, ::1), link-local
 * (169.254/16, fe80::/10), multicast (224/4, ff00::/8), unspecified
 * (0.0.0.0/8, ::), the broadcast address 255.255.255.255, IPv4-mapped IPv6
 * (::ffff:0:0/96: the peer sends IPv4 as IPv4) and anything that does not
 * parse as an IP address (names, zones, brackets);
 * - `private` is a target only as a LAN candidate of a peer behind the same
 * public IP: RFC 1918 (10/8, 172.16/12, 192.168/16), shared address space
 * (CGNAT, 100.64/10) and IPv6 unique local addresses (fc00::/7);
 * - `public` is everything else, documentation ranges included
 * (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32): the NAT lab
 * uses them as its internet.
 *
 * A test or lab may override the scope of some addresses
 * (`AddressScopeOverride`); real deployments keep the default.
 */

import { parseIP } from '../nat/ip.ts'

export type AddressScope = 'public' | 'private' | 'forbidden'

/**
 * Test/lab-only override of `addressScope`: return a scope for the
 * addresses it knows, undefined to use the default
 */
export type AddressScopeOverride = (host: string) => AddressScope | undefined

const SCOPES = new Set<AddressScope>(['public', 'private', 'forbidden'])

/**
 * The default scope of an IP address in text form (IPv4 dotted quad, IPv6
 * without brackets or zone)
 */
export function addressScope (host: string): AddressScope {
  const b = parseIP(host)

  if (b == null) {
    return 'forbidden'
  }

  return b.length === 4 ? ipv4Scope(b) : ipv6Scope(b)
}

function ipv4Scope (b: Uint8Array): AddressScope {
  if (
    b[0] === 0 || // 0.0.0.0/8, "this network"
    b[0] === 127 || // loopback
    (b[0] === 169 && b[1] === 254) || // link-local
    (b[0] >= 224 && b[0] <= 239) || // multicast
    b.every(x => x === 255) // limited broadcast
  ) {
    return 'forbidden'
  }

  if (
    b[0] === 10 ||
    (b[0] === 172 && (b[1] & 0xF0) === 16) ||
    (b[0] === 192 && b[1] === 168) ||
    (b[0] === 100 && (b[1] & 0xC0) === 64) // shared address space (CGNAT)
  ) {
    return 'private'
  }

  return 'public'
}

function ipv6Scope (b: Uint8Array): AddressScope {
  const zeros = (n: number): boolean => b.subarray(0, n).every(x => x === 0)

  if (
    zeros(16) || // ::
    (zeros(15) && b[15] === 1) || // ::1
    (zeros(10) && b[10] === 0xFF && b[11] === 0xFF) || // ::ffff:0:0/96
    b[0] === 0xFF || // multicast
    (b[0] === 0xFE && (b[1] & 0xC0) === 0x80) // fe80::/10
  ) {
    return 'forbidden'
  }

  if ((b[0] & 0xFE) === 0xFC) {
    // unique local addresses
    return 'private'
  }

  return 'public'
}

/**
 * The default scope combined with an optional override
 */
export interface AddressPolicy {
  /** the override's answer when it has one, else the default */
  scope(host: string): AddressScope
  /** may NAT-facing probes (mappings, observed, predicted, windows, random ports) aim here: public scope only */
  allowsNatTarget(host: string): boolean
  /** may a LAN candidate be probed here (only ever when both peers share a public IP): public or private scope */
  allowsLanTarget(host: string): boolean
}

export function addressPolicy (override?: AddressScopeOverride): AddressPolicy {
  const scope = (host: string): AddressScope => {
    const custom = override?.(host)

    // an answer that is not a scope is ignored
    return custom != null && SCOPES.has(custom) ? custom : addressScope(host)
  }

  return {
    scope,
    allowsNatTarget: host => scope(host) === 'public',
    allowsLanTarget: host => scope(host) !== 'forbidden'
  }
}
