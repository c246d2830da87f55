import { expect } from 'aegir/chai'
import {
  DOOMED_BACKOFF_BASE_MS,
  DOOMED_BACKOFF_MAX_MS,
  RETRY_BACKOFF_BASE_MS,
  RETRY_BACKOFF_MAX_MS,
  SEQ_MAX_WINDOW,
  SEQ_MIN_WINDOW
} from '../../src/constants.ts'
import {
  birthdaySuccessProbability,
  doomedBackoffMs,
  NAT_PORT_RANGE,
  predictionWindow,
  probesForSuccess,
  probingTimeMs,
  retryBackoffMs,
  sizeBirthday,
  syncStartDelayMs,
  windowBirthdaySuccessProbability
} from '../../src/punch/timing.ts'

describe('punch timing', () => {
  describe('start-time sync', () => {
    it('makes the initiator wait half the relayed RTT after sending SYNC', () => {
      expect(syncStartDelayMs('initiator', 120)).to.equal(60)
      expect(syncStartDelayMs('initiator', 0)).to.equal(0)
    })

    it('makes the responder start as soon as SYNC arrives', () => {
      expect(syncStartDelayMs('responder', 120)).to.equal(0)
    })
  })

  describe('birthday probability', () => {
    it('is zero without sockets or probes and one when every port is covered', () => {
      expect(birthdaySuccessProbability(0, 1000)).to.equal(0)
      expect(birthdaySuccessProbability(256, 0)).to.equal(0)
      expect(birthdaySuccessProbability(256, NAT_PORT_RANGE)).to.equal(1)
    })

    it('equals K/P for a single probe', () => {
      expect(birthdaySuccessProbability(256, 1)).to.be.closeTo(256 / NAT_PORT_RANGE, 1e-12)
    })

    it('matches the exact product for a small port range', () => {
      // P = 10, K = 2, n = 3: miss = 8/10 · 7/9 · 6/8
      expect(birthdaySuccessProbability(2, 3, 10)).to.be.closeTo(1 - (8 / 10) * (7 / 9) * (6 / 8), 1e-12)
    })

    it('is a little better than the with-replacement estimate 1-(1-K/P)^n', () => {
      const exact = birthdaySuccessProbability(256, 753)
      const approx = 1 - Math.pow(1 - 256 / NAT_PORT_RANGE, 753)

      expect(exact).to.be.at.least(approx)
      expect(exact - approx).to.be.below(0.002)
    })

    it('needs about 753 probes against 256 sockets for 95 %', () => {
      const n = probesForSuccess(0.95, 256)

      expect(n).to.be.within(740, 760)
      expect(birthdaySuccessProbability(256, n)).to.be.at.least(0.95)
      expect(birthdaySuccessProbability(256, n - 1)).to.be.below(0.95)
    })

    it('cannot reach any target without sockets', () => {
      expect(probesForSuccess(0.95, 0)).to.equal(Infinity)
    })

    it('reproduces hyperdht\'s numbers: 256 sockets and 1750 probes give > 99.9 %', () => {
      expect(birthdaySuccessProbability(256, 1750)).to.be.above(0.999)
    })
  })

  describe('birthday sizing', () => {
    it('picks the fewest sockets that reach 95 % in the time, and the probes for that', () => {
      const s = sizeBirthday({ targetSuccess: 0.95, probesPerSecond: 100, timeMs: 10_000, maxSockets: 256 })

      expect(s.success).to.be.at.least(0.95)
      expect(s.probes).to.be.at.most(1000)
      // one socket fewer would need more than 1000 probes
      expect(probesForSuccess(0.95, s.sockets - 1)).to.be.above(1000)
      expect(s.sockets).to.be.below(256)
    })

    it('opens every allowed socket and reports the lower success when the time is too short', () => {
      const s = sizeBirthday({ targetSuccess: 0.95, probesPerSecond: 100, timeMs: 2_000, maxSockets: 256 })

      expect(s.sockets).to.equal(256)
      expect(s.probes).to.equal(200)
      expect(s.success).to.be.below(0.95).and.above(0.5)
    })

    it('uses fewer sockets when given more time', () => {
      const short = sizeBirthday({ targetSuccess: 0.95, probesPerSecond: 100, timeMs: 10_000, maxSockets: 256 })
      const long = sizeBirthday({ targetSuccess: 0.95, probesPerSecond: 100, timeMs: 30_000, maxSockets: 256 })

      expect(long.sockets).to.be.below(short.sockets)
    })

    it('plans nothing when no socket may be opened', () => {
      expect(sizeBirthday({ targetSuccess: 0.95, probesPerSecond: 100, timeMs: 10_000, maxSockets: 0 })).to.deep.equal({ sockets: 0, probes: 0, success: 0 })
    })
  })

  describe('random ↔ sequential birthday', () => {
    it('scales with the prediction reliability', () => {
      const full = windowBirthdaySuccessProbability(65, 126, 1)

      expect(full).to.be.closeTo(1 - Math.pow(1 - 65 / NAT_PORT_RANGE, 126), 1e-12)
      expect(windowBirthdaySuccessProbability(65, 126, 0.5)).to.be.closeTo(full / 2, 1e-12)
    })
  })

  describe('prediction window', () => {
    it('is the minimum for a perfectly reliable, fresh observation', () => {
      expect(predictionWindow(1, 0)).to.equal(SEQ_MIN_WINDOW)
    })

    it('doubles when reliability halves', () => {
      expect(predictionWindow(0.5, 0)).to.equal(2 * predictionWindow(1, 0))
    })

    it('grows with the age of the observation, up to the maximum', () => {
      expect(predictionWindow(1, 20_000)).to.be.above(predictionWindow(1, 0))
      expect(predictionWindow(0.01, 3_600_000)).to.equal(SEQ_MAX_WINDOW)
    })
  })

  describe('backoff', () => {
    it('doubles per retry, with half of it random', () => {
      expect(retryBackoffMs(0, () => 0)).to.equal(RETRY_BACKOFF_BASE_MS / 2)
      expect(retryBackoffMs(0, () => 0.999999)).to.be.closeTo(RETRY_BACKOFF_BASE_MS, 1)
      expect(retryBackoffMs(3, () => 0)).to.equal(RETRY_BACKOFF_BASE_MS * 8 / 2)
    })

    it('never exceeds the maximum', () => {
      expect(retryBackoffMs(50, () => 0.999999)).to.be.at.most(RETRY_BACKOFF_MAX_MS)
    })

    it('keeps doomed pairs away longer after every further failure, up to the maximum', () => {
      expect(doomedBackoffMs(3)).to.equal(DOOMED_BACKOFF_BASE_MS)
      expect(doomedBackoffMs(4)).to.equal(2 * DOOMED_BACKOFF_BASE_MS)
      expect(doomedBackoffMs(40)).to.equal(DOOMED_BACKOFF_MAX_MS)
    })
  })

  it('computes the time to send probes in rounds', () => {
    expect(probingTimeMs(753, 2, 20)).to.equal(377 * 20)
    expect(probingTimeMs(0, 2, 20)).to.equal(0)
  })
})
