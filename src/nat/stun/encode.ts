/**
 * STUN message encoder. Attributes are written in a fixed order, FINGERPRINT
 * last; the output is allocated once at its final size.
 */

import { StunEncodeError } from '../../errors.ts'
import { parseIP } from '../ip.ts'
import { crc32 } from './crc32.ts'
import {
  ATTR, CHANGE_IP_FLAG, CHANGE_PORT_FLAG, FINGERPRINT_XOR, HEADER_LENGTH, MAGIC_COOKIE, MAX_TEXT_BYTES,
  TRANSACTION_ID_LENGTH, messageType, xorAddress
} from './message.ts'
import type { StunMessage } from './message.ts'
import type { TransportAddress } from '../nat-profile.ts'

export interface EncodeOptions {
  /** append a FINGERPRINT attribute (default true) */
  fingerprint?: boolean
  /**
   * extra raw attributes written after the known ones and before
   * FINGERPRINT (for tests and for forward compatibility)
   */
  extraAttributes?: Array<{ type: number, value: Uint8Array }>
}

const textEncoder = new TextEncoder()

interface PendingAttribute {
  type: number
  value: Uint8Array
}

/**
 * Encode a STUN message.
 *
 * @throws {StunEncodeError} when an attribute value is out of range
 */
export function encodeStunMessage (message: StunMessage, options: EncodeOptions = {}): Uint8Array {
  if (message.transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new StunEncodeError(`A STUN transaction id is ${TRANSACTION_ID_LENGTH} bytes, got ${message.transactionId.length}: use createTransactionId()`)
  }

  if (message.method < 0 || message.method > 0xfff) {
    throw new StunEncodeError('A STUN method is a 12-bit number')
  }

  const a = message.attributes
  const list: PendingAttribute[] = []

  if (a.mappedAddress != null) {
    list.push({ type: ATTR.MAPPED_ADDRESS, value: encodeAddress(a.mappedAddress) })
  }

  if (a.xorMappedAddress != null) {
    list.push({ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeAddress(a.xorMappedAddress, message.transactionId) })
  }

  if (a.responseOrigin != null) {
    list.push({ type: ATTR.RESPONSE_ORIGIN, value: encodeAddress(a.responseOrigin) })
  }

  if (a.otherAddress != null) {
    list.push({ type: ATTR.OTHER_ADDRESS, value: encodeAddress(a.otherAddress) })
  }

  if (a.changeRequest != null) {
    const flags = (a.changeRequest.changeIp ? CHANGE_IP_FLAG : 0) | (a.changeRequest.changePort ? CHANGE_PORT_FLAG : 0)
    list.push({ type: ATTR.CHANGE_REQUEST, value: Uint8Array.of(0, 0, 0, flags) })
  }

  if (a.responsePort != null) {
    list.push({ type: ATTR.RESPONSE_PORT, value: encodeResponsePort(a.responsePort) })
  }

  if (a.errorCode != null) {
    const { code, reason } = a.errorCode

    if (!Number.isInteger(code) || code < 300 || code > 699) {
      throw new StunEncodeError(`A STUN error code is an integer in 300..699, got ${code}`)
    }

    const text = encodeText(reason, 'ERROR-CODE reason')
    const value = new Uint8Array(4 + text.length)
    value[2] = Math.floor(code / 100)
    value[3] = code % 100
    value.set(text, 4)
    list.push({ type: ATTR.ERROR_CODE, value })
  }

  if (a.unknownAttributes != null) {
    const value = new Uint8Array(a.unknownAttributes.length * 2)
    a.unknownAttributes.forEach((t, i) => {
      value[i * 2] = (t >> 8) & 0xff
      value[i * 2 + 1] = t & 0xff
    })
    list.push({ type: ATTR.UNKNOWN_ATTRIBUTES, value })
  }

  if (a.software != null) {
    list.push({ type: ATTR.SOFTWARE, value: encodeText(a.software, 'SOFTWARE') })
  }

  for (const extra of options.extraAttributes ?? []) {
    list.push(extra)
  }

  if (a.padding != null) {
    if (!Number.isInteger(a.padding) || a.padding < 0 || a.padding > 0xffff - 8) {
      throw new StunEncodeError(`PADDING is 0..65527 bytes, got ${a.padding}`)
    }

    list.push({ type: ATTR.PADDING, value: new Uint8Array(a.padding) })
  }

  const fingerprint = options.fingerprint ?? true
  let size = HEADER_LENGTH

  for (const attr of list) {
    if (attr.value.length > 0xffff) {
      throw new StunEncodeError('A STUN attribute value is at most 65535 bytes')
    }

    size += 4 + paddedLength(attr.value.length)
  }

  if (fingerprint) {
    size += 8
  }

  if (size - HEADER_LENGTH > 0xffff) {
    throw new StunEncodeError('A STUN message body is at most 65535 bytes')
  }

  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  view.setUint16(0, messageType(message.method, message.class))
  view.setUint16(2, size - HEADER_LENGTH)
  view.setUint32(4, MAGIC_COOKIE)
  out.set(message.transactionId, 8)

  let offset = HEADER_LENGTH

  for (const attr of list) {
    view.setUint16(offset, attr.type)
    view.setUint16(offset + 2, attr.value.length)
    out.set(attr.value, offset + 4)
    offset += 4 + paddedLength(attr.value.length)
  }

  if (fingerprint) {
    view.setUint16(offset, ATTR.FINGERPRINT)
    view.setUint16(offset + 2, 4)
    view.setUint32(offset + 4, (crc32(out.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0)
  }

  return out
}

/**
 * The size in bytes that an attribute with a value of `valueLength` bytes
 * takes on the wire
 */
export function attributeSize (valueLength: number): number {
  return 4 + paddedLength(valueLength)
}

/**
 * The wire size of an address attribute for the given family
 */
export function addressAttributeSize (family: 4 | 6): number {
  return attributeSize(family === 4 ? 8 : 20)
}

function paddedLength (length: number): number {
  return (length + 3) & ~3
}

function encodeText (text: string, what: string): Uint8Array {
  const bytes = textEncoder.encode(text)

  if (bytes.length > MAX_TEXT_BYTES || [...text].length >= 128) {
    throw new StunEncodeError(`The STUN ${what} must be shorter than 128 characters and ${MAX_TEXT_BYTES} bytes`)
  }

  return bytes
}

/** the port, then 2 bytes of padding (RFC 5780 section 7.5) */
function encodeResponsePort (port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new StunEncodeError(`RESPONSE-PORT is an integer in 0..65535, got ${port}`)
  }

  return Uint8Array.of(port >> 8, port & 0xff, 0, 0)
}

function encodeAddress (address: TransportAddress, transactionId?: Uint8Array): Uint8Array {
  const bytes = parseIP(address.host)

  if (bytes == null) {
    throw new StunEncodeError(`"${address.host}" is not an IPv4 or IPv6 address`)
  }

  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new StunEncodeError(`A port is an integer in 0..65535, got ${address.port}`)
  }

  const value = new Uint8Array(4 + bytes.length)
  value[1] = bytes.length === 4 ? 0x01 : 0x02
  let port = address.port

  if (transactionId != null) {
    port ^= MAGIC_COOKIE >>> 16
    xorAddress(bytes, transactionId)
  }

  value[2] = port >> 8
  value[3] = port & 0xff
  value.set(bytes, 4)

  return value
}
