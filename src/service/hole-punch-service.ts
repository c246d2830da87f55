import { AbortError, KEEP_ALIVE, TypedEventEmitter, isPeerId, serviceCapabilities, setMaxListeners } from '@libp2p/interface'
import { lpStream, repeatingTask } from '@libp2p/utils'
import { CustomProgressEvent } from 'progress-events'
import {
  CONSENT_MAX_UNANSWERED, COORDINATION_PROTOCOL, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_EXTRA_SOCKETS_TOTAL, DEFAULT_MAX_INBOUND_PUNCHES, DEFAULT_MAX_OUTBOUND_PUNCHES,
  DEFAULT_MAX_PROBES_PER_SECOND, DEFAULT_MAX_SESSION_BYTES, DEFAULT_MAX_SESSION_DATAGRAMS, DEFAULT_MAX_SESSIONS_PER_PEER_PER_MINUTE, DIRECT_STALE_GRACE_MS,
  GLARE_WAIT_MS, HISTORY_MAX_PEERS, MAX_EXTRA_SOCKETS, NAT_REFRESH_INTERVAL_MS, NAT_REFRESH_TIMEOUT_MS, PEER_DIRECT_GRACE_MS, RELAY_RETIRE_POLL_MS,
  SESSION_ID_LENGTH, STUN_ENDPOINTS_PROTOCOL, STUN_ENDPOINTS_QUERY_TIMEOUT_MS
} from '../constants.ts'
import { CoordinationFailedError, GlareError, NoRelayedConnectionError, NoUdxTransportError, PunchAbortedByPeerError, PunchFailedError, TooManyPunchesError } from '../errors.ts'
import { PortMapper, StunMappingVerifier } from '../nat/port-mapping/index.ts'
import { installStunServers } from '../nat/stun/server-set.ts'
import { StunServer } from '../nat/stun/server.ts'
import { encodeStunEndpoints } from '../protocol/stun-endpoints-message.ts'
import { addressPolicy } from '../punch/address-policy.ts'
import { PunchHistory } from '../punch/history.ts'
import { ProbeRouter } from '../punch/probe-router.ts'
import { isLocalOnly, isWildcard } from '../socket/host-scope.ts'
import { mainListenSocket } from '../socket/listen-sockets.ts'
import { isUdxMultiaddr, udxMultiaddrToAddress } from '../transport/multiaddr.ts'
import { UDXTransport } from '../transport/udx-transport.ts'
import { CandidateGatherer } from './candidate-gatherer.ts'
import { CoordinationChannel } from './coordination-channel.ts'
import { openCoordinationStream } from './coordination-stream.ts'
import { KnownPaths } from './known-paths.ts'
import { NatMonitor } from './nat-monitor.ts'
import { PathKeeper } from './path-keeper.ts'
import { PeerPunch } from './peer-punch.ts'
import { ProbeRate } from './probe-rate.ts'
import { PunchSession } from './punch-session.ts'
import { PunchSlots } from './punch-slots.ts'
import { SocketQuota } from './socket-quota.ts'
import { StunSources } from './stun-sources.ts'
import type { OpenedCoordinationStream } from './coordination-stream.ts'
import type { ConnectOptions, HolePunch, HolePunchComponents, HolePunchEvents, HolePunchInit, PunchInfo, StunServerAddress } from './types.ts'
import type { NatProfile, TransportAddress } from '../nat/nat-profile.ts'
import type { PortMappingState } from '../nat/port-mapping/index.ts'
import type { StunServerSet } from '../nat/stun/server-set.ts'
import type { AbortReason, CoordinationMessage } from '../protocol/messages.ts'
import type { AddressPolicy } from '../punch/address-policy.ts'
import type { SendLimits } from '../punch/executor.ts'
import type { Side } from '../punch/plan.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { AbortOptions, Connection, CounterGroup, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { RepeatingTask } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

