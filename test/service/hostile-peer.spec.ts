/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { isUdxMultiaddr } from '../../src/index.ts'
import { Abort } from '../../src/protocol/coordination.ts'
import {
  abortReasonOf,
  acceptablePlan,
  claimedNat,
  claimOf,
  coordinationStreamsOf,
  createSybils,
  describeReply,
  eventually,
  HostilePeer,
  INVALID_FIRST_MESSAGES,
  LARGEST_PLAN_CLAIM,
  largestPlan,
  loopbackIsPublic,
  PunchWatch,
  SocketWatch,
  syncMessage,
  Victim,
  wireCandidate
} from '../fixtures/hostile-peer.ts'
import { createPeer, createRelay, relayStunServer, reserveOnRelay, udxTransportOf } from '../fixtures/relay-network.ts'
import type { HolePunchInit } from '../../src/index.ts'
import type { CoordinationStream, LargestPlan, SessionOutcome, VictimInit } from '../fixtures/hostile-peer.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Hostile peers against a node that runs holePunch() (issue 8, "Tests that
 * would catch a regression"). Each hostile peer is a real libp2p node that
 * reaches the node through a circuit relay on loopback and writes the
 * coordination messages itself (test/fixtures/hostile-peer.ts).
 *
 * What is measured:
 * - the victim: plain UDP sockets on a fresh 127.0.0.x address, bound on
 * every port the lie can aim at (a block of consecutive ports); for random
 * ports, which no block covers, the kernel's count of datagrams to closed
 * ports (Udp NoPorts) is added, an upper bound;
 * - the attacker's bytes: every TCP payload byte it sent towards the relay
 * from its first dial (Noise, yamux, identify, the relay's HOP protocol
 * and the coordination streams), counted by a proxy in front of the relay.
 * The coordination bytes alone (length prefixes included) are reported
 * too;
 * - sockets: the node's udx socket pool (`pool.socketCount`) and the UDP
 * sockets of the whole test process (/proc/self/fd), above their counts
 * before the attack;
 * - slots: `getActivePunches()`, sampled every 50 ms.
 *
 * Unless a test says otherwise the node runs the package defaults, with the
 * relay as its STUN server and the test override of the address rules
 * (127.0.0.0/8 counts as public), so that the budgets are what stops the
 * attack, not the address rules.
 */

const SESSION_MAX_DATAGRAMS = 10_000
const MAX_AMPLIFICATION = 10
/** no slot outlives this, whatever the peer does (issue 8) */
const SLOT_DEADLINE_MS = 75_000
const DEFAULT_MAX_INBOUND_PUNCHES = 4
const LARGEST_PLANS: LargestPlan[] = ['predictor', 'many-sockets', 'random-ports']
const STREAM_END = { eof: 'closed', reset: 'reset', timeout: 'left open' } as const

function report (what: string, figures: Record<string, unknown>): void {
  console.log(`      [hostile-peer] ${what}: ${Object.entries(figures).map(([k, v]) => `${k}=${String(v)}`).join(', ')}`)
}

async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

function isDirect (connection: Connection | undefined): boolean {
  return connection != null && connection.status === 'open' && connection.limits == null && isUdxMultiaddr(connection.remoteAddr)
}

