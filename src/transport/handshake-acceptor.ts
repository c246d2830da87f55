import { randomBytes } from 'node:crypto'
import {
  HANDSHAKE_COOKIE_BUCKET_MS, HANDSHAKE_COOKIE_SECRET_LIFETIME_MS, HANDSHAKE_COOKIE_THRESHOLD, HANDSHAKE_HALF_OPEN_TIMEOUT,
  HANDSHAKE_MAX_HALF_OPEN, HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE
} from '../constants.ts'
import { pendingKey } from './handshake-handler.ts'
import { encodeHandshake, HandshakeType, mintCookie, verifyCookie } from './handshake-message.ts'
import type { HandshakeAcceptor as Acceptor } from './handshake-handler.ts'
import type { CookieSubject, HandshakeMessage } from './handshake-message.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { RemoteInfo } from '../socket/datagram-socket.ts'
import type { SocketPool } from '../socket/socket-pool.ts'
import type { CounterGroup, Logger } from '@libp2p/interface'
import type { UDXStream } from 'udx-native'

/** bytes of a cookie secret (the HMAC-SHA256 block size is 64; 32 is its output size) */
const COOKIE_SECRET_LENGTH = 32

export interface HandshakeAcceptorInit<T> {
  pool: SocketPool
  socket: BoundSocket
  log: Logger
  /** wrap a freshly connected stream (called at ACCEPT time) */
  createConnection(stream: UDXStream, remote: RemoteInfo): T
  /** the dialer sent its first data: the connection is real */
  onConnection(connection: T): void
  /** a half-open entry expired, was reset or was evicted */
  onAbandoned?(connection: T): void
  /** @default HANDSHAKE_MAX_HALF_OPEN */
  maxHalfOpen?: number
  /** @default HANDSHAKE_HALF_OPEN_TIMEOUT */
  halfOpenTimeout?: number
  /**
   * entries per source (IPv4 address or IPv6 /64), counted apart with and
   * without a valid cookie
   *
   * @default HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE
   */
  maxHalfOpenPerSource?: number
  /**
   * fill level (0..1 of maxHalfOpen) from which OPENs without a valid cookie
   * get a stateless RETRY; 0 asks every dialer for a cookie, 1 only when the
   * table is full
   *
   * @default HANDSHAKE_COOKIE_THRESHOLD
   */
  cookieThreshold?: number
  /** @default HANDSHAKE_COOKIE_BUCKET_MS */
  cookieBucketMs?: number
  /** @default HANDSHAKE_COOKIE_SECRET_LIFETIME_MS */
  cookieSecretLifetimeMs?: number
  /** clock in ms (default Date.now), for the cookie time buckets */
  now?(): number
  /** counts listener-side handshake events by name */
  metrics?: CounterGroup
}

interface Entry<T> {
  stream: UDXStream
  connection: T
  accept: Uint8Array
  source: string
  /** admitted with a valid cookie: the dialer receives at its source address */
  verified: boolean
  timer?: ReturnType<typeof setTimeout>
}

interface SourceCount {
  unverified: number
  verified: number
}

/**
 * Listener side of the connection-open handshake, with a bounded table of
 * half-open connections (the SYN backlog of this protocol) that a flood
 * cannot lock:
 *
 * 1. on OPEN from ip:port with nonce N: if (ip, port, N) is known, send its ACCEPT again (the dialer's OPEN or our ACCEPT was lost)
 * 2. an OPEN without a valid cookie gets a RETRY with a cookie and leaves no state when the table is at the cookie threshold or its source holds its quota of unverified entries; otherwise it is admitted
 * 3. an OPEN with a valid cookie is admitted unless its source holds its quota of verified entries (dropped); in a full table it evicts the oldest unverified entry, else the oldest entry
 * 4. admitting allocates a stream, connects it to the dialer's stream id, remembers the entry with a timeout, and sends ACCEPT
 * 5. the first stream data from the dialer promotes the entry to a connection; a timeout or a RESET destroys it
 *
 * The cookie is an HMAC, under a random secret of this acceptor, of the
 * source ip:port, the nonce, the dialer's stream id and a time bucket
 * (handshake-message.ts), so checking it needs no state. RETRY (40 bytes) is
 * smaller than OPEN (64): a spoofed OPEN cannot be amplified.
 *
 * Junk that does not decode never reaches this class, so the state an
 * attacker can create is bounded: maxHalfOpen expiring entries in total,
 * maxHalfOpenPerSource of them per source without a cookie, and as many with
 * a cookie only from addresses where it receives.
 */
