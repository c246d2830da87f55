import type { BoundSocket } from '../socket/bound-socket.ts'
import type { ComponentLogger, Metrics, OutboundConnectionUpgradeEvents, PeerId, Upgrader, AbortOptions, DialTransportOptions } from '@libp2p/interface'
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
}

export interface UDXComponents {
  logger: ComponentLogger
  metrics?: Metrics
  upgrader?: Upgrader
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
}
