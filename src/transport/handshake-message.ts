/**
 * The connection-open handshake datagrams. They agree on the two UDX stream
 * ids of a new connection before any UDX packet flows.
 *
 * ```
 * byte  0      magic 0xA6
 * byte  1      version (1)
 * byte  2      type: 1 OPEN, 2 ACCEPT, 3 RESET, 4 RETRY
 * byte  3      reserved, 0
 * bytes 4-11   connection nonce, chosen at random by the dialer
 * bytes 12-15  sender's stream id (uint32 big-endian); 0 in RESET and RETRY
 * bytes 16-19  the dialer's stream id echoed in ACCEPT and RETRY; 0 otherwise
 * bytes 20-39  OPEN: the cookie of the listener's last RETRY, or zeros;
 *              RETRY: the cookie (4-byte time bucket, 16-byte HMAC tag)
 * bytes 40-63  OPEN only: zero padding, so that no answer is larger than the
 *              request that caused it (no amplification)
 * ```
 *
 * OPEN is 64 bytes, RETRY 40, ACCEPT and RESET 20. The full exchange is in
 * docs/PROTOCOL.md ("Connection-open handshake").
 */

import { createHmac, timingSafeEqual } from 'node:crypto'
import { DATAGRAM_MAGIC_HANDSHAKE, HANDSHAKE_COOKIE_SIZE, HANDSHAKE_OPEN_SIZE } from '../constants.ts'

export const HANDSHAKE_VERSION = 1
export const NONCE_LENGTH = 8
const HEADER_LENGTH = 20
const RETRY_LENGTH = HEADER_LENGTH + HANDSHAKE_COOKIE_SIZE
const COOKIE_TAG_LENGTH = HANDSHAKE_COOKIE_SIZE - 4

export const HandshakeType = {
  OPEN: 1,
  ACCEPT: 2,
  RESET: 3,
  RETRY: 4
} as const

export type HandshakeKind = typeof HandshakeType[keyof typeof HandshakeType]

export const HANDSHAKE_TYPE_NAMES: Record<number, string> = { 1: 'OPEN', 2: 'ACCEPT', 3: 'RESET', 4: 'RETRY' }

export interface HandshakeMessage {
  type: HandshakeKind
  nonce: Uint8Array
  streamId: number
  echoedStreamId: number
  /**
   * RETRY: the listener's cookie (required). OPEN: the cookie of the last
   * RETRY, if any (absent on the wire as 20 zero bytes).
   */
  cookie?: Uint8Array
}

export class InvalidHandshakeMessageError extends Error {
  static name = 'InvalidHandshakeMessageError'

  constructor (message: string) {
    super(message)
    this.name = 'InvalidHandshakeMessageError'
  }
}

/**
 * Cheap check for the demultiplexer: byte 0 only
 */
export function isHandshakeDatagram (data: Uint8Array): boolean {
  return data.byteLength > 0 && data[0] === DATAGRAM_MAGIC_HANDSHAKE
}

function lengthOf (type: number): number {
  if (type === HandshakeType.OPEN) {
    return HANDSHAKE_OPEN_SIZE
  }

  return type === HandshakeType.RETRY ? RETRY_LENGTH : HEADER_LENGTH
}

export function encodeHandshake (message: HandshakeMessage): Uint8Array {
  if (message.nonce.byteLength !== NONCE_LENGTH) {
    throw new InvalidHandshakeMessageError(`nonce must be ${NONCE_LENGTH} bytes`)
  }

  const carriesCookie = message.type === HandshakeType.OPEN || message.type === HandshakeType.RETRY

  if (message.cookie != null && (!carriesCookie || message.cookie.byteLength !== HANDSHAKE_COOKIE_SIZE)) {
    throw new InvalidHandshakeMessageError(`only OPEN and RETRY carry a cookie, of ${HANDSHAKE_COOKIE_SIZE} bytes`)
  }

  if (message.type === HandshakeType.RETRY && message.cookie == null) {
    throw new InvalidHandshakeMessageError('RETRY must carry a cookie')
  }

  const buf = new Uint8Array(lengthOf(message.type))
  const view = new DataView(buf.buffer)
  buf[0] = DATAGRAM_MAGIC_HANDSHAKE
  buf[1] = HANDSHAKE_VERSION
  buf[2] = message.type
  buf.set(message.nonce, 4)
  view.setUint32(12, message.streamId >>> 0)
  view.setUint32(16, message.echoedStreamId >>> 0)

  if (message.cookie != null) {
    buf.set(message.cookie, HEADER_LENGTH)
  }

  return buf
}

/**
 * Decode and validate a handshake datagram; throws
 * InvalidHandshakeMessageError for anything malformed
 */
