import { COORDINATION_PROTOCOL } from '../constants.ts'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

/**
 * The coordination stream we opened, and whether its protocol is still to be
 * confirmed by the peer (optimistic negotiation)
 */
export interface OpenedCoordinationStream {
  stream: Stream
  /**
   * The protocol this stream proposes with its first message, or undefined
   * when multistream-select has already finished. The CoordinationChannel
   * sends the proposal together with OFFER and reads the peer's echo before
   * ANSWER.
   */
  pendingProtocol?: string
}

/** The part of libp2p's connection class that opens a raw muxed stream */
interface MuxerHandle {
  status: string
  createStream(options?: AbortOptions): Promise<Stream>
}

/**
 * Open the coordination stream on the relayed connection.
 *
 * libp2p 3.x always completes multistream-select before `newStream`
 * resolves (its `negotiateFully: false` option is documented but no longer
 * implemented), which costs one relayed round trip before OFFER can leave.
 * We know the protocol we want and accept that a peer without it refuses
 * OFFER, so we negotiate optimistically (as go-libp2p and rust-libp2p do
 * for a single protocol): open a raw stream of the connection's muxer and
 * let the CoordinationChannel send the multistream-select proposal and OFFER
 * in one write. The peer's libp2p answers the proposal with its normal
 * multistream-select handler, so nothing changes on the wire for it.
 *
 * The raw stream comes from the connection's muxer, which libp2p's
 * connection class holds but its `Connection` interface does not name.
 * When it is not there (another libp2p version), we fall back to a fully
 * negotiated `newStream`, which costs the round trip but works.
 */
export async function openCoordinationStream (connection: Connection, options: AbortOptions): Promise<OpenedCoordinationStream> {
  const muxer = (connection as unknown as { muxer?: Partial<MuxerHandle> }).muxer

  if (muxer?.status === 'open' && typeof muxer.createStream === 'function') {
    options.signal?.throwIfAborted()
    const stream = await muxer.createStream({ signal: options.signal })
    // what libp2p would have set after negotiating it
    stream.protocol = COORDINATION_PROTOCOL
    return { stream, pendingProtocol: COORDINATION_PROTOCOL }
  }

  const stream = await connection.newStream(COORDINATION_PROTOCOL, { signal: options.signal, runOnLimitedConnection: true })
  return { stream }
}
