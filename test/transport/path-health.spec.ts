import { expect } from 'aegir/chai'
import { healthTickMs, PathHealth } from '../../src/transport/path-health.ts'

describe('path health', () => {
  it('checks every tenth of the dead timeout, between 20 and 500 ms', () => {
    expect(healthTickMs(5_000)).to.equal(500)
    expect(healthTickMs(60_000)).to.equal(500)
    expect(healthTickMs(1_500)).to.equal(150)
    expect(healthTickMs(100)).to.equal(20)
  })

  it('is alive while packets arrive, quiet after half the dead timeout, dead after all of it', () => {
    const health = new PathHealth({ deadTimeoutMs: 1_000, tickMs: 100, now: 0, packets: 0 })
    // the stream's packet counter: one packet at 100 ms, one at 700 ms
    const packetsAt = (t: number): number => [100, 700].filter(at => t >= at).length
    const expected: Record<number, string> = {
      100: 'alive',
      500: 'alive',
      600: 'quiet', // 500 ms since the packet at 100 ms
      700: 'alive',
      1_100: 'alive',
      1_200: 'quiet',
      1_600: 'quiet',
      1_700: 'dead'
    }

    // a check every tick, as the connection does
    for (let t = 100; t <= 1_700; t += 100) {
      const state = health.check(t, packetsAt(t)).state

      if (expected[t] != null) {
        expect(state, `at ${t} ms`).to.equal(expected[t])
      }
    }
  })

  it('counts a verified path response as a sign of life', () => {
    const health = new PathHealth({ deadTimeoutMs: 1_000, tickMs: 100, now: 0, packets: 0 })
    for (let t = 100; t <= 900; t += 100) {
      health.check(t, 0)
    }
    health.heard(950)
    for (let t = 1_000; t <= 1_900; t += 100) {
      expect(health.check(t, 0).state, `at ${t} ms`).to.not.equal('dead')
    }
    expect(health.check(2_000, 0).state).to.equal('dead')
  })

  it('never declares a path dead in a check that ran late, and asks for a new check at once', () => {
    const health = new PathHealth({ deadTimeoutMs: 1_000, tickMs: 100, now: 0, packets: 0 })
    health.check(100, 0)
    // the event loop stalled for 5 s: datagrams may wait unread
    const late = health.check(5_100, 0)
    expect(late).to.deep.include({ state: 'quiet', recheck: true })
    // the recheck, after the I/O phase, sees the packets that waited
    expect(health.check(5_101, 7).state).to.equal('alive')

    // and when nothing waited, the recheck is the verdict
    const other = new PathHealth({ deadTimeoutMs: 1_000, tickMs: 100, now: 0, packets: 0 })
    other.check(100, 0)
    expect(other.check(5_100, 0).recheck).to.be.true()
    expect(other.check(5_101, 0)).to.deep.include({ state: 'dead', recheck: false })
  })

  it('reports how long the path has been silent', () => {
    const health = new PathHealth({ deadTimeoutMs: 1_000, tickMs: 100, now: 0, packets: 3 })
    health.check(100, 4)
    expect(health.check(200, 4).silentMs).to.equal(100)
  })
})
