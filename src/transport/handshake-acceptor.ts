import { HANDSHAKE_HALF_OPEN_TIMEOUT, HANDSHAKE_MAX_HALF_OPEN } from '../constants.ts'
import { pendingKey } from './handshake-handler.ts'
import { encodeHandshake, HandshakeType } from './handshake-message.ts'
import type { HandshakeAcceptor as Acceptor } from './handshake-handler.ts'
import type { HandshakeMessage } from './handshake-message.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { RemoteInfo } from '../socket/datagram-socket.ts'
import type { SocketPool } from '../socket/socket-pool.ts'
import type { Logger } from '@libp2p/interface'
import type { UDXStream } from 'udx-native'

export interface HandshakeAcceptorInit<T> {
  pool: SocketPool
  socket: BoundSocket
  log: Logger
  /** wrap a freshly connected stream (called at ACCEPT time) */
  createConnection(stream: UDXStream, remote: RemoteInfo): T
  /** the dialer sent its first data: the connection is real */
  onConnection(connection: T): void
  /** a half-open entry expired or was reset */
  onAbandoned?(connection: T): void
  /** @default HANDSHAKE_MAX_HALF_OPEN */
  maxHalfOpen?: number
  /** @default HANDSHAKE_HALF_OPEN_TIMEOUT */
  halfOpenTimeout?: number
}

interface Entry<T> {
  stream: UDXStream
  connection: T
  accept: Uint8Array
  timer?: ReturnType<typeof setTimeout>
}

/**
 * Listener side of the connection-open handshake, with a bounded table of
 * half-open connections (the SYN backlog of this protocol):
 *
 * 1. on OPEN from ip:port with nonce N: if (ip, port, N) is known, send its ACCEPT again (the dialer's OPEN or our ACCEPT was lost)
 * 2. else, if the table is full, drop the OPEN (counted); never evict
 * 3. else allocate a stream, connect it to the dialer's stream id, remember the entry with a timeout, and send ACCEPT
 * 4. the first stream data from the dialer promotes the entry to a connection; a timeout or a RESET destroys it
 *
 * Junk that does not decode never reaches this class, so the only state an
 * attacker can create is one bounded, expiring entry per well-formed OPEN.
 */
export class HandshakeAcceptor<T> implements Acceptor {
  private readonly init: HandshakeAcceptorInit<T>
  private readonly log: Logger
  private readonly halfOpen = new Map<string, Entry<T>>()
  private readonly established = new Map<string, Entry<T>>()
  private readonly maxHalfOpen: number
  private readonly halfOpenTimeout: number
  private closed = false

  constructor (init: HandshakeAcceptorInit<T>) {
    this.init = init
    this.log = init.log
    this.maxHalfOpen = init.maxHalfOpen ?? HANDSHAKE_MAX_HALF_OPEN
    this.halfOpenTimeout = init.halfOpenTimeout ?? HANDSHAKE_HALF_OPEN_TIMEOUT
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

    // 2. bounded backlog
    if (this.halfOpen.size >= this.maxHalfOpen) {
      this.init.socket.drop('handshake-backlog-full', from)
      return
    }

    // 3. a new half-open connection
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
      accept: encodeHandshake({ type: HandshakeType.ACCEPT, nonce: message.nonce, streamId: stream.id, echoedStreamId: message.streamId })
    }

    entry.timer = setTimeout(() => {
      this.log('half-open connection from %s:%d expired', from.host, from.port)
      this.abandon(key, entry)
    }, this.halfOpenTimeout)

    this.halfOpen.set(key, entry)

    // 4. the dialer's first data (its Noise message) promotes the entry
    stream.once('data', () => {
      if (this.halfOpen.get(key) !== entry) {
        return
      }

      clearTimeout(entry.timer)
      this.halfOpen.delete(key)
      this.established.set(key, entry)
      this.init.onConnection(entry.connection)
    })

    stream.once('close', () => {
      clearTimeout(entry.timer)

      if (this.halfOpen.get(key) === entry) {
        this.halfOpen.delete(key)
      }

      if (this.established.get(key) === entry) {
        this.established.delete(key)
      }
    })

    this.sendAccept(entry.accept, from)
  }

  onReset (message: HandshakeMessage, from: RemoteInfo): void {
    const key = pendingKey(from, message.nonce)
    const entry = this.halfOpen.get(key)

    if (entry == null) {
      this.init.socket.drop('handshake-unexpected', from)
      return
    }

    this.log('dialer %s:%d reset its half-open connection', from.host, from.port)
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
  }

  private abandon (key: string, entry: Entry<T>): void {
    clearTimeout(entry.timer)
    this.halfOpen.delete(key)
    entry.stream.destroy()
    this.init.onAbandoned?.(entry.connection)
  }

  private sendAccept (accept: Uint8Array, to: RemoteInfo): void {
    this.init.socket.send(accept, to.port, to.host).catch((err: Error) => {
      this.log.error('could not send ACCEPT to %s:%d - %e', to.host, to.port, err)
    })
  }
}
