import type { DatagramHandler, DatagramSocket, RemoteInfo } from '../../../src/socket/datagram-socket.ts'

/**
 * A socket that records what the server sends and drops; datagrams "from"
 * any address are handed to the server directly (documentation addresses
 * cannot be bound on loopback)
 */
export class RecordingSocket implements DatagramSocket {
  readonly sent: Array<{ host: string, port: number }> = []
  readonly drops: string[] = []
  readonly closed = false
  private readonly bound: RemoteInfo

  constructor (bound: RemoteInfo = { host: '2001:db8:ffff::1', port: 3478, family: 6 }) {
    this.bound = bound
  }

  address (): RemoteInfo {
    return { ...this.bound }
  }

  async send (_data: Uint8Array, port: number, host: string): Promise<void> {
    this.sent.push({ host, port })
  }

  addHandler (_handler: DatagramHandler): () => void {
    return () => {}
  }

  drop (reason: string): void {
    this.drops.push(reason)
  }
}
