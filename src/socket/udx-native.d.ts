/**
 * Type declarations for the parts of udx-native (1.21.x) this package uses.
 * udx-native ships no types of its own.
 */
declare module 'udx-native' {
  import { EventEmitter } from 'node:events'
  import { Duplex } from 'node:stream'

  export interface UDXAddress {
    host: string
    family: 4 | 6
    port: number
  }

  export interface UDXSocketOptions {
    ipv6Only?: boolean
    reuseAddress?: boolean
  }

  export class UDXSocket extends EventEmitter {
    readonly udx: UDX
    readonly streams: Set<UDXStream>
    readonly bound: boolean
    readonly closing: boolean
    readonly idle: boolean
    readonly busy: boolean
    readonly bytesTransmitted: number
    readonly packetsTransmitted: number
    readonly bytesReceived: number
    readonly packetsReceived: number
    readonly packetsDroppedByKernel: number
    userData: unknown
    address (): UDXAddress | null
    bind (port?: number, host?: string): void
    close (): Promise<void>
    setTTL (ttl: number): void
    getRecvBufferSize (): number
    setRecvBufferSize (size: number): number
    getSendBufferSize (): number
    setSendBufferSize (size: number): number
    send (buffer: Uint8Array, port: number, host?: string, ttl?: number): Promise<boolean>
    trySend (buffer: Uint8Array, port: number, host?: string, ttl?: number): void
    on (event: 'message', listener: (msg: Buffer, from: UDXAddress) => void): this
    on (event: 'close' | 'idle' | 'busy' | 'listening', listener: () => void): this
    on (event: string, listener: (...args: any[]) => void): this
  }

  export interface UDXStreamOptions {
    firewall?(socket: UDXSocket, port: number, host: string, family: number): boolean
    framed?: boolean
    seq?: number
  }

  export class UDXStream extends Duplex {
    readonly udx: UDX
    readonly socket: UDXSocket | null
    readonly id: number
    readonly remoteId: number
    readonly remoteHost: string | null
    readonly remoteFamily: number
    readonly remotePort: number
    readonly connected: boolean
    readonly destroying: boolean
    readonly mtu: number
    readonly rtt: number
    readonly cwnd: number
    readonly inflight: number
    readonly bytesTransmitted: number
    readonly bytesReceived: number
    readonly packetsTransmitted: number
    readonly packetsReceived: number
    readonly retransmits: number
    userData: unknown
    setInteractive (bool: boolean): void
    setKeepalive (ms: number): void
    connect (socket: UDXSocket, remoteId: number, port: number, host?: string, opts?: { ack?: number }): void
    /**
     * Resolves once the packets in flight to the old remote were acked; null
     * when nothing was in flight and the change is already complete
     */
    changeRemote (socket: UDXSocket, remoteId: number, port: number, host?: string): Promise<void> | null
    /** forward every packet that arrives for this stream, as it is, to `destination`'s remote (with its remote id) */
    relayTo (destination: UDXStream): void
    flush (): Promise<boolean>
  }

  export default class UDX {
    constructor ()
    static isIPv4 (host: string): boolean
    static isIPv6 (host: string): boolean
    static isIP (host: string): 0 | 4 | 6
    createSocket (opts?: UDXSocketOptions): UDXSocket
    createStream (id: number, opts?: UDXStreamOptions): UDXStream
    networkInterfaces (): Array<{ name: string, host: string, family: 4 | 6, internal: boolean }>
  }
}
