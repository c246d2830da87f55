import type { NatProfile, TransportAddress } from '../nat/nat-profile.ts'
import type { AddressScopeOverride } from '../punch/address-policy.ts'
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
   * in the background, as soon as identify says the peer supports it. The
   * side that received the relayed connection starts; if the other side's
   * connect() starts at the same moment, one session survives (the offerer
   * with the smaller PeerId) and both callers share its outcome.
   *
   * @default true
   */
  autoUpgrade?: boolean

  /**
   * STUN servers (ip and port) to learn our public mapping and NAT
   * behaviour from, on the udx listening socket, in addition to the ones
   * found without configuration: every directly connected peer that runs
   * this package (a relay, typically) answers STUN on its udx sockets and
   * is used as a STUN server automatically. No public STUN servers are used
   * by default (see docs/NAT-DISCOVERY.md for why).
   *
   * @default []
   */
  stunServers?: StunServerAddress[]

  /**
   * Answer STUN on a second udx port beside each listen socket too. A peer
   * that finds us among its connections (the STUN endpoints query) then
   * learns its NAT's mapping behaviour from one node on one IP: two ports
   * of one server tell EIM from APDM, and the allocation delta. Meant for
   * relays and other public nodes; it costs one UDP socket.
   *
   * @default true
   */
  stunSecondPort?: boolean

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
   * How many punches we start (connect() and background upgrades) may run
   * at once. Beyond it connect() rejects with TooManyPunchesError.
   *
   * @default 8
   */
  maxOutboundPunches?: number

  /**
   * How many punches peers start with us may run at once. Beyond it their
   * OFFER gets ABORT RESOURCE_LIMIT. Counted apart from outbound punches, so
   * peers cannot starve our own connect() calls.
   *
   * @default 4
   */
  maxInboundPunches?: number

  /**
   * How many OFFERs one peer may send us per minute; more are refused with
   * ABORT RESOURCE_LIMIT before any work
   *
   * @default 6
   */
  maxSessionsPerPeerPerMinute?: number

  /**
   * Most datagrams (probes, priming, acks) one punch session sends
   *
   * @default 10000
   */
  maxSessionDatagrams?: number

  /**
   * Most bytes one punch session sends
   *
   * @default 360000
   */
  maxSessionBytes?: number

  /**
   * Probe and priming datagrams per second across all punches of the node
   * (also the largest burst)
   *
   * @default 2000
   */
  maxProbesPerSecond?: number

  /**
   * Extra (birthday) sockets open at once across all punches of the node
   *
   * @default 512
   */
  maxExtraSocketsTotal?: number

  /**
   * Offer our LAN (interface) addresses to every peer. By default they are
   * offered only to a peer that reports the same public IP as ours, the only
   * peer that could reach them: other peers never learn our private
   * addressing.
   *
   * @default false
   */
  shareLanAddresses?: boolean

  /**
   * Override of the address rules for tests and labs: return a scope for
   * `host` to replace the default (`undefined` keeps it). By default
   * loopback, link-local, multicast, unspecified and broadcast addresses are
   * never probed, and private or shared (CGNAT) addresses only as LAN
   * candidates behind the same public IP. Real deployments leave it unset.
   */
  addressScope?: AddressScopeOverride

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
