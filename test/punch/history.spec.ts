import { expect } from 'aegir/chai'
import {
  DOOMED_BACKOFF_BASE_MS,
  DOOMED_BACKOFF_MAX_MS,
  DOOMED_CLASS_MIN_DISTINCT_PEERS,
  DOOMED_WINDOW_MS,
  HISTORY_MAX_PAIR_CLASSES,
  HISTORY_MAX_PEERS,
  HISTORY_OUTCOMES_PER_ENTRY,
  KNOWN_GOOD_BUDGET_FACTOR,
  KNOWN_GOOD_MIN_BUDGET_MS,
  MAX_ATTEMPT,
  RETRY_BACKOFF_BASE_MS,
  VIOLATION_BACKOFF_MS
} from '../../src/constants.ts'
import { PunchHistory } from '../../src/punch/history.ts'
import { planPair } from '../../src/punch/planner.ts'
import { input, NATS, NOW, peer } from './fixtures.ts'
import type { PunchOutcome } from '../../src/punch/history.ts'
import type { HistoryAdvice, PairClass } from '../../src/punch/plan.ts'

function outcome (o: Partial<PunchOutcome>): PunchOutcome {
  return { peer: 'peer-a', pairClass: 'cone~random', strategy: 'birthday', success: false, elapsedMs: 10_000, at: NOW, ...o }
}

/** `peer` failed a punch in `pairClass` at NOW + `dt` */
function fail (peer: string, dt: number, pairClass: PairClass = 'cone~random'): PunchOutcome {
  return outcome({ peer, pairClass, at: NOW + dt })
}

/** the fields of an advice a table row checks */
function skipOf (a: HistoryAdvice): Pick<HistoryAdvice, 'skip' | 'skipSource'> {
  return a.skipSource == null ? { skip: a.skip } : { skip: a.skip, skipSource: a.skipSource }
}

