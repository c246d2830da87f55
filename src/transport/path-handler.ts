import { PATH_VERIFY_BURST, PATH_VERIFY_RATE } from '../constants.ts'
import { decodePathMessage, isPathDatagram, PATH_TYPE_NAMES } from './path-message.ts'
import { TokenBucket } from './token-bucket.ts'
import type { PathMessage } from './path-message.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { DatagramHandler, RemoteInfo } from '../socket/datagram-socket.ts'
import type { Logger } from '@libp2p/interface'

/**
 * A connection that takes path datagrams: the socket its stream is
 * connected on, and what to do with a datagram that names it
 */
export interface PathEndpoint {
  readonly socket: BoundSocket
  receive(data: Uint8Array, message: PathMessage, from: RemoteInfo): void
}

/**
 * The connections of one transport that have a path key, by their local
 * UDX stream id (unique within the transport's UDX instance)
 */
export class PathRegistry {
  private readonly endpoints = new Map<number, PathEndpoint>()

  /**
   * Register `endpoint` under `streamId`; returns a function that removes it
   */
  add (streamId: number, endpoint: PathEndpoint): () => void {
    this.endpoints.set(streamId, endpoint)

    return () => {
      if (this.endpoints.get(streamId) === endpoint) {
        this.endpoints.delete(streamId)
      }
    }
  }

  get (streamId: number): PathEndpoint | undefined {
    return this.endpoints.get(streamId)
  }

  get size (): number {
    return this.endpoints.size
  }
}

export interface PathDatagramHandlerInit {
  socket: BoundSocket
  registry: PathRegistry
  log: Logger
  /** @default performance.now */
  now?(): number
  /** @default PATH_VERIFY_RATE */
  verifyRate?: number
  /** @default PATH_VERIFY_BURST */
  verifyBurst?: number
}

/**
 * Routes the path datagrams (0xA8) of one socket to the connection they
 * name. Work an off-path sender can cause is bounded: a datagram naming no
 * connection of this socket is dropped before any MAC is computed, and the
 * socket verifies at most PATH_VERIFY_RATE datagrams per second. Drops are
 * counted on the socket (`path-*` reasons).
 */
export class PathDatagramHandler implements DatagramHandler {
  readonly name = 'path'
  private readonly socket: BoundSocket
  private readonly registry: PathRegistry
  private readonly log: Logger
  private readonly verifications: TokenBucket

  constructor (init: PathDatagramHandlerInit) {
    this.socket = init.socket
    this.registry = init.registry
    this.log = init.log
    const now = init.now ?? (() => performance.now())
    this.verifications = new TokenBucket({ rate: init.verifyRate ?? PATH_VERIFY_RATE, burst: init.verifyBurst ?? PATH_VERIFY_BURST, now })
  }

  matches (data: Uint8Array): boolean {
    return isPathDatagram(data)
  }

  handle (data: Uint8Array, from: RemoteInfo): void {
    const message = decodePathMessage(data)
    const endpoint = this.registry.get(message.receiverStreamId)

    if (endpoint == null) {
      this.socket.drop('path-unknown-id', from)
      return
    }

    if (endpoint.socket !== this.socket) {
      this.socket.drop('path-wrong-socket', from)
      return
    }

    if (!this.verifications.take()) {
      this.socket.drop('path-rate-limited', from)
      return
    }

    this.log.trace('path %s %d for stream %d from %s:%d', PATH_TYPE_NAMES[message.type], message.seq, message.receiverStreamId, from.host, from.port)
    endpoint.receive(data, message, from)
  }
}
