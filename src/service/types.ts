import type { NatProfile, TransportAddress } from '../nat/nat-profile.ts'
import type { PunchStrategy } from '../punch/plan.ts'
import type { AbortOptions, ComponentLogger, Connection, Libp2pEvents, Metrics, PeerId, PeerStore, Transport, TypedEventTarget, Upgrader } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProgressEvent, ProgressOptions } from 'progress-events'

export interface StunServerAddress {
  host: string
  port: number
}

export interface HolePunchInit {
  /**
   * Upgrade limited (relayed) connections to peers that run this protocol
   * in the background, as soon as identify says the peer supports it. Only
   * the side that received the relayed connection starts, so the two sides
   * never race.
   *
   * @default true
   */
  autoUpgrade?: boolean

  /**
   * STUN servers (ip and port) to learn our public mapping and NAT
   * behaviour from, on the udx listening socket. Any node that runs this
   * package answers STUN on its udx sockets, so a relay that runs it can be
   * listed here.
   *
   * @default []
   */
  stunServers?: StunServerAddress[]

  /**
   * How often to observe our NAT again with the STUN servers, in ms (a
   * punch also refreshes a profile older than 30 s by itself)
   *
   * @default 300000
   */
  natRefreshInterval?: number

  /**
   * Which of our interface addresses may be offered to peers as LAN
   * candidates. The default offers every non-loopback, non-link-local
   * address.
   */
  lanAddressFilter?(host: string): boolean

  /**
   * How many punches may run at once
   *
   * @default 8
   */
  maxConcurrentPunches?: number

  /**
   * The most extra sockets one birthday punch may open
   *
   * @default 256
   */
  maxExtraSockets?: number

  /**
   * How long `connect` may take in total when the caller passes no signal, ms
   *
   * @default 30000
   */
  timeout?: number

  /**
   * Close the relayed connection once a direct one is up and the relayed
   * connection has no open streams left
   *
   * @default true
   */
  closeRelayedConnection?: boolean
}

export interface HolePunchComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  transportManager: { getTransports(): Transport[] }
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  metrics?: Metrics
  upgrader?: Upgrader
}

export type PunchPhase = 'coordinating' | 'punching' | 'upgrading'

/**
 * One punch in progress, as `getActivePunches()` reports it
 */
export interface PunchInfo {
  peer: PeerId
  side: 'initiator' | 'responder'
  phase: PunchPhase
  strategy?: PunchStrategy
  startedAt: number
  probesSent: number
  socketsOpen: number
}

export type HolePunchProgressEvents =
  ProgressEvent<'hole-punch:dial-relay'> |
  ProgressEvent<'hole-punch:relayed'> |
  ProgressEvent<'hole-punch:offer'> |
  ProgressEvent<'hole-punch:answer', { rttMs: number }> |
  ProgressEvent<'hole-punch:plan', { strategy: string, reason: string }> |
  ProgressEvent<'hole-punch:sync'> |
  ProgressEvent<'punch:probing'> |
  ProgressEvent<'punch:path-found', { host: string, port: number }> |
  ProgressEvent<'hole-punch:upgrade'> |
  ProgressEvent<'hole-punch:direct', { durationMs: number }> |
  ProgressEvent<'hole-punch:fallback', { reason: string }>

export interface ConnectOptions extends AbortOptions, ProgressOptions<HolePunchProgressEvents> {
  /**
   * When no direct path can be made, resolve with the relayed connection
   * instead of rejecting
   *
   * @default false
   */
  fallbackToRelay?: boolean
}

export interface PunchStartEvent { peer: PeerId, side: 'initiator' | 'responder' }
export interface PunchSuccessEvent { peer: PeerId, side: 'initiator' | 'responder', durationMs: number, strategy: string, connection: Connection }
export interface PunchFailureEvent { peer: PeerId, side: 'initiator' | 'responder', durationMs: number, strategy?: string, reason: string, error: Error }

export interface HolePunchEvents {
  'punch:start': CustomEvent<PunchStartEvent>
  'punch:success': CustomEvent<PunchSuccessEvent>
  'punch:failure': CustomEvent<PunchFailureEvent>
}

/**
 * The public API of the service (`node.services.holePunch`)
 */
export interface HolePunch extends TypedEventTarget<HolePunchEvents> {
  /**
   * Get a direct connection to a peer: reuse one, or upgrade the relayed
   * connection (dialing `peer` first when it is a relay multiaddr)
   */
  connect(peer: PeerId | Multiaddr | Multiaddr[], options?: ConnectOptions): Promise<Connection>
  getActivePunches(): PunchInfo[]
  /** our NAT as last classified */
  getNatProfile(): NatProfile
  /** observe our NAT again now (STUN, RFC 5780 tests) */
  refreshNat(options?: AbortOptions): Promise<NatProfile>
  /** the public addresses of our udx socket as last observed */
  getPublicAddresses(): TransportAddress[]
}
