import UDX from 'udx-native'
import { RECENT_PORT_MAX, RECENT_PORT_MEMORY_MS, RECENT_PORT_RETRIES } from '../constants.ts'
import { BoundSocket } from './bound-socket.ts'
import { isLoopback, isWildcard } from './host-scope.ts'
import { StreamIdAllocator } from './stream-ids.ts'
import type { DatagramHandler, RemoteInfo } from './datagram-socket.ts'
import type { SocketMetrics } from './socket-metrics.ts'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import type { UDXStream, UDXStreamOptions } from 'udx-native'

export interface SocketPoolInit {
  logger: ComponentLogger
  metrics?: SocketMetrics
}

/**
 * A factory for a handler that every socket of the pool gets, present and
 * future (e.g. the handshake, the STUN server, punch probes)
 */
export type SocketHandlerFactory = (socket: BoundSocket) => DatagramHandler

/**
 * Owns the UDX instance of one transport and every socket bound from it:
 * one socket per listen address, plus one ephemeral socket per address
 * family for dials made while nothing of that family listens.
 *
 * Dials leave from a listening socket whenever one fits, so the NAT mapping
 * that other peers observe for our outbound traffic is the mapping of the
 * socket that later punches and accepts.
 */
export class SocketPool {
  readonly udx: UDX
  readonly streamIds: StreamIdAllocator
  private readonly log: Logger
  private readonly logger: ComponentLogger
  private readonly metrics?: SocketMetrics
  private readonly listening = new Set<BoundSocket>()
  private readonly ephemeral = new Map<4 | 6, BoundSocket>()
  private readonly extra = new Set<BoundSocket>()
  /** the loopback relay socket of a socket (loopbackFor), closed with it */
  private readonly loopbacks = new Map<BoundSocket, BoundSocket>()
  private readonly handlerFactories: SocketHandlerFactory[] = []
  private readonly removers = new Map<BoundSocket, Array<() => void>>()
  /** closes of sockets the pool dropped on its own (rebinds), awaited by close() */
  private readonly discarding = new Set<Promise<void>>()
  private readonly streams = new Set<UDXStream>()
  /** local port → when a socket on it was closed (insertion order = age) */
  private readonly closedPorts = new Map<number, number>()

  constructor (init: SocketPoolInit) {
    this.udx = new UDX()
    this.streamIds = new StreamIdAllocator()
    this.logger = init.logger
    this.log = init.logger.forComponent('libp2p:udx:socket')
    this.metrics = init.metrics
  }

  /**
   * Give every socket, present and future, a handler made by `factory`.
   * Returns a function that removes the handlers again.
   */
  addSocketHandler (factory: SocketHandlerFactory): () => void {
    this.handlerFactories.push(factory)

    for (const socket of this.allSockets()) {
      this.applyFactory(socket, factory)
    }

    return () => {
      const index = this.handlerFactories.indexOf(factory)
      if (index !== -1) {
        this.handlerFactories.splice(index, 1)
      }
      // handlers already added stay until their socket closes; factories are
      // only removed at shutdown, when the sockets close too
    }
  }

  /**
   * Bind a new socket for a listen address
   */
  bindListener (host: string, port: number): BoundSocket {
    const socket = this.createSocket(host, port)
    this.listening.add(socket)
    return socket
  }

  /**
   * Bind a socket that is not used for dials or listening, e.g. one of the
   * extra sockets of a birthday punch. The caller closes it.
   */
  bindExtra (host: string, port = 0): BoundSocket {
    let socket = this.createSocket(host, port)
    const ephemeral = port === 0

    // an ephemeral port the kernel hands out again soon after it was closed
    // would inherit that socket's NAT state (an open filter, a mapping):
    // fresh sockets must look fresh to the NAT. Bounded retries.
    if (ephemeral) {
      for (let i = 0; i < RECENT_PORT_RETRIES && this.recentlyClosed(socket.address().port); i++) {
        const reused = socket
        // bind the next one before closing this one, or the kernel may hand
        // the same port straight back
        socket = this.createSocket(host, 0)
        this.log.trace('port %d was closed recently, rebinding as %d', reused.address().port, socket.address().port)
        const closing = this.discard(reused)
          .catch((err: Error) => {
            this.log.error('could not close udx socket on recently used port %d - %e', reused.address().port, err)
          })
          .finally(() => { this.discarding.delete(closing) })
        this.discarding.add(closing)
      }
    }

    this.extra.add(socket)
    return socket
  }

  /**
   * Whether `socket` is one of the extra sockets (`bindExtra`) still open
   */
  isExtra (socket: BoundSocket): boolean {
    return this.extra.has(socket)
  }

  async closeSocket (socket: BoundSocket): Promise<void> {
    this.listening.delete(socket)
    this.extra.delete(socket)
    const loopback = this.loopbacks.get(socket)
    this.loopbacks.delete(socket)

    for (const [family, s] of this.ephemeral) {
      if (s === socket) {
        this.ephemeral.delete(family)
      }
    }

    this.rememberClosed(socket.address().port)
    await Promise.all([this.discard(socket), loopback?.close()])
  }

