/**
 * STUN message decoder. It reads only inside the input, allocates at most a
 * few small objects per attribute (never more than the input size), and its
 * single loop advances at least 4 bytes per step, so any input is decoded or
 * rejected with a StunDecodeError in time linear in its length.
 */

import { StunDecodeError } from '../../errors.ts'
import { formatIP } from '../ip.ts'
import { crc32 } from './crc32.ts'
import {
  ATTR, CHANGE_IP_FLAG, CHANGE_PORT_FLAG, FINGERPRINT_XOR, HEADER_LENGTH, MAGIC_COOKIE, MAX_TEXT_BYTES,
  TRANSACTION_ID_LENGTH, classOf, methodOf, xorAddress
} from './message.ts'
import type { DecodedStunMessage, StunAttributes } from './message.ts'
import type { TransportAddress } from '../nat-profile.ts'

const UNDERSTOOD = new Set<number>([
  ATTR.MAPPED_ADDRESS,
  ATTR.CHANGE_REQUEST,
  ATTR.ERROR_CODE,
  ATTR.UNKNOWN_ATTRIBUTES,
  ATTR.XOR_MAPPED_ADDRESS,
  ATTR.PADDING,
  ATTR.RESPONSE_PORT
])

const textDecoder = new TextDecoder('utf-8', { fatal: false })

/**
 * A cheap check for the datagram demultiplexer: true when the datagram looks
 * like a STUN message (first two bits 0, magic cookie at bytes 4..7, length
 * field a multiple of 4 that matches the datagram size). It does not look at
 * the attributes.
 */
export function isStunMessage (data: Uint8Array): boolean {
  if (data.length < HEADER_LENGTH || (data[0] & 0xC0) !== 0) {
    return false
  }

  const length = (data[2] << 8) | data[3]

  return (length & 3) === 0 &&
    length + HEADER_LENGTH === data.length &&
    data[4] === 0x21 && data[5] === 0x12 && data[6] === 0xA4 && data[7] === 0x42
}

/**
 * The message class from the first two bytes, without decoding; undefined
 * when the data is not a STUN message
 */
export function peekStunClass (data: Uint8Array): ReturnType<typeof classOf> | undefined {
  if (!isStunMessage(data)) {
    return undefined
  }

  return classOf((data[0] << 8) | data[1])
}

/**
 * Decode a STUN message.
 *
 * @throws {StunDecodeError} when the bytes are not a valid STUN message
 */