describe('a node that runs holePunch() against hostile peers reaching it through a relay', function () {
  this.timeout(60_000)

  let relay: RelayNode
  let node: PeerNode
  let nodeCircuit: Multiaddr
  let teardown: Array<() => Promise<void>> = []

  beforeEach(async () => {
    relay = await createRelay()
  })

  afterEach(async () => {
    for (const step of teardown.reverse()) {
      await step().catch(() => {})
    }
    teardown = []
    await node?.stop()
    await relay?.stop()
  })

  /** the node under test: package defaults, the test override, and `init` */
  async function startNode (init: HolePunchInit = {}, options: { stun?: boolean } = {}): Promise<PeerNode> {
    node = await createPeer({
      addressScope: loopbackIsPublic,
      ...(options.stun === false ? {} : { stunServers: [relayStunServer(relay)] }),
      ...init
    })
    nodeCircuit = await reserveOnRelay(node, relay)
    // let the start-up NAT discovery (which opens fresh sockets) finish
    await node.services.holePunch.refreshNat()
    return node
  }

  /** an honest peer with the package defaults (and the test override) */
  async function honestPeer (): Promise<{ peer: PeerNode, circuit: Multiaddr }> {
    const peer = await createPeer({ addressScope: loopbackIsPublic, stunServers: [relayStunServer(relay)] })
    teardown.push(async () => { await peer.stop() })
    const circuit = await reserveOnRelay(peer, relay)
    await peer.services.holePunch.refreshNat()
    return { peer, circuit }
  }

  async function hostile (): Promise<HostilePeer> {
    const peer = await HostilePeer.create({ relay, target: node })
    teardown.push(async () => { await peer.stop() })
    return peer
  }

  async function sybils (count: number): Promise<HostilePeer[]> {
    const peers = await createSybils(count, { relay, target: node })
    teardown.push(async () => { await Promise.all(peers.map(async p => { await p.stop() })) })
    return peers
  }

  async function victim (init: VictimInit = {}): Promise<Victim> {
    const v = await Victim.create(init)
    teardown.push(async () => { await v.close() })
    return v
  }

  function holds (peer: HostilePeer): boolean {
    return node.services.holePunch.getActivePunches().some(p => p.peer.equals(peer.peerId))
  }

  describe('a peer that claims a victim\'s address as its public mapping', () => {
    const victimPorts: Record<LargestPlan, number> = { predictor: 256, 'random-ports': 1, 'many-sockets': 256 }

    LARGEST_PLANS.forEach(kind => {
      it(`gets ABORT PLAN_REJECTED when it asks for the largest ${kind} plan, and the victim receives at most 10,000 datagrams and 10× the attacker's bytes`, async () => {
        await startNode({ maxExtraSocketsTotal: 16 })
        const target = await victim({ ports: victimPorts[kind], countClosedPorts: kind === 'random-ports' })
        const attacker = await hostile()
        const sockets = await new SocketWatch(node).start()

        const outcome = await attacker.lie({
          nat: LARGEST_PLAN_CLAIM[kind],
          victim: target.addresses(40),
          plan: answer => largestPlan(kind, answer.answer?.maxExtraSockets ?? 256)
        })
        // watch until the node's session with the attacker ends (or 15 s)
        const ended = await eventually(() => !holds(attacker), 15_000)
        await target.quiet(300, 2_000)
        sockets.stop()
        const received = await target.total()

        report(`largest ${kind} plan`, {
          reply: outcome.answer != null ? 'ANSWER' : describeReply(outcome.refusal),
          afterSync: describeReply(outcome.afterSync),
          victimDatagrams: received.datagrams,
          victimBytes: received.bytes,
          closedPortDatagrams: received.closedPorts,
          attackerWireBytes: attacker.wireBytes,
          attackerCoordinationBytes: attacker.coordinationBytes,
          ratioToWire: (received.bytes / attacker.wireBytes).toFixed(1),
          peakExtraPoolSockets: sockets.peakPoolExtra,
          peakExtraProcessUdpSockets: sockets.peakProcessExtra,
          sessionEnded: ended
        })

        expect(outcome.answer, `the node answers the OFFER (127.0.0.0/8 is public under the test override), got ${describeReply(outcome.refusal)}`).to.exist()
        expect(describeReply(outcome.afterSync)).to.equal('ABORT PLAN_REJECTED')
        expect(received.datagrams).to.be.at.most(SESSION_MAX_DATAGRAMS)
        expect(received.bytes).to.be.at.most(MAX_AMPLIFICATION * attacker.wireBytes)
        expect(sockets.peakPoolExtra, 'extra sockets in the node\'s pool').to.be.at.most(16)
        expect(sockets.peakProcessExtra, 'extra UDP sockets of the process').to.be.at.most(16)
        expect(ended, 'the session ended within 15 s').to.be.true()
      })
    })

    it('that asks for the plan our node would choose itself makes the node send the victim at most 10,000 datagrams and 10× the attacker\'s bytes, and the session ends within its budget', async () => {
      await startNode()
      const target = await victim({ ports: 40 })
      const attacker = await hostile()

      const outcome = await attacker.lie({ nat: 'open', victim: target.addresses(40), plan: () => acceptablePlan(), replyTimeoutMs: 500 })
      const ended = await eventually(() => !holds(attacker), 15_000)
      await target.quiet(300, 2_000)
      const received = await target.total()
      const heldMs = outcome.syncSentAt == null ? 0 : performance.now() - outcome.syncSentAt

      report('the plan our node would choose, aimed at a victim', {
        reply: outcome.answer != null ? 'ANSWER' : describeReply(outcome.refusal),
        afterSync: describeReply(outcome.afterSync),
        victimDatagrams: received.datagrams,
        victimBytes: received.bytes,
        attackerWireBytes: attacker.wireBytes,
        attackerCoordinationBytes: attacker.coordinationBytes,
        ratioToWire: (received.bytes / attacker.wireBytes).toFixed(1),
        ratioToCoordination: (received.bytes / Math.max(1, attacker.coordinationBytes)).toFixed(1),
        sessionEndedAfterMs: Math.round(heldMs)
      })

      expect(outcome.answer, `the node answers the OFFER, got ${describeReply(outcome.refusal)}`).to.exist()
      expect(abortReasonOf(outcome.afterSync), 'the node follows a plan it would choose itself').to.not.equal('PLAN_REJECTED')
      expect(received.datagrams, 'the session ran and probed the claimed addresses').to.be.above(0)
      expect(received.datagrams).to.be.at.most(SESSION_MAX_DATAGRAMS)
      expect(received.bytes).to.be.at.most(MAX_AMPLIFICATION * attacker.wireBytes)
      expect(ended, 'the session ended within 15 s of SYNC').to.be.true()
    })

    it('never makes one session send more than maxSessionDatagrams', async () => {
      await startNode({ maxSessionDatagrams: 100 })
      const target = await victim({ ports: 40 })
      const attacker = await hostile()

      const outcome = await attacker.lie({ nat: 'open', victim: target.addresses(40), plan: () => acceptablePlan(), replyTimeoutMs: 500 })
      await eventually(() => !holds(attacker), 15_000)
      await target.quiet(300, 2_000)

      report('maxSessionDatagrams 100', { reply: outcome.answer != null ? 'ANSWER' : describeReply(outcome.refusal), victimDatagrams: target.datagrams })

      expect(outcome.answer, `the node answers the OFFER, got ${describeReply(outcome.refusal)}`).to.exist()
      expect(target.datagrams).to.be.above(0)
      expect(target.datagrams).to.be.at.most(100)
    })

    it('from 8 sybils at once gets at most maxInboundPunches sessions at a time and at most maxProbesPerSecond datagrams per second across them', async () => {
      const rate = 400
      await startNode({ maxProbesPerSecond: rate })
      const target = await victim({ ports: 40 })
      const peers = await sybils(8)
      const sybilIds = new Set(peers.map(p => p.peerId.toString()))
      const watch = new PunchWatch(node, peer => sybilIds.has(peer.toString())).start()
      const startedAt = performance.now()

      const outcomes = await Promise.all(peers.map(async p => p.lie({ nat: 'open', victim: target.addresses(40), plan: () => acceptablePlan(), replyTimeoutMs: 500 })))
      await eventually(() => peers.every(p => !holds(p)), 20_000)
      await target.quiet(300, 2_000)
      watch.stop()
      const durationS = (performance.now() - startedAt) / 1000

      report('8 sybils at once', {
        answered: outcomes.filter(o => o.answer != null).length,
        refused: outcomes.filter(o => o.answer == null).map(o => describeReply(o.refusal)).join('|'),
        peakInboundSessions: watch.peakResponders,
        victimDatagrams: target.datagrams,
        peak1s: target.peakRate(1_000),
        peak3s: target.peakRate(3_000),
        durationS: durationS.toFixed(1)
      })

      expect(outcomes.filter(o => o.answer != null).length, 'some sessions ran').to.be.at.least(1)
      expect(target.datagrams).to.be.above(0)
      expect(watch.peakResponders).to.be.at.most(DEFAULT_MAX_INBOUND_PUNCHES)
      // a token bucket of `rate` per second with a burst of `rate` lets at
      // most burst + rate × window through in any window; the victim counts
      // in 100 ms slots, so a window may span 100 ms more
      expect(target.peakRate(1_000)).to.be.at.most(rate + rate * 1.1)
      expect(target.peakRate(3_000)).to.be.at.most(rate + rate * 3.1)
      expect(target.datagrams).to.be.at.most(8 * SESSION_MAX_DATAGRAMS)
    })

    it('with the default address rules never gets a datagram sent to a claimed 127.0.0.1 public or LAN candidate', async () => {
      await startNode({ addressScope: undefined })
      const target = await victim({ host: '127.0.0.1', ports: 40 })
      const attacker = await hostile()

      // 1. 127.0.0.1 claimed as public mappings and candidates
      const claimedPublic = await attacker.lie({ nat: 'open', victim: target.addresses(40), plan: () => acceptablePlan(), replyTimeoutMs: 500 })

      // 2. 127.0.0.1 as LAN candidates (in OFFER and in SYNC), raced with raceLan
      const lan = target.addresses(16).map(a => wireCandidate(a, 'lan'))
      const claimedLan: SessionOutcome = await attacker.offer({ nat: claimedNat('open'), candidates: lan })
      if (claimedLan.answer != null) {
        await claimedLan.stream.send(syncMessage(claimedLan.keys.sessionId, { ...acceptablePlan(), raceLan: true }, lan))
        claimedLan.afterSync = await claimedLan.stream.read(500)
      }

      await eventually(() => !holds(attacker), 10_000)
      await delay(500)

      report('default address rules, 127.0.0.1 claims', {
        publicClaim: `${claimedPublic.answer != null ? 'ANSWER' : describeReply(claimedPublic.refusal)} / ${describeReply(claimedPublic.afterSync)}`,
        lanClaim: `${claimedLan.answer != null ? 'ANSWER' : describeReply(claimedLan.refusal)} / ${describeReply(claimedLan.afterSync)}`,
        victimDatagrams: target.datagrams
      })

      expect(target.datagrams).to.equal(0)
    })
  })

  describe('peers that complete the coordination and never speak Noise', () => {
    it('hold at most maxInboundPunches slots, each released within the deadline, while our own connect() to an honest peer gets a direct connection', async function () {
      this.timeout(SLOT_DEADLINE_MS + 40_000)
      await startNode()
      const honest = await honestPeer()
      const peers = await sybils(8)
      const sybilIds = new Set(peers.map(p => p.peerId.toString()))
      const watch = new PunchWatch(node, peer => sybilIds.has(peer.toString())).start()
      const sockets = await new SocketWatch(node).start()
      const nodeUdx = udxTransportOf(node).getListenSockets()[0].address()

      const outcomes = await Promise.all(peers.map(async p => p.completeThenGoSilent({ responder: await p.probeResponder(), nodeUdx })))
      const accepted = outcomes.filter(o => o.answer != null).length
      const upgrading = await eventually(() => [...watch.slots.values()].some(r => r.phases.has('upgrading')), 5_000)

      // our own connect() is not starved by inbound punches
      const connectStarted = performance.now()
      const ours = await node.services.holePunch.connect(honest.circuit, { signal: AbortSignal.timeout(20_000) }).then(c => c, (err: Error) => err)
      const connectMs = performance.now() - connectStarted

      const syncs = outcomes.map(o => o.syncSentAt).filter((t): t is number => t != null)
      const firstSync = Math.min(...syncs)
      const released = accepted === 0 || await eventually(() => peers.every(p => !holds(p)), Math.max(0, SLOT_DEADLINE_MS + 5_000 - (performance.now() - firstSync)))
      watch.stop()
      sockets.stop()
      const longestHeldMs = Math.max(0, ...peers.map(p => watch.heldMs(p.peerId)))

      report('8 sybils silent after SELECT', {
        answered: accepted,
        reachedUpgrading: upgrading,
        peakInboundSlots: watch.peakResponders,
        longestHeldMs: Math.round(longestHeldMs),
        allReleased: released,
        ourConnect: ours instanceof Error ? `${ours.name} after ${Math.round(connectMs)} ms` : `${isDirect(ours) ? 'direct' : 'not direct'} in ${Math.round(connectMs)} ms`,
        peakExtraPoolSockets: sockets.peakPoolExtra
      })

      expect(accepted, 'the node answered some of the OFFERs').to.be.at.least(1)
      expect(upgrading, 'a silent peer got a slot into the upgrade (it selected a path)').to.be.true()
      expect(watch.peakResponders).to.be.at.most(DEFAULT_MAX_INBOUND_PUNCHES)
      expect(ours).to.not.be.an('error')
      expect(isDirect(ours as Connection), 'our connect() resolved with a direct udx connection').to.be.true()
      expect(released, `every slot released within ${SLOT_DEADLINE_MS} ms`).to.be.true()
      expect(longestHeldMs).to.be.at.most(SLOT_DEADLINE_MS)
      expect(await eventually(() => sockets.poolExtraNow() <= 0, 5_000), 'no extra socket left in the pool').to.be.true()
    })
  })

  describe('abort loops', () => {
    it('from 9 sybils that declare an honest peer\'s NAT class and ABORT right after SYNC do not stop a later punch with that honest peer', async () => {
      await startNode()
      const honest = await honestPeer()
      const sink = await victim({ ports: 1 })
      const nat = claimedNat(claimOf(honest.peer.services.holePunch.getNatProfile()), sink.addresses(1))
      const peers = await sybils(9)
      const startedAt = performance.now()
      let answered = 0

      // three rounds: 27 sessions, 3 per sybil (below any per-peer rate)
      for (let round = 0; round < 3; round++) {
        const outcomes = await Promise.all(peers.map(async p => p.abortAfterSync({ nat, reason: Abort.Reason.TIMEOUT })))
        answered += outcomes.filter(o => o.answer != null).length
      }

      const loopMs = performance.now() - startedAt
      await eventually(() => peers.every(p => !holds(p)), 5_000)

      const connectStarted = performance.now()
      const connection = await node.services.holePunch.connect(honest.circuit, { signal: AbortSignal.timeout(20_000) }).then(c => c, (err: Error) => err)
      const connectMs = performance.now() - connectStarted

      report('abort loops from 9 sybils', {
        declaredClass: claimOf(honest.peer.services.holePunch.getNatProfile()),
        sessionsAnswered: `${answered}/27`,
        loopMs: Math.round(loopMs),
        laterConnect: connection instanceof Error ? `${connection.name}: ${connection.message} after ${Math.round(connectMs)} ms` : `${isDirect(connection) ? 'direct' : 'not direct'} in ${Math.round(connectMs)} ms`
      })

      expect(answered, 'the node ran the sybils\' sessions up to SYNC').to.be.at.least(9)
      expect(connection).to.not.be.an('error')
      expect(isDirect(connection as Connection), 'the later connect() resolved with a direct udx connection').to.be.true()
    })
  })

  describe('invalid messages', () => {
    it(`answers each of the ${INVALID_FIRST_MESSAGES.length} kinds of invalid first message with the ABORT the protocol prescribes and closes the stream`, async function () {
      this.timeout(90_000)
      await startNode({}, { stun: false })
      const peers = await sybils(INVALID_FIRST_MESSAGES.length)

      // one kind per fresh peer, all at once
      const results = await Promise.all(INVALID_FIRST_MESSAGES.map(async (kind, i) => {
        const peer = peers[i]
        const outcome = await peer.sendInvalidFirstMessage(kind, { replyTimeoutMs: 5_000, closeTimeoutMs: 3_000 })
        // the node holds no coordination stream with us once we close ours too
        await peer.closeStreams()
        const released = await eventually(() => coordinationStreamsOf(node, peer.peerId).length === 0, 3_000)

        return {
          kind,
          got: `${describeReply(outcome.reply)}, stream ${STREAM_END[outcome.closed]}${released ? '' : ', node still holds it'}`,
          want: `ABORT ${kind.expect}, stream closed`
        }
      }))

      const got = results.map(r => `${r.kind.name}: ${r.got}`)
      const want = results.map(r => `${r.kind.name}: ${r.want}`)
      const ok = results.filter(r => r.got === r.want).length

      report('invalid first messages', {
        answeredAsPrescribed: `${ok}/${results.length}`,
        withAnAbort: results.filter(r => r.got.startsWith('ABORT')).length,
        leftOpen: results.filter(r => r.got.includes('left open')).length
      })

      expect(got).to.deep.equal(want)
    })

    it('leaves no coordination stream open 15 s after a flood of 128 streams from 4 peers, half of them garbage and half silent', async function () {
      this.timeout(60_000)
      await startNode({}, { stun: false })
      const peers = await sybils(4)

      const floods = await Promise.all(peers.map(async (p, i) => p.flood(32, i < 2 ? 'garbage' : 'silent')))
      const garbage = floods.slice(0, 2).flatMap(f => f.streams)
      const silent = floods.slice(2).flatMap(f => f.streams)
      const garbageReplies = await Promise.all(garbage.map(async s => s.read(5_000)))

      const allClosed = await eventually(() => peers.every(p => coordinationStreamsOf(node, p.peerId).length === 0), 15_000)
      const stillOpen = peers.reduce((n, p) => n + coordinationStreamsOf(node, p.peerId).length, 0)
      const silentEnds = await Promise.all(silent.map(async s => s.waitForNodeClose(1)))

      report('flood of 128 streams', {
        opened: garbage.length + silent.length,
        refusedToOpen: floods.reduce((n, f) => n + f.refused, 0),
        openErrors: floods.flatMap(f => f.errors).join(' | ') || 'none',
        garbageWithAbort: garbageReplies.filter(r => abortReasonOf(r) != null).length,
        silentClosedByNode: silentEnds.filter(e => e !== 'timeout').length,
        nodeStreamsStillOpen: stillOpen
      })

      expect(garbage.length + silent.length, 'streams the flood opened').to.be.at.least(32)
      expect(garbageReplies.map(describeReply).filter(r => !r.startsWith('ABORT')), 'garbage streams without an ABORT').to.be.empty()
      expect(silentEnds.filter(e => e === 'timeout').length, 'silent streams the node left open').to.equal(0)
      expect(allClosed, `${stillOpen} coordination streams still open at the node`).to.be.true()
    })
  })

  describe('honest peers during an attack', () => {
    it('an honest third peer connects directly while 8 sybils run lying plans, abort loops and malformed messages', async function () {
      this.timeout(90_000)
      await startNode()
      const honest = await honestPeer()
      const sink = await victim({ ports: 256 })
      const peers = await sybils(8)
      const state = { stop: false, sessions: 0 }

      const attack = Promise.all(peers.map(async (p, i) => {
        for (let n = i; !state.stop; n++) {
          let stream: CoordinationStream | undefined

          try {
            switch (n % 3) {
              case 0: {
                const plan = LARGEST_PLANS[Math.floor(n / 3) % LARGEST_PLANS.length]
                const outcome = await p.lie({ nat: LARGEST_PLAN_CLAIM[plan], victim: sink.addresses(40), plan: answer => largestPlan(plan, answer.answer?.maxExtraSockets ?? 256), replyTimeoutMs: 500 })
                stream = outcome.stream
                break
              }
              case 1:
                stream = (await p.abortAfterSync({ nat: claimedNat('open', sink.addresses(1)) })).stream
                break
              default:
                await p.sendInvalidFirstMessage(INVALID_FIRST_MESSAGES[n % INVALID_FIRST_MESSAGES.length], { replyTimeoutMs: 500, closeTimeoutMs: 100 })
            }
            state.sessions++
          } catch {
            // refused, reset, rate limited: the attack goes on
          } finally {
            stream?.abort()
          }

          await delay(100)
        }
      }))

      await delay(1_000)
      const connectStarted = performance.now()
      const connection = await honest.peer.services.holePunch.connect(nodeCircuit, { signal: AbortSignal.timeout(25_000) }).then(c => c, (err: Error) => err)
      const connectMs = performance.now() - connectStarted
      state.stop = true
      await attack

      report('honest peer during an attack by 8 sybils', {
        attackSessions: state.sessions,
        honestConnect: connection instanceof Error ? `${connection.name}: ${connection.message} after ${Math.round(connectMs)} ms` : `${isDirect(connection) ? 'direct' : 'not direct'} in ${Math.round(connectMs)} ms`,
        victimDatagrams: sink.datagrams
      })

      expect(connection).to.not.be.an('error')
      expect(isDirect(connection as Connection), 'the honest peer\'s connect() resolved with a direct udx connection').to.be.true()
    })
  })
})
