import { expect } from 'aegir/chai'
import {
  BIRTHDAY_PROBE_INTERVAL_MS,
  BIRTHDAY_PROBES_PER_ROUND,
  BIRTHDAY_TARGET_SUCCESS,
  BIRTHDAY_TARGET_TIME_MS,
  DEFAULT_PRIME_TTL,
  DIRECT_PROBE_INTERVAL_MS,
  IPV4_RACE_MAX_DELAY_MS,
  IPV4_RACE_MIN_DELAY_MS,
  LAN_BUDGET_MS,
  MAX_EXTRA_SOCKETS,
  MAX_TARGET_IPS_PER_SESSION,
  KNOWN_GOOD_MIN_BUDGET_MS,
  MIN_PUNCH_BUDGET_MS,
  PRIMING_DATAGRAMS_PER_SECOND,
  PUNCHED_PATH_KEEPALIVE_MS,
  RESPONDER_MAX_PLAN_RTT_MS,
  RESPONDER_RTT_TOLERANCE_FACTOR,
  RESPONDER_RTT_TOLERANCE_MS,
  UNKNOWN_BUDGET_MS
} from '../../src/constants.ts'
import { canonicalHost } from '../../src/nat/ip.ts'
import { checkSummaryWithinOwnPlan, classifyNat, ownPlanRttMs, pairClassOf, planFromSummary, planPair, planPeakRate, planPunch, planRefusalOf } from '../../src/punch/planner.ts'
import { expandTargets } from '../../src/punch/targets.ts'
import { candidate, input, NATS, NOW, PEER_FIXTURES, peer, profile, seeded } from './fixtures.ts'
import type { NatProfile } from '../../src/nat/nat-profile.ts'
import type { Candidate, HistoryAdvice, PairPlan, PairStrategy, PlanInput, PlanRefusal, PlanSummary, PunchPlan, PunchRole } from '../../src/punch/plan.ts'

const CONE_A = NATS.portRestricted('203.0.113.10', 40000)
const CONE_B = NATS.portRestricted('203.0.113.77', 41000)
const SEQ = NATS.symmetricSeq('198.51.100.20', 50000, 1, 1)
const SEQ_2 = NATS.symmetricSeq('198.51.100.21', 52000, 2, 1)
const RANDOM = NATS.symmetricRandom('198.51.100.30', 51234)
const RANDOM_2 = NATS.symmetricRandom('198.51.100.31', 52345)

interface Row {
  name: string
  a: NatProfile
  b: NatProfile
  strategy: PairStrategy
  /** roles of a and b, whichever initiates */
  roles: [PunchRole, PunchRole]
  /** candidates a announces besides its mappings */
  aCandidates?: Candidate[]
}

/** identify's observed address: all an unknown NAT may have to offer */
const OBSERVED = [candidate('198.51.100.40', 4040, 'observed')]

const TABLE: Row[] = [
  { name: 'public ↔ public', a: NATS.public('198.51.100.1'), b: NATS.public('198.51.100.2'), strategy: 'direct-cone', roles: ['both', 'both'] },
  { name: 'public ↔ symmetric random', a: NATS.public(), b: RANDOM, strategy: 'direct-cone', roles: ['both', 'both'] },
  { name: 'full cone ↔ symmetric random', a: NATS.fullCone(), b: RANDOM, strategy: 'direct-cone', roles: ['both', 'both'] },
  { name: 'port-restricted cone ↔ port-restricted cone', a: CONE_A, b: CONE_B, strategy: 'direct-cone', roles: ['both', 'both'] },
  { name: 'restricted cone ↔ symmetric random (ADF opens for the peer IP)', a: NATS.restricted(), b: RANDOM, strategy: 'direct-cone', roles: ['both', 'both'] },
  { name: 'port-restricted cone ↔ symmetric sequential', a: CONE_A, b: SEQ, strategy: 'predict-sequential', roles: ['predictor', 'predicted'] },
  { name: 'port-restricted cone ↔ symmetric random', a: CONE_A, b: RANDOM, strategy: 'birthday', roles: ['random-ports', 'many-sockets'] },
  { name: 'symmetric sequential ↔ symmetric sequential', a: SEQ, b: SEQ_2, strategy: 'predict-both', roles: ['both', 'both'] },
  { name: 'symmetric random ↔ symmetric sequential', a: RANDOM, b: SEQ, strategy: 'birthday', roles: ['many-sockets', 'random-ports'] },
  { name: 'symmetric random ↔ symmetric random', a: RANDOM, b: RANDOM_2, strategy: 'none-fallback', roles: ['none', 'none'] },
  { name: 'unknown ↔ port-restricted cone', a: NATS.unknown(), aCandidates: OBSERVED, b: CONE_A, strategy: 'direct-cone', roles: ['both', 'both'] },
  { name: 'unknown ↔ symmetric random', a: NATS.unknown(), aCandidates: OBSERVED, b: RANDOM, strategy: 'direct-cone', roles: ['both', 'both'] }
]

function sides (p: PairPlan): PunchPlan[] {
  return [p.initiator, p.responder]
}

function hosts (plan: PunchPlan): string[] {
  return plan.main.flatMap(s => s.kind === 'list' ? s.candidates.map(c => c.host) : [s.host])
}

/** every address a plan sends to: main and extra sockets, LAN */
function targetHosts (plan: PunchPlan): string[] {
  return [
    ...[...plan.main, ...plan.extra].flatMap(s => s.kind === 'list' ? s.candidates.map(c => c.host) : [s.host]),
    ...plan.lan.map(c => c.host),
    ...plan.ipv6.map(c => c.host)
  ]
}

function distinctIps (plan: PunchPlan): number {
  return new Set(targetHosts(plan).map(canonicalHost)).size
}

/** the refusal `fn` throws (it must throw a PlanRejectedError) */
function refusalOf (fn: () => unknown): PlanRefusal | undefined {
  try {
    fn()
  } catch (err) {
    expect(err).to.have.property('name', 'PlanRejectedError')
    return planRefusalOf(err)
  }

  return expect.fail('expected the summary to be refused')
}

/**
 * The same inputs as the responder sees them: its own RTT measurement, its
 * own history, a clock a little later
 */
function responderView (i: PlanInput, measuredRttMs: number, extra: Partial<PlanInput> = {}): PlanInput {
  return { ...i, rttMs: measuredRttMs, history: undefined, now: i.now + 40, ...extra }
}

function follow (summary: PlanSummary, view: PlanInput): PunchPlan {
  return planFromSummary(summary, view, 'responder', { enforceOwnLimits: true })
}

