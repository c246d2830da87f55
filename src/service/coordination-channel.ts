import { lpStream } from '@libp2p/utils'
import { COORDINATION_STEP_TIMEOUT_MS, MAX_COORDINATION_MESSAGE_SIZE } from '../constants.ts'
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

  async close (): Promise<void> {
    await this.stream.close().catch(() => {
      this.stream.abort(new Error('could not close the coordination stream'))
    })
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}
