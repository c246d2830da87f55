import { expect } from 'aegir/chai'
import { TokenBucket } from '../../src/transport/token-bucket.ts'

describe('token bucket', () => {
  it('gives its burst at once, then its rate, on an injected clock', () => {
    let now = 0
    const bucket = new TokenBucket({ rate: 4, burst: 2, now: () => now })

    expect([bucket.take(), bucket.take(), bucket.take()]).to.deep.equal([true, true, false])
    now += 249
    expect(bucket.take()).to.be.false()
    now += 1
    expect(bucket.take()).to.be.true()
    // a long pause refills only up to the burst
    now += 60_000
    expect([bucket.take(), bucket.take(), bucket.take()]).to.deep.equal([true, true, false])
    expect(bucket.refused).to.equal(3)
  })

  it('does not refill when the clock goes backwards', () => {
    let now = 1_000
    const bucket = new TokenBucket({ rate: 1, burst: 1, now: () => now })
    expect(bucket.take()).to.be.true()
    now = 0
    expect(bucket.take()).to.be.false()
  })
})
