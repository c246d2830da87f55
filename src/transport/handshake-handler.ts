import { decodeHandshake, HANDSHAKE_TYPE_NAMES, HandshakeType, isHandshakeDatagram } from './handshake-message.ts'
import type { HandshakeMessage } from './handshake-message.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { DatagramHandler, RemoteInfo } from '../socket/datagram-socket.ts'
import type { Logger } from '@libp2p/interface'

/**
 * The dialer side of one handshake in progress, waiting for ACCEPT or RESET
 */
export interface PendingDial {
  /** the dialer's stream id, which ACCEPT must echo */
  streamId: number
  onAccept(listenerStreamId: number): void
  /** the listener wants the OPEN again, with this cookie */
  onRetry(cookie: Uint8Array): void
  onReset(): void
}

/**
 * The listener side: gets every valid OPEN and RESET from a dialer
 */
export interface HandshakeAcceptor {
  onOpen(message: HandshakeMessage, from: RemoteInfo): void
  onReset(message: HandshakeMessage, from: RemoteInfo): void
}

/**
 * Routes handshake datagrams on one socket: OPEN and RESET to the socket's
 * listener (if it has one), ACCEPT, RETRY and RESET to the dial they answer.
 * Everything that matches no dial or listener is dropped and counted.
 */
export class HandshakeHandler implements DatagramHandler {
  readonly name = 'handshake'
  private readonly socket: BoundSocket
  private readonly log: Logger
  private readonly pending = new Map<string, PendingDial>()
  acceptor?: HandshakeAcceptor

  constructor (socket: BoundSocket, log: Logger) {
    this.socket = socket
    this.log = log
  }

  matches (data: Uint8Array): boolean {
    return isHandshakeDatagram(data)
  }

  handle (data: Uint8Array, from: RemoteInfo): void {
    const message = decodeHandshake(data)
    this.log.trace('handshake %s from %s:%d', HANDSHAKE_TYPE_NAMES[message.type], from.host, from.port)

    if (message.type === HandshakeType.OPEN) {
      if (this.acceptor == null) {
        this.socket.drop('handshake-no-listener', from)
        return
      }

      this.acceptor.onOpen(message, from)
      return
    }

    const dial = this.pending.get(pendingKey(from, message.nonce))

    if (message.type === HandshakeType.RESET) {
      if (dial != null) {
        dial.onReset()
        return
      }

      if (this.acceptor != null) {
        this.acceptor.onReset(message, from)
        return
      }

      this.socket.drop('handshake-unexpected', from)
      return
    }

    // ACCEPT or RETRY: only from the dialed ip:port (the key), echoing our
    // nonce (the key) and our stream id
    if (dial == null || dial.streamId !== message.echoedStreamId) {
      this.socket.drop('handshake-unexpected', from)
      return
    }

    if (message.type === HandshakeType.RETRY) {
      dial.onRetry(message.cookie as Uint8Array)
      return
    }

    dial.onAccept(message.streamId)
  }

  addPending (remote: RemoteInfo, nonce: Uint8Array, dial: PendingDial): () => void {
    const key = pendingKey(remote, nonce)
    this.pending.set(key, dial)

    return () => {
      if (this.pending.get(key) === dial) {
        this.pending.delete(key)
      }
    }
  }
}

export function pendingKey (remote: { host: string, port: number }, nonce: Uint8Array): string {
  return `${remote.host}|${remote.port}|${Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('hex')}`
}
