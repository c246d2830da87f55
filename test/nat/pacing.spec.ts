import { expect } from 'aegir/chai'
import { rtoFor } from '../../src/nat/stun/client.ts'
import { TransactionPacer } from '../../src/nat/stun/pacer.ts'
import { SourceRateLimiter } from '../../src/nat/stun/rate-limiter.ts'

describe('nat/stun pacing and rate limiting', () => {
  describe('TransactionPacer', () => {
    it('spaces new transactions 100 ms apart at 10 per second', () => {
      let now = 1000
      const pacer = new TransactionPacer({ perSecond: 10, now: () => now })
      expect([pacer.reserve(), pacer.reserve(), pacer.reserve()]).to.deep.equal([0, 100, 200])
      now += 1000
      expect(pacer.reserve()).to.equal(0)
      now += 50
      expect(pacer.reserve()).to.equal(50)
    })

    it('never lets more than 10 transactions start in any second', () => {
      let now = 0
      const pacer = new TransactionPacer({ perSecond: 10, now: () => now })
      const starts: number[] = []

      for (let i = 0; i < 50; i++) {
        now += i % 7 === 0 ? 0 : 13
        starts.push(now + pacer.reserve())
      }

      for (const start of starts) {
        expect(starts.filter(s => s >= start && s < start + 1000).length).to.be.at.most(10)
      }
    })

    it('waits for its slot and rejects with AbortError when aborted while waiting', async () => {
      const pacer = new TransactionPacer({ perSecond: 10 })
      await pacer.acquire()
      const started = Date.now()
      await pacer.acquire()
      expect(Date.now() - started).to.be.at.least(90)

      const controller = new AbortController()
      const waiting = pacer.acquire(controller.signal)
      controller.abort()
      await expect(waiting).to.eventually.be.rejected.with.property('name', 'AbortError')
    })

    it('refuses a rate of 0', () => {
      expect(() => new TransactionPacer({ perSecond: 0 })).to.throw(RangeError)
    })
  })

  describe('SourceRateLimiter', () => {
    it('allows a burst per source, then the sustained rate', () => {
      let now = 0
      const limiter = new SourceRateLimiter({
        perSource: { rate: 10, burst: 3 },
        global: { rate: 1000, burst: 1000 },
        maxSources: 100,
        now: () => now
      })
      expect([1, 2, 3, 4].map(() => limiter.take('192.0.2.1'))).to.deep.equal(['allow', 'allow', 'allow', 'source-limited'])
      expect(limiter.take('192.0.2.2')).to.equal('allow')
      now += 100 // one token back at 10/s
      expect(limiter.take('192.0.2.1')).to.equal('allow')
      expect(limiter.take('192.0.2.1')).to.equal('source-limited')
    })

    it('applies the global limit across sources', () => {
      const limiter = new SourceRateLimiter({
        perSource: { rate: 10, burst: 10 },
        global: { rate: 1, burst: 5 },
        maxSources: 100,
        now: () => 0
      })
      const decisions = Array.from({ length: 8 }, (_, i) => limiter.take(`192.0.2.${i}`))
      expect(decisions.filter(d => d === 'allow')).to.have.length(5)
      expect(decisions.slice(5)).to.deep.equal(['global-limited', 'global-limited', 'global-limited'])
    })

    it('remembers at most maxSources sources, forgetting the least recently seen', () => {
      const limiter = new SourceRateLimiter({
        perSource: { rate: 0.001, burst: 1 },
        global: { rate: 1000, burst: 10_000 },
        maxSources: 3,
        now: () => 0
      })

      for (let i = 0; i < 1000; i++) {
        limiter.take(`10.0.${i >> 8}.${i & 0xff}`)
      }

      expect(limiter.size).to.equal(3)
      // 10.0.3.231 is among the three most recent: still limited
      expect(limiter.take('10.0.3.231')).to.equal('source-limited')
      // 10.0.0.0 was forgotten: it gets a fresh bucket
      expect(limiter.take('10.0.0.0')).to.equal('allow')
    })
  })

  describe('RTO from a measured RTT', () => {
    const cases: Array<[number | undefined, number, number]> = [
      // rtt, client RTO, expected RTO
      [undefined, 500, 500],
      [1, 500, 100], // floor: a lab link
      [50, 500, 150], // 3 x RTT
      [400, 500, 500], // never above the client's RTO
      [1, 20, 20], // a test client's short RTO stays
      [-1, 500, 500],
      [Number.NaN, 500, 500]
    ]

    for (const [rtt, clientRto, expected] of cases) {
      it(`rtt ${String(rtt)} ms with client RTO ${clientRto} ms gives ${expected} ms`, () => {
        expect(rtoFor(rtt, clientRto)).to.equal(expected)
      })
    }
  })
})
