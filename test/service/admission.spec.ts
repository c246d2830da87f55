import { expect } from 'aegir/chai'
import { ProbeRate } from '../../src/service/probe-rate.ts'
import { PunchSlots } from '../../src/service/punch-slots.ts'
import { SocketQuota } from '../../src/service/socket-quota.ts'

describe('admission of punches', () => {
  describe('punch slots', () => {
    function slots (now = { t: 0 }): PunchSlots {
      return new PunchSlots({ maxOutbound: 2, maxInbound: 1, maxOffersPerPeerPerMinute: 3, maxTrackedPeers: 2, now: () => now.t })
    }

    it('counts inbound and outbound apart, so peers cannot take our own slots', () => {
      const s = slots()

      expect(s.acquire('responder')).to.be.true()
      expect(s.acquire('responder')).to.be.false()
      expect(s.acquire('initiator')).to.be.true()
      expect(s.acquire('initiator')).to.be.true()
      expect(s.acquire('initiator')).to.be.false()
      s.release('responder')
      expect(s.acquire('responder')).to.be.true()
    })

    it('lets a glare hand-over exceed the inbound limit once it is forced', () => {
      const s = slots()
      s.acquire('responder')

      expect(s.acquire('responder', true)).to.be.true()
      expect(s.inUse('responder')).to.equal(2)
    })

    it('admits a few OFFERs per peer per minute, then again once the minute has passed', () => {
      const now = { t: 0 }
      const s = slots(now)

      expect([1, 2, 3, 4].map(() => s.admitOffer('a'))).to.deep.equal([true, true, true, false])
      expect(s.admitOffer('b')).to.be.true()
      now.t = 60_001
      expect(s.admitOffer('a')).to.be.true()
    })

    it('forgets the least recently seen peer when it tracks too many', () => {
      const s = slots()
      s.admitOffer('a')
      s.admitOffer('a')
      s.admitOffer('a')
      s.admitOffer('b')
      s.admitOffer('c')

      // 'a' was forgotten: its count starts again
      expect(s.admitOffer('a')).to.be.true()
    })
  })

  describe('the node-wide probe rate', () => {
    it('allows a burst, then the sustained rate, on the injected clock', () => {
      const now = { t: 0 }
      const rate = new ProbeRate({ perSecond: 100, burst: 10, now: () => now.t })
      const burst = Array.from({ length: 12 }, () => rate.take())

      expect(burst.filter(Boolean)).to.have.lengthOf(10)
      expect(rate.refused).to.equal(2)
      now.t = 50
      expect(Array.from({ length: 10 }, () => rate.take()).filter(Boolean)).to.have.lengthOf(5)
    })
  })

  describe('the extra-socket quota', () => {
    it('grants what is left and takes it back on release', () => {
      const quota = new SocketQuota(300)

      expect(quota.reserve(256)).to.equal(256)
      expect(quota.reserve(256)).to.equal(44)
      expect(quota.reserve(1)).to.equal(0)
      quota.release(256)
      expect(quota.reserve(10)).to.equal(10)
      expect(quota.reserved).to.equal(54)
    })
  })
})
