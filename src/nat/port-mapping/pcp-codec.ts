/**
 * The Port Control Protocol (RFC 6887) on the wire: MAP and ANNOUNCE
 * requests and their responses. Pure: bytes in, values out (and back).
 *
 * Every address field is 128 bits; IPv4 addresses travel as IPv4-mapped
 * IPv6 (`::ffff:a.b.c.d`, RFC 6887 section 5). Wire constants live here
 * because they are protocol facts, not tunables.
 */

import { parseIP } from '@chainsafe/is-ip/parse'
import { iPv4FromIPv6, isIPv4mappedIPv6 } from '@chainsafe/netmask'
import { InvalidPcpMessageError } from '../../errors.ts'
import { formatIP } from '../ip.ts'

/** The UDP port a PCP server listens on (RFC 6887 section 19.1) */
export const PCP_SERVER_PORT = 5351

/** The only PCP version (RFC 6887); NAT-PMP (RFC 6886) is version 0 */
export const PCP_VERSION = 2

/** A PCP message is at most this many bytes (RFC 6887 section 7) */
export const PCP_MAX_MESSAGE_BYTES = 1100

/** Common request and response header, in bytes */
export const PCP_HEADER_BYTES = 24

/** The MAP opcode's own fields, in bytes (RFC 6887 section 11.1) */
export const PCP_MAP_BYTES = 36

/** Length of a MAP mapping nonce, in bytes (96 bits) */
export const PCP_NONCE_BYTES = 12

export const PCP_OPCODE = Object.freeze({
  ANNOUNCE: 0,
  MAP: 1,
  PEER: 2
})

/** IANA protocol numbers of the MAP protocol field */
export const PCP_PROTOCOL = Object.freeze({
  ALL: 0,
  TCP: 6,
  UDP: 17
})

/** Result codes (RFC 6887 section 7.4) */
export const PCP_RESULT = Object.freeze({
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13
})

const PROTOCOL_NUMBER: Record<PcpMapRequest['protocol'], number> = { udp: PCP_PROTOCOL.UDP, tcp: PCP_PROTOCOL.TCP, all: PCP_PROTOCOL.ALL }

const RESULT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(PCP_RESULT).map(([name, code]) => [code, name]))

/** The name of a result code, e.g. `NOT_AUTHORIZED` (`RESULT_42` when unknown) */
export function pcpResultName (code: number): string {
  return RESULT_NAMES[code] ?? `RESULT_${code}`
}

/**
 * Result codes after which asking again (later, or after a network change)
 * may succeed; the others mean this server will not do what we ask
 * (RFC 6887 section 7.4: short-lifetime vs long-lifetime errors)
 */
export function isTransientPcpResult (code: number): boolean {
  return code === PCP_RESULT.NETWORK_FAILURE || code === PCP_RESULT.NO_RESOURCES ||
    code === PCP_RESULT.USER_EX_QUOTA || code === PCP_RESULT.CANNOT_PROVIDE_EXTERNAL
}

/** The unspecified address as a MAP suggestion: "any external address" of the family */
const ANY_IPV4 = '0.0.0.0'
const ANY_IPV6 = '::'

export interface PcpMapRequest {
  /** requested lifetime in seconds; 0 deletes the mapping */
  lifetime: number
  /** our address as the server sees it (the request's source address) */
  clientIp: string
  /** 12 random bytes, the same for every renewal of one mapping */
  nonce: Uint8Array
  /** `udp`, `tcp`, or `all` (protocol 0) */
  protocol: 'udp' | 'tcp' | 'all'
  internalPort: number
  /** suggested external port; 0 lets the server choose */
  suggestedExternalPort?: number
  /**
   * suggested external address; by default the unspecified address of the
   * client's family (for IPv6 pinholes the server assigns our own address)
   */
  suggestedExternalIp?: string
}

export interface PcpAnnounceRequest {
  clientIp: string
}

