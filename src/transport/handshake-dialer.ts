import { randomBytes } from 'node:crypto'
import { AbortError } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { HANDSHAKE_INITIAL_RTO, HANDSHAKE_MAX_RETRY_RESENDS, HANDSHAKE_MAX_RTO, HANDSHAKE_TIMEOUT } from '../constants.ts'
import { HandshakeRefusedError, HandshakeTimeoutError } from '../errors.ts'
import { encodeHandshake, HandshakeType, NONCE_LENGTH } from './handshake-message.ts'
import type { HandshakeHandler } from './handshake-handler.ts'
import type { UDXDialEvents } from './types.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { RemoteInfo } from '../socket/datagram-socket.ts'
import type { SocketPool } from '../socket/socket-pool.ts'
import type { Logger } from '@libp2p/interface'
import type { ProgressOptions } from 'progress-events'
import type { UDXStream } from 'udx-native'

export interface HandshakeDialOptions extends ProgressOptions<UDXDialEvents> {
  pool: SocketPool
  socket: BoundSocket
  handler: HandshakeHandler
  remote: RemoteInfo
  signal: AbortSignal
  log: Logger
  /** @default HANDSHAKE_TIMEOUT */
  timeout?: number
  /** the listener answered with RETRY (for metrics) */
  onRetry?(): void
}

/**
 * Dialer side of the connection-open handshake:
 *
 * 1. allocate a UDX stream with a fresh random id
 * 2. send OPEN (nonce, our stream id), retransmitting with doubling backoff
 * 3. on RETRY from the dialed ip:port echoing our nonce and stream id, keep its cookie: every later OPEN carries it; the first HANDSHAKE_MAX_RETRY_RESENDS RETRYs are answered at once, later ones wait for the next scheduled retransmission
 * 4. on ACCEPT from the dialed ip:port echoing our nonce and stream id, connect our stream to the listener's stream id and return it
 *
 * On abort or timeout every timer, the pending entry and the stream are gone
 * before the promise rejects, and a RESET tells the listener to free its
 * half-open entry.
 */
export async function dialHandshake (options: HandshakeDialOptions): Promise<UDXStream> {
  const { pool, socket, handler, remote, signal, log } = options
  const timeout = options.timeout ?? HANDSHAKE_TIMEOUT

  signal.throwIfAborted()

  const stream = pool.createStream()
  const nonce = randomBytes(NONCE_LENGTH)
  let open = encodeHandshake({ type: HandshakeType.OPEN, nonce, streamId: stream.id, echoedStreamId: 0 })
  const started = Date.now()

  options.onProgress?.(new CustomProgressEvent('udx:handshake-open'))

  return new Promise<UDXStream>((resolve, reject) => {
    let rto = HANDSHAKE_INITIAL_RTO
    let attempts = 0
    let retries = 0
    let retransmitTimer: ReturnType<typeof setTimeout> | undefined
    let settled = false

    const cleanup = (): void => {
      settled = true
      clearTimeout(retransmitTimer)
      clearTimeout(deadline)
      removePending()
      signal.removeEventListener('abort', onAbort)
    }

    const fail = (err: Error, sendReset: boolean): void => {
      if (settled) {
        return
      }

      cleanup()
      stream.destroy()

      if (sendReset && !socket.closed) {
        const reset = encodeHandshake({ type: HandshakeType.RESET, nonce, streamId: 0, echoedStreamId: 0 })
        socket.send(reset, remote.port, remote.host).catch(() => {})
      }

      reject(err)
    }

    const sendOpen = (): void => {
      attempts++
      log.trace('send OPEN #%d to %s:%d', attempts, remote.host, remote.port)
      socket.send(open, remote.port, remote.host).catch((err: Error) => {
        fail(err, false)
      })
    }

    const retransmit = (): void => {
      if (settled) {
        return
      }

      sendOpen()
      retransmitTimer = setTimeout(retransmit, rto)
      rto = Math.min(rto * 2, HANDSHAKE_MAX_RTO)
    }

    const onAbort = (): void => {
      log('dial to %s:%d aborted during the handshake', remote.host, remote.port)
      fail(new AbortError('The udx dial was aborted during the handshake'), true)
    }

    const deadline = setTimeout(() => {
      const message = retries === 0
        ? `No udx handshake answer from ${remote.host}:${remote.port} after ${attempts} attempts in ${Date.now() - started} ms: check that a udx listener runs there and that UDP can reach it`
        : `The udx listener at ${remote.host}:${remote.port} answered with ${retries} RETRY(s) but did not accept within ${Date.now() - started} ms (${attempts} OPENs): it is overloaded or under attack`
      fail(new HandshakeTimeoutError(message), true)
    }, timeout)

    const removePending = handler.addPending(remote, nonce, {
      streamId: stream.id,
      onAccept: (listenerStreamId: number) => {
        if (settled) {
          return
        }

        cleanup()

        try {
          stream.connect(socket.socket, listenerStreamId, remote.port, remote.host)
        } catch (err: any) {
          stream.destroy()
          reject(err)
          return
        }

        log('handshake with %s:%d done in %d ms after %d OPEN(s) and %d RETRY(s), streams %d <-> %d', remote.host, remote.port, Date.now() - started, attempts, retries, stream.id, listenerStreamId)
        options.onProgress?.(new CustomProgressEvent('udx:handshake-accepted'))
        resolve(stream)
      },
      onRetry: (cookie: Uint8Array) => {
        if (settled) {
          return
        }

        retries++
        options.onRetry?.()
        open = encodeHandshake({ type: HandshakeType.OPEN, nonce, streamId: stream.id, echoedStreamId: 0, cookie })

        if (retries > HANDSHAKE_MAX_RETRY_RESENDS) {
          log.trace('RETRY #%d from %s:%d: the next retransmission carries its cookie', retries, remote.host, remote.port)
          return
        }

        // the path works and the listener wants proof of our address: answer
        // at once, and keep the backoff where it was (a RETRY is not a loss)
        log.trace('RETRY #%d from %s:%d: send OPEN with its cookie', retries, remote.host, remote.port)
        clearTimeout(retransmitTimer)
        sendOpen()
        retransmitTimer = setTimeout(retransmit, rto)
      },
      onReset: () => {
        fail(new HandshakeRefusedError(`The udx listener at ${remote.host}:${remote.port} refused the connection`), false)
      }
    })

    signal.addEventListener('abort', onAbort, { once: true })
    retransmit()
  })
}
