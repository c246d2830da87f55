/**
 * Probe datagrams: small, fixed-size, authenticated datagrams that punch and
 * confirm the direct path. They share the socket with UDX packets (first
 * bytes FF 01), STUN (first two bits 00, magic cookie at bytes 4..7) and the
 * transport handshake (0xA6), and can be told apart by byte 0 alone.
 *
 * Layout (36 bytes, big-endian):
 *
 * | offset | size | field                                                |
 * |--------|------|------------------------------------------------------|
 * | 0      | 1    | magic 0xA7                                           |
 * | 1      | 1    | version 0x01                                         |
 * | 2      | 1    | type: 1 probe, 2 ack, 3 keepalive, 4 abort, 5 select |
 * | 3      | 1    | sender: 0 initiator (offerer), 1 responder           |
 * | 4      | 8    | session id                                           |
 * | 12     | 4    | sequence number (ack: the acknowledged probe's)      |
 * | 16     | 4    | timestamp, sender's clock ms mod 2^32 (ack: echoed)  |
 * | 20     | 16   | HMAC-SHA256(secret, bytes 0..19), first 16 bytes     |
 */

import { createHmac, timingSafeEqual } from 'node:crypto'
import {
  PROBE_MAGIC,
  PROBE_SIZE,
  PROBE_TAG_LENGTH,
  PROBE_VERSION,
  SESSION_ID_LENGTH,
  SESSION_SECRET_LENGTH
} from '../constants.ts'
import { InvalidProbeError, ProbeAuthenticationError } from '../errors.ts'
import type { Side } from './plan.ts'

/**
 * - `probe` punches and asks for an ack
 * - `ack` answers a probe (echoes its seq and timestamp)
 * - `keepalive` keeps the mapping of a selected path alive
 * - `abort` the sender stopped punching (the session was aborted)
 * - `select` the initiator chose the path this datagram travels on
 */
export type ProbeType = 'probe' | 'ack' | 'keepalive' | 'abort' | 'select'

const TYPE_CODES: Record<ProbeType, number> = { probe: 1, ack: 2, keepalive: 3, abort: 4, select: 5 }
const TYPES_BY_CODE: Array<ProbeType | undefined> = [undefined, 'probe', 'ack', 'keepalive', 'abort', 'select']
const SENDER_CODES: Record<Side, number> = { initiator: 0, responder: 1 }

const SIGNED_LENGTH = PROBE_SIZE - PROBE_TAG_LENGTH

export interface ProbeDatagram {
  type: ProbeType
  /** who sent it */
  sender: Side
  /** SESSION_ID_LENGTH bytes */
  sessionId: Uint8Array
  /** uint32 */
  seq: number
  /** uint32, ms */
  timestamp: number
}

export interface VerifyProbeOptions {
  /** the session's id; a probe of another session fails authentication */
  sessionId: Uint8Array
  /** the session's secret (SESSION_SECRET_LENGTH bytes) */
  secret: Uint8Array
  /** who must have sent it: the peer, never ourselves (defeats reflection) */
  sender: Side
}

/**
 * Cheap check for the demultiplexer: could this datagram be a probe? Looks
 * at the size and the first two bytes only; `decodeProbe` does the rest.
 */
export function isProbeDatagram (data: Uint8Array): boolean {
  return data.byteLength === PROBE_SIZE && data[0] === PROBE_MAGIC && data[1] === PROBE_VERSION
}

/**
 * Encode and authenticate a probe datagram
 */
