/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by the STUN
 * FINGERPRINT attribute
 */

const TABLE = buildTable()

function buildTable (): Uint32Array {
  const table = new Uint32Array(256)

  for (let n = 0; n < 256; n++) {
    let c = n

    for (let k = 0; k < 8; k++) {
      c = (c & 1) !== 0 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
    }

    table[n] = c >>> 0
  }

  return table
}

/**
 * The CRC-32 of `bytes`, as an unsigned 32-bit number
 */
export function crc32 (bytes: Uint8Array): number {
  let crc = 0xFFFFFFFF

  for (let i = 0; i < bytes.length; i++) {
    crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8)
  }

  return (crc ^ 0xFFFFFFFF) >>> 0
}