export interface PcpResponse {
  opcode: number
  result: number
  /** granted lifetime, in seconds (for errors: how long the error holds) */
  lifetime: number
  /** the server's epoch: seconds since its state began (RFC 6887 section 8.5) */
  epoch: number
  /** MAP responses only */
  map?: PcpMapResponse
}

export interface PcpMapResponse {
  nonce: Uint8Array
  protocol: number
  internalPort: number
  externalPort: number
  /** canonical text; plain dotted IPv4 for an IPv4-mapped address */
  externalIp: string
  externalFamily: 4 | 6
}

/**
 * Encode a MAP request (RFC 6887 sections 7.1 and 11.1).
 *
 * @throws {InvalidPcpMessageError} when a field is out of range
 */
export function encodePcpMapRequest (request: PcpMapRequest): Uint8Array {
  const out = new Uint8Array(PCP_HEADER_BYTES + PCP_MAP_BYTES)
  const view = new DataView(out.buffer)
  writeRequestHeader(out, PCP_OPCODE.MAP, request.lifetime, request.clientIp)

  if (request.nonce.length !== PCP_NONCE_BYTES) {
    throw new InvalidPcpMessageError('nonce', `the mapping nonce must be ${PCP_NONCE_BYTES} bytes, got ${request.nonce.length}`)
  }

  const protocol = PROTOCOL_NUMBER[request.protocol]
  const externalPort = request.suggestedExternalPort ?? 0
  checkPort(request.internalPort, 'internal port', protocol !== PCP_PROTOCOL.ALL)
  checkPort(externalPort, 'suggested external port', false)
  const clientFamily = isIPv4mappedIPv6(addressBytes(request.clientIp, 'client IP')) ? 4 : 6
  const suggested = request.suggestedExternalIp ?? (clientFamily === 4 ? ANY_IPV4 : ANY_IPV6)

  out.set(request.nonce, 24)
  out[36] = protocol
  view.setUint16(40, request.internalPort)
  view.setUint16(42, externalPort)
  out.set(addressBytes(suggested, 'suggested external IP'), 44)

  return out
}

/**
 * Encode an ANNOUNCE request (RFC 6887 section 14.1): a client may send it
 * to learn whether the server speaks PCP; lifetime 0, no opcode fields.
 */
export function encodePcpAnnounceRequest (request: PcpAnnounceRequest): Uint8Array {
  const out = new Uint8Array(PCP_HEADER_BYTES)
  writeRequestHeader(out, PCP_OPCODE.ANNOUNCE, 0, request.clientIp)
  return out
}

/**
 * Decode a PCP response. Options after the opcode fields are skipped (each
 * length checked); requests, other versions and malformed messages are
 * rejected.
 *
 * @throws {InvalidPcpMessageError} with a machine-readable `reason`
 */
export function decodePcpResponse (data: Uint8Array): PcpResponse {
  if (data.length < 4) {
    throw new InvalidPcpMessageError('too-short', `a PCP response has at least ${PCP_HEADER_BYTES} bytes, got ${data.length}`)
  }

  if (data[0] !== PCP_VERSION) {
    // NAT-PMP servers answer a PCP request with their own version 0 and
    // result 1 (unsupported version), in a 4+ byte message
    throw new InvalidPcpMessageError('version', `PCP version ${PCP_VERSION} expected, got ${data[0]}`)
  }

  if (data.length < PCP_HEADER_BYTES) {
    throw new InvalidPcpMessageError('too-short', `a PCP response has at least ${PCP_HEADER_BYTES} bytes, got ${data.length}`)
  }

  if (data.length > PCP_MAX_MESSAGE_BYTES || data.length % 4 !== 0) {
    throw new InvalidPcpMessageError('length', `a PCP message is a multiple of 4 bytes, at most ${PCP_MAX_MESSAGE_BYTES}; got ${data.length}`)
  }

  if ((data[1] & 0x80) === 0) {
    throw new InvalidPcpMessageError('not-a-response', 'the R bit is 0: this is a request')
  }

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const opcode = data[1] & 0x7f
  const response: PcpResponse = {
    opcode,
    result: data[3],
    lifetime: view.getUint32(4),
    epoch: view.getUint32(8)
  }
  let offset = PCP_HEADER_BYTES

  if (opcode === PCP_OPCODE.MAP && (response.result === PCP_RESULT.SUCCESS || data.length >= PCP_HEADER_BYTES + PCP_MAP_BYTES)) {
    // error responses carry the request's MAP fields too (section 7.2),
    // but a server may cut them; success must have them
    if (data.length < PCP_HEADER_BYTES + PCP_MAP_BYTES) {
      throw new InvalidPcpMessageError('too-short', `a MAP response has at least ${PCP_HEADER_BYTES + PCP_MAP_BYTES} bytes, got ${data.length}`)
    }

    const ip = data.slice(44, 60)
    const mapped = isIPv4mappedIPv6(ip)
    response.map = {
      nonce: data.slice(24, 36),
      protocol: data[36],
      internalPort: view.getUint16(40),
      externalPort: view.getUint16(42),
      externalIp: formatIP(mapped ? iPv4FromIPv6(ip) : ip),
      externalFamily: mapped ? 4 : 6
    }
    offset += PCP_MAP_BYTES
  }

  skipOptions(data, view, offset)
  return response
}

