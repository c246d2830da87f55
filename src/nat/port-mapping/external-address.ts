/**
 * Whether a gateway's external address can be a candidate: a router behind
 * another NAT (a carrier-grade NAT, or a second home router) maps ports on
 * an address that the internet cannot reach, and says so only by that
 * address being private or shared. Pure.
 */

import { isIP } from '@chainsafe/is-ip'
import { IpNet } from '@chainsafe/netmask'

/**
 * - `private` RFC 1918 (IPv4) or unique local (IPv6): another NAT in front
 * - `shared` RFC 6598 shared address space (100.64.0.0/10): a carrier-grade
 * NAT in front
 * - `unusable` not an address, unspecified, loopback, link-local, multicast
 * or broadcast: a broken answer
 */
export type ExternalAddressProblem = 'private' | 'shared' | 'unusable'

const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'].map(cidr => new IpNet(cidr))
const SHARED = [new IpNet('100.64.0.0/10')]
const UNUSABLE = [
  '0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '255.255.255.255/32',
  '::/128', '::1/128', 'fe80::/10', 'ff00::/8', '::ffff:0:0/96'
].map(cidr => new IpNet(cidr))

/**
 * What is wrong with `host` as the external address of a port mapping, or
 * undefined when it is a public address. Documentation ranges (RFC 5737,
 * the NAT lab's "internet") count as public.
 */
export function externalAddressProblem (host: string): ExternalAddressProblem | undefined {
  const bare = host.split('%')[0]

  if (!isIP(bare) || UNUSABLE.some(net => net.contains(bare))) {
    return 'unusable'
  }

  if (SHARED.some(net => net.contains(bare))) {
    return 'shared'
  }

  if (PRIVATE.some(net => net.contains(bare))) {
    return 'private'
  }

  return undefined
}