export class HandshakeAcceptor<T> implements Acceptor {
  private readonly init: HandshakeAcceptorInit<T>
  private readonly log: Logger
  private readonly halfOpen = new Map<string, Entry<T>>()
  private readonly established = new Map<string, Entry<T>>()
  private readonly sources = new Map<string, SourceCount>()
  /** cookie secret per epoch (HANDSHAKE_COOKIE_SECRET_LIFETIME_MS); at most the current and the previous one */
  private readonly secrets = new Map<number, Uint8Array>()
  private readonly maxHalfOpen: number
  private readonly maxPerSource: number
  private readonly cookieFrom: number
  private readonly halfOpenTimeout: number
  private readonly bucketMs: number
  private readonly bucketsPerSecret: number
  private readonly now: () => number
  /** handshake events by name, for tests and diagnostics (also in `metrics`) */
  readonly events = new Map<string, number>()
  private closed = false

  constructor (init: HandshakeAcceptorInit<T>) {
    this.init = init
    this.log = init.log
    this.maxHalfOpen = init.maxHalfOpen ?? HANDSHAKE_MAX_HALF_OPEN
    this.maxPerSource = init.maxHalfOpenPerSource ?? HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE
    this.cookieFrom = Math.floor(this.maxHalfOpen * Math.min(1, Math.max(0, init.cookieThreshold ?? HANDSHAKE_COOKIE_THRESHOLD)))
    this.halfOpenTimeout = init.halfOpenTimeout ?? HANDSHAKE_HALF_OPEN_TIMEOUT
    this.bucketMs = init.cookieBucketMs ?? HANDSHAKE_COOKIE_BUCKET_MS
    this.bucketsPerSecret = Math.max(1, Math.round((init.cookieSecretLifetimeMs ?? HANDSHAKE_COOKIE_SECRET_LIFETIME_MS) / this.bucketMs))
    this.now = init.now ?? Date.now
  }

  /** half-open entries right now */
  get halfOpenCount (): number {
    return this.halfOpen.size
  }

  onOpen (message: HandshakeMessage, from: RemoteInfo): void {
    if (this.closed) {
      this.init.socket.drop('handshake-closing', from)
      return
    }

    const key = pendingKey(from, message.nonce)
    const known = this.halfOpen.get(key) ?? this.established.get(key)

    if (known != null) {
      // 1. a retransmitted OPEN: answer it again
      this.sendAccept(known.accept, from)
      return
    }

    const subject: CookieSubject = { host: from.host, port: from.port, nonce: message.nonce, streamId: message.streamId }
    const source = sourceKey(from.host)
    const count = this.sources.get(source) ?? { unverified: 0, verified: 0 }
    let verified = false

    if (message.cookie != null) {
      const verdict = verifyCookie(message.cookie, subject, this.bucket(), bucket => this.secretFor(bucket, false))
      this.count(`cookie_${verdict}`)
      verified = verdict === 'valid'

      if (!verified) {
        // a stale cookie of an honest dialer, or a forgery: treat the OPEN
        // as one without a cookie (it may get a fresh RETRY)
        this.log.trace('%s cookie in OPEN from %s:%d', verdict, from.host, from.port)
      }
    }

    if (!verified) {
      // 2. no proof of the source address: no state under pressure
      if (this.halfOpen.size >= this.cookieFrom || count.unverified >= this.maxPerSource) {
        this.sendRetry(message, subject, from)
        return
      }
    } else {
      // 3. a proven source: its own quota, and room made for it
      if (count.verified >= this.maxPerSource) {
        this.count('source_limited')
        this.init.socket.drop('handshake-source-limit', from)
        return
      }

      if (this.halfOpen.size >= this.maxHalfOpen && !this.evictOne()) {
        this.count('backlog_full')
        this.init.socket.drop('handshake-backlog-full', from)
        return
      }
    }

    this.admit(key, message, from, source, verified)
  }

