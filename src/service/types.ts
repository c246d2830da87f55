import type { PathAbandonedEvent, PathLostEvent, PathRestoredEvent } from './path-keeper.ts'
import type { NatProfile, TransportAddress } from '../nat/nat-profile.ts'
import type { PortMappingInit, PortMappingState } from '../nat/port-mapping/index.ts'
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
   * Let a punched connection follow its peer when the peer's NAT moves it to
   * a new public address (authenticated path challenges under a key derived
   * from the punch, docs/PROTOCOL.md section 13). It costs one loopback hop
   * per outgoing packet of the connection (udx-native resends a lost packet
   * only to its first address, so the connection sends through a relay
   * whose exit can move): about a third more CPU per byte sent. With
   * `false` a rebinding kills the connection within the dead timeout and
   * the peer is punched again.
   *
   * @default true
   */
  pathMigration?: boolean

  /**
   * Port mapping: ask the default gateway to map the udx listen ports for
   * UDP (PCP, NAT-PMP, UPnP-IGD), verify the mapped address with a STUN
   * server, renew it, and delete it on stop. A verified mapping is our best
   * candidate and makes our side open to the planner (docs/NAT-DISCOVERY.md,
   * "Port mapping"). `{ enabled: false }` turns it off.
   *
   * @default { enabled: true, pcp: true, natPmp: true, upnp: true, verify: true }
   */
  portMapping?: PortMappingInit

  /**
   * Race the last direct address of a peer reached directly within the
   * last 10 minutes against the relay, in `connect()` and background
   * upgrades (happy eyeballs). `false` always punches (`connect()`'s
   * `reuseKnownPath` decides per call).
   *
   * @default true
   */
  reuseKnownPaths?: boolean

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
  ProgressEvent<'hole-punch:fallback', { reason: string }> |
  ProgressEvent<'hole-punch:direct-race', { address: string }>

export interface ConnectOptions extends AbortOptions, ProgressOptions<HolePunchProgressEvents> {
  /**
   * When no direct path can be made, resolve with the relayed connection
   * instead of rejecting
   *
   * @default false
   */
  fallbackToRelay?: boolean

  /**
   * Race the last direct address of a peer we reached directly within the
   * last 10 minutes against the relay (happy eyeballs). `false` always goes
   * through the relay and punches, e.g. to measure a fresh punch.
   *
   * @default the service's `reuseKnownPaths` (true)
   */
  reuseKnownPath?: boolean
}

export interface PunchStartEvent { peer: PeerId, side: 'initiator' | 'responder' }
export type { PathAbandonedEvent, PathLostEvent, PathRestoredEvent, RestoredHow } from './path-keeper.ts'

export interface PunchSuccessEvent { peer: PeerId, side: 'initiator' | 'responder', durationMs: number, strategy: string, connection: Connection }
export interface PunchFailureEvent { peer: PeerId, side: 'initiator' | 'responder', durationMs: number, strategy?: string, reason: string, error: Error }

export interface HolePunchEvents {
  'punch:start': CustomEvent<PunchStartEvent>
  'punch:success': CustomEvent<PunchSuccessEvent>
  'punch:failure': CustomEvent<PunchFailureEvent>
  /**
   * The direct connection to a peer we still want (it carried an
   * application stream within the last 30 s, or the peer is tagged
   * keep-alive) closed with an error, e.g. PathDeadError: the service
   * restores a path (docs/ARCHITECTURE.md, "Paths over time")
   */
  'path:lost': CustomEvent<PathLostEvent>
  /**
   * A peer is reachable again after `path:lost` (`re-punch`: a new direct
   * connection; `relay`: the relay was dialed again and the punch is still
   * being retried), or its direct connection followed it to a new address
   * (`migration`)
   */
  'path:restored': CustomEvent<PathRestoredEvent>
  /**
   * After `path:lost`, every punch to restore a direct path failed (6
   * attempts over about a minute): the relayed connection, if any, stays the
   * path; a later connect() or background upgrade may try again
   */
  'path:abandoned': CustomEvent<PathAbandonedEvent>
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
  /**
   * The udx ports the gateway mapped for us (PCP, NAT-PMP, UPnP-IGD), with
   * their verification state; empty when the gateway maps nothing or port
   * mapping is off
   */
  getPortMappings(): PortMappingState[]
  /**
   * Map the udx ports now (or join the mapping round in progress) and
   * verify what is still unchecked with the STUN servers known now
   */
  refreshPortMappings(options?: AbortOptions): Promise<PortMappingState[]>
  /**
   * The STUN servers in use: configured ones first, then those learned from
   * connected peers that run this package (relays first); names unresolved
   */
  getStunServers(): StunServerAddress[]
  /** the STUN server addresses (IPs) the last NAT discovery ran against */
  getNatDiscoveryServers(): StunServerAddress[]
}
