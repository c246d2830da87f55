import { UnsupportedProtocolError } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { COORDINATION_CLOSE_GRACE_MS, COORDINATION_STEP_TIMEOUT_MS, MAX_COORDINATION_MESSAGE_SIZE } from '../constants.ts'
import { decodeCoordinationMessage, encodeCoordinationMessage } from '../protocol/validate.ts'
import type { CoordinationMessage } from '../protocol/messages.ts'
import type { AbortOptions, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/** multistream-select 1.0's header line */
const MULTISTREAM_HEADER = '/multistream/1.0.0\n'

export interface CoordinationChannelInit {
  /**
   * Negotiate this protocol optimistically: the multistream-select header
   * and proposal go out with the first message, and the peer's echo is read
   * (and checked) before the first message we read
   */
  pendingProtocol?: string
}

/**
 * The coordination messages of one session over one stream of the relayed
 * connection: length-prefixed, size-limited, validated on receipt.
 */
export class CoordinationChannel {
  readonly stream: Stream
  /** how the stream's protocol was negotiated, for tests and logs */
  readonly negotiation: 'optimistic' | 'full'
  private readonly lp: LengthPrefixedStream<Stream>
  private proposal?: string
  private echo?: string

  constructor (stream: Stream, init: CoordinationChannelInit = {}) {
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: MAX_COORDINATION_MESSAGE_SIZE })
    this.negotiation = init.pendingProtocol != null ? 'optimistic' : 'full'
    this.proposal = init.pendingProtocol
    this.echo = init.pendingProtocol
  }

  async send (message: CoordinationMessage, options?: AbortOptions): Promise<void> {
    const encoded = encodeCoordinationMessage(message, Date.now())

    if (this.proposal != null) {
      // optimistic multistream-select: header, proposal and the first message
      // in one write (the same length-prefixed framing as ours)
      const proposal = this.proposal
      this.proposal = undefined
      await this.lp.writeV([uint8ArrayFromString(MULTISTREAM_HEADER), uint8ArrayFromString(`${proposal}\n`), encoded], options)
      return
    }

    await this.lp.write(encoded, options)
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

    if (this.echo != null) {
      await this.readEcho(this.echo, signal)
    }

    const bytes = await this.lp.read({ signal })
    return decodeCoordinationMessage(bytes.subarray(), Date.now())
  }

  /**
   * The peer's answer to our optimistic proposal: the header, then the
   * protocol echoed (accepted) or `na` (the peer does not run it)
   */
  private async readEcho (protocol: string, signal: AbortSignal): Promise<void> {
    const header = uint8ArrayToString((await this.lp.read({ signal })).subarray())

    if (header !== MULTISTREAM_HEADER) {
      throw new UnsupportedProtocolError(`The peer did not answer multistream-select for ${protocol} (it sent ${JSON.stringify(header.slice(0, 40))})`)
    }

    const answer = uint8ArrayToString((await this.lp.read({ signal })).subarray())

    if (answer !== `${protocol}\n`) {
      throw new UnsupportedProtocolError(`The peer does not support ${protocol} (it answered ${JSON.stringify(answer.slice(0, 40))})`)
    }

    this.echo = undefined
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
