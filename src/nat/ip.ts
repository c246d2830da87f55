/**
 * IP address text <-> bytes, for the STUN address attributes. Formatting
 * follows RFC 5952 (lowercase, longest zero run compressed), which is also how
 * Node reports datagram sources, so formatted addresses compare as strings.
 */

import type { TransportAddress } from './nat-profile.ts'

const IPV4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/

/**
 * Parse a dotted IPv4 address into 4 bytes, or return undefined
 */
export function parseIPv4 (host: string): Uint8Array | undefined {
  const parts = host.split('.')

  if (parts.length !== 4) {
    return undefined
  }

  const out = new Uint8Array(4)

  for (let i = 0; i < 4; i++) {
    if (!IPV4_PART.test(parts[i])) {
      return undefined
    }

    out[i] = Number(parts[i])
  }

  return out
}

function parseGroups (s: string): number[] | undefined {
  if (s === '') {
    return []
  }

  const values: number[] = []

  for (const g of s.split(':')) {
    if (!IPV6_GROUP.test(g)) {
      return undefined
    }

    values.push(parseInt(g, 16))
  }

  return values
}

/**
 * Parse an IPv6 address (no brackets, no zone) into 16 bytes, or return
 * undefined. Accepts `::` compression and a dotted IPv4 tail.
 */
export function parseIPv6 (host: string): Uint8Array | undefined {
  if (host.length > 45 || host.length < 2) {
    return undefined
  }

  let text = host
  const lastColon = text.lastIndexOf(':')

  if (lastColon !== -1 && text.includes('.', lastColon)) {
    // a dotted IPv4 tail stands for the last two groups
    const v4 = parseIPv4(text.slice(lastColon + 1))

    if (v4 == null) {
      return undefined
    }

    const hi = ((v4[0] << 8) | v4[1]).toString(16)
    const lo = ((v4[2] << 8) | v4[3]).toString(16)
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`
  }

  const halves = text.split('::')

  if (halves.length > 2) {
    return undefined
  }

  const head = parseGroups(halves[0])
  const rest = halves.length === 2 ? parseGroups(halves[1]) : []

  if (head == null || rest == null) {
    return undefined
  }

  let groups: number[] = head

  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length

    if (missing < 1) {
      return undefined
    }

    groups = [...head, ...new Array<number>(missing).fill(0), ...rest]
  }

  if (groups.length !== 8) {
    return undefined
  }

  const out = new Uint8Array(16)

  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >> 8
    out[i * 2 + 1] = groups[i] & 0xff
  }

  return out
}

/**
 * Parse an IPv4 or IPv6 address into 4 or 16 bytes, or return undefined
 */
export function parseIP (host: string): Uint8Array | undefined {
  return host.includes(':') ? parseIPv6(host) : parseIPv4(host)
}

/**
 * Format 4 or 16 address bytes as text (RFC 5952 for IPv6)
 */
export function formatIP (bytes: Uint8Array): string {
  if (bytes.length === 4) {
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`
  }

  const groups: number[] = []

  for (let i = 0; i < 16; i += 2) {
    groups.push((bytes[i] << 8) | bytes[i + 1])
  }

  // find the longest run of two or more zero groups (the first one on a tie)
  let bestStart = -1
  let bestLength = 1

  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }

    let j = i

    while (j < 8 && groups[j] === 0) {
      j++
    }

    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }

    i = j
  }

  const hex = groups.map(g => g.toString(16))

  if (bestStart === -1) {
    return hex.join(':')
  }

  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/**
 * The canonical text of an address (RFC 5952 for IPv6, IPv4-mapped IPv6
 * addresses as plain IPv4), or the input when it does not parse
 */
export function canonicalHost (host: string): string {
  const bytes = parseIP(host)

  if (bytes == null) {
    return host
  }

  if (bytes.length === 16 && isV4Mapped(bytes)) {
    return formatIP(bytes.subarray(12))
  }

  return formatIP(bytes)
}

function isV4Mapped (bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) {
    if (bytes[i] !== 0) {
      return false
    }
  }

  return bytes[10] === 0xff && bytes[11] === 0xff
}

/**
 * True when two hosts are the same address (text forms may differ)
 */
export function sameHost (a: string, b: string): boolean {
  return a === b || canonicalHost(a) === canonicalHost(b)
}

/**
 * True when two transport addresses are the same host and port
 */
export function sameAddress (a: TransportAddress, b: TransportAddress): boolean {
  return a.port === b.port && sameHost(a.host, b.host)
}

/**
 * A compact key for maps: `host:port` with the canonical host
 */
export function addressKey (a: { host: string, port: number }): string {
  return `${canonicalHost(a.host)}|${a.port}`
}

/**
 * The address family of a host, or undefined when it is not an IP address
 */
export function ipFamily (host: string): 4 | 6 | undefined {
  const bytes = parseIP(host)

  if (bytes == null) {
    return undefined
  }

  return bytes.length === 4 ? 4 : 6
}

/**
 * True for the unspecified (wildcard) address, 0.0.0.0 or ::. A socket bound
 * to it has no one local IP: the kernel picks the source per destination.
 */
export function isUnspecified (host: string): boolean {
  const bytes = parseIP(host)

  return bytes != null && bytes.every(b => b === 0)
}