  onReset (message: HandshakeMessage, from: RemoteInfo): void {
    const key = pendingKey(from, message.nonce)
    const entry = this.halfOpen.get(key)

    if (entry == null) {
      this.init.socket.drop('handshake-unexpected', from)
      return
    }

    this.log('dialer %s:%d reset its half-open connection', from.host, from.port)
    this.count('reset')
    this.abandon(key, entry)
  }

  /**
   * Stop accepting and destroy every half-open connection. Established ones
   * belong to the listener, which closes them.
   */
  close (): void {
    this.closed = true

    for (const [key, entry] of this.halfOpen) {
      this.abandon(key, entry)
    }

    this.secrets.clear()
  }

  /**
   * 4. a new half-open connection
   */
  private admit (key: string, message: HandshakeMessage, from: RemoteInfo, source: string, verified: boolean): void {
    const stream = this.init.pool.createStream()

    try {
      stream.connect(this.init.socket.socket, message.streamId, from.port, from.host)
    } catch (err: any) {
      stream.destroy()
      this.init.socket.drop('handshake-connect-failed', from)
      this.log.error('could not connect stream for %s:%d - %e', from.host, from.port, err)
      return
    }

    const entry: Entry<T> = {
      stream,
      connection: this.init.createConnection(stream, from),
      accept: encodeHandshake({ type: HandshakeType.ACCEPT, nonce: message.nonce, streamId: stream.id, echoedStreamId: message.streamId }),
      source,
      verified
    }

    entry.timer = setTimeout(() => {
      this.log('half-open connection from %s:%d expired', from.host, from.port)
      this.count('expired')
      this.abandon(key, entry)
    }, this.halfOpenTimeout)

    this.addHalfOpen(key, entry)
    this.count(verified ? 'accept_verified' : 'accept')

    // 5. the dialer's first data (its Noise message) promotes the entry
    stream.once('data', () => {
      if (this.halfOpen.get(key) !== entry) {
        return
      }

      clearTimeout(entry.timer)
      this.removeHalfOpen(key, entry)
      this.established.set(key, entry)
      this.init.onConnection(entry.connection)
    })

    stream.once('close', () => {
      clearTimeout(entry.timer)
      this.removeHalfOpen(key, entry)

      if (this.established.get(key) === entry) {
        this.established.delete(key)
      }
    })

    this.sendAccept(entry.accept, from)
  }

  /**
   * Make room for a verified OPEN: evict the oldest unverified entry, else
   * the oldest entry (Map order is insertion order). An honest dialer
   * promotes its entry within one RTT, so the oldest are the likeliest junk.
   */
  private evictOne (): boolean {
    let victim: [string, Entry<T>] | undefined

    for (const item of this.halfOpen) {
      if (!item[1].verified) {
        victim = item
        break
      }

      victim ??= item
    }

    if (victim == null) {
      return false
    }

    this.log.trace('evicting the half-open connection %s for a verified one', victim[0])
    this.count('evicted')
    this.abandon(victim[0], victim[1])
    return true
  }

  private abandon (key: string, entry: Entry<T>): void {
    clearTimeout(entry.timer)
    this.removeHalfOpen(key, entry)
    entry.stream.destroy()
    this.init.onAbandoned?.(entry.connection)
  }

  private addHalfOpen (key: string, entry: Entry<T>): void {
    this.halfOpen.set(key, entry)
    const count = this.sources.get(entry.source) ?? { unverified: 0, verified: 0 }
    count[entry.verified ? 'verified' : 'unverified']++
    this.sources.set(entry.source, count)
  }

  private removeHalfOpen (key: string, entry: Entry<T>): void {
    if (this.halfOpen.get(key) !== entry) {
      return
    }

    this.halfOpen.delete(key)
    const count = this.sources.get(entry.source)

    if (count == null) {
      return
    }

    count[entry.verified ? 'verified' : 'unverified']--

    if (count.verified <= 0 && count.unverified <= 0) {
      this.sources.delete(entry.source)
    }
  }

