/**
 * The path challenge/response logic of one connection with a path key, in
 * the spirit of QUIC's PATH_CHALLENGE / PATH_RESPONSE (RFC 9000 section
 * 8.2) and tailscale's disco pings. Pure: the clock and the random source
 * are injected, and it returns what to do (send, heard, migrate, drop)
 * instead of doing it.
 *
 * Every `challengeIntervalMs` (half of it while the path is quiet) it
 * challenges the peer's current address. The challenge leaves through our
 * NAT, so the peer sees our current public address.
 *
 * A verified, fresh challenge is answered at the address it came from. From
 * the current address it is a sign of life. From another address it says
 * the peer's NAT moved it: we challenge that address too (path validation)
 * and migrate there when the answer comes. Migrating only after our own
 * challenge was answered means a replayed or redirected challenge can never
 * point the connection at an address that does not answer (a third party),
 * however it got there.
 *
 * A verified response to one of our outstanding challenges is a sign of life
 * (liveness challenge) or completes a validation (migrate).
 *
 * Bounded: outstanding challenges (PATH_MAX_OUTSTANDING), sends per second
 * (PATH_SEND_RATE), migrations per minute, and an anti-replay window over the
 * peer's challenge numbers.
 */

import { randomBytes as cryptoRandomBytes } from 'node:crypto'
import {
  PATH_MAX_MIGRATIONS_PER_MINUTE,
  PATH_MAX_OUTSTANDING,
  PATH_REPLAY_WINDOW,
  PATH_SEND_BURST,
  PATH_SEND_RATE
} from '../constants.ts'
import { encodePathMessage, PATH_NONCE_LENGTH, PathMessageType, verifyPathDatagram } from './path-message.ts'
import { ReplayWindow } from './replay-window.ts'
import { TokenBucket } from './token-bucket.ts'
import type { PathMessage } from './path-message.ts'

export interface PathAddress {
  host: string
  port: number
}

export type PathAction =
  { type: 'send', to: PathAddress, datagram: Uint8Array, kind: 'challenge' | 'validation' | 'response' } |
  { type: 'heard' } |
  { type: 'migrate', from: PathAddress, to: PathAddress } |
  { type: 'drop', reason: string }

export interface PathValidatorInit {
  key: Uint8Array
  localStreamId: number
  remoteStreamId: number
  /** we were the connectDirect initiator */
  initiator: boolean
  /** the peer's address the stream is connected to */
  remote: PathAddress
  /** clock in ms */
  now(): number
  /** @default crypto.randomBytes */
  randomBytes?(length: number): Uint8Array
  /**
   * ms between challenges to the current address (half of it while quiet);
   * the connection's keepalive interval
   */
  challengeIntervalMs: number
  /**
   * How long a challenge waits for its response, ms
   *
   * @default 3 × challengeIntervalMs
   */
  challengeLifetimeMs?: number
  /** @default PATH_SEND_RATE */
  sendRate?: number
  /** @default PATH_SEND_BURST */
  sendBurst?: number
  /** @default PATH_MAX_MIGRATIONS_PER_MINUTE */
  migrationsPerMinute?: number
}

interface Outstanding {
  seq: number
  nonce: Uint8Array
  to: PathAddress
  sentAt: number
  /** a validation of an address other than the current one */
  validation: boolean
}

export function sameAddress (a: PathAddress, b: PathAddress): boolean {
  return a.port === b.port && a.host === b.host
}

export class PathValidator {
  private readonly key: Uint8Array
  private readonly localStreamId: number
  private readonly remoteStreamId: number
  private readonly initiator: boolean
  private readonly now: () => number
  private readonly randomBytes: (length: number) => Uint8Array
  private readonly challengeIntervalMs: number
  private readonly challengeLifetimeMs: number
  private readonly sends: TokenBucket
  private readonly migrations: TokenBucket
  private readonly replay = new ReplayWindow(PATH_REPLAY_WINDOW)
  private readonly outstanding: Outstanding[] = []
  private remoteAddress: PathAddress
  private nextSeq = 1
  private lastChallengeAt: number
  private validating?: { to: PathAddress, at: number }

  constructor (init: PathValidatorInit) {
    this.key = init.key
    this.localStreamId = init.localStreamId
    this.remoteStreamId = init.remoteStreamId
    this.initiator = init.initiator
    this.remoteAddress = { host: init.remote.host, port: init.remote.port }
    this.now = init.now
    this.randomBytes = init.randomBytes ?? ((length) => new Uint8Array(cryptoRandomBytes(length)))
    this.challengeIntervalMs = init.challengeIntervalMs
    this.challengeLifetimeMs = init.challengeLifetimeMs ?? 3 * this.challengeIntervalMs
    this.sends = new TokenBucket({ rate: init.sendRate ?? PATH_SEND_RATE, burst: init.sendBurst ?? PATH_SEND_BURST, now: this.now })
    const perMinute = init.migrationsPerMinute ?? PATH_MAX_MIGRATIONS_PER_MINUTE
    this.migrations = new TokenBucket({ rate: perMinute / 60, burst: perMinute, now: this.now })
    // the first challenge goes out one interval after the connection starts
    this.lastChallengeAt = this.now()
  }

