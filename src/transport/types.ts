import type { BoundSocket } from '../socket/bound-socket.ts'
import type { ComponentLogger, Metrics, OutboundConnectionUpgradeEvents, PeerId, Upgrader, AbortOptions, DialTransportOptions, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import type { ProgressEvent, ProgressOptions } from 'progress-events'

export interface UDXInit {
  /**
   * Include our udx listen addresses in the addresses libp2p announces
   * (identify, the signed peer record, the peer store).
   *
   * Off by default: a js-libp2p peer whose `@multiformats/multiaddr` does not
   * know the `udx` protocol fails to parse a signed peer record that contains
   * one, and its whole identify exchange with us fails. The hole-punch
   * service exchanges udx addresses in its own protocol instead. Turn this on
   * only when every peer in your network runs this package.
   *
   * @default false
   */
  announceAddresses?: boolean

  /**
   * How long a dial waits for the listener to answer the connection-open
   * handshake, in ms
   *
   * @default 5000
   */
  handshakeTimeout?: number

  /**
   * How many half-open inbound connections (handshake answered, no data
   * yet) each listener keeps. At most HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE per
   * source IP (IPv6: per /64); from half full on, a new dialer must echo a
   * stateless cookie (RETRY) before it gets an entry (docs/PROTOCOL.md 11)
   *
   * @default 256
   */
  maxHalfOpenConnections?: number

  /**
   * How long a half-open inbound connection is kept, in ms
   *
   * @default 5000
   */
  halfOpenTimeout?: number

  /**
   * UDX keepalive of every connection, in ms: an idle connection sends a
   * 20-byte heartbeat this often and the peer acknowledges it, which keeps
   * NAT bindings open and gives the dead timer something to hear.
   *
   * @default 1000
   */
  keepaliveInterval?: number

  /**
   * Close a connection with PathDeadError when nothing (no UDX packet, no
   * verified path response) arrived from its peer for this long, in ms, so
   * that a vanished peer or a broken NAT mapping is noticed within seconds
   * and the connection's streams fail with that error instead of hanging.
   * At least 3 × `keepaliveInterval`; 0 turns the check off (UDX alone then
   * reports a silent peer with ETIMEDOUT after about 13 s, and only while it
   * has data in flight).
   *
   * @default 5000
   */
  pathDeadTimeout?: number
}

export interface UDXComponents {
  logger: ComponentLogger
  metrics?: Metrics
  upgrader?: Upgrader
  /**
   * libp2p's event bus: the transport finds the libp2p connection of an
   * inbound udx connection on `connection:open`, so that a dead path aborts
   * its streams with PathDeadError
   */
  events?: TypedEventTarget<Libp2pEvents>
}

export type UDXDialEvents =
  OutboundConnectionUpgradeEvents |
  ProgressEvent<'udx:handshake-open'> |
  ProgressEvent<'udx:handshake-accepted'>

export interface UDXDialOptions extends DialTransportOptions<UDXDialEvents> {}

/**
 * What the hole-punch service hands the transport once a path is known:
 * the socket the path belongs to, the remote ip:port, and the stream ids
 * both sides agreed on over the relayed connection.
 */
export interface DirectConnectionOptions extends AbortOptions, ProgressOptions<OutboundConnectionUpgradeEvents> {
  /** the local socket of the path (it holds the NAT mapping) */
  socket: BoundSocket
  /** the remote end of the path */
  remote: { host: string, port: number }
  /** our UDX stream id, reserved with `reserveStreamId` */
  localStreamId: number
  /** the remote side's UDX stream id */
  remoteStreamId: number
  /**
   * true on exactly one side: it is the Noise initiator and the
   * multistream-select dialer
   */
  initiator: boolean
  /** the remote PeerId must equal this one (e.g. the relayed connection's) */
  expectedPeer: PeerId
  /**
   * A secret both peers hold (at least 16 bytes; the hole-punch service
   * derives it from the punch session secret, exchanged over the encrypted
   * relayed connection). With it the connection authenticates path
   * challenges and follows the peer when its NAT moves it to a new public
   * address (docs/PROTOCOL.md, "Path liveness and migration"). Both sides
   * must pass the same key. Without it the connection gets the dead timer
   * only.
   */
  pathKey?: Uint8Array
  /**
   * Called after the connection moved to the peer's new address (a NAT
   * rebinding) because a challenge from there verified under `pathKey` and
   * that address answered our own challenge. The libp2p connection stays
   * the same (its `remoteAddr` keeps the first address); only its UDX
   * packets go to `to` from now on.
   */
  onMigrated?(event: PathMigratedEvent): void
}

/**
 * A direct connection moved to its peer's new address
 */
export interface PathMigratedEvent {
  /** the address the connection sent to before */
  from: { host: string, port: number }
  /** the address it sends to now */
  to: { host: string, port: number }
}
