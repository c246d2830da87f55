import { SOCKET_BUFFER_SIZE, UDX_HEADER_MAGIC, UDX_HEADER_VERSION } from '../constants.ts'
import { SocketClosedError } from '../errors.ts'
import type { DatagramHandler, DatagramSocket, RemoteInfo } from './datagram-socket.ts'
import type { SocketMetrics } from './socket-metrics.ts'
import type { Logger } from '@libp2p/interface'
import type UDX from 'udx-native'
import type { UDXAddress, UDXSocket } from 'udx-native'

export interface BoundSocketInit {
  udx: UDX
  /** IP to bind to, e.g. `0.0.0.0`, `::` or `127.0.0.1` */
  host: string
  /** 0 for an ephemeral port */
  port: number
  log: Logger
  metrics?: SocketMetrics
}

/**
 * One bound UDX socket and the demultiplexer for the datagrams that are not
 * packets of a known UDX stream.
 *
 * udx-native hands us every datagram it does not consume itself: anything
 * that is not a UDX packet for a stream of this UDX instance. A datagram that
 * still starts with the UDX magic is a packet for a stream id we do not know
 * (a closed connection, or junk) and is dropped; every other datagram goes to
 * the first registered handler that claims it, or is dropped.
 */
export class BoundSocket implements DatagramSocket {
  readonly socket: UDXSocket
  private readonly handlers: DatagramHandler[] = []
  private readonly log: Logger
  private readonly metrics?: SocketMetrics
  private readonly boundAddress: RemoteInfo
  private closing?: Promise<void>
  /** Dropped datagrams by reason, for tests and diagnostics */
  readonly dropped = new Map<string, number>()

  constructor (init: BoundSocketInit) {
    this.log = init.log
    this.metrics = init.metrics
    const family = init.host.includes(':') ? 6 : 4
    this.socket = init.udx.createSocket({ ipv6Only: family === 6 })
    this.socket.bind(init.port, init.host)

    try {
      this.socket.setRecvBufferSize(SOCKET_BUFFER_SIZE)
      this.socket.setSendBufferSize(SOCKET_BUFFER_SIZE)
    } catch (err: any) {
      this.log('could not raise socket buffer sizes - %e', err)
    }

    const address = this.socket.address() as UDXAddress
    this.boundAddress = { host: address.host, port: address.port, family: address.family }
    this.socket.on('message', (msg, from) => {
      this.onMessage(msg, from)
    })
    this.metrics?.sockets.increment({ open: true })
    this.log('bound udx socket %s:%d', this.boundAddress.host, this.boundAddress.port)
  }

  get closed (): boolean {
    return this.closing != null
  }

  address (): RemoteInfo {
    return { ...this.boundAddress }
  }

  async send (data: Uint8Array, port: number, host: string, ttl?: number): Promise<void> {
    if (this.closed) {
      throw new SocketClosedError(`Cannot send from udx socket ${this.boundAddress.host}:${this.boundAddress.port}: it is closed`)
    }

    const ok = await this.socket.send(data, port, host, ttl)

    if (!ok) {
      this.metrics?.sendErrors.increment({ send: true })
      this.log.trace('send of %d bytes to %s:%d failed', data.byteLength, host, port)
    }
  }

  addHandler (handler: DatagramHandler): () => void {
    this.handlers.push(handler)

    return () => {
      const index = this.handlers.indexOf(handler)

      if (index !== -1) {
        this.handlers.splice(index, 1)
      }
    }
  }

  drop (reason: string, from?: RemoteInfo): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1)
    this.metrics?.droppedDatagrams.increment({ [reason]: true })

    if (from != null) {
      this.log.trace('dropped datagram from %s:%d - %s', from.host, from.port, reason)
    }
  }

  /**
   * Total dropped datagrams, all reasons
   */
  get droppedCount (): number {
    let total = 0
    for (const count of this.dropped.values()) {
      total += count
    }
    return total
  }

  /**
   * Stop receiving and release the port. Resolves once every UDX stream on the
   * socket has closed (udx-native keeps the socket until then).
   */
  async close (): Promise<void> {
    if (this.closing == null) {
      this.log('closing udx socket %s:%d', this.boundAddress.host, this.boundAddress.port)
      this.handlers.length = 0
      this.closing = this.socket.close().then(() => {
        this.metrics?.sockets.increment({ close: true })
      })
    }

    return this.closing
  }

  private onMessage (buf: Uint8Array, from: UDXAddress): void {
    // udx-native hands us a Buffer; handlers get a plain Uint8Array view so
    // that `slice` copies as they expect (Buffer#slice does not)
    const msg = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    const remote: RemoteInfo = { host: from.host, port: from.port, family: from.family }

    if (msg.byteLength >= 2 && msg[0] === UDX_HEADER_MAGIC && msg[1] === UDX_HEADER_VERSION) {
      // a UDX packet that udx-native did not route to a stream: unknown or
      // closed stream id, or junk that looks like UDX
      this.drop('udx-unknown-stream', remote)
      return
    }

    for (const handler of this.handlers) {
      let claimed = false

      try {
        claimed = handler.matches(msg)
      } catch (err: any) {
        this.log.error('datagram handler %s threw in matches - %e', handler.name, err)
      }

      if (!claimed) {
        continue
      }

      try {
        handler.handle(msg, remote, this)
      } catch (err: any) {
        this.drop(`${handler.name}-invalid`, remote)
        this.log.trace('datagram handler %s rejected datagram from %s:%d - %e', handler.name, remote.host, remote.port, err)
      }

      return
    }

    this.drop('unknown', remote)
  }
}
