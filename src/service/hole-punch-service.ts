import os from 'node:os'
import { AbortError, TypedEventEmitter, isPeerId, serviceCapabilities, setMaxListeners } from '@libp2p/interface'
import { repeatingTask } from '@libp2p/utils'
import { CustomProgressEvent } from 'progress-events'
import {
  COORDINATION_PROTOCOL, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_CONCURRENT_PUNCHES, MAX_CANDIDATES, MAX_EXTRA_SOCKETS, NAT_REFRESH_INTERVAL_MS, NAT_REFRESH_TIMEOUT_MS,
  RELAY_RETIRE_MAX_WAIT_MS, RELAY_RETIRE_POLL_MS
} from '../constants.ts'
import { CoordinationFailedError, NoRelayedConnectionError, NoUdxTransportError, PunchFailedError } from '../errors.ts'
import { installStunServers } from '../nat/stun/server-set.ts'
import { StunServer } from '../nat/stun/server.ts'
import { PunchHistory } from '../punch/history.ts'
import { ProbeRouter } from '../punch/probe-router.ts'
import { isLocalOnly, isWildcard } from '../socket/host-scope.ts'
import { isUdxMultiaddr, udxMultiaddrToAddress } from '../transport/multiaddr.ts'
import { UDXTransport } from '../transport/udx-transport.ts'
import { CoordinationChannel } from './coordination-channel.ts'
import { NatMonitor } from './nat-monitor.ts'
import { PunchSession } from './punch-session.ts'
import type { ConnectOptions, HolePunch, HolePunchComponents, HolePunchEvents, HolePunchInit, PunchInfo } from './types.ts'
import type { NatProfile, TransportAddress } from '../nat/nat-profile.ts'
import type { StunServerSet } from '../nat/stun/server-set.ts'
import type { Candidate } from '../punch/plan.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { AbortOptions, Connection, CounterGroup, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { RepeatingTask } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

interface ServiceMetrics {
  punches: CounterGroup
  active: { update(value: number): void }
}

/**
 * The hole-punch service: coordinates over limited (relayed) connections
 * and upgrades them to direct udx connections.
 */
export class HolePunchService extends TypedEventEmitter<HolePunchEvents> implements HolePunch, Startable {
  private readonly components: HolePunchComponents
  private readonly init: HolePunchInit
  private readonly log: Logger
  private readonly router = new ProbeRouter()
  private readonly history = new PunchHistory()
  private readonly nat: NatMonitor
  private readonly sessions = new Map<string, { session: PunchSession, promise: Promise<Connection> }>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private shutdownController = new AbortController()
  private transport?: UDXTransport
  private removeHandlers: Array<() => void> = []
  private stunServers?: StunServerSet
  private natRefresh?: RepeatingTask
  private readonly metrics?: ServiceMetrics
  private started = false

  constructor (components: HolePunchComponents, init: HolePunchInit = {}) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('libp2p:udx:hole-punch')
    this.nat = new NatMonitor({
      logger: components.logger,
      servers: init.stunServers ?? [],
      socket: () => this.transport?.getListenSockets()[0],
      openSocket: (family) => (this.transport as UDXTransport).pool.bindExtra(family === 4 ? '0.0.0.0' : '::'),
      closeSocket: async (socket) => { await this.transport?.pool.closeSocket(socket) }
    })

    if (components.metrics != null) {
      this.metrics = {
        punches: components.metrics.registerCounterGroup('libp2p_udx_hole_punch_total', {
          label: 'outcome',
          help: 'Hole punches by outcome and strategy'
        }),
        active: components.metrics.registerMetric('libp2p_udx_hole_punch_active', {
          help: 'Hole punches in progress'
        })
      }
    }

