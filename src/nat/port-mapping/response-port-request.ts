/**
 * The STUN Binding request that verifies a port mapping: RESPONSE-PORT
 * (RFC 5780 section 7.5) asks the server to send its answer to the
 * request's source IP at another port (the mapped port), and CHANGE-REQUEST
 * (change port) to send it from its other port, so that no earlier flow of
 * ours can let it through. Pure.
 *
 * Encoded here byte by byte to keep its fixed 100-byte layout (padded with
 * SOFTWARE, so a redirected answer is never larger than the request);
 * answers are decoded with the codec of src/nat/stun.
 */

import { crc32 } from '../stun/crc32.ts'
import { CHANGE_PORT_FLAG, FINGERPRINT_XOR, HEADER_LENGTH, MAGIC_COOKIE, TRANSACTION_ID_LENGTH } from '../stun/message.ts'

/** RESPONSE-PORT (RFC 5780 section 7.5), comprehension-required */
export const ATTR_RESPONSE_PORT = 0x0027

const ATTR_CHANGE_REQUEST = 0x0003
const ATTR_SOFTWARE = 0x8022
const ATTR_FINGERPRINT = 0x8028
const BINDING_REQUEST = 0x0001

/**
 * The request is padded to this many bytes (with SOFTWARE: coturn refuses
 * PADDING together with RESPONSE-PORT) so that servers that never answer
 * with more bytes than they got (ours) can answer with XOR-MAPPED-ADDRESS,
 * RESPONSE-ORIGIN and OTHER-ADDRESS, IPv6 included
 */
export const RESPONSE_PORT_REQUEST_BYTES = 100

export interface ResponsePortRequest {
  /** 12 bytes */
  transactionId: Uint8Array
  /** where the answer should go: the mapped external port */
  responsePort: number
  /**
   * ask for the answer from the server's other port
   *
   * @default true
   */
  changePort?: boolean
}

export function encodeResponsePortRequest (request: ResponsePortRequest): Uint8Array {
  if (request.transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new RangeError(`a transaction id has ${TRANSACTION_ID_LENGTH} bytes`)
  }

  if (!Number.isInteger(request.responsePort) || request.responsePort < 1 || request.responsePort > 65535) {
    throw new RangeError(`the response port must be 1-65535, got ${request.responsePort}`)
  }

  const out = new Uint8Array(RESPONSE_PORT_REQUEST_BYTES)
  const view = new DataView(out.buffer)
  view.setUint16(0, BINDING_REQUEST)
  view.setUint16(2, RESPONSE_PORT_REQUEST_BYTES - HEADER_LENGTH)
  view.setUint32(4, MAGIC_COOKIE)
  out.set(request.transactionId, 8)

  let offset = HEADER_LENGTH
  // CHANGE-REQUEST
  view.setUint16(offset, ATTR_CHANGE_REQUEST)
  view.setUint16(offset + 2, 4)
  view.setUint32(offset + 4, request.changePort === false ? 0 : CHANGE_PORT_FLAG)
  offset += 8
  // RESPONSE-PORT: the port, then 2 bytes of padding
  view.setUint16(offset, ATTR_RESPONSE_PORT)
  view.setUint16(offset + 2, 4)
  view.setUint16(offset + 4, request.responsePort)
  offset += 8
  // SOFTWARE fills the rest up to FINGERPRINT (a UTF-8 text: spaces)
  const softwareLength = RESPONSE_PORT_REQUEST_BYTES - offset - 4 - 8
  view.setUint16(offset, ATTR_SOFTWARE)
  view.setUint16(offset + 2, softwareLength)
  out.fill(0x20, offset + 4, offset + 4 + softwareLength)
  offset += 4 + softwareLength
  // FINGERPRINT over everything before it
  view.setUint16(offset, ATTR_FINGERPRINT)
  view.setUint16(offset + 2, 4)
  view.setUint32(offset + 4, (crc32(out.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0)

  return out
}