export function decodeHandshake (data: Uint8Array): HandshakeMessage {
  if (data.byteLength < HEADER_LENGTH) {
    throw new InvalidHandshakeMessageError(`handshake datagram too short: ${data.byteLength} bytes`)
  }

  if (data[0] !== DATAGRAM_MAGIC_HANDSHAKE) {
    throw new InvalidHandshakeMessageError('not a handshake datagram')
  }

  if (data[1] !== HANDSHAKE_VERSION) {
    throw new InvalidHandshakeMessageError(`unsupported handshake version ${data[1]}`)
  }

  const type = data[2]

  if (type !== HandshakeType.OPEN && type !== HandshakeType.ACCEPT && type !== HandshakeType.RESET && type !== HandshakeType.RETRY) {
    throw new InvalidHandshakeMessageError(`unknown handshake type ${type}`)
  }

  const expectedLength = lengthOf(type)

  if (data.byteLength !== expectedLength) {
    throw new InvalidHandshakeMessageError(`handshake type ${type} must be ${expectedLength} bytes, got ${data.byteLength}`)
  }

  if (data[3] !== 0) {
    throw new InvalidHandshakeMessageError('reserved byte must be 0')
  }

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const streamId = view.getUint32(12)
  const echoedStreamId = view.getUint32(16)

  checkStreamIds(type, streamId, echoedStreamId)

  const message: HandshakeMessage = {
    type: type as HandshakeKind,
    nonce: data.slice(4, 4 + NONCE_LENGTH),
    streamId,
    echoedStreamId
  }

  if (type === HandshakeType.OPEN || type === HandshakeType.RETRY) {
    const cookie = data.slice(HEADER_LENGTH, HEADER_LENGTH + HANDSHAKE_COOKIE_SIZE)

    if (cookie.some(byte => byte !== 0)) {
      message.cookie = cookie
    } else if (type === HandshakeType.RETRY) {
      throw new InvalidHandshakeMessageError('RETRY must carry a cookie')
    }
  }

  return message
}

function checkStreamIds (type: number, streamId: number, echoedStreamId: number): void {
  if ((type === HandshakeType.OPEN || type === HandshakeType.ACCEPT) && streamId === 0) {
    throw new InvalidHandshakeMessageError('stream id must not be 0')
  }

  if (type === HandshakeType.RETRY && streamId !== 0) {
    throw new InvalidHandshakeMessageError('RETRY must carry stream id 0')
  }

  if ((type === HandshakeType.ACCEPT || type === HandshakeType.RETRY) && echoedStreamId === 0) {
    throw new InvalidHandshakeMessageError(`${HANDSHAKE_TYPE_NAMES[type]} must echo the dialer stream id`)
  }
}

/**
 * What a cookie binds: the OPEN's source address and its dialer-chosen
 * fields
 */
export interface CookieSubject {
  /** source IP as the socket reported it */
  host: string
  /** source port */
  port: number
  nonce: Uint8Array
  /** the dialer's stream id */
  streamId: number
}

/**
 * Mint a cookie: the 4-byte time bucket (uint32 big-endian), then the first
 * 16 bytes of HMAC-SHA256(secret, bucket(4) | port(2) | stream id(4) |
 * nonce(8) | host as UTF-8). Everything but the host has a fixed length, so
 * the MAC input is unambiguous.
 */
export function mintCookie (secret: Uint8Array, bucket: number, subject: CookieSubject): Uint8Array {
  const cookie = new Uint8Array(HANDSHAKE_COOKIE_SIZE)
  new DataView(cookie.buffer).setUint32(0, bucket >>> 0)
  cookie.set(cookieTag(secret, bucket, subject), 4)
  return cookie
}

/**
 * The time bucket a cookie claims (not authenticated until verified)
 */
export function cookieBucket (cookie: Uint8Array): number {
  return new DataView(cookie.buffer, cookie.byteOffset, cookie.byteLength).getUint32(0)
}

export type CookieVerdict = 'valid' | 'expired' | 'invalid'

/**
 * Check a cookie against the OPEN that carries it. It is `valid` when its
 * bucket is `currentBucket` or the one before and its tag is the MAC of the
 * subject under the secret of that bucket; `expired` when its bucket is
 * outside that window (the tag is not checked); `invalid` otherwise (forged,
 * minted for another source, nonce or stream id, or under a secret we no
 * longer have). Compares in constant time.
 */
export function verifyCookie (cookie: Uint8Array, subject: CookieSubject, currentBucket: number, secretFor: (bucket: number) => Uint8Array | undefined): CookieVerdict {
  if (cookie.byteLength !== HANDSHAKE_COOKIE_SIZE) {
    return 'invalid'
  }

  const bucket = cookieBucket(cookie)
  const age = (currentBucket - bucket) >>> 0

  if (age > 1) {
    return 'expired'
  }

  const secret = secretFor(bucket)

  if (secret == null) {
    return 'invalid'
  }

  const expected = cookieTag(secret, bucket, subject)

  return timingSafeEqual(expected, cookie.subarray(4)) ? 'valid' : 'invalid'
}

function cookieTag (secret: Uint8Array, bucket: number, subject: CookieSubject): Uint8Array {
  const fixed = new Uint8Array(4 + 2 + 4 + NONCE_LENGTH)
  const view = new DataView(fixed.buffer)
  view.setUint32(0, bucket >>> 0)
  view.setUint16(4, subject.port)
  view.setUint32(6, subject.streamId >>> 0)
  fixed.set(subject.nonce.subarray(0, NONCE_LENGTH), 10)

  const mac = createHmac('sha256', secret)
    .update(fixed)
    .update(subject.host, 'utf8')
    .digest()

  return new Uint8Array(mac.buffer, mac.byteOffset, COOKIE_TAG_LENGTH)
}
