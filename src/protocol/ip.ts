/**
 * IP addresses on the wire: 4 or 16 bytes, network order. Text form is
 * dotted quad for IPv4 and RFC 5952 for IPv6 (lowercase, longest run of two
 * or more zero groups compressed), which is how Node reports datagram
 * sources, so addresses compare as strings.
 */

import { formatIP, parseIP } from '../nat/ip.ts'

/** 4 bytes for a dotted IPv4 address, 16 for IPv6, undefined if neither */
export function ipToBytes (host: string): Uint8Array | undefined {
  return parseIP(host)
}

/** Text form of 4 or 16 address bytes, undefined for any other length */
export function bytesToIp (bytes: Uint8Array): string | undefined {
  if (bytes.byteLength !== 4 && bytes.byteLength !== 16) {
    return undefined
  }

  return formatIP(bytes)
}

export type AddressScope = 'unspecified' | 'loopback' | 'multicast' | 'broadcast' | 'link-local' | 'ipv4-mapped' | 'private' | 'global'

/**
 * What kind of address 4 or 16 bytes are, for the candidate rules of
 * docs/PROTOCOL.md
 */
export function addressScope (b: Uint8Array): AddressScope {
  if (b.byteLength === 4) {
    if (b[0] === 0) {
      return 'unspecified'
    }

    if (b[0] === 127) {
      return 'loopback'
    }

    if (b[0] >= 224 && b[0] <= 239) {
      return 'multicast'
    }

    if (b.every(x => x === 255)) {
      return 'broadcast'
    }

    if (b[0] === 169 && b[1] === 254) {
      return 'link-local'
    }

    if (b[0] === 10 || (b[0] === 172 && (b[1] & 0xF0) === 16) || (b[0] === 192 && b[1] === 168) || (b[0] === 100 && (b[1] & 0xC0) === 64)) {
      return 'private'
    }

    return 'global'
  }

  const zeroPrefix = (n: number): boolean => b.subarray(0, n).every(x => x === 0)

  if (zeroPrefix(16)) {
    return 'unspecified'
  }

  if (zeroPrefix(15) && b[15] === 1) {
    return 'loopback'
  }

  if (zeroPrefix(10) && b[10] === 0xFF && b[11] === 0xFF) {
    return 'ipv4-mapped'
  }

  if (b[0] === 0xFF) {
    return 'multicast'
  }

  if (b[0] === 0xFE && (b[1] & 0xC0) === 0x80) {
    return 'link-local'
  }

  if ((b[0] & 0xFE) === 0xFC) {
    return 'private'
  }

  return 'global'
}
