/**
 * The connection-open handshake datagrams. They agree on the two UDX stream
 * ids of a new connection before any UDX packet flows.
 *
 * ```
 * byte  0      magic 0xA6
 * byte  1      version (1)
 * byte  2      type: 1 OPEN, 2 ACCEPT, 3 RESET
 * byte  3      reserved, 0
 * bytes 4-11   connection nonce, chosen at random by the dialer
 * bytes 12-15  sender's stream id (uint32 big-endian); 0 in RESET
 * bytes 16-19  the dialer's stream id echoed in ACCEPT; 0 otherwise
 * bytes 20-63  OPEN only: zero padding, so that no answer is larger than the
 *              request that caused it (no amplification)
 * ```
 *
 * The full exchange is in docs/PROTOCOL.md ("Connection-open handshake").
 */

import { DATAGRAM_MAGIC_HANDSHAKE, HANDSHAKE_OPEN_SIZE } from '../constants.ts'

export const HANDSHAKE_VERSION = 1
export const NONCE_LENGTH = 8
const HEADER_LENGTH = 20

export const HandshakeType = {
  OPEN: 1,
  ACCEPT: 2,
  RESET: 3
} as const

export type HandshakeKind = typeof HandshakeType[keyof typeof HandshakeType]

export const HANDSHAKE_TYPE_NAMES: Record<number, string> = { 1: 'OPEN', 2: 'ACCEPT', 3: 'RESET' }

export interface HandshakeMessage {
  type: HandshakeKind
  nonce: Uint8Array
  streamId: number
  echoedStreamId: number
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

export function encodeHandshake (message: HandshakeMessage): Uint8Array {
  if (message.nonce.byteLength !== NONCE_LENGTH) {
    throw new InvalidHandshakeMessageError(`nonce must be ${NONCE_LENGTH} bytes`)
  }

  const length = message.type === HandshakeType.OPEN ? HANDSHAKE_OPEN_SIZE : HEADER_LENGTH
  const buf = new Uint8Array(length)
  const view = new DataView(buf.buffer)
  buf[0] = DATAGRAM_MAGIC_HANDSHAKE
  buf[1] = HANDSHAKE_VERSION
  buf[2] = message.type
  buf.set(message.nonce, 4)
  view.setUint32(12, message.streamId >>> 0)
  view.setUint32(16, message.echoedStreamId >>> 0)
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

  if (type !== HandshakeType.OPEN && type !== HandshakeType.ACCEPT && type !== HandshakeType.RESET) {
    throw new InvalidHandshakeMessageError(`unknown handshake type ${type}`)
  }

  const expectedLength = type === HandshakeType.OPEN ? HANDSHAKE_OPEN_SIZE : HEADER_LENGTH

  if (data.byteLength !== expectedLength) {
    throw new InvalidHandshakeMessageError(`handshake type ${type} must be ${expectedLength} bytes, got ${data.byteLength}`)
  }

  if (data[3] !== 0) {
    throw new InvalidHandshakeMessageError('reserved byte must be 0')
  }

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const streamId = view.getUint32(12)
  const echoedStreamId = view.getUint32(16)

  if (type !== HandshakeType.RESET && streamId === 0) {
    throw new InvalidHandshakeMessageError('stream id must not be 0')
  }

  if (type === HandshakeType.ACCEPT && echoedStreamId === 0) {
    throw new InvalidHandshakeMessageError('ACCEPT must echo the dialer stream id')
  }

  return {
    type: type as HandshakeKind,
    nonce: data.slice(4, 4 + NONCE_LENGTH),
    streamId,
    echoedStreamId
  }
}