describe('punch planner', () => {
  describe('NAT classes', () => {
    it('treats a publicly reachable node and a trusted full cone as open', () => {
      expect(classifyNat(NATS.public())).to.equal('open')
      expect(classifyNat(NATS.fullCone())).to.equal('open')
    })

    it('does not trust an EIF classification with low confidence', () => {
      expect(classifyNat(profile({ filtering: 'EIF', confidence: 0.2 }))).to.equal('cone')
    })

    it('treats a reliable sequential or port-preserving symmetric NAT as predictable', () => {
      expect(classifyNat(SEQ)).to.equal('seq')
      expect(classifyNat(profile({ mapping: 'APDM', allocation: { kind: 'preserving' } }))).to.equal('seq')
    })

    it('treats an unreliable sequential NAT, or one without a known public address, as random', () => {
      expect(classifyNat(NATS.symmetricSeq(undefined, undefined, 1, 0.3))).to.equal('random')
      expect(classifyNat({ ...SEQ, publicAddresses: [] })).to.equal('random')
    })

    it('treats address-dependent mapping like address-and-port-dependent mapping', () => {
      expect(classifyNat(profile({ mapping: 'ADM', allocation: { kind: 'random' } }))).to.equal('random')
    })

    it('names a pair the same way from both sides', () => {
      expect(pairClassOf('random', 'cone')).to.equal(pairClassOf('cone', 'random'))
      expect(pairClassOf('random', 'cone')).to.equal('cone~random')
    })
  })

  describe('strategy by NAT pair', () => {
    for (const row of TABLE) {
      it(`plans ${row.strategy} for ${row.name}, with the same roles whichever peer initiates`, () => {
        const forward = planPair(input(peer(row.a, row.aCandidates), peer(row.b)))
        const backward = planPair(input(peer(row.b), peer(row.a, row.aCandidates)))

        expect(forward.summary.strategy).to.equal(row.strategy)
        expect([forward.initiator.role, forward.responder.role]).to.deep.equal(row.roles)
        expect(backward.summary.strategy).to.equal(row.strategy)
        expect([backward.responder.role, backward.initiator.role]).to.deep.equal(row.roles)
        // the same peer does the same work
        expect(backward.responder.extraSockets).to.equal(forward.initiator.extraSockets)
        expect(backward.initiator.extraSockets).to.equal(forward.responder.extraSockets)
      })
    }

    for (const row of TABLE.filter(r => r.strategy !== 'none-fallback')) {
      it(`gives both sides of ${row.name} the same budget and aims each at the other`, () => {
        const a = peer(row.a, row.aCandidates)
        const b = peer(row.b)
        const p = planPair(input(a, b))

        expect(p.initiator.budgetMs).to.equal(p.responder.budgetMs).and.to.equal(p.summary.budgetMs)
        expect(p.initiator.budgetMs).to.be.at.least(MIN_PUNCH_BUDGET_MS)
        expect(p.initiator.pairStrategy).to.equal(p.responder.pairStrategy)
        expect(p.initiator.pairClass).to.equal(p.responder.pairClass)

        const aHosts = new Set([...a.profile.publicAddresses.map(x => x.host), ...a.candidates.map(x => x.host)])
        const bHosts = new Set([...b.profile.publicAddresses.map(x => x.host), ...b.candidates.map(x => x.host)])

        for (const h of hosts(p.initiator)) {
          expect(bHosts.has(h), `initiator aims at ${h}`).to.equal(true)
        }

        for (const h of hosts(p.responder)) {
          expect(aHosts.has(h), `responder aims at ${h}`).to.equal(true)
        }
      })
    }

    it('gives up on random ↔ random at once, without probes', () => {
      const p = planPair(input(peer(RANDOM), peer(RANDOM_2)))

      for (const side of sides(p)) {
        expect(side.strategy).to.equal('none-fallback')
        expect(side.maxProbes).to.equal(0)
        expect(side.budgetMs).to.equal(0)
        expect(side.reason).to.match(/relay/)
      }
    })

    it('gives unknown NATs one short direct attempt', () => {
      const p = planPair(input(peer(NATS.unknown(), OBSERVED), peer(CONE_A), { rttMs: 100 }))

      expect(p.summary.budgetMs).to.equal(UNKNOWN_BUDGET_MS + 200)
      expect(p.initiator.reason).to.match(/unknown/)
    })
  })

  describe('direct-cone', () => {
    it('probes the peer\'s mapped address fast from the main socket, primed with a low TTL', () => {
      const { plan } = planPunch(input(peer(CONE_A), peer(CONE_B)), 'initiator')

      expect(plan.main).to.deep.equal([{ kind: 'list', candidates: [{ host: '203.0.113.77', port: 41000, family: 4, kind: 'public', source: 'nat-profile' }] }])
      expect(plan.extraSockets).to.equal(0)
      expect(plan.pacing.intervalMs).to.equal(50)
      expect(plan.priming).to.include({ enabled: true, ttl: DEFAULT_PRIME_TTL, onlyPrime: false })
      expect(plan.keepaliveIntervalMs).to.equal(PUNCHED_PATH_KEEPALIVE_MS)
    })

    it('gets a longer budget on a slower relay, up to its cap', () => {
      const fast = planPair(input(peer(CONE_A), peer(CONE_B), { rttMs: 20 })).summary.budgetMs
      const slow = planPair(input(peer(CONE_A), peer(CONE_B), { rttMs: 400 })).summary.budgetMs
      const crawl = planPair(input(peer(CONE_A), peer(CONE_B), { rttMs: 5000 })).summary.budgetMs

      expect(slow).to.be.above(fast)
      expect(crawl).to.equal(6000)
    })

    it('starts the initiator half an RTT after SYNC and the responder on receipt', () => {
      const p = planPair(input(peer(CONE_A), peer(CONE_B), { rttMs: 180 }))

      expect(p.initiator.pacing.startDelayMs).to.equal(90)
      expect(p.responder.pacing.startDelayMs).to.equal(0)
    })

    it('uses the lab\'s priming TTL when given', () => {
      const { plan } = planPunch(input(peer(CONE_A), peer(CONE_B), { options: { lowTtl: 2 } }), 'initiator')

      expect(plan.priming.ttl).to.equal(2)
    })

    it('probes the peer\'s other candidates after its mapping, without duplicates or unusable families', () => {
      const b = peer(CONE_B, [candidate('203.0.113.77', 41000, 'observed'), candidate('203.0.113.78', 41001, 'observed'), candidate('2001:db8::1', 4000, 'public')])
      const { plan } = planPunch(input(peer(CONE_A), b), 'initiator')
      const list = plan.main[0].kind === 'list' ? plan.main[0].candidates : []

      expect(list.map(c => `${c.host}:${c.port}`)).to.deep.equal(['203.0.113.77:41000', '203.0.113.78:41001'])
    })
  })

  describe('predict-sequential', () => {
    it('makes the cone probe a window of the sequential NAT\'s next ports and the sequential side send to the cone first', () => {
      const p = planPair(input(peer(CONE_A), peer(SEQ)))
      const window = p.initiator.main[0]

      expect(window).to.include({ kind: 'window', host: '198.51.100.20', first: 50001, step: 1 })
      expect(expandTargets(window, Math.random).map(t => t.port).slice(0, 3)).to.deep.equal([50001, 50002, 50003])
      expect(p.responder.main[0]).to.deep.include({ kind: 'list' })
      expect(p.responder.main[0].kind === 'list' && p.responder.main[0].candidates[0]).to.include({ host: '203.0.113.10', port: 40000 })
    })

    it('widens the window when the prediction is less reliable', () => {
      const sure = planPair(input(peer(CONE_A), peer(NATS.symmetricSeq(undefined, undefined, 1, 1)))).summary.window
      const unsure = planPair(input(peer(CONE_A), peer(NATS.symmetricSeq(undefined, undefined, 1, 0.5)))).summary.window

      expect(unsure).to.be.at.least(2 * sure - 1)
    })

    it('widens the window when the observation is old', () => {
      const fresh = planPair(input(peer(CONE_A), peer({ ...SEQ, observedAt: NOW }))).summary.window
      const stale = planPair(input(peer(CONE_A), peer({ ...SEQ, observedAt: NOW - 30_000 }))).summary.window

      expect(stale).to.be.above(fresh)
    })

    it('follows a delta other than 1', () => {
      const p = planPair(input(peer(CONE_A), peer(NATS.symmetricSeq('198.51.100.20', 50000, 4, 1))))

      expect(expandTargets(p.initiator.main[0], Math.random).map(t => t.port).slice(0, 3)).to.deep.equal([50004, 50008, 50012])
    })
  })

  describe('birthday against a cone', () => {
    it('makes the random side open extra sockets that only ever send low-TTL datagrams to the cone\'s mapping', () => {
      const p = planPair(input(peer(CONE_A), peer(RANDOM)))
      const many = p.responder

      expect(many.strategy).to.equal('birthday-many-sockets')
      expect(many.extraSockets).to.be.within(1, MAX_EXTRA_SOCKETS)
      expect(many.extra).to.deep.equal([{ kind: 'list', candidates: [{ host: '203.0.113.10', port: 40000, family: 4, kind: 'public', source: 'nat-profile' }] }])
      expect(many.priming).to.include({ enabled: true, onlyPrime: true })
      expect(many.priming.refreshMs).to.be.above(0).and.below(30_000)
    })

    it('makes the cone probe enough random ports of the random side\'s IP for 95 %', () => {
      const p = planPair(input(peer(CONE_A), peer(RANDOM)))
      const prober = p.initiator

      expect(prober.strategy).to.equal('birthday-probe-random-ports')
      expect(prober.main).to.deep.equal([{ kind: 'random-ports', host: '198.51.100.30', family: 4, count: p.summary.randomPorts }])
      expect(prober.expectedSuccess).to.be.at.least(BIRTHDAY_TARGET_SUCCESS)
      expect(prober.maxProbes).to.equal(p.summary.randomPorts)
      // the sockets are primed before the probes arrive
      expect(prober.pacing.startDelayMs).to.be.above(p.responder.pacing.startDelayMs)
      // every probe fits in the budget
      const probingMs = Math.ceil(prober.maxProbes / prober.pacing.probesPerRound) * prober.pacing.intervalMs

      expect(prober.pacing.startDelayMs + probingMs).to.be.at.most(prober.budgetMs)
    })

    it('opens no more sockets than the random side offered, and then reports the lower success honestly', () => {
      const p = planPair(input(peer(CONE_A), peer(RANDOM, [], 32)))

      expect(p.responder.extraSockets).to.equal(32)
      // all the probes that fit in BIRTHDAY_TARGET_TIME_MS at the birthday probe rate
      expect(p.summary.randomPorts).to.equal(BIRTHDAY_TARGET_TIME_MS / 1000 * BIRTHDAY_PROBES_PER_ROUND * 1000 / BIRTHDAY_PROBE_INTERVAL_MS)
      expect(p.initiator.expectedSuccess).to.be.below(BIRTHDAY_TARGET_SUCCESS).and.above(0.3)
    })

    it('falls back when the random side may not open any extra socket', () => {
      expect(planPair(input(peer(CONE_A), peer(RANDOM, [], 0))).summary.strategy).to.equal('none-fallback')
    })

    it('plans a full birthday when the cone\'s ADF filtering is not trusted', () => {
      const lowConfidence = { ...NATS.restricted(), confidence: 0.2 }

      expect(planPair(input(peer(lowConfidence), peer(RANDOM))).summary.strategy).to.equal('birthday')
    })
  })

  describe('random ↔ sequential', () => {
    it('primes the predicted window from the random side\'s sockets and probes that many random ports from the sequential side', () => {
      const p = planPair(input(peer(RANDOM), peer(SEQ)))

      expect(p.initiator.extra[0]).to.include({ kind: 'window', host: '198.51.100.20', count: p.summary.window })
      expect(p.initiator.priming.onlyPrime).to.equal(true)
      expect(p.responder.main[0]).to.include({ kind: 'random-ports', host: '198.51.100.30', count: p.summary.window })
      expect(p.initiator.extraSockets * p.summary.window).to.be.at.most(8192)
      expect(p.initiator.expectedSuccess).to.be.within(0.05, 0.2)
    })

    it('is not attempted when the sequential side is unpredictable', () => {
      expect(planPair(input(peer(RANDOM), peer(NATS.symmetricSeq(undefined, undefined, 1, 0.2)))).summary.strategy).to.equal('none-fallback')
    })
  })

  describe('predict-both', () => {
    it('makes each side probe the other\'s predicted window, with one shared window size', () => {
      const p = planPair(input(peer(SEQ), peer(SEQ_2)))

      expect(p.initiator.main[0]).to.include({ kind: 'window', host: '198.51.100.21', first: 52002, step: 2, count: p.summary.window })
      expect(p.responder.main[0]).to.include({ kind: 'window', host: '198.51.100.20', first: 50001, step: 1, count: p.summary.window })
      expect(p.initiator.pacing.probesPerRound).to.equal(p.summary.window)
    })
  })

  describe('peers behind the same public IP', () => {
    const lanA = peer(NATS.portRestricted('203.0.113.10', 40000), [candidate('192.168.1.10', 4001, 'lan')])
    const lanB = peer(NATS.portRestricted('203.0.113.10', 40001), [candidate('192.168.1.11', 4002, 'lan')])

    it('race LAN candidates alongside the NAT strategy', () => {
      const p = planPair(input(lanA, lanB))

      expect(p.summary.strategy).to.equal('direct-cone')
      expect(p.summary.raceLan).to.equal(true)
      expect(p.initiator.lan.map(c => c.host)).to.deep.equal(['192.168.1.11'])
      expect(p.responder.lan.map(c => c.host)).to.deep.equal(['192.168.1.10'])
      expect(p.initiator.reason).to.match(/LAN/)
    })

    it('try LAN only when their NATs cannot be punched', () => {
      const a = peer(NATS.symmetricRandom('203.0.113.10', 40000), [candidate('192.168.1.10', 4001, 'lan')])
      const b = peer(NATS.symmetricRandom('203.0.113.10', 40001), [candidate('192.168.1.11', 4002, 'lan')])
      const p = planPair(input(a, b))

      expect(p.summary.strategy).to.equal('lan')
      expect(p.summary.budgetMs).to.equal(LAN_BUDGET_MS)
      expect(p.initiator.main).to.deep.equal([])
      expect(p.initiator.lan.map(c => c.host)).to.deep.equal(['192.168.1.11'])
    })

    it('do not race LAN candidates of peers behind different public IPs', () => {
      const b = peer(NATS.portRestricted('203.0.113.99', 40001), [candidate('192.168.1.11', 4002, 'lan')])
      const p = planPair(input(lanA, b))

      expect(p.summary.raceLan).to.equal(false)
      expect(p.initiator.lan).to.deep.equal([])
    })
  })

  describe('dual-stack peers (the IPv6 race)', () => {
    const V6_A = candidate('2001:db8:1::10', 40000)
    const V6_B = candidate('2001:db8:2::10', 41000)
    const raced = (a: NatProfile, b: NatProfile, extra: Partial<PlanInput> = {}): PlanInput =>
      input(peer(a, [V6_A]), peer(b, [V6_B]), { ipv6Race: true, ...extra })

    it('race the peer\'s IPv6 candidates beside the IPv4 strategy, IPv6 first', () => {
      const p = planPair(raced(CONE_A, CONE_B, { rttMs: 120 }))

      expect(p.summary).to.include({ strategy: 'direct-cone', raceIpv6: true })
      expect(hosts(p.initiator)).to.deep.equal(['203.0.113.77'])
      expect(p.initiator.ipv6.map(c => c.host)).to.deep.equal(['2001:db8:2::10'])
      expect(p.responder.ipv6.map(c => c.host)).to.deep.equal(['2001:db8:1::10'])
      expect(p.initiator.pacing.ipv4DelayMs).to.equal(120)
    })

    it('punch over IPv6 alone when no IPv4 strategy exists', () => {
      const p = planPair(raced(RANDOM, RANDOM_2))

      expect(p.summary).to.include({ strategy: 'ipv6', initiatorRole: 'both', responderRole: 'both', raceIpv6: true })
      expect(p.initiator.main).to.deep.equal([])
      expect(p.initiator.extraSockets).to.equal(0)
      expect(p.initiator.ipv6.map(c => c.host)).to.deep.equal(['2001:db8:2::10'])
      expect(p.initiator.maxProbes).to.be.greaterThan(0)
    })

    it('punch over IPv6 when neither peer knows a public IPv4 address', () => {
      const p = planPair(raced(NATS.unknown(), NATS.unknown()))

      expect(p.summary.strategy).to.equal('ipv6')
    })

    it('keep IPv6 out of the IPv4 strategy: no IPv6 target in the main plan, no IPv6 prediction', () => {
      const seqWithV6 = { ...SEQ, publicAddresses: [{ host: '2001:db8:9::1', port: 50000, family: 6 as const }, ...SEQ.publicAddresses] }
      const p = planPair(raced(CONE_A, seqWithV6))

      expect(p.summary.strategy).to.equal('predict-sequential')
      expect(targetHosts(p.initiator).filter(h => h.includes(':') && !p.initiator.ipv6.some(c => c.host === h))).to.deep.equal([])
      expect(p.initiator.main[0]).to.include({ kind: 'window', host: '198.51.100.20' })
    })

    it('do not race without the feature on both sides', () => {
      const p = planPair(raced(CONE_A, CONE_B, { ipv6Race: false }))

      expect(p.summary.raceIpv6).to.equal(false)
      expect(p.initiator.ipv6).to.deep.equal([])
      expect(p.initiator.pacing.ipv4DelayMs).to.equal(0)
    })

    it('do not race when only one peer has IPv6', () => {
      const p = planPair(input(peer(CONE_A, [V6_A]), peer(CONE_B), { ipv6Race: true }))

      expect(p.summary.raceIpv6).to.equal(false)
      expect(p.initiator.ipv6).to.deep.equal([])
      expect(planPair(input(peer(RANDOM, [V6_A]), peer(RANDOM_2), { ipv6Race: true })).summary.strategy).to.equal('none-fallback')
    })

    it('race only public IPv6 addresses: no unique local, link-local, loopback or IPv4-mapped ones', () => {
      const b = peer(CONE_B, [candidate('fd00::1', 41000), candidate('fe80::1', 41000), candidate('::1', 41000), candidate('::ffff:203.0.113.9', 41000), V6_B])
      const p = planPair(input(peer(CONE_A, [V6_A]), b, { ipv6Race: true }))

      expect(p.initiator.ipv6.map(c => c.host)).to.deep.equal(['2001:db8:2::10'])
    })

    it('lets IPv4 wait the relayed RTT behind IPv6, within the happy-eyeballs bounds', () => {
      expect(planPair(raced(CONE_A, CONE_B, { rttMs: 5 })).initiator.pacing.ipv4DelayMs).to.equal(IPV4_RACE_MIN_DELAY_MS)
      expect(planPair(raced(CONE_A, CONE_B, { rttMs: 2_000 })).initiator.pacing.ipv4DelayMs).to.equal(IPV4_RACE_MAX_DELAY_MS)
    })

    it('counts raced IPv6 probes in the plan\'s maximum and its peak rate', () => {
      const withRace = planPair(raced(CONE_A, CONE_B))
      const without = planPair(input(peer(CONE_A), peer(CONE_B), { ipv6Race: true }))

      expect(withRace.initiator.maxProbes - without.initiator.maxProbes).to.equal(Math.ceil(withRace.initiator.budgetMs / DIRECT_PROBE_INTERVAL_MS))
      expect(planPeakRate(withRace.initiator) - planPeakRate(without.initiator)).to.equal(1000 / DIRECT_PROBE_INTERVAL_MS)
    })

    it('does not turn a history skip into an IPv6 punch', () => {
      const p = planPair(raced(RANDOM, RANDOM_2, { history: { skip: true, reason: 'failed 3 times', preferredKinds: [] } }))

      expect(p.summary.strategy).to.equal('none-fallback')
    })

    it('has the responder follow an honest IPv6 race and refuse one it would not run', () => {
      const i = raced(RANDOM, RANDOM_2)
      const pair = planPair(i)

      expect(follow(pair.summary, responderView(i, 100))).to.deep.include({ strategy: 'ipv6', ipv6: pair.responder.ipv6 })
      // the responder did not announce the feature: no race, whatever SYNC says
      expect(refusalOf(() => follow(pair.summary, responderView(i, 100, { ipv6Race: false })))).to.deep.equal({ source: 'structure', field: 'raceIpv6' })
      // an IPv6 race on top of a pair the responder would not race
      const single = input(peer(CONE_A, [V6_A]), peer(CONE_B), { ipv6Race: true })
      expect(refusalOf(() => follow({ ...planPair(single).summary, raceIpv6: true }, responderView(single, 100)))).to.deep.equal({ source: 'structure', field: 'raceIpv6' })
    })
  })

  describe('history', () => {
    it('skips a doomed pair without punching and says why', () => {
      const p = planPair(input(peer(CONE_A), peer(CONE_B), { history: { skip: true, reason: 'failed 3 times in a row', preferredKinds: [] } }))

      expect(p.summary.strategy).to.equal('none-fallback')
      expect(p.initiator.reason).to.match(/failed 3 times/)
    })

    it('shortens the budget of a pair that succeeded quickly before', () => {
      const normal = planPair(input(peer(CONE_A), peer(CONE_B))).summary.budgetMs
      const known = planPair(input(peer(CONE_A), peer(CONE_B), { history: { skip: false, reason: '', preferredKinds: [], budgetCapMs: 2500 } })).summary.budgetMs

      expect(known).to.equal(2500)
      expect(known).to.be.below(normal)
    })

    it('never shortens a cone budget below the known-good minimum', () => {
      const known = planPair(input(peer(CONE_A), peer(CONE_B), { history: { skip: false, reason: '', preferredKinds: [], budgetCapMs: 10 } })).summary.budgetMs

      expect(known).to.equal(KNOWN_GOOD_MIN_BUDGET_MS)
      expect(known).to.be.at.least(MIN_PUNCH_BUDGET_MS)
    })

    it('never shortens a prediction by a remembered fast success: its timing depends on other hosts\' allocations', () => {
      const normal = planPair(input(peer(SEQ), peer(NATS.symmetricSeq('198.51.100.31', 52000, 1, 1)))).summary
      const known = planPair(input(peer(SEQ), peer(NATS.symmetricSeq('198.51.100.31', 52000, 1, 1)), { history: { skip: false, reason: '', preferredKinds: [], budgetCapMs: 300 } })).summary

      expect(normal.strategy).to.equal('predict-both')
      expect(known.budgetMs).to.equal(normal.budgetMs)
    })

    it('sizes a birthday punch with more of its own sockets when history allows less time and the model still reaches the target', () => {
      const normal = planPair(input(peer(RANDOM), peer(CONE_A)))
      const short = planPair(input(peer(RANDOM), peer(CONE_A), { history: { skip: false, reason: '', preferredKinds: [], budgetCapMs: 9500 } }))

      expect(short.summary.budgetMs).to.be.below(normal.summary.budgetMs)
      expect(short.initiator.extraSockets).to.be.above(normal.initiator.extraSockets)
      expect(short.summary.randomPorts).to.be.below(normal.summary.randomPorts)
      expect(short.initiator.expectedSuccess).to.be.at.least(0.95)
    })

    it('never asks the responder for more sockets because of the initiator\'s history', () => {
      const normal = planPair(input(peer(CONE_A), peer(RANDOM)))
      const short = planPair(input(peer(CONE_A), peer(RANDOM), { history: { skip: false, reason: '', preferredKinds: [], budgetCapMs: 9500 } }))

      expect(short.summary).to.deep.equal(normal.summary)
    })

    it('keeps the full birthday budget when a history cap would drop the success below the target', () => {
      const normal = planPair(input(peer(CONE_A), peer(RANDOM)))
      const capped = planPair(input(peer(CONE_A), peer(RANDOM), { history: { skip: false, reason: '', preferredKinds: [], budgetCapMs: 6000 } }))

      expect(capped.summary.budgetMs).to.equal(normal.summary.budgetMs)
      expect(capped.initiator.expectedSuccess).to.be.at.least(0.95)
    })

    it('probes the candidate kinds that worked before first', () => {
      const b = peer(CONE_B, [candidate('198.51.100.99', 5000, 'observed')])
      const { plan } = planPunch(input(peer(CONE_A), b, { history: { skip: false, reason: '', preferredKinds: ['observed'], budgetCapMs: undefined } }), 'initiator')
      const list = plan.main[0].kind === 'list' ? plan.main[0].candidates : []

      expect(list[0]).to.include({ host: '198.51.100.99', kind: 'observed' })
    })
  })

  describe('the responder following SYNC', () => {
    for (const row of TABLE.filter(r => r.strategy !== 'none-fallback')) {
      it(`builds exactly the responder side the initiator planned for ${row.name}`, () => {
        const i = input(peer(row.a, row.aCandidates), peer(row.b))
        const pair = planPair(i)

        expect(planFromSummary(pair.summary, i, 'responder')).to.deep.equal(pair.responder)
      })
    }

    it('follows the initiator\'s history-shortened budget although its own history says nothing', () => {
      const initiatorView = input(peer(CONE_A), peer(CONE_B), { history: { skip: false, reason: '', preferredKinds: [], budgetCapMs: 2500 } })
      const responderView: PlanInput = { ...initiatorView, history: undefined }
      const { summary } = planPunch(initiatorView, 'initiator')

      expect(planFromSummary(summary, responderView, 'responder').budgetMs).to.equal(2500)
    })

    const i = input(peer(CONE_A), peer(RANDOM, [], 64))
    const good = planPair(i).summary
    const rejects: Array<[string, Partial<typeof good>]> = [
      ['a none-fallback strategy', { strategy: 'none-fallback', initiatorRole: 'none', responderRole: 'none' }],
      ['roles that do not fit the strategy', { initiatorRole: 'both' }],
      ['more extra sockets than the side offered', { responderExtraSockets: 65 }],
      ['extra sockets for a side that does not use them', { initiatorExtraSockets: 1 }],
      ['a budget below the minimum', { budgetMs: 10 }],
      ['a budget above the maximum', { budgetMs: 60_001 }],
      ['a birthday without random ports', { randomPorts: 0 }],
      ['a window above the maximum', { window: 257 }],
      ['a prediction of a NAT that is not predictable', { strategy: 'predict-sequential', initiatorRole: 'predictor', responderRole: 'predicted', responderExtraSockets: 0, window: 8 }]
    ]

    for (const [what, change] of rejects) {
      it(`rejects ${what}, blaming the summary's structure`, () => {
        expect(refusalOf(() => planFromSummary({ ...good, ...change }, i, 'responder'))).to.have.property('source', 'structure')
      })
    }

    it('rejects a birthday aimed at a peer without a public address', () => {
      const noAddress = input(peer({ ...CONE_A, publicAddresses: [] }), peer(RANDOM))

      expect(() => planFromSummary(good, noAddress, 'responder')).to.throw().with.property('name', 'PlanRejectedError')
    })
  })

  describe('inputs', () => {
    it('rejects a negative or non-finite RTT', () => {
      expect(() => planPair(input(peer(CONE_A), peer(CONE_B), { rttMs: -1 }))).to.throw().with.property('name', 'InvalidPlanInputError')
      expect(() => planPair(input(peer(CONE_A), peer(CONE_B), { rttMs: NaN }))).to.throw().with.property('name', 'InvalidPlanInputError')
    })

    it('rejects a socket limit outside 0..256', () => {
      expect(() => planPair(input(peer(CONE_A), peer(CONE_B, [], 257)))).to.throw().with.property('name', 'InvalidPlanInputError')
    })

    it('rejects a candidate port of 0', () => {
      expect(() => planPair(input(peer(CONE_A, [candidate('203.0.113.5', 0)]), peer(CONE_B)))).to.throw().with.property('name', 'InvalidPlanInputError')
    })

    it('is deterministic: the same inputs give the same plan', () => {
      const i = input(peer(CONE_A), peer(RANDOM))

      expect(planPair(i)).to.deep.equal(planPair(structuredClone(i)))
    })
  })

  describe('probe budgets', () => {
    it('never lets a plan send more than its stated maximum in its budget', () => {
      for (const row of TABLE) {
        const p = planPair(input(peer(row.a, row.aCandidates), peer(row.b)))

        for (const plan of sides(p)) {
          const rounds = Math.max(1, Math.ceil(Math.max(0, plan.budgetMs - plan.pacing.startDelayMs) / plan.pacing.intervalMs))
          const perRound = plan.pacing.probesPerRound * (1 + plan.extraSockets) + plan.lan.length
          const bound = plan.role === 'none' ? 0 : rounds * perRound + plan.pacing.probesPerRound

          expect(plan.maxProbes, `${row.name} ${plan.side}`).to.be.at.most(bound)
        }
      }
    })

    it('expands random ports reproducibly from the injected randomness', () => {
      const p = planPair(input(peer(CONE_A), peer(RANDOM)))
      const a = expandTargets(p.initiator.main[0], seeded(7))
      const b = expandTargets(p.initiator.main[0], seeded(7))

      expect(a).to.deep.equal(b)
      expect(new Set(a.map(t => t.port)).size).to.equal(a.length)
    })
  })
})

