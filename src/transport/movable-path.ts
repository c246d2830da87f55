import type { PathAddress } from './path-validator.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { SocketPool } from '../socket/socket-pool.ts'
import type { Logger } from '@libp2p/interface'
import type { UDXStream } from 'udx-native'

/**
 * How long the relay streams outlive the connection's stream, in ms: long
 * enough for a DESTROY packet the stream sent on its way out to pass the
 * relay (one loopback hop), after which nothing uses them
 */
const RELAY_LINGER_MS = 200

export interface MovablePathInit {
  pool: SocketPool
  /** the socket of the path (it holds the NAT mapping) */
  socket: BoundSocket
  /** the connection's stream, not connected yet */
  stream: UDXStream
  remoteStreamId: number
  remote: PathAddress
  log: Logger
}

/**
 * Connects a connection's UDX stream so that the peer address it sends to
 * can move without losing packets that are already in flight.
 *
 * udx-native (1.21.x) resends a lost packet to the address it was first
 * sent to: after `changeRemote` on a stream, everything that was in flight
 * towards a dead address (a NAT mapping the peer lost) is resent there
 * forever, and the stream stalls until it times out. So the stream does not
 * send to the peer directly. It is connected to a relay stream on a
 * loopback socket beside the path's socket; libudx forwards every packet
 * that reaches the relay (in C, no JavaScript per packet) through an exit
 * stream on the path's socket, with the peer's stream id, to the exit
 * stream's remote address. Moving the path moves only the exit stream,
 * which never has data of its own in flight, so it moves at once, and
 * every later packet, first transmissions and retransmissions alike, goes
 * to the new address. The peer's packets still arrive at the stream
 * directly, on the path's socket.
 *
 * ```
 * stream ──▶ loopback socket: relay ══▶ exit (path socket) ──▶ peer
 * stream ◀────────────────────────────────────────────────── peer
 * ```
 *
 * The cost is one loopback hop per outgoing packet (two system calls) and
 * two more stream ids per connection. MTU discovery runs over the whole
 * relayed path, so it still finds the path's MTU.
 */
export class MovablePath {
  private readonly socket: BoundSocket
  private readonly loopback: BoundSocket
  private readonly remoteStreamId: number
  private readonly relay: UDXStream
  private readonly exit: UDXStream
  private readonly log: Logger
  private closed = false

  constructor (init: MovablePathInit) {
    const { pool, socket, stream, remoteStreamId, remote } = init
    this.socket = socket
    this.remoteStreamId = remoteStreamId
    this.log = init.log
    this.loopback = pool.loopbackFor(socket)
    const loopbackAddress = this.loopback.address()

    this.exit = pool.createStream()
    this.relay = pool.createStream()

    for (const helper of [this.exit, this.relay]) {
      // the relay closes with ECONNRESET when it forwards the stream's
      // DESTROY; neither has a reader that could care
      helper.on('error', (err: Error) => {
        this.log.trace('relay stream %d closed - %e', helper.id, err)
      })
    }

    try {
      this.exit.connect(socket.socket, remoteStreamId, remote.port, remote.host)
      // the relay itself never sends (but for a DESTROY when it is
      // destroyed): it points at the loopback socket with stream id 0, which
      // no stream has
      this.relay.connect(this.loopback.socket, 0, loopbackAddress.port, loopbackAddress.host)
      this.relay.relayTo(this.exit)
      stream.connect(socket.socket, this.relay.id, loopbackAddress.port, loopbackAddress.host)
    } catch (err) {
      this.close()
      throw err
    }

    stream.once('close', () => {
      setTimeout(() => { this.close() }, RELAY_LINGER_MS).unref?.()
    })
  }

  /** the peer's address, where the path sends to */
  remote (): PathAddress {
    return { host: this.exit.remoteHost ?? '', port: this.exit.remotePort }
  }

  /**
   * Send everything from now on (retransmissions included) to `to`
   */
  moveTo (to: PathAddress): void {
    // the exit never has data in flight: the change is complete at once
    void this.exit.changeRemote(this.socket.socket, this.remoteStreamId, to.port, to.host)?.catch(() => {})
  }

  /**
   * Destroy the relay streams. The exit is first pointed at the loopback
   * socket, so that its DESTROY cannot reset a stream of the peer.
   */
  close (): void {
    if (this.closed) {
      return
    }

    this.closed = true
    const loopbackAddress = this.loopback.address()

    try {
      if (!this.exit.destroyed && this.exit.connected) {
        void this.exit.changeRemote(this.socket.socket, 0, loopbackAddress.port, loopbackAddress.host)?.catch(() => {})
      }
    } catch (err: any) {
      this.log.trace('could not park the exit stream - %e', err)
    }

    this.exit.destroy()
    this.relay.destroy()
  }
}
