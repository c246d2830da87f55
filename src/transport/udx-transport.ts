import { AbortError, InvalidParametersError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { HANDSHAKE_TIMEOUT, PATH_DEAD_TIMEOUT, PATH_KEY_MIN_LENGTH, STREAM_KEEPALIVE } from '../constants.ts'
import { UnexpectedRemotePeerError } from '../errors.ts'
import { createSocketMetrics } from '../socket/socket-metrics.ts'
import { SocketPool } from '../socket/socket-pool.ts'
import { dialHandshake } from './handshake-dialer.ts'
import { HandshakeHandler } from './handshake-handler.ts'
import { UDXListener } from './listener.ts'
import { MovablePath } from './movable-path.ts'
import { addressToUdxMultiaddr, isUdxMultiaddr, udxMultiaddrToAddress } from './multiaddr.ts'
import { PathDatagramHandler, PathRegistry } from './path-handler.ts'
import { PRE_NEGOTIATED_ENCRYPTER, preNegotiate } from './pre-negotiation.ts'
import { createTransportMetrics } from './transport-metrics.ts'
import { UDXMultiaddrConnection } from './udx-connection.ts'
import type { TransportMetrics } from './transport-metrics.ts'
import type { DirectConnectionOptions, UDXComponents, UDXDialEvents, UDXDialOptions, UDXInit } from './types.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { Connection, CounterGroup, CreateListenerOptions, Listener, Logger, Startable, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { UDXStream } from 'udx-native'

export const UDX_TRANSPORT_TAG = 'libp2p-udp-holepunch/udx'

/**
 * What `connectDirect` takes: the path and stream ids, and who owns the
 * socket afterwards
 */
export interface ConnectDirectOptions extends DirectConnectionOptions {
  /**
   * Close `socket` through the pool when the connection's UDX stream
   * closes, however it closes, and when `connectDirect` fails. For an extra
   * socket of this transport (`pool.bindExtra`) that carries nothing but
   * this connection, e.g. the birthday-punch socket that won; anything else
   * is refused with InvalidParametersError.
   *
   * @default false
   */
  closeSocketOnClose?: boolean

  /**
   * Both peers agreed (OFFER/ANSWER feature DIRECT_NOISE) that the
   * connection starts with Noise: multistream-select for the encrypter is
   * settled locally and never sent (see pre-negotiation.ts). Only when
   * `canPreNegotiate()` is true on both sides.
   *
   * @default false
   */
  preNegotiated?: boolean
}

/**
 * The udx transport: libp2p connections over UDX streams on UDP sockets
 * that this transport owns.
 */
export class UDXTransport implements Transport<UDXDialEvents>, Startable {
  readonly pool: SocketPool
  private readonly init: UDXInit
  private readonly components: UDXComponents
  private readonly log: Logger
  private readonly metrics?: TransportMetrics
  private readonly handlers = new WeakMap<BoundSocket, HandshakeHandler>()
  private readonly listeners = new Set<UDXListener>()
  private readonly shutdownController = new AbortController()
  /** connections with a path key, for the path datagram handlers */
  readonly paths = new PathRegistry()
  private readonly keepaliveMs: number
  private readonly deadTimeoutMs: number
  /** inbound connections being upgraded, by their timeline (which the libp2p connection shares) */
  private readonly upgradingInbound = new WeakMap<object, UDXMultiaddrConnection>()

  constructor (components: UDXComponents, init: UDXInit = {}) {
    this.components = components
    this.init = init
    this.keepaliveMs = init.keepaliveInterval ?? STREAM_KEEPALIVE
    this.deadTimeoutMs = init.pathDeadTimeout ?? PATH_DEAD_TIMEOUT

    if (!Number.isInteger(this.keepaliveMs) || this.keepaliveMs < 1) {
      throw new InvalidParametersError('udx keepaliveInterval must be a positive integer (ms)')
    }

    if (!(this.deadTimeoutMs === 0 || (Number.isInteger(this.deadTimeoutMs) && this.deadTimeoutMs >= 3 * this.keepaliveMs))) {
      throw new InvalidParametersError(`udx pathDeadTimeout must be 0 (off) or an integer of at least 3 × keepaliveInterval (${3 * this.keepaliveMs} ms): a live idle connection hears its peer about once per keepalive interval`)
    }
    this.log = components.logger.forComponent('libp2p:udx')
    this.metrics = createTransportMetrics(components.metrics)
    this.pool = new SocketPool({
      logger: components.logger,
      metrics: createSocketMetrics(components.metrics)
    })
    this.pool.addSocketHandler(socket => {
      const handler = new HandshakeHandler(socket, this.components.logger.forComponent('libp2p:udx:handshake'))
      this.handlers.set(socket, handler)
      return handler
    })
    this.pool.addSocketHandler(socket => new PathDatagramHandler({
      socket,
      registry: this.paths,
      log: this.components.logger.forComponent('libp2p:udx:path')
    }))
  }

  readonly [transportSymbol] = true

  readonly [Symbol.toStringTag] = UDX_TRANSPORT_TAG

  readonly [serviceCapabilities]: string[] = [
    '@libp2p/transport'
  ]

  async start (): Promise<void> {
    this.components.events?.addEventListener('connection:open', this.onConnectionOpen)
  }

  async stop (): Promise<void> {
    this.components.events?.removeEventListener('connection:open', this.onConnectionOpen)
    this.shutdownController.abort()
    await Promise.all([...this.listeners].map(async listener => { await listener.close() }))
    await this.pool.close()
  }

  async dial (ma: Multiaddr, options: UDXDialOptions): Promise<Connection> {
    options.signal.throwIfAborted()

    const remote = udxMultiaddrToAddress(ma)
    const socket = this.pool.socketForDial(remote)
    const started = Date.now()
    this.log('dialing %a from %s:%d', ma, socket.address().host, socket.address().port)
    this.metrics?.dialerEvents.increment({ open: true })

    let stream
    try {
      stream = await dialHandshake({
        pool: this.pool,
        socket,
        handler: this.handlerFor(socket),
        remote,
        signal: options.signal,
        log: this.log,
        timeout: this.init.handshakeTimeout ?? HANDSHAKE_TIMEOUT,
        onProgress: options.onProgress,
        onRetry: () => { this.metrics?.dialerEvents.increment({ retry: true }) }
      })
    } catch (err: any) {
      this.metrics?.dialerEvents.increment({ [err.name === 'AbortError' ? 'abort' : 'error']: true })
      this.metrics?.handshakeErrors.increment({ [`outbound_${err.name ?? 'Error'}`]: true })
      throw err
    }

    this.metrics?.dialerEvents.increment({ accepted: true })

    const maConn = new UDXMultiaddrConnection({
      stream,
      remoteAddr: ma,
      localAddr: addressToUdxMultiaddr(socket.address()),
      direction: 'outbound',
      log: this.components.logger.forComponent('libp2p:udx:connection'),
      metrics: this.metrics?.dialerEvents,
      ...this.healthOptions()
    })

    try {
      const connection = await options.upgrader.upgradeOutbound(maConn, options)
      maConn.upgraded(connection)
      this.metrics?.connections.increment({ outbound: true })
      this.log('connection to %a upgraded in %d ms', ma, Date.now() - started)
      return connection
    } catch (err: any) {
      this.metrics?.handshakeErrors.increment({ outbound_upgrade: true })
      this.log.error('error upgrading outbound connection to %a - %e', ma, err)
      maConn.abort(err)
      throw err
    }
  }

  createListener (options: CreateListenerOptions): Listener {
    const listener = new UDXListener({
      pool: this.pool,
      upgrader: options.upgrader,
      logger: this.components.logger,
      handlerFor: (socket) => this.handlerFor(socket),
      announceAddresses: this.init.announceAddresses ?? false,
      maxHalfOpen: this.init.maxHalfOpenConnections,
      halfOpenTimeout: this.init.halfOpenTimeout,
      metrics: this.metrics,
      health: this.healthOptions(),
      onUpgrading: (maConn) => { this.upgradingInbound.set(maConn.timeline, maConn) }
    })

    this.listeners.add(listener)
    listener.addEventListener('close', () => {
      this.listeners.delete(listener)
    })

    return listener
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => isUdxMultiaddr(ma))
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.listenFilter(multiaddrs)
  }

  /**
   * Every udx address we accept dials on, announced or not
   */
  getListenAddrs (): Multiaddr[] {
    return [...this.listeners].flatMap(listener => listener.getListenAddrs())
  }

  /**
   * The bound sockets of our listeners
   */
  getListenSockets (): BoundSocket[] {
    return [...this.listeners]
      .map(listener => listener.getSocket())
      .filter((socket): socket is BoundSocket => socket != null)
  }

  /**
   * Reserve a UDX stream id to offer to a peer before the path exists. The
   * caller owns it until it either calls `releaseStreamId` (the id is not
   * used) or passes it to `connectDirect`, which owns it from the call on.
   */
  /**
   * Whether a punched connection can start with Noise without
   * multistream-select: our upgrader proposes `/noise` first
   */
  canPreNegotiate (): boolean {
    const encrypters = this.components.upgrader?.getConnectionEncrypters()
    return encrypters != null && [...encrypters.keys()][0] === PRE_NEGOTIATED_ENCRYPTER
  }

  reserveStreamId (): number {
    return this.pool.streamIds.allocate()
  }

  releaseStreamId (id: number): void {
    this.pool.streamIds.release(id)
  }

  /**
   * The entry point for the hole-punch service: connect a UDX stream over an
   * already punched path with stream ids agreed out of band, upgrade it with
   * Noise and yamux with fixed roles, and check the remote PeerId.
   *
   * Ownership: from the call on, `localStreamId` belongs to this method,
   * whatever happens; the caller must not release it. It is released when
   * the connection's stream closes, and on every failure before the promise
   * rejects. With `closeSocketOnClose`, `socket` is owned the same way: it
   * is closed through the pool when the stream closes (the connection closed
   * by either side, aborted, or timed out) and when this method fails.
   */
  async connectDirect (options: ConnectDirectOptions): Promise<Connection> {
    const { socket, remote, localStreamId, remoteStreamId, initiator, expectedPeer, pathKey } = options
    const signal = options.signal ?? this.shutdownController.signal
    const ownsSocket = options.closeSocketOnClose === true
    let stream: UDXStream

    try {
      signal.throwIfAborted()

      if (ownsSocket && !this.pool.isExtra(socket)) {
        throw new InvalidParametersError('closeSocketOnClose is only for an extra socket of this transport (pool.bindExtra): a listening or dial socket serves other connections')
      }

      if (pathKey != null && pathKey.byteLength < PATH_KEY_MIN_LENGTH) {
        throw new InvalidParametersError(`pathKey must have at least ${PATH_KEY_MIN_LENGTH} bytes (both peers derive it from a shared secret)`)
      }

      if (this.components.upgrader == null) {
        throw new Error('The udx transport has no upgrader: it must be created by libp2p (pass udx() in the transports list)')
      }

      // from here the stream releases the id when it closes
      stream = this.pool.createStreamWithReservedId(localStreamId)
    } catch (err: any) {
      this.pool.streamIds.release(localStreamId)
      await this.closeOwnedSocket(socket, ownsSocket)
      throw err
    }

    if (ownsSocket) {
      stream.once('close', () => {
        this.log('direct connection over extra socket %s:%d closed, closing the socket', socket.address().host, socket.address().port)
        void this.closeOwnedSocket(socket, true)
      })
    }

    // with a path key the connection can follow the peer to a new address:
    // its stream sends through a relay whose exit can move (movable-path.ts)
    let movable: MovablePath | undefined

    try {
      if (pathKey != null) {
        movable = new MovablePath({ pool: this.pool, socket, stream, remoteStreamId, remote, log: this.components.logger.forComponent('libp2p:udx:path') })
      } else {
        stream.connect(socket.socket, remoteStreamId, remote.port, remote.host)
      }
    } catch (err: any) {
      stream.destroy()
      await this.streamAndSocketClosed(stream, socket, ownsSocket)
      throw err
    }

    const remoteAddr = addressToUdxMultiaddr(remote).encapsulate(`/p2p/${expectedPeer.toString()}`)
    const maConn = new UDXMultiaddrConnection({
      stream,
      remoteAddr,
      localAddr: addressToUdxMultiaddr(socket.address()),
      direction: initiator ? 'outbound' : 'inbound',
      log: this.components.logger.forComponent('libp2p:udx:connection'),
      ...this.healthOptions(),
      migration: pathKey == null || movable == null
        ? undefined
        : {
            socket,
            path: movable,
            registry: this.paths,
            key: pathKey.slice(),
            localStreamId,
            remoteStreamId,
            initiator,
            onMigrated: options.onMigrated
          }
    })

    if (options.preNegotiated === true) {
      preNegotiate(maConn)
    }

    const onAbort = (): void => { maConn.abort(new AbortError('The direct connection upgrade was aborted')) }
    signal.addEventListener('abort', onAbort, { once: true })

    try {
      // the remote multiaddr carries the expected PeerId, so Noise fails the
      // handshake if the remote authenticates as anyone else; initiator=false
      // makes us the Noise responder and the multistream-select listener
      const connection = await this.components.upgrader.upgradeOutbound(maConn, {
        signal,
        initiator,
        onProgress: options.onProgress
      })

      if (!connection.remotePeer.equals(expectedPeer)) {
        await connection.close().catch(() => {})
        throw new UnexpectedRemotePeerError(`The direct connection authenticated ${connection.remotePeer.toString()} but ${expectedPeer.toString()} was expected`)
      }

      maConn.upgraded(connection)
      this.metrics?.connections.increment({ direct: true })
      return connection
    } catch (err: any) {
      this.metrics?.handshakeErrors.increment({ direct_upgrade: true })
      maConn.abort(err)
      // the id (and an owned socket) are free once the promise rejects
      await this.streamAndSocketClosed(stream, socket, ownsSocket)
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /**
   * Wait for a failed direct connection's stream to close (its id is then
   * released) and, if the socket is ours, for the socket too (the stream's
   * close handler started closing it through the pool)
   */
  private async streamAndSocketClosed (stream: UDXStream, socket: BoundSocket, ownsSocket: boolean): Promise<void> {
    await streamClosed(stream)

    if (ownsSocket) {
      await socket.close().catch(() => {})
    }
  }

  private async closeOwnedSocket (socket: BoundSocket, owned: boolean): Promise<void> {
    if (!owned || !this.pool.isExtra(socket)) {
      return
    }

    await this.pool.closeSocket(socket).catch((err: Error) => {
      this.log.error('could not close extra socket %s:%d - %e', socket.address().host, socket.address().port, err)
    })
  }

  /**
   * upgradeInbound does not return the libp2p connection, but the upgrader
   * announces it, and it shares our MultiaddrConnection's timeline object:
   * hand it to the MultiaddrConnection so that a dead path aborts its streams
   */
  private readonly onConnectionOpen = (evt: CustomEvent<Connection>): void => {
    const maConn = this.upgradingInbound.get(evt.detail.timeline)

    if (maConn != null) {
      this.upgradingInbound.delete(evt.detail.timeline)
      maConn.upgraded(evt.detail)
    }
  }

  /**
   * Keepalive and dead timer of every connection
   */
  private healthOptions (): { keepaliveMs: number, deadTimeoutMs: number, pathMetrics?: CounterGroup } {
    return { keepaliveMs: this.keepaliveMs, deadTimeoutMs: this.deadTimeoutMs, pathMetrics: this.metrics?.pathEvents }
  }

  private handlerFor (socket: BoundSocket): HandshakeHandler {
    const handler = this.handlers.get(socket)

    if (handler == null) {
      throw new Error('BUG: socket has no handshake handler')
    }

    return handler
  }
}

/**
 * Resolves once `stream` has closed (its id is then released)
 */
async function streamClosed (stream: UDXStream): Promise<void> {
  if (stream.destroyed) {
    return
  }

  await new Promise<void>(resolve => { stream.once('close', () => { resolve() }) })
}