describe('punch planner against hostile peers', () => {
  const BAD: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'],
    ['::1', 'IPv6 loopback'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'IPv6 link-local'],
    ['224.0.0.251', 'multicast'],
    ['ff02::1', 'IPv6 multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'IPv6 unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:203.0.113.5', 'IPv4-mapped'],
    ['relay.example.com', 'unparsable']
  ]

  /** a port-restricted cone peer that claims `host` as its mapping and observed address */
  function liar (host: string, more: Candidate[] = []): ReturnType<typeof peer> {
    const family = host.includes(':') ? 6 : 4

    return peer(profile({ publicAddresses: [{ host, port: 40000, family }] }), [{ host, port: 40001, family, kind: 'observed', source: 'test' }, ...more])
  }

  describe('targets', () => {
    it('counts raced IPv6 addresses in the distinct-IP cap', () => {
      const many = Array.from({ length: 12 }, (_, k) => candidate(`2001:db8:7::${k + 1}`, 40000 + k))
      const p = planPair(input(peer(CONE_A, [candidate('2001:db8:1::10', 40000)]), peer(CONE_B, many), { ipv6Race: true }))

      expect(p.initiator.ipv6.length).to.be.greaterThan(0)
      expect(distinctIps(p.initiator)).to.be.at.most(MAX_TARGET_IPS_PER_SESSION)
    })

    for (const [host, what] of BAD) {
      it(`never targets a claimed ${what} public address (${host}), and falls back with a reason when it is all the peer has`, () => {
        for (const p of [planPair(input(peer(CONE_A), liar(host))), planPair(input(liar(host), peer(CONE_A)))]) {
          expect(p.summary.strategy).to.equal('none-fallback')
          expect(p.initiator.reason).to.match(/no usable candidate address/)
          expect(p.initiator.maxProbes).to.equal(0)
          expect(p.responder.maxProbes).to.equal(0)
        }
      })

      it(`probes the peer's usable address and skips its claimed ${what} one (${host})`, () => {
        const p = planPair(input(peer(CONE_A), liar(host, [candidate('203.0.113.50', 40002, 'observed')])))

        expect(p.summary.strategy).to.equal('direct-cone')
        expect(targetHosts(p.initiator)).to.deep.equal(['203.0.113.50'])
        expect(p.initiator.reason).to.match(/2 announced address\(es\) not targeted/)
      })
    }

    it('never aims a window, random ports or priming at a forbidden mapping: no punch at all', () => {
      const pairs = [
        input(peer(CONE_A), peer(NATS.symmetricSeq('127.0.0.1', 50000, 1, 1))),
        input(peer(CONE_A), peer(NATS.symmetricRandom('169.254.1.1', 51234))),
        input(peer(profile({ publicAddresses: [{ host: '224.0.0.1', port: 40000, family: 4 }] })), peer(RANDOM)),
        input(peer(NATS.symmetricSeq('::1', 50000, 1, 1)), peer(NATS.symmetricSeq('0.0.0.0', 52000, 2, 1))),
        input(peer(NATS.symmetricRandom('255.255.255.255', 51234)), peer(SEQ))
      ]

      for (const i of pairs) {
        const p = planPair(i)

        expect(p.summary.strategy).to.equal('none-fallback')
        expect(p.initiator.reason).to.match(/no usable/)
        expect([...targetHosts(p.initiator), ...targetHosts(p.responder)]).to.deep.equal([])
      }
    })

    it('never predicts from a forbidden newest mapping, even when an older one is usable', () => {
      const seq = NATS.symmetricSeq('127.0.0.1', 50000, 1, 1)
      const p = planPair(input(peer(CONE_A), peer({ ...seq, publicAddresses: [...seq.publicAddresses, { host: '198.51.100.20', port: 49999, family: 4 }] })))

      expect(p.summary.strategy).to.equal('none-fallback')
    })

    it('never probes a private address announced as a public or observed one', () => {
      const b = peer(CONE_B, [candidate('192.168.1.20', 4001, 'public'), candidate('100.64.1.1', 4002, 'observed'), candidate('fd00::1', 4003, 'public'), candidate('10.9.9.9', 4004, 'predicted')])
      const p = planPair(input(peer(CONE_A, [candidate('fd00::2', 4000, 'lan')]), b))

      expect(targetHosts(p.initiator)).to.deep.equal(['203.0.113.77'])
    })

    it('races a private LAN candidate only behind the same public IP, and never a loopback or link-local one', () => {
      const lanA = peer(CONE_A, [candidate('192.168.1.10', 4001, 'lan')])
      const lanB = (host: string): ReturnType<typeof peer> => peer(NATS.portRestricted(host, 40001), [candidate('127.0.0.1', 4002, 'lan'), candidate('169.254.3.3', 4003, 'lan'), candidate('192.168.1.11', 4004, 'lan')])

      const same = planPair(input(lanA, lanB('203.0.113.10')))
      expect(same.summary.raceLan).to.equal(true)
      expect(same.initiator.lan.map(c => c.host)).to.deep.equal(['192.168.1.11'])

      const different = planPair(input(lanA, lanB('203.0.113.11')))
      expect(different.summary.raceLan).to.equal(false)
      expect(targetHosts(different.initiator)).to.deep.equal(['203.0.113.11'])
    })

    it('does not take a shared private or forbidden "public" IP for a shared public IP', () => {
      for (const host of ['10.0.0.1', '127.0.0.1']) {
        const a = peer(profile({ publicAddresses: [{ host, port: 40000, family: 4 }] }), [candidate('192.168.1.10', 4001, 'lan')])
        const b = peer(profile({ publicAddresses: [{ host, port: 40001, family: 4 }] }), [candidate('192.168.1.11', 4002, 'lan')])
        const p = planPair(input(a, b))

        expect(p.summary.strategy, host).to.equal('none-fallback')
        expect(p.summary.raceLan, host).to.equal(false)
      }
    })

    it(`aims one side's plan at no more than ${MAX_TARGET_IPS_PER_SESSION} distinct IPs, LAN included, mapping first and one LAN IP kept`, () => {
      const a = peer(CONE_A, [candidate('192.168.1.10', 4001, 'lan')])
      const observed = [21, 22, 23, 24, 25, 26].map(n => candidate(`203.0.113.${n}`, 40000 + n, 'observed'))
      const lan = [31, 32, 33].map(n => candidate(`192.168.1.${n}`, 4000 + n, 'lan'))
      const b = peer(NATS.portRestricted('203.0.113.10', 40001), [...observed, ...lan])
      const p = planPair(input(a, b))

      expect(p.summary.raceLan).to.equal(true)
      expect(distinctIps(p.initiator)).to.equal(MAX_TARGET_IPS_PER_SESSION)
      expect(hosts(p.initiator)[0]).to.equal('203.0.113.10')
      expect(p.initiator.lan.map(c => c.host)).to.deep.equal(['192.168.1.31'])
      expect(p.initiator.reason).to.match(/not targeted/)
    })

    it(`keeps every plan of every fixture pair within ${MAX_TARGET_IPS_PER_SESSION} distinct IPs and public or LAN scope`, () => {
      for (const a of PEER_FIXTURES) {
        for (const b of PEER_FIXTURES) {
          const p = planPair(input(a.info(), b.info()))

          for (const plan of sides(p)) {
            expect(distinctIps(plan), `${a.name} ↔ ${b.name}`).to.be.at.most(MAX_TARGET_IPS_PER_SESSION)
            expect(plan.main.concat(plan.extra).flatMap(s => s.kind === 'list' ? s.candidates.map(c => c.host) : [s.host]).filter(h => !/^(203\.0\.113|198\.51\.100)\./.test(h))).to.deep.equal([])
          }
        }
      }
    })

    it('plans none-fallback with a reason when a side would have nothing to send, never a plan that only waits', () => {
      const addressless = peer(NATS.unknown(), [candidate('192.168.4.40', 4001, 'lan')])

      for (const p of [planPair(input(peer(CONE_A), addressless)), planPair(input(addressless, peer(RANDOM)))]) {
        expect(p.summary.strategy).to.equal('none-fallback')
        expect(p.initiator.reason).to.match(/no usable candidate address: the (initiator|responder) has nothing to probe/)
        expect(p.initiator.budgetMs).to.equal(0)
        expect(p.responder.budgetMs).to.equal(0)
      }
    })

    it('lets an open peer wait for the probes of a peer that announced no address: they reach it unasked', () => {
      const p = planPair(input(peer(NATS.public('198.51.100.1')), peer(NATS.unknown())))

      expect(p.summary.strategy).to.equal('direct-cone')
      expect(targetHosts(p.initiator)).to.deep.equal([])
      expect(targetHosts(p.responder)).to.deep.equal(['198.51.100.1'])
    })

    it('follows the lab\'s address scope override, on both sides', () => {
      const a = peer(NATS.portRestricted('10.0.0.1', 40000))
      const b = peer(NATS.portRestricted('10.0.0.2', 40001))
      const lab = { addressScope: (host: string) => host.startsWith('10.') ? 'public' as const : undefined }

      expect(planPair(input(a, b)).summary.strategy).to.equal('none-fallback')

      const i = input(a, b, { options: lab })
      const p = planPair(i)
      expect(p.summary.strategy).to.equal('direct-cone')
      expect(targetHosts(p.initiator)).to.deep.equal(['10.0.0.2'])
      expect(follow(p.summary, responderView(i, 100))).to.deep.equal(p.responder)
    })
  })

  describe('a responder holding the initiator to its own plan', () => {
    const RTTS = [0, 10, 50, 100, 250, 500, 1000, 2000, RESPONDER_MAX_PLAN_RTT_MS]
    const HISTORIES: Array<HistoryAdvice | undefined> = [
      undefined,
      { skip: false, reason: 'fast before', preferredKinds: [], budgetCapMs: 1500 },
      { skip: false, reason: 'fast before', preferredKinds: ['observed'], budgetCapMs: 9500 }
    ]
    /** the smallest measurement of ours whose tolerance still covers the initiator's RTT */
    const lowest = (rtt: number): number => Math.max(0, Math.ceil((rtt - RESPONDER_RTT_TOLERANCE_MS) / RESPONDER_RTT_TOLERANCE_FACTOR))

    /** how many honest summaries of `a` to `b` the responder accepted (it must accept every one) */
    const honestAccepted = (a: typeof PEER_FIXTURES[number], b: typeof PEER_FIXTURES[number]): number => {
      let accepted = 0

      for (const rtt of RTTS) {
        for (const history of HISTORIES) {
          const i = input(a.info(), b.info(), { rttMs: rtt, history })
          const pair = planPair(i)

          if (pair.summary.strategy === 'none-fallback') {
            continue
          }

          for (const measured of [rtt, lowest(rtt)]) {
            const what = `${a.name} → ${b.name}, RTT ${rtt} ms measured ${measured} ms, history ${history?.budgetCapMs ?? 'none'}`
            const plan = follow(pair.summary, responderView(i, measured))

            expect(plan.budgetMs, what).to.equal(pair.summary.budgetMs)

            if (history == null) {
              expect(plan, what).to.deep.equal(pair.responder)
            }

            accepted++
          }
        }
      }

      return accepted
    }

    for (const a of PEER_FIXTURES) {
      it(`accepts the honest summary of a ${a.name} initiator with every fixture responder, for RTTs up to ${RESPONDER_MAX_PLAN_RTT_MS} ms measured down to the tolerance`, () => {
        const accepted = PEER_FIXTURES.reduce((n, b) => n + honestAccepted(a, b), 0)

        expect(accepted).to.be.above(0)
      })
    }

    // the initiator's RTT is the most our tolerance allows: its honest plan
    // is exactly what we would accept, and one more of anything is refused
    const MEASURED = 100
    const atTolerance = { rttMs: ownPlanRttMs(MEASURED) }
    const coneRandom = input(peer(CONE_A), peer(RANDOM), atTolerance)
    const randomCone = input(peer(RANDOM), peer(CONE_A), atTolerance)
    const coneSeq = input(peer(CONE_A), peer(SEQ), atTolerance)
    const good = (i: PlanInput): PlanSummary => planPair(i).summary
    const refusals: Array<[string, PlanInput, (s: PlanSummary) => Partial<PlanSummary>, keyof PlanSummary]> = [
      ['more extra sockets for its side', coneRandom, s => ({ responderExtraSockets: s.responderExtraSockets + 1 }), 'responderExtraSockets'],
      ['a longer budget', coneRandom, s => ({ budgetMs: s.budgetMs + 1 }), 'budgetMs'],
      ['more random ports', randomCone, s => ({ randomPorts: s.randomPorts + 1 }), 'randomPorts'],
      ['a wider window', coneSeq, s => ({ window: s.window + 1 }), 'window'],
      ['another strategy', coneRandom, () => ({ strategy: 'direct-cone', initiatorRole: 'both', responderRole: 'both', responderExtraSockets: 0, randomPorts: 0 }), 'strategy'],
      ['swapped roles', coneSeq, () => ({ initiatorRole: 'predicted', responderRole: 'predictor' }), 'responderRole']
    ]

    for (const [what, i, change, field] of refusals) {
      it(`refuses a SYNC with ${what} than it would choose, blaming the peer`, () => {
        const summary = { ...good(i), ...change(good(i)) }

        expect(() => follow(good(i), responderView(i, MEASURED))).to.not.throw()
        expect(refusalOf(() => follow(summary, responderView(i, MEASURED)))).to.deep.equal({ source: 'limits', field })
        // the same summary passes the structural checks alone
        expect(() => planFromSummary(summary, responderView(i, MEASURED), 'responder')).to.not.throw()
      })
    }

    it('refuses any SYNC when its own decision is not to punch (random ↔ random)', () => {
      const i = input(peer(RANDOM), peer(RANDOM_2))
      const birthday: PlanSummary = { strategy: 'birthday', budgetMs: 5000, initiatorRole: 'random-ports', responderRole: 'many-sockets', initiatorExtraSockets: 0, responderExtraSockets: 64, window: 0, randomPorts: 500, raceLan: false, raceIpv6: false }
      let err: unknown

      try {
        checkSummaryWithinOwnPlan(birthday, responderView(i, 100))
      } catch (e) {
        err = e
      }

      expect(planRefusalOf(err)).to.deep.equal({ source: 'limits', field: 'strategy' })
      expect(err).to.have.property('message').that.matches(/a plan we would never choose/)
    })

    it('refuses a LAN race it would not choose (no shared public IP), with or without its own limits', () => {
      const i = input(peer(CONE_A, [candidate('192.168.1.10', 4001, 'lan')]), peer(CONE_B, [candidate('192.168.1.11', 4002, 'lan')]))
      const summary = { ...good(i), raceLan: true }

      expect(refusalOf(() => follow(summary, responderView(i, 100)))).to.deep.equal({ source: 'structure', field: 'raceLan' })
      expect(refusalOf(() => planFromSummary(summary, i, 'responder'))).to.deep.equal({ source: 'structure', field: 'raceLan' })
    })

    it('refuses a direct-cone SYNC that leaves it nothing to probe, even without its own limits', () => {
      const i = input(liar('127.0.0.1'), peer(CONE_B))
      const summary: PlanSummary = { strategy: 'direct-cone', budgetMs: 3400, initiatorRole: 'both', responderRole: 'both', initiatorExtraSockets: 0, responderExtraSockets: 0, window: 0, randomPorts: 0, raceLan: false, raceIpv6: false }

      expect(refusalOf(() => planFromSummary(summary, i, 'responder'))).to.have.property('source', 'structure')
      expect(refusalOf(() => follow(summary, responderView(i, 100)))).to.have.property('source', 'limits')
    })

    it('accepts an initiator\'s RTT up to twice its own measurement plus 100 ms, and refuses the budget of a longer one', () => {
      const i = input(peer(CONE_A), peer(CONE_B), { rttMs: 600 })
      const summary = good(i)

      expect(ownPlanRttMs(250)).to.equal(600)
      expect(follow(summary, responderView(i, 250)).budgetMs).to.equal(summary.budgetMs)
      expect(refusalOf(() => follow(summary, responderView(i, 249)))).to.deep.equal({ source: 'limits', field: 'budgetMs' })
    })

    it(`gives a peer that delays SYNC to inflate the measured RTT no more budget than an RTT of ${RESPONDER_MAX_PLAN_RTT_MS} ms`, () => {
      const slow = input(peer(CONE_A), peer(SEQ), { rttMs: 10_000 })
      const capped = input(peer(CONE_A), peer(SEQ), { rttMs: RESPONDER_MAX_PLAN_RTT_MS })

      expect(ownPlanRttMs(10_000)).to.equal(RESPONDER_MAX_PLAN_RTT_MS)
      expect(refusalOf(() => follow(good(slow), responderView(slow, 10_000)))).to.deep.equal({ source: 'limits', field: 'budgetMs' })
      expect(() => follow(good(capped), responderView(capped, 10_000))).to.not.throw()
    })

    it('refuses every SYNC while its own history says skip, and says the refusal is its own, not a punch failure', () => {
      const i = input(peer(CONE_A), peer(CONE_B))
      const history: HistoryAdvice = { skip: true, reason: 'failed 3 times in a row', preferredKinds: [], skipSource: 'peer' }
      let err: unknown

      try {
        follow(good(i), responderView(i, 100, { history }))
      } catch (e) {
        err = e
      }

      expect(planRefusalOf(err)).to.deep.equal({ source: 'history', field: 'strategy', skipSource: 'peer' })
      expect(err).to.have.property('message').that.matches(/our punch history/).and.matches(/failed 3 times/).and.matches(/NO_STRATEGY/)
    })

    it('blames the peer, not its own history, for a SYNC that asks too much anyway', () => {
      const i = input(peer(CONE_A), peer(CONE_B), atTolerance)
      const history: HistoryAdvice = { skip: true, reason: 'protocol violation', preferredKinds: [], skipSource: 'violation' }

      expect(refusalOf(() => follow({ ...good(i), budgetMs: good(i).budgetMs + 1 }, responderView(i, MEASURED, { history })))).to.deep.equal({ source: 'limits', field: 'budgetMs' })
    })

    it('still follows the LAN-only race that its own skip allows', () => {
      const a = peer(NATS.symmetricRandom('203.0.113.10', 40000), [candidate('192.168.1.10', 4001, 'lan')])
      const b = peer(NATS.symmetricRandom('203.0.113.10', 40001), [candidate('192.168.1.11', 4002, 'lan')])
      const i = input(a, b)
      const history: HistoryAdvice = { skip: true, reason: 'doomed class', preferredKinds: [], skipSource: 'class' }

      expect(good(i).strategy).to.equal('lan')
      expect(follow(good(i), responderView(i, 100, { history })).lan.map(c => c.host)).to.deep.equal(['192.168.1.10'])
    })

    it('does not refuse for its own history\'s budget cap: that only shortens what it would do', () => {
      const i = input(peer(CONE_A), peer(CONE_B))
      const history: HistoryAdvice = { skip: false, reason: '', preferredKinds: [], budgetCapMs: 1000 }

      expect(() => follow(good(i), responderView(i, 100, { history }))).to.not.throw()
    })

    it('keeps its own limits a responder\'s check: the initiator plans with planPair', () => {
      expect(() => planFromSummary(good(coneRandom), coneRandom, 'initiator', { enforceOwnLimits: true })).to.throw().with.property('name', 'InvalidPlanInputError')
    })
  })

  describe('pacing', () => {
    const pairs = [
      input(peer(CONE_A), peer(RANDOM)),
      input(peer(RANDOM), peer(CONE_A)),
      input(peer(CONE_A), peer(SEQ)),
      input(peer(SEQ), peer(SEQ_2)),
      input(peer(RANDOM), peer(SEQ)),
      input(peer(CONE_A), peer(CONE_B))
    ]
    const lower = (s: PlanSummary): Array<Partial<PlanSummary>> => [
      { budgetMs: Math.max(MIN_PUNCH_BUDGET_MS, s.budgetMs - 500) },
      { window: Math.max(s.strategy.startsWith('predict') ? 1 : 0, s.window - 1) },
      { randomPorts: Math.max(s.strategy === 'birthday' ? 1 : 0, s.randomPorts - 1) },
      { responderExtraSockets: Math.max(s.responderRole === 'many-sockets' ? 1 : 0, s.responderExtraSockets - 1) }
    ]

    it('takes its interval from the strategy and role: a summary that asks less never makes it faster', () => {
      for (const i of pairs) {
        const pair = planPair(i)

        for (const change of lower(pair.summary)) {
          const plan = follow({ ...pair.summary, ...change }, responderView(i, i.rttMs))

          expect(plan.pacing.intervalMs).to.equal(pair.responder.pacing.intervalMs)
          expect(plan.pacing.probesPerRound).to.be.at.most(pair.responder.pacing.probesPerRound)
          expect(planPeakRate(plan)).to.be.at.most(planPeakRate(pair.responder))
        }
      }
    })

    it('gives a peak rate of 200 datagrams per second for the birthday prober and 20 for one direct target', () => {
      expect(planPeakRate(planPair(input(peer(CONE_A), peer(RANDOM))).initiator)).to.equal(BIRTHDAY_PROBES_PER_ROUND * 1000 / BIRTHDAY_PROBE_INTERVAL_MS)
      expect(planPeakRate(planPunch(input(peer(CONE_A), peer(CONE_B)), 'initiator').plan)).to.equal(20)
    })

    it(`primes no faster than ${PRIMING_DATAGRAMS_PER_SECOND} datagrams per second, and a plan that does not punch sends none`, () => {
      const many = planPair(input(peer(RANDOM), peer(SEQ))).initiator

      expect(many.role).to.equal('many-sockets')
      expect(planPeakRate(many)).to.equal(PRIMING_DATAGRAMS_PER_SECOND)
      expect(planPeakRate(planPair(input(peer(RANDOM), peer(RANDOM_2))).initiator)).to.equal(0)
    })
  })
})