    this.onIdentify = this.onIdentify.bind(this)
  }

  readonly [Symbol.toStringTag] = 'libp2p-udp-holepunch/hole-punch'

  readonly [serviceCapabilities]: string[] = [
    '@libp2p/hole-punch'
  ]

  async start (): Promise<void> {
    const transport = this.components.transportManager.getTransports().find(t => t instanceof UDXTransport)

    if (transport == null) {
      throw new NoUdxTransportError('holePunch() needs the udx() transport: add udx() to the transports of createLibp2p')
    }

    this.transport = transport
    this.shutdownController = new AbortController()
    setMaxListeners(Infinity, this.shutdownController.signal)

    // probes and STUN share every socket of the transport
    this.removeHandlers.push(transport.pool.addSocketHandler(socket => this.router.handlerFor(socket)))
    this.removeHandlers.push(transport.pool.addSocketHandler(socket => new StunServer({ logger: this.components.logger }, { socket })))

    await this.components.registrar.handle(COORDINATION_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.onCoordinationStream(stream, connection).catch(err => {
        this.log.error('coordination stream from %p failed - %e', connection.remotePeer, err)
      })
    }, {
      runOnLimitedConnection: true,
      maxInboundStreams: 32,
      maxOutboundStreams: 32
    })

    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.started = true
  }

  async afterStart (): Promise<void> {
    // the listen sockets answer STUN, RFC 5780 style when they form the
    // square of two IPs and two ports
    if (this.transport != null) {
      this.stunServers = installStunServers(this.transport.getListenSockets(), { logger: this.components.logger })
    }

    if ((this.init.stunServers ?? []).length > 0) {
      // at start, then on a schedule; a punch refreshes a stale profile itself
      this.natRefresh = repeatingTask(async (options) => {
        await this.nat.refresh(options).catch(err => {
          this.log('NAT discovery failed - %e', err)
        })
      }, this.init.natRefreshInterval ?? NAT_REFRESH_INTERVAL_MS, {
        runImmediately: true,
        timeout: NAT_REFRESH_TIMEOUT_MS
      })
      this.natRefresh.start()
    }
  }

  async stop (): Promise<void> {
    this.started = false
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.shutdownController.abort(new AbortError('The hole-punch service is stopping'))
    await Promise.allSettled([...this.sessions.values()].map(async ({ promise }) => promise))
    await this.components.registrar.unhandle(COORDINATION_PROTOCOL)

    this.natRefresh?.stop()
    this.natRefresh = undefined
    this.stunServers?.stop()
    this.stunServers = undefined

    for (const remove of this.removeHandlers) {
      remove()
    }
    this.removeHandlers = []

    for (const timer of this.timers) {
      clearTimeout(timer)
      clearInterval(timer)
    }
    this.timers.clear()
    this.nat.stop()
  }

  getActivePunches (): PunchInfo[] {
    return [...this.sessions.values()].map(({ session }) => session.info())
  }

  getNatProfile (): NatProfile {
    return this.nat.getProfile()
  }

  async refreshNat (options?: AbortOptions): Promise<NatProfile> {
    return this.nat.refresh(options)
  }

  getPublicAddresses (): TransportAddress[] {
    return this.nat.getProfile().publicAddresses
  }

  async connect (peer: PeerId | Multiaddr | Multiaddr[], options: ConnectOptions = {}): Promise<Connection> {
    if (!this.started || this.transport == null) {
      throw new NoUdxTransportError('The hole-punch service is not started: call node.start() first')
    }

    const signal = AbortSignal.any([
      options.signal ?? AbortSignal.timeout(this.init.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS),
      this.shutdownController.signal
    ])
    signal.throwIfAborted()

    let peerId: PeerId

    if (isPeerId(peer)) {
      peerId = peer
    } else {
      // dial the relay address (or whatever was given) first
      options.onProgress?.(new CustomProgressEvent('hole-punch:dial-relay'))
      let connection: Connection
      try {
        connection = await this.components.connectionManager.openConnection(peer, { signal })
      } catch (err: any) {
        if (signal.aborted) {
          throw new AbortError('connect() was aborted while dialing the relay address')
        }
        throw new CoordinationFailedError(`Could not reach the peer through ${Array.isArray(peer) ? peer.map(String).join(', ') : String(peer)}: ${err.message}`, { cause: err })
      }
      peerId = connection.remotePeer
    }

    const direct = this.directConnection(peerId)
    if (direct != null) {
      return direct
    }

    const relayed = this.relayedConnection(peerId)
    if (relayed == null) {
      throw new NoRelayedConnectionError(`No relayed connection to ${peerId.toString()}: dial it through a relay first (its /p2p-circuit multiaddr), or pass that multiaddr to connect()`)
    }
    options.onProgress?.(new CustomProgressEvent('hole-punch:relayed'))

    try {
      return await this.punchWith(peerId, relayed, 'initiator', { ...options, signal })
    } catch (err: any) {
      // the peer may have won a simultaneous start: its session answers ours
      const other = this.sessions.get(peerId.toString())
      if (other != null && other.session.side === 'responder') {
        return other.promise
      }

      if (options.fallbackToRelay === true && !signal.aborted && relayed.status === 'open') {
        this.log('no direct path to %p, using the relayed connection - %e', peerId, err)
        options.onProgress?.(new CustomProgressEvent('hole-punch:fallback', { reason: err.message }))
        return relayed
      }

      throw err
    }
  }

  /**
   * Start (or join) the punch with `peerId` over the relayed connection
   */
  private async punchWith (peerId: PeerId, relayed: Connection, side: 'initiator', options: ConnectOptions & { signal: AbortSignal }): Promise<Connection> {
    const key = peerId.toString()
    const existing = this.sessions.get(key)

    if (existing != null) {
      return existing.promise
    }

    this.checkCapacity()
    const stream = await relayed.newStream(COORDINATION_PROTOCOL, { signal: options.signal, runOnLimitedConnection: true })
    const session = this.createSession(peerId, side, stream, options)
    return this.track(key, session, relayed, session.runInitiator())
  }

  private async onCoordinationStream (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer
    const key = peerId.toString()
    const channel = new CoordinationChannel(stream)
    const message = await channel.read({ signal: this.shutdownController.signal })

    if (message.type !== 'offer') {
      channel.abort(new PunchFailedError(`Expected OFFER, got ${message.type}`))
      return
    }

    const refuse = async (reason: 'already-connected' | 'resource-limit' | 'shutting-down', text: string): Promise<void> => {
      await channel.send({ type: 'abort', abort: { sessionId: message.offer.sessionId, reason, message: text } }).catch(() => {})
      await channel.close()
    }

    if (!this.started) {
      await refuse('shutting-down', 'the node is stopping')
      return
    }

    const stale = this.directConnection(peerId)
    if (stale != null) {
      // the peer offers only when it has no direct connection to us, so ours
      // is half dead (the peer hung up and the close has not reached us yet):
      // drop it and punch again
      this.log('%p offers a punch while we hold a direct connection to it: closing ours as stale', peerId)
      stale.abort(new PunchFailedError('The peer no longer has this direct connection'))
    }

    const existing = this.sessions.get(key)
    if (existing != null) {
      // both sides started at once: the lower PeerId stays initiator
      if (existing.session.side === 'initiator' && this.components.peerId.toString() < key) {
        await refuse('resource-limit', 'simultaneous start: the peer with the lower PeerId initiates')
        return
      }

      if (existing.session.side === 'responder') {
        await refuse('resource-limit', 'a punch with this peer is already running')
        return
      }
      // else: we yield; our own initiator session will be refused by the
      // peer, and connect() then waits for this responder session
    }

    if (this.sessions.size >= (this.init.maxConcurrentPunches ?? DEFAULT_MAX_CONCURRENT_PUNCHES) && existing == null) {
      await refuse('resource-limit', 'too many punches in progress')
      return
    }

    const session = this.createSession(peerId, 'responder', stream, { signal: this.shutdownController.signal }, channel)
    await this.track(key, session, connection, session.runResponder(message.offer)).catch(() => {})
  }

  private createSession (peerId: PeerId, side: 'initiator' | 'responder', stream: Stream, options: ConnectOptions & { signal: AbortSignal }, channel?: CoordinationChannel): PunchSession {
    return new PunchSession({
      peer: peerId,
      side,
      channel: channel ?? new CoordinationChannel(stream),
      transport: this.transport as UDXTransport,
      router: this.router,
      nat: this.nat,
      history: this.history,
      candidates: (socket) => this.candidates(socket),
      maxExtraSockets: this.init.maxExtraSockets ?? MAX_EXTRA_SOCKETS,
      log: this.log,
      signal: AbortSignal.any([options.signal, this.shutdownController.signal]),
      onProgress: options.onProgress
    })
  }

  /**
   * Register a running session, emit events, record history, and retire
   * the relayed connection after success
   */
  private async track (key: string, session: PunchSession, relayed: Connection, run: Promise<Connection>): Promise<Connection> {
    const promise = (async () => {
      this.safeDispatchEvent('punch:start', { detail: { peer: session.peer, side: session.side } })
      this.metrics?.active.update(this.sessions.size)

      try {
        const connection = await run
        const durationMs = Date.now() - session.startedAt
        const strategy = session.plan?.strategy ?? 'unknown'
        this.log('direct connection to %p (%s, %s) in %d ms', session.peer, session.side, strategy, durationMs)
        this.metrics?.punches.increment({ [`success_${strategy}`]: true })
        this.record(session, true, durationMs)
        this.safeDispatchEvent('punch:success', { detail: { peer: session.peer, side: session.side, durationMs, strategy, connection } })

        if (this.init.closeRelayedConnection !== false) {
          this.retireRelayedConnection(relayed)
        }

        return connection
      } catch (err: any) {
        const durationMs = Date.now() - session.startedAt
        this.log('punch with %p (%s) failed after %d ms - %e', session.peer, session.side, durationMs, err)
        this.metrics?.punches.increment({ [`failure_${err.name ?? 'Error'}`]: true })
        this.record(session, false, durationMs)
        this.safeDispatchEvent('punch:failure', { detail: { peer: session.peer, side: session.side, durationMs, strategy: session.plan?.strategy, reason: err.message, error: err } })
        this.maybeScheduleRetry(session, err)
        throw err
      }
    })()

    this.sessions.set(key, { session, promise })
    promise.catch(() => {}).finally(() => {
      if (this.sessions.get(key)?.session === session) {
        this.sessions.delete(key)
      }
      this.metrics?.active.update(this.sessions.size)
    })

    return promise
  }

  private record (session: PunchSession, success: boolean, elapsedMs: number): void {
    const plan = session.plan

    if (plan == null) {
      return
    }

    this.history.record({
      peer: session.peer.toString(),
      pairClass: plan.pairClass,
      strategy: plan.pairStrategy,
      success,
      elapsedMs,
      at: Date.now()
    })
  }

  /**
   * Background upgrades are retried with backoff and swapped roles: after a
   * punch that found no path, the side that was the responder starts the
   * next attempt (with fresh NAT observations) once the history's backoff
   * has passed. Cancelled or aborted punches, and explicit connect() calls
   * when autoUpgrade is off, are not retried.
   */
  private maybeScheduleRetry (session: PunchSession, err: Error): void {
    if (this.init.autoUpgrade === false || session.side !== 'responder' || err.name !== 'PunchFailedError' || !this.started) {
      return
    }

    const advice = this.history.nextRetry(session.peer.toString(), Date.now(), Math.random)

    if (!advice.retry) {
      this.log('not retrying the punch with %p: %d attempts in a row failed', session.peer, advice.attempt + 1)
      return
    }

    this.log('retrying the punch with %p in %d ms with swapped roles (attempt %d)', session.peer, advice.delayMs, advice.attempt + 1)
    const timer = setTimeout(() => {
      this.timers.delete(timer)

      if (!this.started || this.sessions.has(session.peer.toString()) || this.directConnection(session.peer) != null || this.relayedConnection(session.peer) == null) {
        return
      }

      this.connect(session.peer).catch(err => {
        this.log('retry of the punch with %p failed - %e', session.peer, err)
      })
    }, advice.delayMs)
    timer.unref()
    this.timers.add(timer)
  }

  /**
   * Close the relayed connection once none of its streams is open, so no
   * stream in flight breaks; new streams go to the direct connection
   */
  private retireRelayedConnection (relayed: Connection): void {
    const deadline = Date.now() + RELAY_RETIRE_MAX_WAIT_MS
    const check = (): void => {
      if (relayed.status !== 'open') {
        clearInterval(timer)
        this.timers.delete(timer)
        return
      }

      const busy = relayed.streams.filter(s => s.protocol !== COORDINATION_PROTOCOL && s.status === 'open')

      if (busy.length === 0 || Date.now() > deadline) {
        clearInterval(timer)
        this.timers.delete(timer)
        this.log('closing the relayed connection to %p (%d open streams)', relayed.remotePeer, busy.length)
        relayed.close().catch(err => { relayed.abort(err) })
      }
    }
    const timer = setInterval(check, RELAY_RETIRE_POLL_MS)
    timer.unref()
    this.timers.add(timer)
  }

  /**
   * Auto-upgrade: the side that received the relayed connection starts,
   * once identify shows the peer speaks our protocol
   */
  private onIdentify (evt: CustomEvent<{ peerId: PeerId, protocols: string[], connection: Connection, observedAddr?: Multiaddr }>): void {
    const { peerId, protocols, connection, observedAddr } = evt.detail
    this.recordObservedAddress(connection, observedAddr)

    if (this.init.autoUpgrade === false || !this.started) {
      return
    }

    if (connection.limits == null || connection.direction !== 'inbound' || !protocols.includes(COORDINATION_PROTOCOL)) {
      return
    }

    if (this.sessions.has(peerId.toString()) || this.directConnection(peerId) != null) {
      return
    }

    this.log('upgrading the relayed connection from %p in the background', peerId)
    this.connect(peerId, { signal: AbortSignal.any([AbortSignal.timeout(this.init.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS), this.shutdownController.signal]) })
      .catch(err => {
        this.log('background upgrade with %p failed, the relayed connection stays - %e', peerId, err)
      })
  }

  /**
   * A peer on a direct udx connection tells us (identify) the address it
   * sees us at: an observation of our main socket's mapping by that peer
   */
  private recordObservedAddress (connection: Connection, observedAddr?: Multiaddr): void {
    if (observedAddr == null || connection.limits != null || !isUdxMultiaddr(connection.remoteAddr) || !isUdxMultiaddr(observedAddr)) {
      return
    }

    const main = this.transport?.getListenSockets()[0]
    if (main == null) {
      return
    }

    try {
      const observer = udxMultiaddrToAddress(connection.remoteAddr)
      const mapped = udxMultiaddrToAddress(observedAddr)
      this.nat.addObservation({ observer, local: main.address(), mapped, source: 'identify', at: Date.now() })
    } catch (err: any) {
      this.log.trace('ignoring an observed address - %e', err)
    }
  }

  private checkCapacity (): void {
    if (this.sessions.size >= (this.init.maxConcurrentPunches ?? DEFAULT_MAX_CONCURRENT_PUNCHES)) {
      throw new PunchFailedError(`${this.sessions.size} punches are already running (maxConcurrentPunches): try again later`)
    }
  }

  private directConnection (peerId: PeerId): Connection | undefined {
    return this.components.connectionManager.getConnections(peerId)
      .find(c => c.status === 'open' && c.limits == null)
  }

  private relayedConnection (peerId: PeerId): Connection | undefined {
    return this.components.connectionManager.getConnections(peerId)
      .find(c => c.status === 'open' && c.limits != null)
  }

  /**
   * Our candidates for the socket: its public mappings, then its LAN
   * interface addresses
   */
  private candidates (socket: BoundSocket): Candidate[] {
    const local = socket.address()
    const out: Candidate[] = []

    for (const address of this.nat.getProfile().publicAddresses) {
      if (address.family === local.family && !isLocalOnly(address.host)) {
        out.push({ host: address.host, port: address.port, family: address.family, kind: 'public', source: 'stun' })
      }
    }

    const filter = this.init.lanAddressFilter ?? defaultLanFilter
    const hosts = isWildcard(local.host) ? interfaceAddresses(local.family) : [local.host]

    for (const host of hosts) {
      if (filter(host) && !out.some(c => c.host === host && c.port === local.port)) {
        out.push({ host, port: local.port, family: local.family, kind: 'lan', source: 'interface' })
      }
    }

    return out.slice(0, MAX_CANDIDATES)
  }
}

function interfaceAddresses (family: 4 | 6): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap(addrs => addrs ?? [])
    .filter(a => a.family === (family === 4 ? 'IPv4' : 'IPv6'))
    .map(a => a.address)
}

function defaultLanFilter (host: string): boolean {
  return !isLocalOnly(host)
}