  /** the peer's address as we know it */
  get remote (): PathAddress {
    return { ...this.remoteAddress }
  }

  /** challenges waiting for their response */
  get outstandingCount (): number {
    return this.outstanding.length
  }

  /**
   * The driver could not move the stream after a `migrate` action: go on
   * treating `remote` as the peer's address
   */
  setRemote (remote: PathAddress): void {
    this.remoteAddress = { host: remote.host, port: remote.port }
  }

  /**
   * Periodic: forget expired challenges and challenge the current address
   * when one is due
   */
  tick (quiet: boolean): PathAction[] {
    const now = this.now()
    this.expire(now)
    const interval = quiet ? this.challengeIntervalMs / 2 : this.challengeIntervalMs

    if (now - this.lastChallengeAt < interval) {
      return []
    }

    this.lastChallengeAt = now
    return [this.challenge(this.remoteAddress, false, now)]
  }

  /**
   * A path datagram that named this connection (`message` is its decoded,
   * not yet verified form) arrived from `from`
   */
  receive (data: Uint8Array, message: PathMessage, from: PathAddress): PathAction[] {
    if (message.senderStreamId !== this.remoteStreamId || message.senderInitiator === this.initiator) {
      return [{ type: 'drop', reason: 'path-wrong-sender' }]
    }

    if (!verifyPathDatagram(data, this.key)) {
      return [{ type: 'drop', reason: 'path-bad-mac' }]
    }

    const now = this.now()
    this.expire(now)

    if (message.type === PathMessageType.CHALLENGE) {
      return this.onChallenge(message, from, now)
    }

    return this.onResponse(message)
  }

  private onChallenge (message: PathMessage, from: PathAddress, now: number): PathAction[] {
    const verdict = this.replay.accept(message.seq)

    if (verdict !== 'fresh') {
      return [{ type: 'drop', reason: verdict === 'replay' ? 'path-replay' : 'path-too-old' }]
    }

    const actions: PathAction[] = []

    if (this.sends.take()) {
      actions.push({
        type: 'send',
        to: { host: from.host, port: from.port },
        kind: 'response',
        datagram: encodePathMessage({
          type: PathMessageType.RESPONSE,
          senderInitiator: this.initiator,
          receiverStreamId: this.remoteStreamId,
          senderStreamId: this.localStreamId,
          seq: message.seq,
          nonce: message.nonce
        }, this.key)
      })
    } else {
      actions.push({ type: 'drop', reason: 'path-send-limited' })
    }

    if (sameAddress(from, this.remoteAddress)) {
      actions.push({ type: 'heard' })
      return actions
    }

    // the peer speaks from a new address: validate it, at most twice per
    // challenge interval
    if (this.validating != null && sameAddress(this.validating.to, from) && now - this.validating.at < this.challengeIntervalMs / 2) {
      return actions
    }

    this.validating = { to: { host: from.host, port: from.port }, at: now }
    actions.push(this.challenge(from, true, now))
    return actions
  }

  private onResponse (message: PathMessage): PathAction[] {
    const index = this.outstanding.findIndex(entry => entry.seq === message.seq && equalBytes(entry.nonce, message.nonce))

    if (index === -1) {
      return [{ type: 'drop', reason: 'path-unexpected-response' }]
    }

    const [entry] = this.outstanding.splice(index, 1)

    if (sameAddress(entry.to, this.remoteAddress)) {
      return [{ type: 'heard' }]
    }

    if (!entry.validation) {
      // answers a liveness challenge to an address we have left since
      return [{ type: 'drop', reason: 'path-stale-response' }]
    }

    if (!this.migrations.take()) {
      return [{ type: 'drop', reason: 'path-migration-limited' }]
    }

    const from = this.remoteAddress
    this.remoteAddress = { host: entry.to.host, port: entry.to.port }
    this.validating = undefined

    return [{ type: 'heard' }, { type: 'migrate', from, to: this.remote }]
  }

  private challenge (to: PathAddress, validation: boolean, now: number): PathAction {
    if (this.nextSeq > 0xFFFFFFFF || !this.sends.take()) {
      return { type: 'drop', reason: 'path-send-limited' }
    }

    const seq = this.nextSeq++
    const nonce = this.randomBytes(PATH_NONCE_LENGTH)

    if (this.outstanding.length >= PATH_MAX_OUTSTANDING) {
      this.outstanding.shift()
    }

    this.outstanding.push({ seq, nonce, to: { host: to.host, port: to.port }, sentAt: now, validation })

    return {
      type: 'send',
      to: { host: to.host, port: to.port },
      kind: validation ? 'validation' : 'challenge',
      datagram: encodePathMessage({
        type: PathMessageType.CHALLENGE,
        senderInitiator: this.initiator,
        receiverStreamId: this.remoteStreamId,
        senderStreamId: this.localStreamId,
        seq,
        nonce
      }, this.key)
    }
  }

  private expire (now: number): void {
    while (this.outstanding.length > 0 && now - this.outstanding[0].sentAt > this.challengeLifetimeMs) {
      this.outstanding.shift()
    }
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])
}
