/**
 * Path datagrams: the challenge and response that prove a direct
 * connection's path and move the connection when the peer's NAT gives it a
 * new public address (docs/PROTOCOL.md, "Path liveness and migration").
 * They travel on the connection's socket outside UDX and are authenticated
 * with a key only the two peers know.
 *
 * ```
 * byte  0      magic 0xA8
 * byte  1      version (1)
 * byte  2      type: 1 CHALLENGE, 2 RESPONSE
 * byte  3      sender's role: 0 initiator, 1 responder (connectDirect)
 * bytes 4-7    receiver's UDX stream id (uint32 big-endian)
 * bytes 8-11   sender's UDX stream id (uint32 big-endian)
 * bytes 12-15  CHALLENGE: the sender's challenge number (1, 2, ...);
 *              RESPONSE: the number of the challenge it answers
 * bytes 16-23  CHALLENGE: 8 random bytes; RESPONSE: the challenge's, echoed
 * bytes 24-39  the first 16 bytes of
 *              HMAC-SHA256(path key, "libp2p-udx-path/1" | bytes 0-23)
 * ```
 *
 * Every datagram is 40 bytes: a response never amplifies its challenge.
 */

import { createHmac, timingSafeEqual } from 'node:crypto'
import { DATAGRAM_MAGIC_PATH, PATH_DATAGRAM_SIZE, PATH_TAG_LENGTH, PATH_VERSION } from '../constants.ts'

export const PATH_NONCE_LENGTH = 8

/** Bytes covered by the MAC (everything before the tag) */
const SIGNED_LENGTH = PATH_DATAGRAM_SIZE - PATH_TAG_LENGTH

/**
 * Prefix of the MAC input: keeps a path tag from ever verifying as the tag
 * of another message under the same key
 */
const MAC_LABEL = new TextEncoder().encode('libp2p-udx-path/1')

export const PathMessageType = {
  CHALLENGE: 1,
  RESPONSE: 2
} as const

export type PathMessageKind = typeof PathMessageType[keyof typeof PathMessageType]

export const PATH_TYPE_NAMES: Record<number, string> = { 1: 'CHALLENGE', 2: 'RESPONSE' }

export interface PathMessage {
  type: PathMessageKind
  /** the sender was the connectDirect initiator */
  senderInitiator: boolean
  /** the receiver's stream id: which connection the datagram is for */
  receiverStreamId: number
  senderStreamId: number
  /** uint32: the challenge number (echoed in a response) */
  seq: number
  /** PATH_NONCE_LENGTH bytes (echoed in a response) */
  nonce: Uint8Array
}

export class InvalidPathDatagramError extends Error {
  static name = 'InvalidPathDatagramError'

  constructor (message: string) {
    super(message)
    this.name = 'InvalidPathDatagramError'
  }
}

/**
 * Cheap check for the demultiplexer: byte 0 only
 */
export function isPathDatagram (data: Uint8Array): boolean {
  return data.byteLength > 0 && data[0] === DATAGRAM_MAGIC_PATH
}

/**
 * Encode and authenticate a path datagram
 */
export function encodePathMessage (message: PathMessage, key: Uint8Array): Uint8Array {
  if (message.nonce.byteLength !== PATH_NONCE_LENGTH) {
    throw new InvalidPathDatagramError(`nonce must be ${PATH_NONCE_LENGTH} bytes`)
  }

  if (message.type !== PathMessageType.CHALLENGE && message.type !== PathMessageType.RESPONSE) {
    throw new InvalidPathDatagramError(`unknown path datagram type ${message.type as number}`)
  }

  const buf = new Uint8Array(PATH_DATAGRAM_SIZE)
  const view = new DataView(buf.buffer)
  buf[0] = DATAGRAM_MAGIC_PATH
  buf[1] = PATH_VERSION
  buf[2] = message.type
  buf[3] = message.senderInitiator ? 0 : 1
  view.setUint32(4, message.receiverStreamId >>> 0)
  view.setUint32(8, message.senderStreamId >>> 0)
  view.setUint32(12, message.seq >>> 0)
  buf.set(message.nonce, 16)
  buf.set(pathTag(key, buf.subarray(0, SIGNED_LENGTH)), SIGNED_LENGTH)

  return buf
}

/**
 * Decode a path datagram's fields without checking its tag (the receiver
 * needs the stream id to find the key). Throws InvalidPathDatagramError for
 * anything malformed.
 */
export function decodePathMessage (data: Uint8Array): PathMessage {
  if (data.byteLength !== PATH_DATAGRAM_SIZE) {
    throw new InvalidPathDatagramError(`path datagram must be ${PATH_DATAGRAM_SIZE} bytes, got ${data.byteLength}`)
  }

  if (data[0] !== DATAGRAM_MAGIC_PATH) {
    throw new InvalidPathDatagramError('not a path datagram')
  }

  if (data[1] !== PATH_VERSION) {
    throw new InvalidPathDatagramError(`unsupported path datagram version ${data[1]}`)
  }

  const type = data[2]

  if (type !== PathMessageType.CHALLENGE && type !== PathMessageType.RESPONSE) {
    throw new InvalidPathDatagramError(`unknown path datagram type ${type}`)
  }

  if (data[3] > 1) {
    throw new InvalidPathDatagramError(`unknown sender role ${data[3]}`)
  }

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)

  return {
    type: type as PathMessageKind,
    senderInitiator: data[3] === 0,
    receiverStreamId: view.getUint32(4),
    senderStreamId: view.getUint32(8),
    seq: view.getUint32(12),
    nonce: data.slice(16, 16 + PATH_NONCE_LENGTH)
  }
}

/**
 * Whether the datagram's tag is the MAC of its first 24 bytes under `key`.
 * Compares in constant time.
 */
export function verifyPathDatagram (data: Uint8Array, key: Uint8Array): boolean {
  if (data.byteLength !== PATH_DATAGRAM_SIZE) {
    return false
  }

  return timingSafeEqual(pathTag(key, data.subarray(0, SIGNED_LENGTH)), data.subarray(SIGNED_LENGTH))
}

function pathTag (key: Uint8Array, signed: Uint8Array): Uint8Array {
  const mac = createHmac('sha256', key)
    .update(MAC_LABEL)
    .update(signed)
    .digest()

  return new Uint8Array(mac.buffer, mac.byteOffset, PATH_TAG_LENGTH)
}