export function decodeStunMessage (input: Uint8Array): DecodedStunMessage {
  // a Buffer's slice() is a view: decode from a plain Uint8Array so that
  // nothing below can write into the caller's bytes
  const data = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)

  if (data.length < HEADER_LENGTH) {
    throw new StunDecodeError('too-short')
  }

  if ((data[0] & 0xC0) !== 0) {
    throw new StunDecodeError('not-stun')
  }

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)

  if (view.getUint32(4) !== MAGIC_COOKIE) {
    throw new StunDecodeError('bad-magic-cookie')
  }

  const length = view.getUint16(2)

  if ((length & 3) !== 0) {
    throw new StunDecodeError('length-not-multiple-of-4')
  }

  if (length + HEADER_LENGTH !== data.length) {
    throw new StunDecodeError('length-mismatch')
  }

  const type = view.getUint16(0)
  const transactionId = data.slice(8, 8 + TRANSACTION_ID_LENGTH)
  const attributes: StunAttributes = {}
  const unknownRequired: number[] = []
  const seen = new Set<number>()
  let fingerprint = false
  let offset = HEADER_LENGTH

  while (offset < data.length) {
    if (fingerprint) {
      throw new StunDecodeError('attribute-after-fingerprint')
    }

    if (offset + 4 > data.length) {
      throw new StunDecodeError('truncated-attribute-header')
    }

    const attrType = view.getUint16(offset)
    const attrLength = view.getUint16(offset + 2)
    const valueStart = offset + 4
    const next = valueStart + ((attrLength + 3) & ~3)

    if (next > data.length) {
      throw new StunDecodeError('attribute-length-overflow')
    }

    const value = data.subarray(valueStart, valueStart + attrLength)

    if (attrType === ATTR.FINGERPRINT) {
      if (attrLength !== 4) {
        throw new StunDecodeError('bad-fingerprint-length')
      }

      const expected = (crc32(data.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0

      if (view.getUint32(valueStart) !== expected) {
        throw new StunDecodeError('bad-fingerprint')
      }

      fingerprint = true
    } else if (!seen.has(attrType)) {
      seen.add(attrType)
      decodeAttribute(attrType, value, transactionId, attributes, unknownRequired)
    }

    offset = next
  }

  return {
    method: methodOf(type),
    class: classOf(type),
    transactionId,
    attributes,
    fingerprint,
    unknownRequired
  }
}

function decodeAttribute (type: number, value: Uint8Array, transactionId: Uint8Array, attributes: StunAttributes, unknownRequired: number[]): void {
  switch (type) {
    case ATTR.MAPPED_ADDRESS:
      attributes.mappedAddress = decodeAddress(value)
      break
    case ATTR.XOR_MAPPED_ADDRESS:
      attributes.xorMappedAddress = decodeAddress(value, transactionId)
      break
    case ATTR.RESPONSE_ORIGIN:
      attributes.responseOrigin = decodeAddress(value)
      break
    case ATTR.OTHER_ADDRESS:
      attributes.otherAddress = decodeAddress(value)
      break
    case ATTR.CHANGE_REQUEST:
      if (value.length !== 4) {
        throw new StunDecodeError('bad-change-request-length')
      }

      attributes.changeRequest = {
        changeIp: (value[3] & CHANGE_IP_FLAG) !== 0,
        changePort: (value[3] & CHANGE_PORT_FLAG) !== 0
      }
      break
    case ATTR.ERROR_CODE: {
      if (value.length < 4 || value.length - 4 > MAX_TEXT_BYTES) {
        throw new StunDecodeError('bad-error-code-length')
      }

      const cls = value[2] & 0x07
      const number = value[3]

      if (cls < 3 || cls > 6 || number > 99) {
        throw new StunDecodeError('bad-error-code')
      }

      attributes.errorCode = {
        code: cls * 100 + number,
        reason: textDecoder.decode(value.subarray(4))
      }
      break
    }
    case ATTR.UNKNOWN_ATTRIBUTES: {
      if ((value.length & 1) !== 0) {
        throw new StunDecodeError('bad-unknown-attributes-length')
      }

      const list: number[] = []

      for (let i = 0; i < value.length; i += 2) {
        list.push((value[i] << 8) | value[i + 1])
      }

      attributes.unknownAttributes = list
      break
    }
    case ATTR.SOFTWARE:
      if (value.length > MAX_TEXT_BYTES) {
        throw new StunDecodeError('software-too-long')
      }

      attributes.software = textDecoder.decode(value)
      break
    case ATTR.PADDING:
      attributes.padding = value.length
      break
    case ATTR.RESPONSE_PORT:
      attributes.responsePort = decodeResponsePort(value)
      break
    default:
      // comprehension-optional attributes (0x8000 and up) are ignored
      if (type < 0x8000 && !UNDERSTOOD.has(type)) {
        unknownRequired.push(type)
      }
  }
}

/**
 * RESPONSE-PORT: a 16-bit port, then 2 bytes of padding (RFC 5780 section
 * 7.5); a value of just the port is read too
 */
function decodeResponsePort (value: Uint8Array): number {
  if (value.length !== 4 && value.length !== 2) {
    throw new StunDecodeError('bad-response-port-length')
  }

  return (value[0] << 8) | value[1]
}

/**
 * Decode a (XOR-)MAPPED-ADDRESS style value; with a transaction id the
 * XOR-MAPPED-ADDRESS obfuscation is undone
 */
function decodeAddress (value: Uint8Array, transactionId?: Uint8Array): TransportAddress {
  if (value.length < 4) {
    throw new StunDecodeError('bad-address-length')
  }

  const family = value[1]
  let port = (value[2] << 8) | value[3]

  if (family !== 0x01 && family !== 0x02) {
    throw new StunDecodeError('bad-address-family')
  }

  const size = family === 0x01 ? 4 : 16

  if (value.length !== 4 + size) {
    throw new StunDecodeError('bad-address-length')
  }

  const address = value.slice(4, 4 + size)

  if (transactionId != null) {
    port ^= MAGIC_COOKIE >>> 16
    xorAddress(address, transactionId)
  }

  return { host: formatIP(address), port, family: size === 4 ? 4 : 6 }
}
