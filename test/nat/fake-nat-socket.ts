/**
 * A test-only DatagramSocket that behaves like a symmetric NAT in front of
 * one socket: every new destination gets its own mapping (its own dgram
 * socket, so its own source port), and a mapping only lets in datagrams from
 * the destination it was made for (APDM + APDF). With `sequentialFrom`, the
 * mappings take consecutive ports from there (ports in use are skipped, like
 * ports taken by another host behind the NAT). Several fake sockets behind
 * one NAT share a `portCounter`.
 */

import { DgramSocket } from './dgram-socket.ts'
import type { DatagramHandler, DatagramSocket, RemoteInfo } from '../../src/socket/datagram-socket.ts'

export class FakeSymmetricNatSocket implements DatagramSocket {
  public readonly mappings = new Map<string, DgramSocket>()
  private readonly handlers: DatagramHandler[] = []
  private readonly local: RemoteInfo
  private readonly counter?: { next: number }
  private _closed = false

  constructor (local: RemoteInfo, options: { sequentialFrom?: number, portCounter?: { next: number } } = {}) {
    this.local = local
    this.counter = options.portCounter ?? (options.sequentialFrom != null ? { next: options.sequentialFrom } : undefined)
  }

  get closed (): boolean {
    return this._closed
  }

  address (): RemoteInfo {
    return this.local
  }

  async send (data: Uint8Array, port: number, host: string): Promise<void> {
    const key = `${host}|${port}`
    let mapping = this.mappings.get(key)

    if (mapping == null) {
      mapping = await this.createMapping()
      this.mappings.set(key, mapping)
      mapping.inboundFilter = (_, from) => from.host === host && from.port === port
      mapping.addHandler({
        name: 'nat',
        matches: () => true,
        handle: (d, from) => { this.handlers.find(h => h.matches(d))?.handle(d, from, this) }
      })
    }

    await mapping.send(data, port, host)
  }

  private async createMapping (): Promise<DgramSocket> {
    if (this.counter == null) {
      return DgramSocket.bind('127.0.0.1', 0)
    }

    for (let tries = 0; tries < 100; tries++) {
      const port = this.counter.next++

      try {
        return await DgramSocket.bind('127.0.0.1', port)
      } catch {
        // in use: the next port, like a NAT skipping a taken port
      }
    }

    throw new Error('no free port for a mapping')
  }

  addHandler (handler: DatagramHandler): () => void {
    this.handlers.push(handler)

    return () => { this.handlers.splice(this.handlers.indexOf(handler), 1) }
  }

  drop (): void {}

  async close (): Promise<void> {
    this._closed = true
    await Promise.all([...this.mappings.values()].map(async m => { await m.close() }))
  }
}

/**
 * A test-only DatagramSocket that behaves like a cone NAT (endpoint-
 * independent mapping) in front of one socket: one mapping (one dgram
 * socket) for every destination, and the filtering given: `EIF` lets in
 * anything, `ADF` anything from an IP the socket has sent to, `APDF` only
 * what comes from an IP and port it has sent to. With a `portCounter` the
 * mapping takes the next free port from there (several fake sockets behind
 * one NAT share it), else an ephemeral one.
 */
export class FakeConeNatSocket implements DatagramSocket {
  private readonly handlers: DatagramHandler[] = []
  private readonly local: RemoteInfo
  private readonly filtering: 'EIF' | 'ADF' | 'APDF'
  private readonly counter?: { next: number }
  private readonly sentTo = new Set<string>()
  private readonly sentToHosts = new Set<string>()
  private mapping?: Promise<DgramSocket>
  private _closed = false

  constructor (local: RemoteInfo, options: { filtering: 'EIF' | 'ADF' | 'APDF', portCounter?: { next: number } }) {
    this.local = local
    this.filtering = options.filtering
    this.counter = options.portCounter
  }

  get closed (): boolean {
    return this._closed
  }

  address (): RemoteInfo {
    return this.local
  }

  /** the mapping's public port (after the first send) */
  async mappedPort (): Promise<number | undefined> {
    return (await this.mapping)?.address().port
  }

  async send (data: Uint8Array, port: number, host: string): Promise<void> {
    this.mapping ??= this.createMapping()
    const mapping = await this.mapping
    this.sentTo.add(`${host}|${port}`)
    this.sentToHosts.add(host)
    await mapping.send(data, port, host)
  }

  private async createMapping (): Promise<DgramSocket> {
    let mapping: DgramSocket | undefined

    if (this.counter == null) {
      mapping = await DgramSocket.bind('127.0.0.1', 0)
    } else {
      for (let tries = 0; tries < 100 && mapping == null; tries++) {
        try {
          mapping = await DgramSocket.bind('127.0.0.1', this.counter.next++)
        } catch {
          // in use: the next port
        }
      }
    }

    if (mapping == null) {
      throw new Error('no free port for a mapping')
    }

    mapping.inboundFilter = (_, from) => {
      switch (this.filtering) {
        case 'EIF': return true
        case 'ADF': return this.sentToHosts.has(from.host)
        default: return this.sentTo.has(`${from.host}|${from.port}`)
      }
    }
    mapping.addHandler({
      name: 'nat',
      matches: () => true,
      handle: (d, from) => { this.handlers.find(h => h.matches(d))?.handle(d, from, this) }
    })

    return mapping
  }

  addHandler (handler: DatagramHandler): () => void {
    this.handlers.push(handler)

    return () => { this.handlers.splice(this.handlers.indexOf(handler), 1) }
  }

  drop (): void {}

  async close (): Promise<void> {
    this._closed = true
    await (await this.mapping)?.close()
  }
}