export function encodeProbe (probe: ProbeDatagram, secret: Uint8Array): Uint8Array {
  checkSecret(secret)

  if (probe.sessionId.byteLength !== SESSION_ID_LENGTH) {
    throw new InvalidProbeError('session-id-length', `A probe session id must be ${SESSION_ID_LENGTH} bytes, got ${probe.sessionId.byteLength}: use the OFFER's session id`)
  }

  const type = TYPE_CODES[probe.type]
  const sender = SENDER_CODES[probe.sender]

  if (type == null || sender == null) {
    throw new InvalidProbeError('type', `Unknown probe type ${probe.type} or sender ${probe.sender}: use one of ${Object.keys(TYPE_CODES).join(', ')} and initiator/responder`)
  }

  for (const [name, value] of [['seq', probe.seq], ['timestamp', probe.timestamp]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xFFFFFFFF) {
      throw new InvalidProbeError(name, `Probe ${name} must be a uint32, got ${value}: reduce it modulo 2^32`)
    }
  }

  const out = new Uint8Array(PROBE_SIZE)
  const view = new DataView(out.buffer)

  out[0] = PROBE_MAGIC
  out[1] = PROBE_VERSION
  out[2] = type
  out[3] = sender
  out.set(probe.sessionId, 4)
  view.setUint32(12, probe.seq)
  view.setUint32(16, probe.timestamp)
  out.set(tag(secret, out.subarray(0, SIGNED_LENGTH)), SIGNED_LENGTH)

  return out
}

/**
 * Parse the structure of a probe datagram without authenticating it. Throws
 * InvalidProbeError naming the broken rule.
 */
export function parseProbe (data: Uint8Array): ProbeDatagram {
  if (!(data instanceof Uint8Array)) {
    throw new InvalidProbeError('not-bytes')
  }

  if (data.byteLength !== PROBE_SIZE) {
    throw new InvalidProbeError('size')
  }

  if (data[0] !== PROBE_MAGIC) {
    throw new InvalidProbeError('magic')
  }

  if (data[1] !== PROBE_VERSION) {
    throw new InvalidProbeError('version')
  }

  const type = TYPES_BY_CODE[data[2]]

  if (type == null) {
    throw new InvalidProbeError('type')
  }

  if (data[3] > 1) {
    throw new InvalidProbeError('sender')
  }

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)

  return {
    type,
    sender: data[3] === 0 ? 'initiator' : 'responder',
    sessionId: data.slice(4, 4 + SESSION_ID_LENGTH),
    seq: view.getUint32(12),
    timestamp: view.getUint32(16)
  }
}

/**
 * Parse and authenticate a probe datagram of our session, sent by our peer.
 * Throws InvalidProbeError (malformed) or ProbeAuthenticationError (other
 * session, wrong sender, bad MAC). The MAC is compared in constant time.
 */
export function decodeProbe (data: Uint8Array, options: VerifyProbeOptions): ProbeDatagram {
  checkSecret(options.secret)
  const probe = parseProbe(data)

  if (!equalBytes(probe.sessionId, options.sessionId)) {
    throw new ProbeAuthenticationError('session')
  }

  if (probe.sender !== options.sender) {
    throw new ProbeAuthenticationError('sender')
  }

  const expected = tag(options.secret, data.subarray(0, SIGNED_LENGTH))
  const actual = data.subarray(SIGNED_LENGTH, PROBE_SIZE)

  if (!timingSafeEqual(expected, actual)) {
    throw new ProbeAuthenticationError('mac')
  }

  return probe
}

/**
 * The ack for a probe: same session and sequence, echoed timestamp (so the
 * prober can compute the direct RTT), our side as sender
 */
export function ackFor (probe: ProbeDatagram, sender: Side): ProbeDatagram {
  return { type: 'ack', sender, sessionId: probe.sessionId, seq: probe.seq, timestamp: probe.timestamp }
}

/**
 * Milliseconds between a uint32 timestamp we sent and `now`, modulo 2^32
 */
export function elapsedSince (timestamp: number, now: number): number {
  return ((Math.floor(now) >>> 0) - timestamp + 0x100000000) % 0x100000000
}

/**
 * A uint32 timestamp from a clock value in ms
 */
export function probeTimestamp (now: number): number {
  return Math.floor(now) >>> 0
}

function tag (secret: Uint8Array, signed: Uint8Array): Uint8Array {
  return createHmac('sha256', secret).update(signed).digest().subarray(0, PROBE_TAG_LENGTH)
}

function checkSecret (secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.byteLength !== SESSION_SECRET_LENGTH) {
    throw new InvalidProbeError('secret-length', `The probe secret must be ${SESSION_SECRET_LENGTH} bytes: use the OFFER's secret`)
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) {
    return false
  }

  let diff = 0

  for (let i = 0; i < a.byteLength; i++) {
    diff |= a[i] ^ b[i]
  }

  return diff === 0
}
