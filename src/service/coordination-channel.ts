import { lpStream } from '@libp2p/utils'
import { COORDINATION_CLOSE_GRACE_MS, COORDINATION_STEP_TIMEOUT_MS, MAX_COORDINATION_MESSAGE_SIZE } from '../constants.ts'
import { decodeCoordinationMessage, encodeCoordinationMessage } from '../protocol/validate.ts'
import type { CoordinationMessage } from '../protocol/messages.ts'
import type { AbortOptions, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/**
 * The coordination messages of one session over one stream of the relayed
 * connection: length-prefixed, size-limited, validated on receipt.
 */
export class CoordinationChannel {
  readonly stream: Stream
  private readonly lp: LengthPrefixedStream<Stream>

  constructor (stream: Stream) {
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: MAX_COORDINATION_MESSAGE_SIZE })
  }

  async send (message: CoordinationMessage, options?: AbortOptions): Promise<void> {
    await this.lp.write(encodeCoordinationMessage(message, Date.now()), options)
  }

  /**
   * Read and validate the next message, waiting at most
   * COORDINATION_STEP_TIMEOUT_MS (or until `signal` aborts)
   */
  async read (options?: AbortOptions & { timeout?: number }): Promise<CoordinationMessage> {
    const signal = AbortSignal.any([
      AbortSignal.timeout(options?.timeout ?? COORDINATION_STEP_TIMEOUT_MS),
      ...(options?.signal != null ? [options.signal] : [])
    ])
    const bytes = await this.lp.read({ signal })
    return decodeCoordinationMessage(bytes.subarray(), Date.now())
  }

  /**
   * Close our side; if the peer has not closed its side within
   * COORDINATION_CLOSE_GRACE_MS, reset the stream. A peer that never closes
   * (or never reads) holds no stream of ours for longer than that.
   */
  async close (): Promise<void> {
    try {
      await this.stream.close({ signal: AbortSignal.timeout(COORDINATION_CLOSE_GRACE_MS) })
    } catch {
      this.stream.abort(new Error('could not close the coordination stream'))
      return
    }

    if (this.stream.status === 'closed' || this.stream.status === 'aborted' || this.stream.status === 'reset') {
      return
    }

    const timer = setTimeout(() => {
      if (this.stream.status !== 'closed') {
        this.stream.abort(new Error('the peer did not close the coordination stream'))
      }
    }, COORDINATION_CLOSE_GRACE_MS)
    timer.unref?.()
    this.stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}
