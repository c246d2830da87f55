/**
 * Where the default gateway is: the next hops of the default routes, the
 * routers that PCP and NAT-PMP requests go to (UPnP finds its gateways with
 * SSDP instead). On Linux from /proc/net/route and /proc/net/ipv6_route;
 * elsewhere the `gateways` option names them. The parsers are pure.
 */

import { readFile } from 'node:fs/promises'
import { formatIP } from '../ip.ts'

/** RTF_UP | RTF_GATEWAY (linux/route.h) */
const RTF_UP = 0x0001
const RTF_GATEWAY = 0x0002

/** at most this many lines of a route table are read (a router may hold a full table) */
const MAX_ROUTE_LINES = 4096

export interface DefaultGateway {
  /** the next hop; an IPv6 link-local one carries its zone (`fe80::1%eth0`) */
  host: string
  family: 4 | 6
  /** the interface the route leaves through */
  iface: string
  metric: number
}

/**
 * The IPv4 default routes of /proc/net/route text, lowest metric first.
 * Addresses there are 32-bit hex numbers in host (little-endian) order.
 */
export function parseIpv4Routes (text: string): DefaultGateway[] {
  const gateways: DefaultGateway[] = []

  for (const line of text.split('\n').slice(1, MAX_ROUTE_LINES + 1)) {
    const fields = line.trim().split(/\s+/)

    if (fields.length < 8) {
      continue
    }

    const [iface, destination, gateway, flagsHex, , , metric, mask] = fields
    const flags = parseInt(flagsHex, 16)

    if (destination !== '00000000' || mask !== '00000000' || (flags & (RTF_UP | RTF_GATEWAY)) !== (RTF_UP | RTF_GATEWAY) || !/^[0-9A-Fa-f]{8}$/.test(gateway)) {
      continue
    }

    const n = parseInt(gateway, 16)
    const host = formatIP(new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]))

    if (host !== '0.0.0.0') {
      gateways.push({ host, family: 4, iface, metric: Number(metric) || 0 })
    }
  }

  return gateways.sort((a, b) => a.metric - b.metric)
}

/**
 * The IPv6 default routes of /proc/net/ipv6_route text, lowest metric
 * first: destination ::/0 with a next hop (32 hex digits each, network
 * order).
 */
export function parseIpv6Routes (text: string): DefaultGateway[] {
  const gateways: DefaultGateway[] = []

  for (const line of text.split('\n').slice(0, MAX_ROUTE_LINES)) {
    const fields = line.trim().split(/\s+/)

    if (fields.length < 10) {
      continue
    }

    const [destination, prefix, , , nextHop, metric, , , flagsHex, iface] = fields
    const flags = parseInt(flagsHex, 16)

    if (!/^0{32}$/.test(destination) || prefix !== '00' || !/^[0-9a-fA-F]{32}$/.test(nextHop) || /^0{32}$/.test(nextHop) || (flags & RTF_UP) === 0) {
      continue
    }

    const bytes = new Uint8Array(16)

    for (let i = 0; i < 16; i++) {
      bytes[i] = parseInt(nextHop.slice(2 * i, 2 * i + 2), 16)
    }

    const linkLocal = bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80
    const host = formatIP(bytes)
    gateways.push({ host: linkLocal ? `${host}%${iface}` : host, family: 6, iface, metric: parseInt(metric, 16) })
  }

  return gateways.sort((a, b) => a.metric - b.metric)
}

/**
 * The default gateways of one family from the kernel's route tables (Linux).
 * Empty where those files do not exist (other systems): configure
 * `gateways` there.
 */
export async function defaultGateways (family: 4 | 6): Promise<DefaultGateway[]> {
  try {
    const text = await readFile(family === 4 ? '/proc/net/route' : '/proc/net/ipv6_route', 'utf8')
    return family === 4 ? parseIpv4Routes(text) : parseIpv6Routes(text)
  } catch {
    return []
  }
}
