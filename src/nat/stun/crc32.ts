/**
 * CRC-32 (IEEE 802.3), as used by the STUN FINGERPRINT attribute: Node's
 * own (zlib) implementation
 */

import { crc32 as zlibCrc32 } from 'node:zlib'

/**
 * The CRC-32 of `bytes`, as an unsigned 32-bit number
 */
export function crc32 (bytes: Uint8Array): number {
  return zlibCrc32(bytes) >>> 0
}
