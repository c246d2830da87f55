/**
 * The small part of hyperdht (CommonJS, no type declarations) that the
 * anchors benchmark uses
 */
declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events'

  export interface KeyPair { publicKey: Buffer, secretKey: Buffer }

  /** a Noise secret stream (streamx Duplex) over a UDX stream */
  export interface SecretStream extends EventEmitter {
    rawStream: { remoteHost: string, remotePort: number, remoteFamily: number } | null
    remotePublicKey: Buffer | null
    destroyed: boolean
    write(data: Buffer | Uint8Array): boolean
    end(data?: Buffer | Uint8Array): void
    destroy(err?: Error): void
  }

  export interface Server extends EventEmitter {
    listen(keyPair?: KeyPair): Promise<Server>
    close(): Promise<void>
    address(): { publicKey: Buffer, host: string | null, port: number } | null
  }

  export interface DHTOptions {
    bootstrap?: Array<string | { host: string, port: number }>
    port?: number
    host?: string
    ephemeral?: boolean
    firewalled?: boolean
    keyPair?: KeyPair
    /** ms between punches with a randomising NAT; default 20000 */
    randomPunchInterval?: number
  }

  class HyperDHT extends EventEmitter {
    constructor (options?: DHTOptions)
    static bootstrapper (port: number, host: string, options?: DHTOptions): HyperDHT
    static keyPair (seed?: Buffer): KeyPair
    readonly host: string | null
    readonly port: number
    readonly firewalled: boolean
    readonly randomized: boolean
    readonly ephemeral: boolean
    readonly stats: Record<string, any>
    fullyBootstrapped (): Promise<void>
    address (): { host: string, port: number }
    connect (publicKey: Buffer | string, options?: Record<string, unknown>): SecretStream
    createServer (onconnection: (socket: SecretStream) => void): Server
    destroy (): Promise<void>
  }

  export default HyperDHT
}
