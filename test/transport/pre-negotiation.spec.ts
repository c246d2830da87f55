import { expect } from 'aegir/chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { OutgoingExchangeFilter, multistreamExchange, preNegotiate } from '../../src/transport/pre-negotiation.ts'
import type { PreNegotiable } from '../../src/transport/pre-negotiation.ts'
import type { SendResult } from '@libp2p/utils'

/** A multiaddr connection that records what reaches the wire and the read side */
class RecordingConnection implements PreNegotiable {
  readonly wire: Uint8Array[] = []
  readonly delivered: Uint8Array[] = []
  aborted?: Error

  sendData (data: Uint8ArrayList): SendResult {
    this.wire.push(data.subarray())
    return { sentBytes: data.byteLength, canSendMore: true }
  }

  onData (data: Uint8Array | Uint8ArrayList): void {
    this.delivered.push(data.subarray())
  }

  abort (err: Error): void {
    this.aborted = err
  }
}

function concat (...parts: Uint8Array[]): Uint8Array {
  return new Uint8ArrayList(...parts).subarray()
}

describe('pre-negotiated multistream-select', () => {
  const exchange = multistreamExchange('/noise')

  it('is the header and the protocol, each length-prefixed, as multistream-select writes them', () => {
    expect(exchange).to.deep.equal(concat(
      Uint8Array.of(19), uint8ArrayFromString('/multistream/1.0.0\n'),
      Uint8Array.of(7), uint8ArrayFromString('/noise\n')
    ))
  })

  it('hands the upgrader the peer\'s answer before anything is sent', () => {
    const conn = new RecordingConnection()
    preNegotiate(conn)

    expect(conn.delivered).to.deep.equal([exchange])
    expect(conn.wire).to.be.empty()
  })

  it('drops the exchange on the way out and sends what follows it, however the writes are split', () => {
    const noise = Uint8Array.of(0, 32, ...new Array(32).fill(9))
    const splits: Uint8Array[][] = [
      [concat(exchange, noise)],
      [exchange, noise],
      [exchange.subarray(0, 5), exchange.subarray(5), noise],
      [exchange.subarray(0, 20), concat(exchange.subarray(20), noise.subarray(0, 3)), noise.subarray(3)]
    ]

    for (const writes of splits) {
      const conn = new RecordingConnection()
      preNegotiate(conn)
      const results = writes.map(w => conn.sendData(new Uint8ArrayList(w)))

      expect(concat(...conn.wire), `writes of ${writes.map(w => w.byteLength).join('+')} bytes`).to.deep.equal(noise)
      results.forEach((r, i) => { expect(r.sentBytes).to.equal(writes[i].byteLength) })
      expect(conn.aborted).to.be.undefined()
    }
  })

  it('aborts the connection when the upgrader proposes another encrypter, and sends none of it', () => {
    const conn = new RecordingConnection()
    preNegotiate(conn)
    conn.sendData(new Uint8ArrayList(multistreamExchange('/tls/1.0.0')))

    expect(conn.aborted).to.have.property('name', 'PreNegotiationError')
    expect(conn.wire).to.be.empty()
  })

  it('counts the dropped bytes until the whole exchange is gone', () => {
    const filter = new OutgoingExchangeFilter(exchange)

    expect(filter.take(new Uint8ArrayList(exchange.subarray(0, 10)))).to.equal(10)
    expect(filter.done).to.be.false()
    expect(filter.take(new Uint8ArrayList(concat(exchange.subarray(10), Uint8Array.of(1, 2))))).to.equal(exchange.byteLength - 10)
    expect(filter.done).to.be.true()
    expect(filter.take(new Uint8ArrayList(Uint8Array.of(3)))).to.equal(0)
  })
})
