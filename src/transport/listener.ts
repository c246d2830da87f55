import os from 'node:os'
import { AlreadyStartedError, TypedEventEmitter, setMaxListeners } from '@libp2p/interface'
import { CONNECTION_CLOSE_TIMEOUT } from '../constants.ts'
import { isLinkLocal, isWildcard } from '../socket/host-scope.ts'
import { HandshakeAcceptor } from './handshake-acceptor.ts'
import { addressToUdxMultiaddr, udxMultiaddrToAddress } from './multiaddr.ts'
import { UDXMultiaddrConnection } from './udx-connection.ts'
import type { HandshakeHandler } from './handshake-handler.ts'
import type { TransportMetrics } from './transport-metrics.ts'
import type { UDXMultiaddrConnectionInit } from './udx-connection.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { SocketPool } from '../socket/socket-pool.ts'
import type { ComponentLogger, Listener, ListenerEvents, Logger, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface UDXListenerInit {
  pool: SocketPool
  upgrader: Upgrader
  logger: ComponentLogger
  handlerFor(socket: BoundSocket): HandshakeHandler
  announceAddresses: boolean
  maxHalfOpen?: number
  halfOpenTimeout?: number
  /** @default HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE */
  maxHalfOpenPerSource?: number
  /** @default HANDSHAKE_COOKIE_THRESHOLD */
  cookieThreshold?: number
  metrics?: TransportMetrics
  /** keepalive and dead timer of accepted connections */
  health?: Pick<UDXMultiaddrConnectionInit, 'keepaliveMs' | 'deadTimeoutMs' | 'pathMetrics'>
  /** an accepted connection is handed to the upgrader */
  onUpgrading?(maConn: UDXMultiaddrConnection): void
}

/**
 * Listens on one udx multiaddr: one bound socket, a handshake acceptor on
 * it, and the connections it accepted.
 */
export class UDXListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly init: UDXListenerInit
  private readonly log: Logger
  private readonly shutdownController = new AbortController()
  private readonly connections = new Set<UDXMultiaddrConnection>()
  private socket?: BoundSocket
  private acceptor?: HandshakeAcceptor<UDXMultiaddrConnection>
  private listeningAddr?: Multiaddr

  constructor (init: UDXListenerInit) {
    super()
    this.init = init
    this.log = init.logger.forComponent('libp2p:udx:listener')
    setMaxListeners(Infinity, this.shutdownController.signal)
  }

  async listen (ma: Multiaddr): Promise<void> {
    if (this.socket != null) {
      throw new AlreadyStartedError('This udx listener is already listening: create a new listener for another address')
    }

    const { host, port } = udxMultiaddrToAddress(ma)
    const socket = this.init.pool.bindListener(host, port)
    this.socket = socket
    this.listeningAddr = ma

    const handler = this.init.handlerFor(socket)
    this.acceptor = new HandshakeAcceptor<UDXMultiaddrConnection>({
      pool: this.init.pool,
      socket,
      log: this.log,
      maxHalfOpen: this.init.maxHalfOpen,
      halfOpenTimeout: this.init.halfOpenTimeout,
      maxHalfOpenPerSource: this.init.maxHalfOpenPerSource,
      cookieThreshold: this.init.cookieThreshold,
      metrics: this.init.metrics?.handshakeListenerEvents,
      createConnection: (stream, remote) => new UDXMultiaddrConnection({
        stream,
        remoteAddr: addressToUdxMultiaddr(remote),
        localAddr: addressToUdxMultiaddr(socket.address()),
        direction: 'inbound',
        log: this.init.logger.forComponent('libp2p:udx:connection'),
        metrics: this.init.metrics?.listenerEvents,
        ...this.init.health
      }),
      onConnection: (maConn) => { this.onConnection(maConn) },
      onAbandoned: () => {
        this.init.metrics?.handshakeErrors.increment({ inbound_abandoned: true })
      }
    })
    handler.acceptor = this.acceptor

    this.log('listening on %s:%d', socket.address().host, socket.address().port)
    this.safeDispatchEvent('listening')
  }

  /**
   * The socket this listener owns (for the hole-punch service and STUN)
   */
  getSocket (): BoundSocket | undefined {
    return this.socket
  }

  getAddrs (): Multiaddr[] {
    if (!this.init.announceAddresses) {
      return []
    }

    return this.getListenAddrs()
  }

  /**
   * The addresses this listener accepts dials on, whether or not they are
   * announced. A wildcard listen address is expanded to the interface
   * addresses of its family (link-local ones excluded).
   */
  getListenAddrs (): Multiaddr[] {
    if (this.socket == null || this.socket.closed) {
      return []
    }

    const { host, port, family } = this.socket.address()

    if (!isWildcard(host)) {
      return [addressToUdxMultiaddr({ host, port })]
    }

    const addrs: Multiaddr[] = []

    for (const netAddrs of Object.values(os.networkInterfaces())) {
      for (const netAddr of netAddrs ?? []) {
        if (netAddr.family !== (family === 4 ? 'IPv4' : 'IPv6')) {
          continue
        }

        if (isLinkLocal(netAddr.address)) {
          continue
        }

        addrs.push(addressToUdxMultiaddr({ host: netAddr.address, port }))
      }
    }

    return addrs
  }

  updateAnnounceAddrs (): void {}

  async close (): Promise<void> {
    const socket = this.socket

    if (socket == null) {
      return
    }

    this.log('closing listener on %s:%d with %d connection(s)', socket.address().host, socket.address().port, this.connections.size)

    // stop accepting and drop half-open connections
    this.acceptor?.close()
    this.init.handlerFor(socket).acceptor = undefined

    // stop in-progress upgrades
    this.shutdownController.abort()

    // close accepted connections gracefully, abort the ones that take too long
    await Promise.all([...this.connections].map(async maConn => {
      try {
        await maConn.close({ signal: AbortSignal.timeout(CONNECTION_CLOSE_TIMEOUT) })
      } catch (err: any) {
        maConn.abort(err)
      }
    }))

    // udx-native closes a socket only once every stream on it is gone:
    // outbound connections that left from this socket cannot outlive it
    for (const stream of [...socket.socket.streams]) {
      stream.destroy()
    }

    await this.init.pool.closeSocket(socket)
    this.socket = undefined
    this.safeDispatchEvent('close')
  }

  private onConnection (maConn: UDXMultiaddrConnection): void {
    this.connections.add(maConn)
    maConn.addEventListener('close', () => {
      this.connections.delete(maConn)
    })

    this.log('new inbound connection %a', maConn.remoteAddr)
    this.init.metrics?.connections.increment({ inbound: true })

    this.init.onUpgrading?.(maConn)
    this.init.upgrader.upgradeInbound(maConn, {
      signal: this.shutdownController.signal
    })
      .catch(err => {
        this.log.error('inbound connection upgrade from %a failed - %e', maConn.remoteAddr, err)
        this.init.metrics?.handshakeErrors.increment({ inbound_upgrade: true })
        maConn.abort(err)
      })
  }
}