/**
 * 16 address bytes of an IPv4 (mapped) or IPv6 address
 *
 * @throws {InvalidPcpMessageError} when it does not parse
 */
export function addressBytes (host: string, field: string): Uint8Array {
  const bytes = parseIP(host, true)

  if (bytes?.length !== 16) {
    throw new InvalidPcpMessageError('address', `${field} is not an IP address: ${host}`)
  }

  return bytes
}

function writeRequestHeader (out: Uint8Array, opcode: number, lifetime: number, clientIp: string): void {
  if (!Number.isInteger(lifetime) || lifetime < 0 || lifetime > 0xffffffff) {
    throw new InvalidPcpMessageError('lifetime', `the lifetime must be an integer number of seconds, got ${lifetime}`)
  }

  const view = new DataView(out.buffer)
  out[0] = PCP_VERSION
  out[1] = opcode // R = 0
  view.setUint32(4, lifetime)
  out.set(addressBytes(clientIp, 'client IP'), 8)
}

function checkPort (port: number, field: string, nonZero: boolean): void {
  if (!Number.isInteger(port) || port < (nonZero ? 1 : 0) || port > 65535) {
    throw new InvalidPcpMessageError('port', `the ${field} must be an integer from ${nonZero ? 1 : 0} to 65535, got ${port}`)
  }
}

function skipOptions (data: Uint8Array, view: DataView, offset: number): void {
  while (offset < data.length) {
    if (offset + 4 > data.length) {
      throw new InvalidPcpMessageError('option', 'an option header runs past the end of the message')
    }

    const length = view.getUint16(offset + 2)
    const padded = Math.ceil(length / 4) * 4

    if (offset + 4 + padded > data.length) {
      throw new InvalidPcpMessageError('option', `option ${data[offset]} of ${length} bytes runs past the end of the message`)
    }

    offset += 4 + padded
  }
}

/** One epoch reading: the server's epoch and our clock (seconds) when it arrived */
export interface PcpEpochSample {
  epoch: number
  /** client clock, in seconds */
  at: number
}

/**
 * Whether the server lost its state (rebooted, or is another server)
 * between two answers: RFC 6887 section 8.5. The epoch must not go back by
 * more than one second, and must advance like our clock within 1/16 plus
 * two seconds. A client that sees this must re-create its mappings.
 */
export function pcpEpochLost (previous: PcpEpochSample, current: PcpEpochSample): boolean {
  if (current.epoch + 1 < previous.epoch) {
    return true
  }

  const clientDelta = current.at - previous.at
  const serverDelta = current.epoch - previous.epoch

  return clientDelta + 2 < serverDelta - serverDelta / 16 ||
    serverDelta + 2 < clientDelta - clientDelta / 16
}
