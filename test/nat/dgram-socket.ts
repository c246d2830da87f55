/**
 * A test-only DatagramSocket over node:dgram, until the real socket layer
 * lands. Routes every datagram to the first handler that claims it and
 * records what it dropped and sent, so tests can assert on both.
 */

import dgram from 'node:dgram'
import type { DatagramHandler, DatagramSocket, RemoteInfo } from '../../src/socket/datagram-socket.ts'

export interface DroppedDatagram {
  reason: string
  from?: RemoteInfo
}

export class DgramSocket implements DatagramSocket {
  public readonly drops: DroppedDatagram[] = []
  /** sizes and destinations of every datagram sent */
  public readonly sent: Array<{ size: number, port: number, host: string }> = []
  /** sizes and sources of every datagram received (before filtering) */
  public readonly received: Array<{ size: number, from: RemoteInfo }> = []
  /** return false to drop an incoming datagram (simulated loss) */
  public inboundFilter?: (data: Uint8Array, from: RemoteInfo) => boolean
  private readonly socket: dgram.Socket
  private readonly handlers: DatagramHandler[] = []
  private _closed = false

  private constructor (socket: dgram.Socket) {
    this.socket = socket
    socket.on('message', (msg, rinfo) => {
      const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)
      const from: RemoteInfo = { host: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 6 : 4 }
      this.received.push({ size: data.length, from })

      if (this.inboundFilter != null && !this.inboundFilter(data, from)) {
        return
      }

      const handler = this.handlers.find(h => h.matches(data))

      if (handler == null) {
        this.drop('unclaimed', from)
        return
      }

      try {
        handler.handle(data, from, this)
      } catch {
        this.drop(`${handler.name}-threw`, from)
      }
    })
  }

  static async bind (host = '127.0.0.1', port = 0): Promise<DgramSocket> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, host, () => {
        socket.off('error', reject)
        resolve()
      })
    })

    return new DgramSocket(socket)
  }

  get closed (): boolean {
    return this._closed
  }

  address (): RemoteInfo {
    const a = this.socket.address()

    return { host: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 }
  }

  async send (data: Uint8Array, port: number, host: string, ttl?: number): Promise<void> {
    if (this._closed) {
      throw new Error('socket closed')
    }

    this.sent.push({ size: data.length, port, host })

    if (ttl != null) {
      this.socket.setTTL(ttl)
    }

    await new Promise<void>((resolve) => {
      this.socket.send(data, port, host, () => { resolve() })
    })

    if (ttl != null && !this._closed) {
      this.socket.setTTL(64)
    }
  }

  addHandler (handler: DatagramHandler): () => void {
    this.handlers.push(handler)

    return () => {
      const i = this.handlers.indexOf(handler)

      if (i !== -1) {
        this.handlers.splice(i, 1)
      }
    }
  }

  drop (reason: string, from?: RemoteInfo): void {
    this.drops.push({ reason, from })
  }

  /** number of registered handlers */
  get handlerCount (): number {
    return this.handlers.length
  }

  async close (): Promise<void> {
    if (this._closed) {
      return
    }

    this._closed = true
    await new Promise<void>(resolve => { this.socket.close(() => { resolve() }) })
  }
}
