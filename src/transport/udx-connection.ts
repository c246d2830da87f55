import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { CONNECTION_CLOSE_TIMEOUT, PATH_DEAD_TIMEOUT, STREAM_KEEPALIVE } from '../constants.ts'
import { PathMonitor } from './path-monitor.ts'
import type { PathMigrationInit } from './path-monitor.ts'
import type { AbortOptions, CounterGroup, Logger } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { UDXStream } from 'udx-native'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface UDXMultiaddrConnectionInit {
  stream: UDXStream
  remoteAddr: Multiaddr
  localAddr?: Multiaddr
  direction: 'inbound' | 'outbound'
  log: Logger
  inactivityTimeout?: number
  metrics?: CounterGroup
  metricPrefix?: string
  /**
   * UDX keepalive, ms
   *
   * @default STREAM_KEEPALIVE
   */
  keepaliveMs?: number
  /**
   * Abort with PathDeadError after this long without a datagram from the
   * peer, ms; 0 turns the check off (a connection with `migration` still
   * runs its path challenges)
   *
   * @default PATH_DEAD_TIMEOUT
   */
  deadTimeoutMs?: number
  /** the transport's path events */
  pathMetrics?: CounterGroup
  /** path challenges and migration (connections with a path key) */
  migration?: PathMigrationInit
}

/**
 * A MultiaddrConnection over one connected UDX stream. UDX gives a reliable,
 * ordered, congestion-controlled byte stream, so this is a thin adapter like
 * the TCP transport's socket-to-conn: writes go to the stream with its
 * backpressure, data comes from its `data` events.
 *
 * Half-close follows TCP with allowHalfOpen=false: when the remote ends its
 * side we end ours, and the connection closes once both are done. Stream
 * half-close for users is the muxer's business (yamux).
 */
export class UDXMultiaddrConnection extends AbstractMultiaddrConnection {
  readonly stream: UDXStream
  /** the path's health and migration (absent when the dead timer is off and there is no path key) */
  readonly path?: PathMonitor
  private closeError?: Error
  /** the libp2p connection made from this one, once upgraded */
  private connection?: { abort(err: Error): void }

  constructor (init: UDXMultiaddrConnectionInit) {
    super({
      remoteAddr: init.remoteAddr,
      localAddr: init.localAddr,
      direction: init.direction,
      log: init.log,
      inactivityTimeout: init.inactivityTimeout,
      metrics: init.metrics,
      metricPrefix: init.metricPrefix
    })

    this.stream = init.stream
    const keepaliveMs = init.keepaliveMs ?? STREAM_KEEPALIVE
    this.stream.setKeepalive(keepaliveMs)

    const deadTimeoutMs = init.deadTimeoutMs ?? PATH_DEAD_TIMEOUT

    if (deadTimeoutMs > 0 || init.migration != null) {
      const path = new PathMonitor({
        stream: this.stream,
        // migration without the dead timer: challenges, but no dead verdict
        deadTimeoutMs: deadTimeoutMs > 0 ? deadTimeoutMs : Infinity,
        keepaliveMs,
        log: init.log.newScope('path'),
        metrics: init.pathMetrics,
        migration: init.migration,
        onDead: (err) => {
          // through the upgraded connection, so that its streams fail with
          // this error (the muxer does not pass on the error of a closing
          // MultiaddrConnection)
          if (this.connection != null) {
            this.connection.abort(err)
          } else {
            this.abort(err)
          }
        }
      })
      this.path = path
      this.addEventListener('close', () => { path.stop() })
    }

    this.stream.on('data', (buf: Uint8Array) => {
      this.onData(buf)
    })

    this.stream.on('drain', () => {
      this.safeDispatchEvent('drain')
    })

    this.stream.on('error', (err: Error) => {
      this.log('udx stream error - %e', err)
      this.closeError = err
    })

    this.stream.once('end', () => {
      this.log.trace('remote ended its side of the udx stream')
      // like TCP with allowHalfOpen=false: end our side too, once our queued
      // writes are out, so the stream closes
      if (this.status === 'open') {
        this.stream.end()
      }
    })

    this.stream.once('close', () => {
      this.log.trace('udx stream closed')
      this.path?.stop()

      if (this.closeError != null) {
        this.abort(this.closeError)
        return
      }

      this.onTransportClosed()
    })
  }

  /**
   * The upgrader turned this into `connection`: a dead path aborts it (and
   * with it every stream) rather than only this MultiaddrConnection
   */
  upgraded (connection: { abort(err: Error): void }): void {
    this.connection = connection
  }

  sendData (data: Uint8ArrayList): SendResult {
    let sentBytes = 0
    let canSendMore = true

    for (const buf of data) {
      sentBytes += buf.byteLength
      canSendMore = this.stream.write(buf)

      if (!canSendMore) {
        break
      }
    }

    return { sentBytes, canSendMore }
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    if (this.stream.destroyed) {
      return
    }

    const closed = new Promise<void>((resolve) => {
      this.stream.once('close', () => { resolve() })
    })

    this.stream.end()

    // wait for the remote to finish its side, bounded by the caller's signal
    // and our own timeout; then destroy, like TCP's destroySoon
    const signal = options?.signal
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined

    try {
      await Promise.race([
        closed,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CONNECTION_CLOSE_TIMEOUT)
          onAbort = resolve
          signal?.addEventListener('abort', onAbort, { once: true })
        })
      ])
    } finally {
      clearTimeout(timer)
      if (onAbort != null) {
        signal?.removeEventListener('abort', onAbort)
      }
    }

    if (!this.stream.destroyed) {
      this.log('remote did not close its side in time, destroying the udx stream')
      this.stream.destroy()
      await closed
    }
  }

  sendReset (): void {
    this.stream.destroy()
  }

  sendPause (): void {
    this.stream.pause()
  }

  sendResume (): void {
    this.stream.resume()
  }
}
