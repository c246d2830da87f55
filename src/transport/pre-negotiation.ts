/**
 * Multistream-select for the encrypter, settled before the connection
 * exists.
 *
 * On a punched path both peers already agreed over the relay (OFFER/ANSWER
 * feature DIRECT_NOISE, docs/PROTOCOL.md) that the connection starts with
 * Noise. libp2p's upgrader still runs multistream-select for the encrypter,
 * which costs a round trip on the direct path before Noise can start. The
 * exchange is fixed: the initiator writes the header and `/noise`, the
 * responder answers with the same two lines. So each side drops those bytes
 * on their way out and hands its upgrader the peer's identical answer at
 * once: the upgrader, Noise (which negotiates the muxer in its handshake
 * extensions) and the resulting connection are libp2p's own, with
 * `connection.encryption === '/noise'`, and the wire carries Noise from the
 * first byte.
 *
 * If the upgrader writes anything else (another encrypter first in its
 * list), the connection is aborted: sending a half-filtered exchange would
 * only produce a confusing Noise failure on the peer.
 */

import { Uint8ArrayList } from 'uint8arraylist'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { PreNegotiationError } from '../errors.ts'
import type { SendResult } from '@libp2p/utils'

/** The encrypter both peers pre-negotiate */
export const PRE_NEGOTIATED_ENCRYPTER = '/noise'

const MULTISTREAM_HEADER = '/multistream/1.0.0\n'

/**
 * The bytes each side of a successful multistream-select for `protocol`
 * writes (and so reads from the other): two length-prefixed lines
 */
export function multistreamExchange (protocol: string): Uint8Array {
  const list = new Uint8ArrayList()

  for (const line of [MULTISTREAM_HEADER, `${protocol}\n`]) {
    const bytes = uint8ArrayFromString(line)

    if (bytes.byteLength > 127) {
      // a one-byte unsigned varint is all a protocol line here needs
      throw new PreNegotiationError(`Protocol name too long to pre-negotiate: ${protocol}`)
    }

    list.append(Uint8Array.of(bytes.byteLength), bytes)
  }

  return list.subarray()
}

/**
 * Drops the expected exchange from the outgoing byte stream, then passes
 * everything through. Pure: no I/O, for table tests.
 */
export class OutgoingExchangeFilter {
  private readonly expected: Uint8Array
  private offset = 0

  constructor (expected: Uint8Array) {
    this.expected = expected
  }

  /** true once the whole exchange was dropped */
  get done (): boolean {
    return this.offset === this.expected.byteLength
  }

  /**
   * How many leading bytes of `data` to drop
   *
   * @throws {PreNegotiationError} when the bytes differ from the exchange
   */
  take (data: Uint8ArrayList): number {
    if (this.done) {
      return 0
    }

    const count = Math.min(data.byteLength, this.expected.byteLength - this.offset)

    for (let i = 0; i < count; i++) {
      if (data.get(i) !== this.expected[this.offset + i]) {
        throw new PreNegotiationError(`The upgrader did not propose ${PRE_NEGOTIATED_ENCRYPTER} first (byte ${this.offset + i} of multistream-select differs): put noise() first in connectionEncrypters`)
      }
    }

    this.offset += count
    return count
  }
}

/** What pre-negotiation needs of a multiaddr connection */
export interface PreNegotiable {
  sendData(data: Uint8ArrayList): SendResult
  onData(data: Uint8Array | Uint8ArrayList): void
  abort(err: Error): void
}

/**
 * Make `maConn` behave, for its upgrader, as if multistream-select for
 * `protocol` had been answered at once, while sending none of it
 */
export function preNegotiate (maConn: PreNegotiable, protocol: string = PRE_NEGOTIATED_ENCRYPTER): void {
  const exchange = multistreamExchange(protocol)
  const filter = new OutgoingExchangeFilter(exchange)
  const sendData = maConn.sendData.bind(maConn)

  maConn.sendData = (data: Uint8ArrayList): SendResult => {
    if (filter.done) {
      return sendData(data)
    }

    let dropped: number
    try {
      dropped = filter.take(data)
    } catch (err: any) {
      maConn.abort(err)
      return { sentBytes: data.byteLength, canSendMore: false }
    }

    if (dropped === data.byteLength) {
      return { sentBytes: dropped, canSendMore: true }
    }

    const result = sendData(data.sublist(dropped))
    return { sentBytes: dropped + result.sentBytes, canSendMore: result.canSendMore }
  }

  // the peer's answer, as if it had arrived
  maConn.onData(exchange)
}
