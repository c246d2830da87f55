/**
 * The STUN endpoints message (src/protocol/stun-endpoints.proto): what a
 * node that runs this package tells a directly connected peer about the
 * udx sockets it answers STUN on. Encoding, and decoding with validation.
 */

import { MAX_STUN_ENDPOINTS, MAX_STUN_ENDPOINTS_MESSAGE_SIZE } from '../constants.ts'
import { InvalidCoordinationMessageError } from '../errors.ts'
import { bytesToIp, ipToBytes } from './ip.ts'
import { StunEndpoints } from './stun-endpoints.ts'

export interface StunEndpoint {
  /** the socket's own address, or undefined when it listens on every address */
  host?: string
  family: 4 | 6
  port: number
}

export function encodeStunEndpoints (endpoints: StunEndpoint[]): Uint8Array {
  return StunEndpoints.encode({
    endpoints: endpoints.slice(0, MAX_STUN_ENDPOINTS).map(e => ({
      ip: e.host != null ? new Uint8Array(ipToBytes(e.host) ?? new Uint8Array(0)) : new Uint8Array(0),
      family: e.family,
      port: e.port
    }))
  })
}

/**
 * Decode and check a received message; throws InvalidCoordinationMessageError
 * naming the field that breaks the rules of docs/PROTOCOL.md section 12
 */
export function decodeStunEndpoints (bytes: Uint8Array): StunEndpoint[] {
  if (bytes.byteLength > MAX_STUN_ENDPOINTS_MESSAGE_SIZE) {
    throw new InvalidCoordinationMessageError('stunEndpoints', `must be at most ${MAX_STUN_ENDPOINTS_MESSAGE_SIZE} bytes, got ${bytes.byteLength}`)
  }

  let message: StunEndpoints
  try {
    message = StunEndpoints.decode(bytes, { limits: { endpoints: MAX_STUN_ENDPOINTS } })
  } catch (err: any) {
    throw new InvalidCoordinationMessageError('stunEndpoints', `is not a valid StunEndpoints message (${err?.message ?? err})`)
  }

  return message.endpoints.map((e, i) => {
    const field = `stunEndpoints.endpoints[${i}]`

    if (e.family !== 4 && e.family !== 6) {
      throw new InvalidCoordinationMessageError(`${field}.family`, `must be 4 or 6, got ${e.family}`)
    }

    if (e.port < 1 || e.port > 65535) {
      throw new InvalidCoordinationMessageError(`${field}.port`, `must be 1..65535, got ${e.port}`)
    }

    if (e.ip.byteLength === 0) {
      return { family: e.family, port: e.port }
    }

    const host = bytesToIp(e.ip)

    if (host == null || (e.ip.byteLength === 4 ? 4 : 6) !== e.family) {
      throw new InvalidCoordinationMessageError(`${field}.ip`, 'must be empty, or 4 bytes for family 4 and 16 bytes for family 6')
    }

    return { host, family: e.family, port: e.port }
  })
}