  private sendRetry (message: HandshakeMessage, subject: CookieSubject, to: RemoteInfo): void {
    const bucket = this.bucket()
    const cookie = mintCookie(this.secretFor(bucket, true) as Uint8Array, bucket, subject)
    const retry = encodeHandshake({ type: HandshakeType.RETRY, nonce: message.nonce, streamId: 0, echoedStreamId: message.streamId, cookie })
    this.count('retry')
    this.log.trace('send RETRY to %s:%d (%d half-open)', to.host, to.port, this.halfOpen.size)
    this.init.socket.send(retry, to.port, to.host).catch((err: Error) => {
      this.log.error('could not send RETRY to %s:%d - %e', to.host, to.port, err)
    })
  }

  private sendAccept (accept: Uint8Array, to: RemoteInfo): void {
    this.init.socket.send(accept, to.port, to.host).catch((err: Error) => {
      this.log.error('could not send ACCEPT to %s:%d - %e', to.host, to.port, err)
    })
  }

  /** the current cookie time bucket */
  private bucket (): number {
    return Math.floor(this.now() / this.bucketMs) >>> 0
  }

  /**
   * The secret of the epoch a bucket belongs to. `mint` creates the current
   * epoch's secret on first use and forgets every one older than the
   * previous epoch; verifying never creates one.
   */
  private secretFor (bucket: number, mint: boolean): Uint8Array | undefined {
    const epoch = Math.floor(bucket / this.bucketsPerSecret)
    let secret = this.secrets.get(epoch)

    if (secret == null && mint) {
      secret = randomBytes(COOKIE_SECRET_LENGTH)
      this.secrets.set(epoch, secret)

      for (const old of this.secrets.keys()) {
        if (old < epoch - 1) {
          this.secrets.delete(old)
        }
      }
    }

    return secret
  }

  private count (event: string): void {
    this.events.set(event, (this.events.get(event) ?? 0) + 1)
    this.init.metrics?.increment({ [event]: true })
  }
}

/**
 * The unit the per-source quota counts: an IPv4 address, or the /64 prefix
 * of an IPv6 address (a subscriber gets a /64 or more, so one attacker has
 * 2^64 addresses but one prefix). An IPv4-mapped IPv6 address counts as its
 * IPv4 address. Text that does not parse is its own source.
 */
export function sourceKey (host: string): string {
  if (!host.includes(':')) {
    return host
  }

  const text = host.toLowerCase().split('%')[0]
  const groups = ipv6Groups(text)

  if (groups == null) {
    return text
  }

  if (text.includes('.') && groups.slice(0, 5).every(group => group === 0) && groups[5] === 0xFFFF) {
    return text.slice(text.lastIndexOf(':') + 1)
  }

  return `${groups.slice(0, 4).map(group => group.toString(16)).join(':')}::/64`
}

/**
 * The eight 16-bit groups of an IPv6 address (no zone), or undefined
 */
function ipv6Groups (text: string): number[] | undefined {
  let groupsText = text
  const lastColon = text.lastIndexOf(':')

  if (text.includes('.', lastColon)) {
    // a dotted IPv4 tail stands for the last two groups
    const parts = text.slice(lastColon + 1).split('.')

    if (parts.length !== 4 || parts.some(part => !/^\d{1,3}$/.test(part) || Number(part) > 255)) {
      return undefined
    }

    const [a, b, c, d] = parts.map(Number)
    groupsText = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }

  const halves = groupsText.split('::')

  if (halves.length > 2) {
    return undefined
  }

  const head = halves[0] === '' ? [] : halves[0].split(':')
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : []
  const missing = 8 - head.length - tail.length

  if (halves.length === 2 ? missing < 1 : missing !== 0) {
    return undefined
  }

  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]

  if (groups.some(group => !/^[0-9a-f]{1,4}$/.test(group))) {
    return undefined
  }

  return groups.map(group => parseInt(group, 16))
}
