import { expect } from 'aegir/chai'
import {
  DOOMED_BACKOFF_BASE_MS,
  DOOMED_WINDOW_MS,
  KNOWN_GOOD_BUDGET_FACTOR,
  MAX_ATTEMPT,
  RETRY_BACKOFF_BASE_MS
} from '../../src/constants.ts'
import { PunchHistory } from '../../src/punch/history.ts'
import { planPair } from '../../src/punch/planner.ts'
import { input, NATS, NOW, peer } from './fixtures.ts'
import type { PunchOutcome } from '../../src/punch/history.ts'

function outcome (o: Partial<PunchOutcome>): PunchOutcome {
  return { peer: 'peer-a', pairClass: 'cone~random', strategy: 'birthday', success: false, elapsedMs: 10_000, at: NOW, ...o }
}

describe('punch history', () => {
  it('knows nothing about a new peer and gives neutral advice', () => {
    const h = new PunchHistory()

    expect(h.advise('peer-a', 'cone~cone', NOW)).to.deep.equal({ skip: false, reason: '', preferredKinds: [] })
  })

  it('skips a NAT-pair class after three failures within the window, and says when to try again', () => {
    const h = new PunchHistory()

    h.record(outcome({ peer: 'p1', at: NOW }))
    h.record(outcome({ peer: 'p2', at: NOW + 1000 }))
    expect(h.advise('p4', 'cone~random', NOW + 2000).skip).to.equal(false)

    h.record(outcome({ peer: 'p3', at: NOW + 2000 }))
    const advice = h.advise('p4', 'cone~random', NOW + 3000)

    expect(advice.skip).to.equal(true)
    expect(advice.retryAt).to.equal(NOW + 2000 + DOOMED_BACKOFF_BASE_MS)
    expect(advice.reason).to.match(/NAT pair cone~random failed 3 times/)
  })

  it('does not doom a pair whose failures are spread wider than the window', () => {
    const h = new PunchHistory()

    h.record(outcome({ at: NOW }))
    h.record(outcome({ at: NOW + DOOMED_WINDOW_MS }))
    h.record(outcome({ at: NOW + 2 * DOOMED_WINDOW_MS + 1 }))

    expect(h.advise('other', 'cone~random', NOW + 2 * DOOMED_WINDOW_MS + 2).skip).to.equal(false)
  })

  it('allows one attempt after the backoff and doubles the backoff when it fails again', () => {
    const h = new PunchHistory()

    for (let i = 0; i < 3; i++) {
      h.record(outcome({ at: NOW + i }))
    }

    const retry = NOW + 2 + DOOMED_BACKOFF_BASE_MS

    expect(h.advise('peer-a', 'cone~random', retry).skip).to.equal(false)
    h.record(outcome({ at: retry }))
    expect(h.advise('peer-a', 'cone~random', retry + 1).retryAt).to.equal(retry + 2 * DOOMED_BACKOFF_BASE_MS)
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

  it('skips a single peer that keeps failing although its pair class is fine', () => {
    const h = new PunchHistory()

    h.record(outcome({ peer: 'good', success: true, at: NOW, elapsedMs: 500 }))

    for (let i = 0; i < 3; i++) {
      h.record(outcome({ peer: 'bad', pairClass: 'cone~cone', strategy: 'direct-cone', at: NOW + i }))
    }

    h.record(outcome({ peer: 'good', pairClass: 'cone~cone', strategy: 'direct-cone', success: true, at: NOW + 5, elapsedMs: 300 }))

    expect(h.advise('bad', 'cone~cone', NOW + 10).skip).to.equal(true)
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

  it('caps a new peer\'s budget from its pair class only after three successes', () => {
    const h = new PunchHistory()

    h.record(outcome({ peer: 'p1', success: true, elapsedMs: 1000, at: NOW }))
    h.record(outcome({ peer: 'p2', success: true, elapsedMs: 2000, at: NOW }))
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
    expect(() => new PunchHistory().record(outcome({ elapsedMs: -1 }))).to.throw().with.property('name', 'InvalidPlanInputError')
  })

  it('feeds the planner: a doomed pair is not punched, a known-good one gets a shorter budget', () => {
    const h = new PunchHistory()
    const i = input(peer(NATS.portRestricted()), peer(NATS.symmetricRandom()))
    const normal = planPair(i)

    for (let k = 0; k < 3; k++) {
      h.record(outcome({ peer: `p${k}`, pairClass: normal.initiator.pairClass, at: NOW + k }))
    }

    expect(planPair({ ...i, history: h.advise('peer-a', normal.initiator.pairClass, NOW + 10) }).summary.strategy).to.equal('none-fallback')

    // a deterministic pair (cone ~ cone) gets a shorter budget after a success
    const cone = input(peer(NATS.portRestricted()), peer(NATS.portRestricted()))
    const coneNormal = planPair(cone)
    const h2 = new PunchHistory()
    h2.record(outcome({ peer: 'peer-a', pairClass: coneNormal.initiator.pairClass, success: true, elapsedMs: 200 }))
    const known = planPair({ ...cone, history: h2.advise('peer-a', coneNormal.initiator.pairClass, NOW + 10) })

    expect(known.summary.budgetMs).to.be.at.most(Math.max(1_000, KNOWN_GOOD_BUDGET_FACTOR * 200))
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