interface ServiceMetrics {
  punches: CounterGroup
  refusals: CounterGroup
  active: { update(value: number): void }
  paths: CounterGroup
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
  private readonly knownPaths = new KnownPaths()
  private paths?: PathKeeper
  private readonly history = new PunchHistory()
  private readonly nat: NatMonitor
  private readonly portMapper: PortMapper
  /** the one punch per remote peer, whoever started it */
  private readonly punches = new Map<string, PeerPunch>()
  private readonly slots: PunchSlots
  private readonly socketQuota: SocketQuota
  private readonly probeRate: ProbeRate
  private readonly sendLimits: SendLimits
  private readonly policy: AddressPolicy
  private readonly stunSources: StunSources
  /** extra sockets that only answer STUN (a second port beside each listen socket) */
  private readonly stunPorts: BoundSocket[] = []
  private readonly gatherer: CandidateGatherer
  private natWarned = false
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
    // ask the gateway for a mapped port (PCP, NAT-PMP, UPnP-IGD) of every
    // udx listen socket that can reach it (not one bound to loopback)
    this.portMapper = new PortMapper({ logger: components.logger }, {
      ...init.portMapping,
      targets: () => (this.transport?.getListenSockets() ?? [])
        .filter(socket => !isLocalOnly(socket.address().host))
        .map(socket => ({ port: socket.address().port, family: socket.address().family })),
      verifier: new StunMappingVerifier({ logger: components.logger }, {
        socket: (port, family) => this.transport?.getListenSockets().find(s => s.address().port === port && s.address().family === family),
        openSocket: (family) => (this.transport as UDXTransport).pool.bindExtra(family === 4 ? '0.0.0.0' : '::'),
        closeSocket: async (socket) => { await this.transport?.pool.closeSocket(socket as BoundSocket) },
        servers: () => this.nat.getServers()
      })
    })
    this.nat = new NatMonitor({
      logger: components.logger,
      servers: () => this.stunServerList(),
      socket: () => mainListenSocket(this.transport?.getListenSockets() ?? []),
      openSocket: (family) => (this.transport as UDXTransport).pool.bindExtra(family === 4 ? '0.0.0.0' : '::'),
      closeSocket: async (socket) => { await this.transport?.pool.closeSocket(socket) },
      portMapper: this.portMapper
    })
    this.slots = new PunchSlots({
      maxOutbound: init.maxOutboundPunches ?? DEFAULT_MAX_OUTBOUND_PUNCHES,
      maxInbound: init.maxInboundPunches ?? DEFAULT_MAX_INBOUND_PUNCHES,
      maxOffersPerPeerPerMinute: init.maxSessionsPerPeerPerMinute ?? DEFAULT_MAX_SESSIONS_PER_PEER_PER_MINUTE,
      maxTrackedPeers: HISTORY_MAX_PEERS
    })
    this.socketQuota = new SocketQuota(init.maxExtraSocketsTotal ?? DEFAULT_MAX_EXTRA_SOCKETS_TOTAL)
    const perSecond = init.maxProbesPerSecond ?? DEFAULT_MAX_PROBES_PER_SECOND
    this.probeRate = new ProbeRate({ perSecond, burst: perSecond })
    const policy = addressPolicy(init.addressScope)
    this.policy = policy
    this.stunSources = new StunSources({ log: this.log, policy })
    this.gatherer = new CandidateGatherer({ nat: this.nat, policy, lanAddressFilter: init.lanAddressFilter, portMapper: this.portMapper })
    this.sendLimits = {
      maxDatagrams: init.maxSessionDatagrams ?? DEFAULT_MAX_SESSION_DATAGRAMS,
      maxBytes: init.maxSessionBytes ?? DEFAULT_MAX_SESSION_BYTES,
      consentAfter: CONSENT_MAX_UNANSWERED,
      rate: this.probeRate,
      allows: (host) => policy.scope(host) !== 'forbidden'
    }

    if (components.metrics != null) {
      this.metrics = {
        punches: components.metrics.registerCounterGroup('libp2p_udx_hole_punch_total', {
          label: 'outcome',
          help: 'Hole punches by outcome and strategy'
        }),
        refusals: components.metrics.registerCounterGroup('libp2p_udx_hole_punch_refused_total', {
          label: 'reason',
          help: 'Coordination streams from peers refused before a session ran, by ABORT reason'
        }),
        active: components.metrics.registerMetric('libp2p_udx_hole_punch_active', {
          help: 'Hole punches in progress'
        }),
        paths: components.metrics.registerCounterGroup('libp2p_udx_hole_punch_paths_total', {
          label: 'event',
          help: 'Direct paths lost, re-punches and their successes, migrations, relay re-dials'
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

    // the paths of punched peers over time
    this.paths = new PathKeeper({
      log: this.log,
      connections: (peer) => this.components.connectionManager.getConnections(peer),
      dialRelay: async (circuit, signal) => this.components.connectionManager.openConnection(circuit, { signal, force: true }),
      repunch: async (peer, signal) => this.connect(peer, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS)]) }),
      isKeptAlive: async (peer) => {
        const tags = (await this.components.peerStore.get(peer)).tags
        return [...tags.keys()].some(tag => tag === KEEP_ALIVE || tag.startsWith(`${KEEP_ALIVE}-`))
      },
      refreshNat: async (signal) => this.nat.refresh({ signal }),
      lost: (detail) => {
        // the address died with the path: no direct race against it
        this.knownPaths.forget(detail.peer.toString())
        this.safeDispatchEvent('path:lost', { detail })
      },
      restored: (detail) => { this.safeDispatchEvent('path:restored', { detail }) },
      abandoned: (detail) => { this.safeDispatchEvent('path:abandoned', { detail }) },
      count: (what) => { this.metrics?.paths.increment({ [what]: true }) },
      signal: this.shutdownController.signal
    })
    this.paths.start()

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

