/**
 * IP addresses on the wire: 4 or 16 bytes, network order. Text form is
 * dotted quad for IPv4 and RFC 5952 for IPv6 (lowercase, longest run of two
 * or more zero groups compressed), which is how Node reports datagram
 * sources, so addresses compare as strings.
 */

const IPV4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/

/** 4 bytes for a dotted IPv4 address, 16 for IPv6, undefined if neither */
export function ipToBytes (host: string): Uint8Array | undefined {
  return host.includes(':') ? parseV6(host) : parseV4(host)
}

/** Text form of 4 or 16 address bytes, undefined for any other length */
export function bytesToIp (bytes: Uint8Array): string | undefined {
  if (bytes.byteLength === 4) {
    return Array.from(bytes).join('.')
  }

  if (bytes.byteLength !== 16) {
    return undefined
  }

  const groups: number[] = []

  for (let i = 0; i < 16; i += 2) {
    groups.push((bytes[i] << 8) | bytes[i + 1])
  }

  // longest run of zero groups, length ≥ 2, first one wins a tie
  let bestStart = -1
  let bestLen = 0

  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }

    let j = i

    while (j < 8 && groups[j] === 0) {
      j++
    }

    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }

    i = j
  }

  const hex = groups.map(g => g.toString(16))

  if (bestLen < 2) {
    return hex.join(':')
  }

  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

function parseV4 (host: string): Uint8Array | undefined {
  const parts = host.split('.')

  if (parts.length !== 4 || !parts.every(p => IPV4_PART.test(p))) {
    return undefined
  }

  return new Uint8Array(parts.map(Number))
}

function parseV6 (host: string): Uint8Array | undefined {
  if (host.includes('%')) {
    // zone ids cannot be carried to another host
    return undefined
  }

  const halves = host.split('::')

  if (halves.length > 2) {
    return undefined
  }

  const head = groupsOf(halves[0])
  const tail = halves.length === 2 ? groupsOf(halves[1]) : []

  if (head == null || tail == null) {
    return undefined
  }

  const total = head.length + tail.length

  if ((halves.length === 1 && total !== 8) || (halves.length === 2 && total > 7)) {
    return undefined
  }

  const groups = [...head, ...new Array<number>(8 - total).fill(0), ...tail]
  const out = new Uint8Array(16)

  groups.forEach((g, i) => {
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xFF
  })

  return out
}

/** groups of one side of '::'; a trailing dotted quad counts as two */
function groupsOf (s: string): number[] | undefined {
  if (s === '') {
    return []
  }

  const parts = s.split(':')
  const out: number[] = []

  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]

    if (i === parts.length - 1 && p.includes('.')) {
      const v4 = parseV4(p)

      if (v4 == null) {
        return undefined
      }

      out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3])
    } else if (IPV6_GROUP.test(p)) {
      out.push(parseInt(p, 16))
    } else {
      return undefined
    }
  }

  return out
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
