/**
 * STUN message model (RFC 8489, plus the RFC 5780 NAT behaviour discovery
 * attributes). Wire constants live here because they are protocol facts, not
 * tunables.
 */

import type { TransportAddress } from '../nat-profile.ts'

/** Bytes 4..7 of every STUN message (RFC 8489 section 5) */
export const MAGIC_COOKIE = 0x2112A442

/** Size of the fixed STUN header, in bytes */
export const HEADER_LENGTH = 20

/** Size of a transaction id, in bytes (96 bits) */
export const TRANSACTION_ID_LENGTH = 12

/** XORed into the CRC-32 of a message to form FINGERPRINT (RFC 8489 14.7) */
export const FINGERPRINT_XOR = 0x5354554e

/** The Binding method, the only one this package speaks */
export const METHOD_BINDING = 0x001

export type StunClass = 'request' | 'indication' | 'success' | 'error'

export const ATTR = Object.freeze({
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000A,
  XOR_MAPPED_ADDRESS: 0x0020,
  PADDING: 0x0026,
  RESPONSE_PORT: 0x0027,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c
})

/** CHANGE-REQUEST flag bits (RFC 5780 section 7.2) */
export const CHANGE_IP_FLAG = 0x04
export const CHANGE_PORT_FLAG = 0x02

/** SOFTWARE and the ERROR-CODE reason phrase are at most this many bytes */
export const MAX_TEXT_BYTES = 763

export interface ChangeRequest {
  changeIp: boolean
  changePort: boolean
}

export interface ErrorCode {
  /** 300..699 */
  code: number
  reason: string
}

/**
 * The attributes this package understands. Only the first occurrence of an
 * attribute counts (RFC 8489 section 14).
 */
export interface StunAttributes {
  mappedAddress?: TransportAddress
  xorMappedAddress?: TransportAddress
  responseOrigin?: TransportAddress
  otherAddress?: TransportAddress
  changeRequest?: ChangeRequest
  errorCode?: ErrorCode
  /** attribute types listed in UNKNOWN-ATTRIBUTES */
  unknownAttributes?: number[]
  software?: string
  /** length in bytes of the PADDING attribute's value */
  padding?: number
  /**
   * RESPONSE-PORT (RFC 5780 section 7.5, requests only): send the response
   * to the request's source IP at this port
   */
  responsePort?: number
}

export interface StunMessage {
  method: number
  class: StunClass
  /** 12 bytes */
  transactionId: Uint8Array
  attributes: StunAttributes
}

export interface DecodedStunMessage extends StunMessage {
  /** true when the message ended with a FINGERPRINT that matched */
  fingerprint: boolean
  /**
   * comprehension-required attribute types (below 0x8000) that we do not
   * understand; a server answers such a request with 420
   */
  unknownRequired: number[]
}

const CLASS_BITS: Record<StunClass, number> = {
  request: 0x0000,
  indication: 0x0010,
  success: 0x0100,
  error: 0x0110
}

/**
 * Combine a 12-bit method and a class into the 14-bit message type
 * (RFC 8489 section 5: M11..M7 C1 M6..M4 C0 M3..M0)
 */
export function messageType (method: number, cls: StunClass): number {
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | CLASS_BITS[cls]
}

export function methodOf (type: number): number {
  return ((type >> 2) & 0xf80) | ((type >> 1) & 0x070) | (type & 0x00f)
}

export function classOf (type: number): StunClass {
  switch (type & 0x0110) {
    case 0x0000: return 'request'
    case 0x0010: return 'indication'
    case 0x0100: return 'success'
    default: return 'error'
  }
}

/**
 * XOR address bytes in place with the magic cookie followed by the
 * transaction id (RFC 8489 section 14.2)
 */
export function xorAddress (address: Uint8Array, transactionId: Uint8Array): void {
  for (let i = 0; i < address.length; i++) {
    const key = i < 4 ? (MAGIC_COOKIE >>> (24 - i * 8)) & 0xff : transactionId[i - 4]
    address[i] ^= key
  }
}