    // directly connected peers ask which udx ports we answer STUN on
    await this.components.registrar.handle(STUN_ENDPOINTS_PROTOCOL, (stream: Stream) => {
      this.answerStunEndpoints(stream).catch(err => {
        this.log('answering a STUN endpoints query failed - %e', err)
      })
    }, {
      maxInboundStreams: 4,
      maxOutboundStreams: 4
    })

    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    this.started = true
  }

  async afterStart (): Promise<void> {
    if (this.transport != null) {
      const listening = this.transport.getListenSockets()

      // a second STUN port beside each listen socket: one node on one IP is
      // then enough for a peer to tell EIM from APDM (two ports, one
      // server) and to test port filtering
      if (this.init.stunSecondPort !== false) {
        for (const socket of listening) {
          try {
            this.stunPorts.push(this.transport.pool.bindExtra(socket.address().host))
          } catch (err: any) {
            this.log('could not bind a second STUN port beside %s - %e', socket.address().host, err)
          }
        }
      }

      // the sockets answer STUN, RFC 5780 style when they form the square of
      // two IPs and two ports (or change-port on one IP with two ports)
      this.stunServers = installStunServers([...listening, ...this.stunPorts], { logger: this.components.logger })
    }

    // at start, then on a schedule; a punch refreshes a stale profile
    // itself, and STUN sources found among peers trigger one too
    this.natRefresh = repeatingTask(async (options) => {
      if (this.stunServerList().length === 0) {
        return
      }

      await this.refreshNatAndMappings(options).catch(err => {
        this.log('NAT discovery failed - %e', err)
      })
    }, this.init.natRefreshInterval ?? NAT_REFRESH_INTERVAL_MS, {
      runImmediately: true,
      timeout: NAT_REFRESH_TIMEOUT_MS
    })
    this.natRefresh.start()
    await this.portMapper.start()
  }

  async stop (): Promise<void> {
    this.started = false
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    this.shutdownController.abort(new AbortError('The hole-punch service is stopping'))
    this.paths?.stop()
    this.paths = undefined
    const running = [...this.punches.values()]
    for (const punch of running) {
      punch.controller.abort(new AbortError('The hole-punch service is stopping'))
    }
    await Promise.allSettled(running.map(async punch => punch.join({ signal: AbortSignal.timeout(5_000) })))
    await this.components.registrar.unhandle(COORDINATION_PROTOCOL)
    await this.components.registrar.unhandle(STUN_ENDPOINTS_PROTOCOL)

    this.natRefresh?.stop()
    this.natRefresh = undefined
    await this.portMapper.stop()
    this.stunServers?.stop()
    this.stunServers = undefined
    await Promise.all(this.stunPorts.splice(0).map(async socket => this.transport?.pool.closeSocket(socket)))

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
    return [...this.punches.values()].flatMap(punch => punch.session != null ? [punch.session.info()] : [])
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

  /**
   * Observe our NAT again, then verify the port mappings nobody could check
   * yet (verification needs a STUN server, which discovery just found)
   */
  private async refreshNatAndMappings (options: AbortOptions = {}): Promise<void> {
    await this.nat.refresh(options)

    if (this.portMapper.mappings().some(m => m.verification === 'unknown')) {
      await this.portMapper.verifyAll(options).catch(err => {
        this.log('verifying the port mappings failed - %e', err)
      })
    }
  }

  getPortMappings (): PortMappingState[] {
    return this.portMapper.mappings()
  }

  async refreshPortMappings (options: AbortOptions = {}): Promise<PortMappingState[]> {
    await this.portMapper.refresh(options)
    return this.portMapper.verifyAll(options)
  }

  getStunServers (): StunServerAddress[] {
    return this.stunServerList().map(({ host, port }) => ({ host, port }))
  }

  getNatDiscoveryServers (): StunServerAddress[] {
    return this.nat.getServers().map(({ host, port }) => ({ host, port }))
  }

  async connect (peer: PeerId | Multiaddr | Multiaddr[], options: ConnectOptions = {}): Promise<Connection> {
    if (!this.started || this.transport == null) {
      throw new NoUdxTransportError('The hole-punch service is not started: call node.start() first')
    }

    const timeoutMs = this.init.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS
    const signal = AbortSignal.any([
      options.signal ?? AbortSignal.timeout(timeoutMs),
      this.shutdownController.signal
    ])

    try {
      signal.throwIfAborted()
      return await this.connectWith(peer, options, signal)
    } catch (err: any) {
      throw documentedError(err, signal, options.signal == null ? timeoutMs : undefined)
    }
  }

  private async connectWith (peer: PeerId | Multiaddr | Multiaddr[], options: ConnectOptions, signal: AbortSignal): Promise<Connection> {
    const known = (options.reuseKnownPath ?? this.init.reuseKnownPaths) === false ? undefined : this.knownDirectAddress(peer)

    if (known == null) {
      return this.connectViaRelay(peer, options, signal)
    }

    // happy eyeballs: we reached this peer directly not long ago, so its
    // last direct address is raced against the relay (and the punch)
    const started = Date.now()
    options.onProgress?.(new CustomProgressEvent('hole-punch:direct-race', { address: known.toString() }))
    const viaRelay = new AbortController()
    const viaDirect = new AbortController()
    const relayed = this.connectViaRelay(peer, options, AbortSignal.any([signal, viaRelay.signal]))
    const direct = this.dialKnownAddress(known, AbortSignal.any([signal, viaDirect.signal]))
    relayed.catch(() => {})
    direct.catch(() => {})

    try {
      const winner = await Promise.any([
        direct.then(connection => ({ connection, direct: true })),
        relayed.then(connection => ({ connection, direct: false }))
      ])

      if (winner.direct) {
        this.log('the direct attempt to %a won the race against the relay', known)
        viaRelay.abort(new AbortError('The direct attempt to a known address won'))
        this.paths?.onDirect(winner.connection.remotePeer, winner.connection, this.relayedConnection(winner.connection.remotePeer))
        this.knownPaths.remember(winner.connection.remotePeer.toString(), winner.connection.remoteAddr)
        options.onProgress?.(new CustomProgressEvent('hole-punch:direct', { durationMs: Date.now() - started }))
      } else {
        viaDirect.abort(new AbortError('The relay and punch won'))
      }

      return winner.connection
    } catch (err: any) {
      // both failed: the relay's error says more
      throw err instanceof AggregateError ? err.errors[1] : err
    }
  }

  /**
   * The last direct address of the peer `peer` names, when it is fresh and
   * we hold no direct connection to the peer
   */
  private knownDirectAddress (peer: PeerId | Multiaddr | Multiaddr[]): Multiaddr | undefined {
    const target = isPeerId(peer) ? peer.toString() : (Array.isArray(peer) ? peer : [peer]).map(ma => ma.getComponents().findLast(c => c.name === 'p2p')?.value).find(id => id != null)

    if (target == null) {
      return undefined
    }

    const known = this.knownPaths.get(target)

    if (known == null || this.components.connectionManager.getConnections().some(c => c.remotePeer.toString() === target && c.status === 'open' && c.limits == null)) {
      return undefined
    }

    return known
  }

  /**
   * Dial a known direct address through our transport. Not through the
   * connection manager: its dial queue merges dials to one peer, so the
   * direct attempt would wait for the relay dial instead of racing it. The
   * connection still joins the connection manager (the upgrader announces
   * it) and passes the connection gater's upgrade checks.
   */
  private async dialKnownAddress (addr: Multiaddr, signal: AbortSignal): Promise<Connection> {
    const upgrader = this.components.upgrader

    if (this.transport == null || upgrader == null) {
      throw new CoordinationFailedError('No udx transport or upgrader to dial a known direct address with')
    }

    return this.transport.dial(addr, { signal, upgrader })
  }

  private async connectViaRelay (peer: PeerId | Multiaddr | Multiaddr[], options: ConnectOptions, signal: AbortSignal): Promise<Connection> {
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

    // one punch per pair of peers: join the one that runs, whoever started it
    let punch = this.punches.get(peerId.toString())

    if (punch == null) {
      const relayed = this.relayedConnection(peerId)
      if (relayed == null) {
        throw new NoRelayedConnectionError(`No relayed connection to ${peerId.toString()}: dial it through a relay first (its /p2p-circuit multiaddr), or pass that multiaddr to connect()`)
      }
      options.onProgress?.(new CustomProgressEvent('hole-punch:relayed'))
      punch = this.startOutbound(peerId, relayed)
    }

    try {
      return await punch.join({ signal, onProgress: options.onProgress })
    } catch (err: any) {
      // the peer left the punch because a direct connection won its own
      // race (our known address): that connection is ours too
      const direct = err instanceof PunchAbortedByPeerError ? await this.directConnectionSoon(peerId, signal) : this.directConnection(peerId)

      if (direct != null) {
        this.log('the punch with %p ended (%s), but a direct connection exists: using it', peerId, err.message)
        return direct
      }

      const relayed = this.relayedConnection(peerId)

      if (options.fallbackToRelay === true && !signal.aborted && relayed != null) {
        this.log('no direct path to %p, using the relayed connection - %e', peerId, err)
        options.onProgress?.(new CustomProgressEvent('hole-punch:fallback', { reason: err.message }))
        return relayed
      }

      throw err
    }
  }

  /**
   * A direct connection to the peer, now or within PEER_DIRECT_GRACE_MS
   * (one the peer dialed, finishing its upgrade on our side)
   */
  private async directConnectionSoon (peerId: PeerId, signal: AbortSignal): Promise<Connection | undefined> {
    const deadline = Date.now() + PEER_DIRECT_GRACE_MS

    while (!signal.aborted && this.started) {
      const direct = this.directConnection(peerId)

      if (direct != null || Date.now() >= deadline) {
        return direct
      }

      await new Promise(resolve => setTimeout(resolve, 20))
    }

    return undefined
  }

  /**
   * Start our own punch with `peerId` (the caller checked that none runs)
   */
  private startOutbound (peerId: PeerId, relayed: Connection): PeerPunch {
    if (!this.slots.acquire('initiator')) {
      throw new TooManyPunchesError(`${this.slots.inUse('initiator')} punches of ours are already running (maxOutboundPunches): try again later`)
    }

    const punch = this.register(peerId, 'initiator')

    void (async () => {
      let opened: OpenedCoordinationStream
      try {
        // optimistic protocol negotiation: the protocol proposal travels with
        // OFFER, which saves the round trip of a separate negotiation
        opened = await openCoordinationStream(relayed, { signal: punch.controller.signal })
      } catch (err: any) {
        if (punch.state === 'starting') {
          this.settle(punch, undefined, err)
        }
        return
      }

      if (punch.state !== 'starting') {
        // the peer's OFFER won the glare while our stream opened
        opened.stream.abort(new GlareError())
        return
      }

      const session = this.createSession(punch, 'initiator', new CoordinationChannel(opened.stream, { pendingProtocol: opened.pendingProtocol }))
      this.runSession(punch, session, session.runInitiator())
    })()

    return punch
  }

  private register (peerId: PeerId, origin: Side): PeerPunch {
    const punch = new PeerPunch(peerId, origin)
    this.punches.set(peerId.toString(), punch)
    this.metrics?.active.update(this.punches.size)
    this.safeDispatchEvent('punch:start', { detail: { peer: peerId, side: origin } })

    // every local caller gave up before a session ran: nothing to tell the peer
    punch.controller.signal.addEventListener('abort', () => {
      if (punch.session == null && !punch.settled) {
        this.settle(punch, undefined, new AbortError('Every caller waiting for this punch was aborted'))
      }
    }, { once: true })

    return punch
  }

  /**
   * Follow a session to its end and settle the punch with its outcome,
   * unless another session replaced it (glare)
   */
  private runSession (punch: PeerPunch, session: PunchSession, run: Promise<Connection>): void {
    punch.run(session)

    run.then(connection => {
      if (punch.session === session) {
        this.settle(punch, connection)
      } else {
        // a late success of a session that gave way: keep the connection,
        // the winner's outcome is what callers get
        this.log('a replaced session with %p still connected', session.peer)
      }
    }, (err: Error) => {
      if (punch.session !== session || punch.settled) {
        return
      }

      if (err.name === 'GlareError') {
        // we gave way (or the peer told us to): its OFFER is on its way
        this.log('punch with %p: the peer\'s simultaneous OFFER wins, waiting for it', session.peer)
        punch.awaitOffer(GLARE_WAIT_MS, () => {
          this.settle(punch, undefined, new CoordinationFailedError(`The peer won a simultaneous start but its OFFER did not arrive within ${GLARE_WAIT_MS} ms`))
        })
        return
      }

      if (session.outcome.violation) {
        this.history.recordViolation(session.peer.toString(), Date.now())
      }

      this.settle(punch, undefined, err)
    })
  }

  /**
   * The punch with one peer is over: events, metrics, history, retry, relay
   * retirement, and every caller gets the outcome
   */
  private settle (punch: PeerPunch, connection?: Connection, err?: Error): void {
    if (punch.settled) {
      return
    }

    const durationMs = Date.now() - punch.startedAt

    if (this.punches.get(punch.peer.toString()) === punch) {
      this.punches.delete(punch.peer.toString())
    }
    this.slots.release(punch.slot)
    this.metrics?.active.update(this.punches.size)

    if (connection != null) {
      this.succeeded(punch, connection, durationMs)
    } else {
      this.failed(punch, err ?? new PunchFailedError(), durationMs)
    }
  }

  private succeeded (punch: PeerPunch, connection: Connection, durationMs: number): void {
    const session = punch.session
    const side = session?.side ?? punch.origin
    const strategy = session?.plan?.strategy ?? 'unknown'

    this.log('direct connection to %p (%s, %s) in %d ms', punch.peer, side, strategy, durationMs)
    this.metrics?.punches.increment({ [`success_${strategy}`]: true })

    if (session != null) {
      this.record(session, true, durationMs)
    }

    punch.onProgress(new CustomProgressEvent('hole-punch:direct', { durationMs }))
    this.safeDispatchEvent('punch:success', { detail: { peer: punch.peer, side, durationMs, strategy, connection } })

    this.paths?.onDirect(punch.peer, connection, this.relayedConnection(punch.peer))
    this.knownPaths.remember(punch.peer.toString(), connection.remoteAddr)

    if (this.init.closeRelayedConnection !== false) {
      this.retireRelayedConnection(punch.peer, connection)
    }

    punch.resolve(connection)
  }

  private failed (punch: PeerPunch, error: Error, durationMs: number): void {
    const session = punch.session
    const side = session?.side ?? punch.origin

    this.log('punch with %p (%s) failed after %d ms - %e', punch.peer, side, durationMs, error)
    this.metrics?.punches.increment({ [`failure_${error.name ?? 'Error'}`]: true })

    // history learns only from genuine punch failures: our punch ran and
    // found no path (not aborts, refusals, the peer's ABORT, or a skip that
    // history itself decided)
    // (nor failures while a lost direct path is being restored: the pair
    // punched minutes ago, the outage explains them, and counting them
    // would make history skip the peer just when its path comes back)
    const recovering = this.paths?.state(punch.peer) === 'recovering'
    if (session != null && error instanceof PunchFailedError && error.reason === 'no-path' && !recovering) {
      this.record(session, false, durationMs)
    }

    // a retry follows a punch that ran and found no path, whichever side's
    // budget ended first (the peer's ABORT TIMEOUT may beat ours by a few ms)
    if (session != null && error instanceof PunchFailedError && (error.reason === 'no-path' || error.reason === 'peer')) {
      this.maybeScheduleRetry(session)
    }

    if (error instanceof PunchFailedError && error.reason === 'no-strategy') {
      this.warnAboutNat()
    }

    // no direct path: the relayed connection is the path, kept across the
    // relay's limits while the peer is wanted
    const relayed = this.relayedConnection(punch.peer)
    if (error instanceof PunchFailedError && relayed != null) {
      this.paths?.onRelayedOnly(punch.peer, relayed)
    }

    this.safeDispatchEvent('punch:failure', { detail: { peer: punch.peer, side, durationMs, strategy: session?.plan?.strategy, reason: error.message, error } })
    punch.reject(error)
  }

  /**
   * The first message of a coordination stream a peer opened: its OFFER, or
   * undefined after answering anything else as docs/PROTOCOL.md prescribes
   */
  private async readOffer (channel: CoordinationChannel, peerId: PeerId): Promise<Extract<CoordinationMessage, { type: 'offer' }> | undefined> {
    const key = peerId.toString()
    let message: CoordinationMessage

    try {
      message = await channel.read({ signal: this.shutdownController.signal })
    } catch (err: any) {
      if (!isInvalidMessage(err)) {
        // the stream closed or reset (a peer that gave way in a glare closes
        // the stream it had opened), or no message came in time; a message
        // cut short by the end of the stream is invalid too (but no
        // violation: an honest peer that gave way closes early)
        this.log('no first coordination message from %p - %e', peerId, err)
        await refuse(channel, NO_SESSION_ID, CLOSED_STREAM_REASONS[err.name] ?? 'internal-error', err.message ?? '')
        return
      }

      // junk of every kind ends here: ABORT with the reason the spec
      // prescribes, close the stream, remember the violation
      const reason: AbortReason = err.name === 'UnsupportedCoordinationVersionError' ? 'unsupported-version' : 'invalid-message'
      this.log('invalid first coordination message from %p - %e', peerId, err)
      this.metrics?.refusals.increment({ [reason]: true })
      this.history.recordViolation(key, Date.now())
      await refuse(channel, NO_SESSION_ID, reason, err.message ?? '')
      return
    }

    if (message.type === 'abort') {
      // the peer gave up before its OFFER (it gave way in a glare while it
      // was still observing its NAT): nothing to answer
      this.log('%p aborted before offering - %s', peerId, message.abort.reason)
      await channel.close()
      return
    }

    if (message.type !== 'offer') {
      this.log('%p opened a coordination stream with %s instead of OFFER', peerId, message.type.toUpperCase())
      this.history.recordViolation(key, Date.now())
      this.metrics?.refusals.increment({ 'invalid-message': true })
      await refuse(channel, sessionIdOf(message), 'invalid-message', `the first message must be OFFER, got ${message.type.toUpperCase()}`)
      return
    }

    return message
  }

  private async onCoordinationStream (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer
    const key = peerId.toString()
    const receivedAt = performance.now()
    const channel = new CoordinationChannel(stream)
    const message = await this.readOffer(channel, peerId)

    if (message == null) {
      return
    }

    const offer = message.offer
    const decline = async (reason: AbortReason, text: string): Promise<void> => {
      this.log('refusing the OFFER of %p: %s (%s)', peerId, reason, text)
      this.metrics?.refusals.increment({ [reason]: true })
      await refuse(channel, offer.sessionId, reason, text)
    }

    if (!this.started) {
      await decline('shutting-down', 'the node is stopping')
      return
    }

    if (!this.slots.admitOffer(key)) {
      await decline('resource-limit', `more than ${this.init.maxSessionsPerPeerPerMinute ?? DEFAULT_MAX_SESSIONS_PER_PEER_PER_MINUTE} punches from this peer in a minute`)
      return
    }

    const direct = this.directConnection(peerId)
    if (direct != null) {
      if (Date.now() - direct.timeline.open < DIRECT_STALE_GRACE_MS) {
        // the OFFER crossed our fresh success: keep the connection
        await decline('already-connected', 'a direct connection to this peer was just opened')
        return
      }

      // the peer offers only when it has no direct connection to us, so ours
      // is half dead (the peer hung up and the close has not reached us yet):
      // drop it and punch again
      this.log('%p offers a punch while we hold a direct connection to it: closing ours as stale', peerId)
      direct.abort(new PunchFailedError('The peer no longer has this direct connection'))
    }

    let punch = this.punches.get(key)

    if (punch != null && !punch.settled) {
      if (punch.state === 'running' && punch.session?.side === 'responder') {
        await decline('resource-limit', 'a punch with this peer is already running')
        return
      }

      if (punch.state !== 'awaiting-offer') {
        // glare: both sides offered at once. The offer of the peer with the
        // smaller PeerId wins (as ICE resolves role conflicts with a fixed
        // tie-breaker); both sides compute the same answer
        if (this.components.peerId.toString() < key) {
          await decline('glare', 'simultaneous OFFER: the offerer with the smaller PeerId keeps its session')
          return
        }

        this.log('simultaneous OFFER from %p: its session wins, ours gives way', peerId)
        punch.session?.yieldToPeer()
      }

      // our callers now wait for the peer's session; it holds an inbound slot
      this.slots.release(punch.slot)
      this.slots.acquire('responder', true)
      punch.slot = 'responder'
    } else {
      if (!this.slots.acquire('responder')) {
        await decline('resource-limit', `${this.slots.inUse('responder')} punches started by peers are running (maxInboundPunches)`)
        return
      }

      punch = this.register(peerId, 'responder')
    }

    const session = this.createSession(punch, 'responder', channel)
    this.runSession(punch, session, session.runResponder(offer, receivedAt))
  }

  private createSession (punch: PeerPunch, side: Side, channel: CoordinationChannel): PunchSession {
    return new PunchSession({
      peer: punch.peer,
      side,
      channel,
      transport: this.transport as UDXTransport,
      router: this.router,
      nat: this.nat,
      history: this.history,
      candidates: (...sockets) => this.gatherer.candidates(...sockets),
      shareLanAlways: this.init.shareLanAddresses === true,
      maxExtraSockets: this.init.maxExtraSockets ?? MAX_EXTRA_SOCKETS,
      sockets: this.socketQuota,
      limits: this.sendLimits,
      planner: this.init.addressScope != null ? { addressScope: this.init.addressScope } : undefined,
      log: this.log,
      signal: AbortSignal.any([punch.controller.signal, this.shutdownController.signal]),
      isShuttingDown: () => !this.started,
      pathMigration: this.init.pathMigration !== false,
      onMigrated: (connection) => { this.paths?.onMigrated(punch.peer, connection) },
      onProgress: punch.onProgress
    })
  }

  private record (session: PunchSession, success: boolean, elapsedMs: number): void {
    const plan = session.plan

    if (plan == null || plan.pairStrategy === 'none-fallback') {
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
   * has passed. Only genuine failures are retried (never after an abort, a
   * refusal or a protocol violation), and not when autoUpgrade is off.
   */
  private maybeScheduleRetry (session: PunchSession): void {
    if (this.init.autoUpgrade === false || session.side !== 'responder' || session.outcome.violation || !this.started) {
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

      if (!this.started || this.punches.has(session.peer.toString()) || this.directConnection(session.peer) != null || this.relayedConnection(session.peer) == null) {
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
   * Close the relayed connection to `peer` once the direct connection is up
   * and none of the relayed connection's streams is open, so no stream in
   * flight breaks; new streams go to the direct connection. The relayed
   * connection is only ever closed while the direct one is open: if the
   * direct connection closes first, the relayed one stays.
   */
  private retireRelayedConnection (peer: PeerId, direct: Connection): void {
    const stop = (): void => {
      clearInterval(timer)
      this.timers.delete(timer)
    }
    const check = (): void => {
      if (direct.status !== 'open') {
        this.log('the direct connection to %p closed: keeping the relayed connection', peer)
        stop()
        return
      }

      const relayed = this.relayedConnection(peer)

      if (relayed == null) {
        stop()
        return
      }

      const busy = relayed.streams.filter(s => s.protocol !== COORDINATION_PROTOCOL && s.status === 'open')

      if (busy.length === 0) {
        stop()
        this.log('closing the relayed connection to %p: the direct connection carries its traffic', peer)
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

    // a directly connected peer that runs this package is a STUN server
    if (this.started) {
      this.stunSources.learnFrom(peerId.toString(), connection, protocols, this.shutdownController.signal)
        .then(added => {
          // a full discovery costs ports of a sequential NAT and competes
          // with punches: only while we lack a second server (servers
          // learned during a run are used by the next one: a stale profile
          // that is still unclassified gets a full refresh, see NatMonitor)
          if (added && this.started && this.nat.getServers().length < 2) {
            void this.refreshNatAndMappings({ signal: this.shutdownController.signal }).catch(err => {
              this.log('NAT discovery with the STUN servers of %p failed - %e', peerId, err)
            })
          }
        }, () => {})
    }

    if (this.init.autoUpgrade === false || !this.started) {
      return
    }

    if (connection.limits == null || connection.direction !== 'inbound' || !protocols.includes(COORDINATION_PROTOCOL)) {
      return
    }

    if (this.punches.has(peerId.toString()) || this.directConnection(peerId) != null) {
      return
    }

    if (this.history.advise(peerId.toString(), 'unknown~unknown', Date.now()).skipSource === 'violation') {
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
    if (observedAddr == null || connection.limits != null) {
      return
    }

    if (!isUdxMultiaddr(connection.remoteAddr) || !isUdxMultiaddr(observedAddr)) {
      this.gatherer.observe(observedAddr)
      return
    }

    const main = mainListenSocket(this.transport?.getListenSockets() ?? [])
    if (main == null) {
      return
    }

    try {
      const observer = udxMultiaddrToAddress(connection.remoteAddr)
      const mapped = udxMultiaddrToAddress(observedAddr)

      if (mapped.family !== main.address().family) {
        // the NAT profile is the main socket's family (IPv4 on a dual-stack node)
        return
      }

      this.nat.addObservation({ observer, local: main.address(), mapped, source: 'identify', at: Date.now() })
    } catch (err: any) {
      this.log.trace('ignoring an observed address - %e', err)
    }
  }

  /**
   * One clear warning, once, when our NAT knowledge is why punches fall
   * back at once: what to configure
   */
  private warnAboutNat (): void {
    if (this.natWarned) {
      return
    }

    const advice = this.nat.advice()

    if (!advice.usable) {
      this.natWarned = true
      this.log.error('direct connections may be impossible: %s', advice.message)
    }
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.stunSources.forget(evt.detail.toString())
  }

  /**
   * The STUN endpoints query: our udx listen sockets and extra STUN ports
   */
  private async answerStunEndpoints (stream: Stream): Promise<void> {
    const endpoints = [...(this.transport?.getListenSockets() ?? []), ...this.stunPorts]
      .filter(socket => !socket.closed)
      .map(socket => {
        const { host, family, port } = socket.address()
        return { host: isWildcard(host) ? undefined : host, family, port }
      })
    const lp = lpStream(stream)
    await lp.write(encodeStunEndpoints(endpoints), { signal: AbortSignal.timeout(STUN_ENDPOINTS_QUERY_TIMEOUT_MS) })
    await stream.close({ signal: AbortSignal.timeout(STUN_ENDPOINTS_QUERY_TIMEOUT_MS) }).catch(() => { stream.abort(new Error('could not close')) })
  }

  /** configured STUN servers, then those found among connected peers */
  private stunServerList (): StunServerAddress[] {
    return [...(this.init.stunServers ?? []), ...this.stunSources.servers()]
  }

  private directConnection (peerId: PeerId): Connection | undefined {
    return this.components.connectionManager.getConnections(peerId)
      .find(c => c.status === 'open' && c.limits == null)
  }

  private relayedConnection (peerId: PeerId): Connection | undefined {
    return this.components.connectionManager.getConnections(peerId)
      .find(c => c.status === 'open' && c.limits != null)
  }
}

/** ABORT reasons for a first message that never arrived whole */
const CLOSED_STREAM_REASONS: Record<string, AbortReason> = {
  TimeoutError: 'timeout',
  UnexpectedEOFError: 'invalid-message'
}

/** ABORT of a stream whose session id we never learnt (an invalid first message) */
const NO_SESSION_ID = new Uint8Array(SESSION_ID_LENGTH)

function sessionIdOf (message: CoordinationMessage): Uint8Array {
  switch (message.type) {
    case 'offer': return message.offer.sessionId
    case 'answer': return message.answer.sessionId
    case 'sync': return message.sync.sessionId
    case 'abort': return message.abort.sessionId
    default: return message.result.sessionId
  }
}

/**
 * Send ABORT and close the stream, whatever state it is in
 */
async function refuse (channel: CoordinationChannel, sessionId: Uint8Array, reason: AbortReason, text: string): Promise<void> {
  try {
    await channel.send({ type: 'abort', abort: { sessionId, reason, message: text.slice(0, 200) } }, { signal: AbortSignal.timeout(1_000) })
  } catch {
    // the stream may already be gone
  }

  await channel.close()
}

/**
 * A message that arrived but broke the protocol (a violation), as opposed to
 * a stream that ended or a timeout
 */
function isInvalidMessage (err: any): boolean {
  return ['InvalidCoordinationMessageError', 'CoordinationMessageTooLargeError', 'UnsupportedCoordinationVersionError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError'].includes(err?.name)
}

/** The errors connect() documents; anything else is wrapped */
const DOCUMENTED_ERRORS = new Set([
  'AbortError', 'NoUdxTransportError', 'NoRelayedConnectionError', 'CoordinationFailedError', 'PunchFailedError',
  'PunchAbortedByPeerError', 'TooManyPunchesError', 'UnexpectedRemotePeerError'
])

/**
 * What connect() rejects with: an aborted or timed-out call always rejects
 * with AbortError; other errors are the documented ones (anything else is
 * wrapped in CoordinationFailedError with the original as `cause`)
 */
function documentedError (err: any, signal: AbortSignal, defaultTimeoutMs?: number): Error {
  if (signal.aborted) {
    if (err?.name === 'AbortError') {
      return err
    }

    const timedOut = signal.reason?.name === 'TimeoutError'
    return new AbortError(timedOut && defaultTimeoutMs != null ? `connect() timed out after ${defaultTimeoutMs} ms (the timeout option)` : `connect() was aborted: ${signal.reason?.message ?? 'aborted'}`)
  }

  if (DOCUMENTED_ERRORS.has(err?.name)) {
    return err
  }

  return new CoordinationFailedError(`connect() failed: ${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`, { cause: err })
}
