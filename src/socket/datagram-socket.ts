/**
 * The view of a bound UDP socket that the layers above the socket layer
 * (handshake, STUN, punch probes) use. They never touch udx-native directly:
 * they send raw datagrams and register a handler that claims datagrams by
 * their first bytes.
 */

export interface RemoteInfo {
  /** IPv4 or IPv6 address, no brackets */
  host: string
  port: number
  family: 4 | 6
}

export interface DatagramHandler {
  /**
   * A short name used in logs and in the dropped-datagram metric
   */
  readonly name: string

  /**
   * Return true to claim a datagram. Called for every datagram that is not a
   * UDX stream packet, in registration order; it must be cheap (look at the
   * first bytes only) and must not throw.
   */
  matches(data: Uint8Array): boolean

  /**
   * Handle a claimed datagram. A handler must validate everything it reads;
   * if it throws, the datagram is counted as dropped and the error is logged.
   */
  handle(data: Uint8Array, from: RemoteInfo, socket: DatagramSocket): void
}

export interface DatagramSocket {
  /**
   * The local address the socket is bound to
   */
  address(): RemoteInfo

  /**
   * Send one datagram. `ttl` sets the IP TTL (hop limit) for this datagram
   * only, e.g. to open our own NAT mapping without reaching the remote NAT.
   * Resolves when the datagram was handed to the kernel; never rejects for
   * network errors (those are logged and counted) unless the socket is
   * closed.
   */
  send(data: Uint8Array, port: number, host: string, ttl?: number): Promise<void>

  /**
   * Register a handler; returns a function that removes it
   */
  addHandler(handler: DatagramHandler): () => void

  /**
   * Count a datagram as dropped (malformed, unauthenticated, unexpected) under
   * the given reason
   */
  drop(reason: string, from?: RemoteInfo): void

  /**
   * True once close() has been called
   */
  readonly closed: boolean
}