describe('punch history', () => {
  it('knows nothing about a new peer and gives neutral advice', () => {
    const h = new PunchHistory()

    expect(h.advise('peer-a', 'cone~cone', NOW)).to.deep.equal({ skip: false, reason: '', preferredKinds: [] })
  })

  describe('a NAT-pair class is doomed only by several distinct peers', () => {
    const rows: Array<{ story: string, failures: PunchOutcome[], ask: string, at: number, expected: Pick<HistoryAdvice, 'skip' | 'skipSource'>, classDoomed: boolean }> = [{
      story: 'one peer failing 10 times does not doom its class: a new peer of the class is punched',
      failures: Array.from({ length: 10 }, (_, i) => fail('liar', i)),
      ask: 'honest',
      at: NOW + 10,
      expected: { skip: false },
      classDoomed: false
    }, {
      story: 'one peer failing 10 times dooms that peer',
      failures: Array.from({ length: 10 }, (_, i) => fail('liar', i)),
      ask: 'liar',
      at: NOW + 10,
      expected: { skip: true, skipSource: 'peer' },
      classDoomed: false
    }, {
      story: 'two distinct peers failing, however often, do not doom their class',
      failures: Array.from({ length: 10 }, (_, i) => fail(i % 2 === 0 ? 'p1' : 'p2', i)),
      ask: 'honest',
      at: NOW + 10,
      expected: { skip: false },
      classDoomed: false
    }, {
      story: 'three distinct peers failing within the window doom their class for every peer',
      failures: [fail('p1', 0), fail('p2', 1000), fail('p3', 2000)],
      ask: 'honest',
      at: NOW + 3000,
      expected: { skip: true, skipSource: 'class' },
      classDoomed: true
    }, {
      story: 'three distinct peers failing spread wider than the window do not doom their class',
      failures: [fail('p1', 0), fail('p2', DOOMED_WINDOW_MS), fail('p3', 2 * DOOMED_WINDOW_MS + 1)],
      ask: 'honest',
      at: NOW + 2 * DOOMED_WINDOW_MS + 2,
      expected: { skip: false },
      classDoomed: false
    }, {
      story: 'three distinct peers failing in another class do not doom this one',
      failures: [fail('p1', 0, 'cone~cone'), fail('p2', 1, 'cone~cone'), fail('p3', 2, 'cone~cone')],
      ask: 'honest',
      at: NOW + 3,
      expected: { skip: false },
      classDoomed: false
    }]

    for (const row of rows) {
      it(row.story, () => {
        const h = new PunchHistory()

        row.failures.forEach(f => { h.record(f) })

        expect(skipOf(h.advise(row.ask, 'cone~random', row.at))).to.deep.equal(row.expected)
        expect(h.pairClass('cone~random')?.doomed ?? false).to.equal(row.classDoomed)
      })
    }

    it('says why and until when a doomed class is skipped', () => {
      const h = new PunchHistory()

      h.record(fail('p1', 0))
      h.record(fail('p2', 1000))
      expect(h.advise('p4', 'cone~random', NOW + 2000).skip).to.equal(false)

      h.record(fail('p3', 2000))
      const advice = h.advise('p4', 'cone~random', NOW + 3000)

      expect(advice.skip).to.equal(true)
      expect(advice.skipSource).to.equal('class')
      expect(advice.retryAt).to.equal(NOW + 2000 + DOOMED_BACKOFF_BASE_MS)
      expect(advice.reason).to.match(new RegExp(`NAT pair cone~random failed with ${DOOMED_CLASS_MIN_DISTINCT_PEERS} distinct peers`))
    })

    it('a doomed class recovers after its backoff, and a new distinct peer failing again doubles the backoff', () => {
      const h = new PunchHistory()

      h.record(fail('p1', 0))
      h.record(fail('p2', 1))
      h.record(fail('p3', 2))

      const retry = NOW + 2 + DOOMED_BACKOFF_BASE_MS

      expect(h.advise('p4', 'cone~random', retry - 1).skip).to.equal(true)
      expect(h.advise('p4', 'cone~random', retry).skip).to.equal(false)

      h.record(fail('p4', DOOMED_BACKOFF_BASE_MS + 2))
      expect(h.advise('p5', 'cone~random', retry + 1).retryAt).to.equal(retry + 2 * DOOMED_BACKOFF_BASE_MS)
    })

    it('a peer that already failed cannot renew a class skip once it has ended, however often it fails', () => {
      const h = new PunchHistory()

      h.record(fail('p1', 0))
      h.record(fail('p2', 1))
      h.record(fail('liar', 2))

      const retry = NOW + 2 + DOOMED_BACKOFF_BASE_MS

      for (let i = 0; i < 10; i++) {
        h.record(outcome({ peer: 'liar', at: retry + i }))
      }

      expect(h.advise('honest', 'cone~random', retry + 10).skip).to.equal(false)
    })

    it('failures recorded while the class is skipped neither count nor renew the skip (a skip recorded as a failure is harmless)', () => {
      const h = new PunchHistory()

      h.record(fail('p1', 0))
      h.record(fail('p2', 1))
      h.record(fail('p3', 2))

      // every refused peer recorded as failing during the skip
      for (let i = 0; i < 100; i++) {
        h.record(fail(`refused-${i}`, 1000 + i))
      }

      const retry = NOW + 2 + DOOMED_BACKOFF_BASE_MS

      expect(h.advise('honest', 'cone~random', retry - 1).retryAt).to.equal(retry)
      expect(h.advise('honest', 'cone~random', retry).skip).to.equal(false)
      expect(h.pairClass('cone~random')?.failingPeers).to.equal(3)
    })

    it('the attack that doomed every class in 267 ms: 9 sessions of one peer declaring each class doom none of them', () => {
      const h = new PunchHistory()
      const classes: PairClass[] = ['open~cone', 'cone~cone', 'cone~seq', 'cone~random', 'random~random']

      for (const pairClass of classes) {
        for (let i = 0; i < 9; i++) {
          h.record(outcome({ peer: 'attacker', pairClass, at: NOW + i * 30 }))
        }
      }

      for (const pairClass of classes) {
        expect(h.advise('honest', pairClass, NOW + 267).skip, pairClass).to.equal(false)
      }

      expect(h.advise('attacker', 'cone~cone', NOW + 267).skipSource).to.equal('peer')
    })

    it('doubles the class backoff each time new peers fail again, up to the maximum', () => {
      const h = new PunchHistory()
      const backoffs: number[] = []
      let t = 0

      for (let k = 0; backoffs.length < 10; k++) {
        h.record(fail(`p${k}`, t))
        const a = h.advise('x', 'cone~random', NOW + t)

        if (a.skip) {
          backoffs.push((a.retryAt ?? 0) - NOW - t)
          t = (a.retryAt ?? 0) - NOW
        }
      }

      expect(backoffs).to.deep.equal([1, 2, 4, 8, 16, 32, 60, 60, 60, 60].map(m => Math.min(DOOMED_BACKOFF_MAX_MS, m * DOOMED_BACKOFF_BASE_MS)))
    })
  })

  it('allows one attempt with a doomed peer after the backoff and doubles the backoff when it fails again', () => {
    const h = new PunchHistory()

    for (let i = 0; i < 3; i++) {
      h.record(outcome({ at: NOW + i }))
    }

    const retry = NOW + 2 + DOOMED_BACKOFF_BASE_MS

    expect(h.advise('peer-a', 'cone~random', retry).skip).to.equal(false)
    h.record(outcome({ at: retry }))

    const advice = h.advise('peer-a', 'cone~random', retry + 1)
    expect(advice.retryAt).to.equal(retry + 2 * DOOMED_BACKOFF_BASE_MS)
    expect(advice.skipSource).to.equal('peer')
  })

  describe('a protocol violation stops punches with that peer only', () => {
    const rows: Array<{ story: string, ask: string, at: number, expected: Pick<HistoryAdvice, 'skip' | 'skipSource'> }> = [{
      story: 'the violator is skipped at once',
      ask: 'violator',
      at: NOW,
      expected: { skip: true, skipSource: 'violation' }
    }, {
      story: 'the violator is still skipped just before the ban ends',
      ask: 'violator',
      at: NOW + VIOLATION_BACKOFF_MS - 1,
      expected: { skip: true, skipSource: 'violation' }
    }, {
      story: 'the violator may be punched again once the ban ends',
      ask: 'violator',
      at: NOW + VIOLATION_BACKOFF_MS,
      expected: { skip: false }
    }, {
      story: 'another peer of the same class is punched',
      ask: 'honest',
      at: NOW,
      expected: { skip: false }
    }]

    for (const row of rows) {
      it(row.story, () => {
        const h = new PunchHistory()

        h.recordViolation('violator', NOW)

        expect(skipOf(h.advise(row.ask, 'cone~random', row.at))).to.deep.equal(row.expected)
      })
    }

    it('no retry for the violator until the ban ends, retries as usual for the others', () => {
      const h = new PunchHistory()

      h.record(outcome({ peer: 'violator', at: NOW }))
      h.record(outcome({ peer: 'honest', at: NOW }))
      h.recordViolation('violator', NOW + 1)

      expect(h.nextRetry('violator', NOW + 2, () => 0)).to.deep.include({ retry: false, retryAt: NOW + 1 + VIOLATION_BACKOFF_MS, delayMs: VIOLATION_BACKOFF_MS - 1 })
      expect(h.nextRetry('honest', NOW + 2, () => 0).retry).to.equal(true)
      expect(h.nextRetry('violator', NOW + 1 + VIOLATION_BACKOFF_MS, () => 0).retry).to.equal(true)
    })

    it('says why and names the violation even when the peer is also doomed, with the later retry time', () => {
      const h = new PunchHistory()

      for (let i = 0; i < 3; i++) {
        h.record(outcome({ peer: 'violator', at: NOW + i }))
      }

      h.recordViolation('violator', NOW + 3)
      const advice = h.advise('violator', 'cone~random', NOW + 4)

      expect(advice.skipSource).to.equal('violation')
      expect(advice.reason).to.match(/peer violator broke the protocol/)
      expect(advice.retryAt).to.equal(NOW + 3 + VIOLATION_BACKOFF_MS)
    })

    it('a violation is not a failure: it dooms neither the peer\'s class nor its outcomes', () => {
      const h = new PunchHistory()

      for (let i = 0; i < 10; i++) {
        h.recordViolation(`v${i}`, NOW + i)
      }

      expect(h.pairClassCount).to.equal(0)
      expect(h.peerCount).to.equal(0)
      expect(h.advise('honest', 'cone~random', NOW + 10).skip).to.equal(false)
    })

    it('the ban length is configurable', () => {
      const h = new PunchHistory({ violationBackoffMs: 5_000 })

      h.recordViolation('violator', NOW)

      expect(h.advise('violator', 'cone~random', NOW + 4_999).skip).to.equal(true)
      expect(h.advise('violator', 'cone~random', NOW + 5_000).skip).to.equal(false)
    })
  })

  it('bounded memory under 100k sybil peers failing and breaking the protocol', () => {
    const h = new PunchHistory()
    const classes: PairClass[] = ['open~cone', 'cone~cone', 'cone~seq', 'cone~random', 'random~random']

    for (let i = 0; i < 100_000; i++) {
      h.record(outcome({ peer: `sybil-${i}`, pairClass: classes[i % classes.length], at: NOW + i }))
      h.recordViolation(`sybil-${i}`, NOW + i)
    }

    expect(h.peerCount).to.equal(HISTORY_MAX_PEERS)
    expect(h.violatorCount).to.equal(HISTORY_MAX_PEERS)
    expect(h.pairClassCount).to.be.at.most(HISTORY_MAX_PAIR_CLASSES)

    for (const pairClass of classes) {
      expect(h.pairClass(pairClass)?.outcomes.length).to.equal(HISTORY_OUTCOMES_PER_ENTRY)
      expect(h.pairClass(pairClass)?.failingPeers).to.be.at.most(HISTORY_OUTCOMES_PER_ENTRY)
    }
  })

  it('forgets a doomed state after a success', () => {
    const h = new PunchHistory()

    for (let i = 0; i < 3; i++) {
      h.record(outcome({ at: NOW + i }))
    }

    h.record(outcome({ success: true, elapsedMs: 4000, at: NOW + 10 }))

    expect(h.advise('peer-a', 'cone~random', NOW + 11).skip).to.equal(false)
    expect(h.peer('peer-a')?.consecutiveFailures).to.equal(0)
  })

  it('skips a single peer that keeps failing although its pair class is fine, and says it was the peer', () => {
    const h = new PunchHistory()

    h.record(outcome({ peer: 'good', success: true, at: NOW, elapsedMs: 500 }))

    for (let i = 0; i < 3; i++) {
      h.record(outcome({ peer: 'bad', pairClass: 'cone~cone', strategy: 'direct-cone', at: NOW + i }))
    }

    h.record(outcome({ peer: 'good', pairClass: 'cone~cone', strategy: 'direct-cone', success: true, at: NOW + 5, elapsedMs: 300 }))

    expect(skipOf(h.advise('bad', 'cone~cone', NOW + 10))).to.deep.equal({ skip: true, skipSource: 'peer' })
    expect(h.advise('good', 'cone~cone', NOW + 10).skip).to.equal(false)
  })

  it('caps the budget of a peer that succeeded before at a multiple of its slowest success', () => {
    const h = new PunchHistory()

    h.record(outcome({ success: true, elapsedMs: 800, at: NOW }))
    h.record(outcome({ success: true, elapsedMs: 1200, at: NOW + 1 }))

    expect(h.advise('peer-a', 'cone~random', NOW + 2).budgetCapMs).to.equal(KNOWN_GOOD_BUDGET_FACTOR * 1200)
  })

  it('does not cap the budget when the latest attempt failed', () => {
    const h = new PunchHistory()

    h.record(outcome({ success: true, elapsedMs: 800, at: NOW }))
    h.record(outcome({ success: false, at: NOW + 1 }))

    expect(h.advise('peer-a', 'x~y' as any, NOW + 2).budgetCapMs).to.equal(undefined)
  })

  it('caps a new peer\'s budget from its pair class only after successes with three distinct peers', () => {
    const h = new PunchHistory()

    h.record(outcome({ peer: 'p1', success: true, elapsedMs: 1000, at: NOW }))
    h.record(outcome({ peer: 'p2', success: true, elapsedMs: 2000, at: NOW }))
    h.record(outcome({ peer: 'p2', success: true, elapsedMs: 100, at: NOW }))
    h.record(outcome({ peer: 'p2', success: true, elapsedMs: 100, at: NOW }))
    expect(h.advise('new', 'cone~random', NOW).budgetCapMs).to.equal(undefined)

    h.record(outcome({ peer: 'p3', success: true, elapsedMs: 1500, at: NOW }))
    expect(h.advise('new', 'cone~random', NOW).budgetCapMs).to.equal(KNOWN_GOOD_BUDGET_FACTOR * 2000)
  })

  it('prefers the candidate kinds that won with this peer, most recent first', () => {
    const h = new PunchHistory()

    h.record(outcome({ success: true, winningKind: 'public', at: NOW }))
    h.record(outcome({ success: true, winningKind: 'lan', at: NOW + 1 }))
    h.record(outcome({ success: true, winningKind: 'lan', at: NOW + 2 }))

    expect(h.advise('peer-a', 'cone~random', NOW + 3).preferredKinds).to.deep.equal(['lan', 'public'])
  })

  it('evicts the least recently used peer when full', () => {
    const h = new PunchHistory({ maxPeers: 2 })

    h.record(outcome({ peer: 'p1' }))
    h.record(outcome({ peer: 'p2' }))
    h.advise('p1', 'cone~random', NOW) // p1 is now the most recent
    h.record(outcome({ peer: 'p3' }))

    expect(h.peerCount).to.equal(2)
    expect(h.peer('p1')).to.not.equal(undefined)
    expect(h.peer('p2')).to.equal(undefined)
    expect(h.peer('p3')).to.not.equal(undefined)
  })

  it('keeps a bounded number of outcomes per entry', () => {
    const h = new PunchHistory({ maxOutcomes: 4 })

    for (let i = 0; i < 10; i++) {
      h.record(outcome({ at: NOW + i }))
    }

    expect(h.peer('peer-a')?.outcomes.map(o => o.at)).to.deep.equal([NOW + 6, NOW + 7, NOW + 8, NOW + 9])
    expect(h.peer('peer-a')?.consecutiveFailures).to.equal(10)
  })

  it('bounds the pair classes too', () => {
    const h = new PunchHistory({ maxPairClasses: 1 })

    h.record(outcome({ pairClass: 'cone~cone' }))
    h.record(outcome({ pairClass: 'cone~seq' }))

    expect(h.pairClassCount).to.equal(1)
    expect(h.pairClass('cone~cone')).to.equal(undefined)
  })

  it('backs retries off exponentially with jitter and swaps roles each time', () => {
    const h = new PunchHistory()

    h.record(outcome({ at: NOW }))
    const first = h.nextRetry('peer-a', NOW, () => 0)

    expect(first).to.deep.equal({ retry: true, delayMs: RETRY_BACKOFF_BASE_MS / 2, retryAt: NOW + RETRY_BACKOFF_BASE_MS / 2, attempt: 0, swapRoles: true })

    h.record(outcome({ at: NOW + 1 }))
    expect(h.nextRetry('peer-a', NOW, () => 0).delayMs).to.equal(RETRY_BACKOFF_BASE_MS)
    expect(h.nextRetry('peer-a', NOW, () => 0.5).delayMs).to.equal(RETRY_BACKOFF_BASE_MS * 1.5)
  })

  it('stops retrying after the maximum number of attempts', () => {
    const h = new PunchHistory()

    for (let i = 0; i <= MAX_ATTEMPT; i++) {
      h.record(outcome({ at: NOW + i * DOOMED_WINDOW_MS * 2 }))
    }

    expect(h.nextRetry('peer-a', NOW, () => 0).retry).to.equal(false)
  })

  it('does not retry a peer that never failed', () => {
    expect(new PunchHistory().nextRetry('peer-a', NOW, () => 0).retry).to.equal(false)
  })

  it('returns copies, so callers cannot change what is remembered', () => {
    const h = new PunchHistory()

    h.record(outcome({}))
    const view = h.peer('peer-a')
    ;(view?.outcomes as PunchOutcome[]).pop()

    expect(h.peer('peer-a')?.outcomes).to.have.length(1)
  })

  it('rejects nonsense outcomes and limits', () => {
    expect(() => new PunchHistory({ maxPeers: 0 })).to.throw().with.property('name', 'InvalidPlanInputError')
    expect(() => new PunchHistory({ maxViolators: 0 })).to.throw().with.property('name', 'InvalidPlanInputError')
    expect(() => new PunchHistory({ violationBackoffMs: -1 })).to.throw().with.property('name', 'InvalidPlanInputError')
    expect(() => new PunchHistory().record(outcome({ elapsedMs: -1 }))).to.throw().with.property('name', 'InvalidPlanInputError')
    expect(() => { new PunchHistory().recordViolation('p', Number.NaN) }).to.throw().with.property('name', 'InvalidPlanInputError')
  })

  it('feeds the planner: a doomed pair is not punched, a known-good one gets a shorter budget', () => {
    const h = new PunchHistory()
    const i = input(peer(NATS.portRestricted()), peer(NATS.symmetricRandom()))
    const normal = planPair(i)

    for (let k = 0; k < 3; k++) {
      h.record(outcome({ peer: `p${k}`, pairClass: normal.initiator.pairClass, at: NOW + k }))
    }

    expect(planPair({ ...i, history: h.advise('peer-a', normal.initiator.pairClass, NOW + 10) }).summary.strategy).to.equal('none-fallback')

    // and so is a banned peer, whatever its class
    h.recordViolation('banned', NOW)
    expect(planPair({ ...i, history: h.advise('banned', 'cone~cone', NOW + 10) }).summary.strategy).to.equal('none-fallback')

    // a deterministic pair (cone ~ cone) gets a shorter budget after a success
    const cone = input(peer(NATS.portRestricted()), peer(NATS.portRestricted()))
    const coneNormal = planPair(cone)
    const h2 = new PunchHistory()
    h2.record(outcome({ peer: 'peer-a', pairClass: coneNormal.initiator.pairClass, success: true, elapsedMs: 200 }))
    const known = planPair({ ...cone, history: h2.advise('peer-a', coneNormal.initiator.pairClass, NOW + 10) })

    expect(known.summary.budgetMs).to.be.at.most(Math.max(KNOWN_GOOD_MIN_BUDGET_MS, KNOWN_GOOD_BUDGET_FACTOR * 200))
    expect(known.summary.budgetMs).to.be.below(coneNormal.summary.budgetMs)
  })

  it('does not cut a birthday punch below the time its success model needs, however fast the last success was', () => {
    const i = input(peer(NATS.portRestricted()), peer(NATS.symmetricRandom()))
    const normal = planPair(i)
    const h = new PunchHistory()
    h.record(outcome({ peer: 'peer-a', pairClass: normal.initiator.pairClass, success: true, elapsedMs: 1200 }))
    const known = planPair({ ...i, history: h.advise('peer-a', normal.initiator.pairClass, NOW + 10) })

    expect(known.summary.strategy).to.equal('birthday')
    expect(known.initiator.expectedSuccess).to.be.at.least(0.95)
    expect(known.summary.budgetMs).to.equal(normal.summary.budgetMs)
  })
})