  /**
   * A socket on the loopback side of `socket`, for relay streams that only
   * this process sends to (see src/transport/movable-path.ts): bound to the
   * same IP on port 0, or to 127.0.0.1 / ::1 when `socket` is bound to a
   * wildcard. Made on first use, one per socket, closed with `socket`. It
   * gets no datagram handlers and is not one of `allSockets()`: nothing but
   * UDX relay streams use it.
   */
  loopbackFor (socket: BoundSocket): BoundSocket {
    let loopback = this.loopbacks.get(socket)

    if (loopback == null) {
      const { host, family } = socket.address()
      const anyLoopback = family === 6 ? '::1' : '127.0.0.1'
      const loopbackHost = isWildcard(host) ? anyLoopback : host
      loopback = new BoundSocket({
        udx: this.udx,
        host: loopbackHost,
        port: 0,
        log: this.logger.forComponent(`libp2p:udx:socket:loopback:${loopbackHost.includes(':') ? `[${loopbackHost}]` : loopbackHost}`),
        metrics: this.metrics
      })
      this.loopbacks.set(socket, loopback)
    }

    return loopback
  }

  /**
   * Remove the handlers the pool's factories gave `socket` (and the pool's
   * references to them) and close it
   */
  private async discard (socket: BoundSocket): Promise<void> {
    for (const remove of this.removers.get(socket) ?? []) {
      remove()
    }
    this.removers.delete(socket)

    await socket.close()
  }

  private recentlyClosed (port: number): boolean {
    const closedAt = this.closedPorts.get(port)
    return closedAt != null && Date.now() - closedAt < RECENT_PORT_MEMORY_MS
  }

  private rememberClosed (port: number): void {
    this.closedPorts.delete(port)
    this.closedPorts.set(port, Date.now())

    while (this.closedPorts.size > RECENT_PORT_MAX) {
      const oldest = this.closedPorts.keys().next().value as number
      this.closedPorts.delete(oldest)
    }
  }

  /**
   * The socket a dial to `remote` leaves from: a listening socket of the
   * same family whose bound address can reach the remote, or else the
   * shared ephemeral socket of that family.
   */
  socketForDial (remote: RemoteInfo): BoundSocket {
    const remoteIsLoopback = isLoopback(remote.host)
    let fallback: BoundSocket | undefined

    for (const socket of this.listening) {
      const local = socket.address()

      if (local.family !== remote.family || socket.closed) {
        continue
      }

      if (isWildcard(local.host)) {
        return socket
      }

      if (isLoopback(local.host) === remoteIsLoopback) {
        fallback = fallback ?? socket
      }
    }

    if (fallback != null) {
      return fallback
    }

    let socket = this.ephemeral.get(remote.family)

    if (socket == null || socket.closed) {
      socket = this.createSocket(remote.family === 4 ? '0.0.0.0' : '::', 0)
      this.ephemeral.set(remote.family, socket)
    }

    return socket
  }

  /**
   * Create a UDX stream with a fresh random id, tracked so shutdown can
   * destroy it. Its id is released when it closes.
   */
  createStream (options?: UDXStreamOptions): UDXStream {
    return this.createStreamWithReservedId(this.streamIds.allocate(), options)
  }

  /**
   * Create a UDX stream with an id reserved earlier from `streamIds` (e.g.
   * one offered to a peer); the id is released when the stream closes
   */
  createStreamWithReservedId (id: number, options?: UDXStreamOptions): UDXStream {
    if (!this.streamIds.has(id)) {
      throw new Error(`udx stream id ${id} was not reserved: reserve it with streamIds.allocate() first`)
    }

    const stream = this.udx.createStream(id, options)
    this.streams.add(stream)
    stream.once('close', () => {
      this.streams.delete(stream)
      this.streamIds.release(id)
    })
    return stream
  }

  /**
   * Destroy every stream and close every socket
   */
  async close (): Promise<void> {
    for (const stream of this.streams) {
      stream.destroy()
    }

    await Promise.all([
      ...this.allSockets().map(async socket => { await this.closeSocket(socket) }),
      ...this.discarding
    ])
  }

  get socketCount (): number {
    return this.allSockets().length
  }

  allSockets (): BoundSocket[] {
    return [...this.listening, ...this.ephemeral.values(), ...this.extra]
  }

  private createSocket (host: string, port: number): BoundSocket {
    const socket = new BoundSocket({
      udx: this.udx,
      host,
      port,
      log: this.logger.forComponent(`libp2p:udx:socket:${host.includes(':') ? `[${host}]` : host}`),
      metrics: this.metrics
    })

    for (const factory of this.handlerFactories) {
      this.applyFactory(socket, factory)
    }

    return socket
  }

  private applyFactory (socket: BoundSocket, factory: SocketHandlerFactory): void {
    const remove = socket.addHandler(factory(socket))
    const removers = this.removers.get(socket) ?? []
    removers.push(remove)
    this.removers.set(socket, removers)
  }
}
