import { hkdfSync, randomBytes } from 'node:crypto'
import { AbortError } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { COORDINATION_VERSION, EARLY_MAX_ACKS, EARLY_PLAN_RTT_MS, FEATURE_DIRECT_NOISE, FEATURE_EARLY_PROBES, FEATURE_IPV6_RACE, MAX_EXTRA_SOCKETS, MAX_PUBLIC_ADDRESSES, PUNCH_LINGER_MS, SESSION_DEADLINE_MS, SESSION_ID_LENGTH, SESSION_SECRET_LENGTH, UPGRADE_TIMEOUT_MS } from '../constants.ts'
import { CoordinationFailedError, GlareError, InvalidCoordinationMessageError, PunchAbortedByPeerError, PunchFailedError } from '../errors.ts'
import { checkAnswerMatchesOffer, checkSession } from '../protocol/validate.ts'
import { EarlyProbeListener } from '../punch/early-listener.ts'
import { PunchExecution } from '../punch/executor.ts'
import { classifyNat, pairClassOf, planFromSummary, planPunch, planRefusalOf } from '../punch/planner.ts'
import { isLocalOnly } from '../socket/host-scope.ts'
import { ipv6ListenSocket, mainListenSocket } from '../socket/listen-sockets.ts'
import type { CoordinationChannel } from './coordination-channel.ts'
import type { NatMonitor } from './nat-monitor.ts'
import type { HolePunchProgressEvents, PunchInfo, PunchPhase } from './types.ts'
import type { AbortInfo, AbortReason, AnswerInfo, CoordinationMessage, OfferInfo, SyncInfo } from '../protocol/messages.ts'
import type { EarlyPath } from '../punch/early-listener.ts'
import type { PunchPath, SendLimits } from '../punch/executor.ts'
import type { PunchHistory } from '../punch/history.ts'
import type { Candidate, PeerPunchInfo, PlanInput, PlannerOptions, PunchPlan, Side } from '../punch/plan.ts'
import type { ProbeRouter } from '../punch/probe-router.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { UDXTransport } from '../transport/udx-transport.ts'
import type { Connection, Logger, PeerId } from '@libp2p/interface'
import type { ProgressOptions } from 'progress-events'

/**
 * Errors that reach the caller as they are; anything else is wrapped in
 * CoordinationFailedError (with the original as `cause`)
 */
const OUR_ERRORS = new Set(['AbortError', 'PunchFailedError', 'PunchAbortedByPeerError', 'UnexpectedRemotePeerError', 'CoordinationFailedError', 'PlanRejectedError', 'GlareError'])

/** HKDF info of the direct connection's path key */
const PATH_KEY_INFO = 'libp2p-udp-holepunch path key'

/** What a peer did wrong, for the errors that name a protocol violation */
const VIOLATIONS = new Set(['InvalidCoordinationMessageError', 'CoordinationMessageTooLargeError', 'UnsupportedCoordinationVersionError'])

/** Our candidates, split by who may see them */
export interface OurCandidates {
  /** public mappings and observed addresses: offered to any peer */
  shared: Candidate[]
  /** interface addresses: offered only to a peer behind the same public IP */
  lan: Candidate[]
}

/** Extra sockets across all sessions (see SocketQuota) */
export interface SocketReservation {
  reserve(wanted: number): number
  release(count: number): void
}

export interface PunchSessionInit extends ProgressOptions<HolePunchProgressEvents> {
  peer: PeerId
  side: Side
  channel: CoordinationChannel
  transport: UDXTransport
  router: ProbeRouter
  nat: NatMonitor
  history: PunchHistory
  /** our candidates for this punch on these sockets (CandidateGatherer) */
  candidates(...sockets: BoundSocket[]): OurCandidates
  /** offer LAN candidates to every peer, not only behind the same public IP */
  shareLanAlways: boolean
  maxExtraSockets: number
  sockets: SocketReservation
  limits: SendLimits
  planner?: PlannerOptions
  log: Logger
  /** the callers' cancellation (and the service's shutdown) */
  signal: AbortSignal
  /** true once the service is stopping (ABORT SHUTTING_DOWN instead of CANCELLED) */
  isShuttingDown(): boolean
  attempt?: number
  /** give direct connections a path key (migration after NAT rebinding) */
  pathMigration: boolean
  /** the direct connection followed the peer to a new address (NAT rebinding) */
  onMigrated?(connection: Connection): void
}

/**
 * How a session ended, beyond its error: what the service records
 */
export interface SessionOutcome {
  /** the peer broke the protocol (invalid or out-of-order message) */
  violation: boolean
}

/**
 * One coordinated punch with one peer over one coordination stream, from
 * OFFER to the upgraded direct connection (docs/PROTOCOL.md, section 4).
 * This class is the session's state machine; the service only registers
 * sessions and shares their outcome.
 *
 * Every step has a deadline: each coordination message SHOULD arrive within
 * COORDINATION_STEP_TIMEOUT_MS, the punch ends with its plan's budget (a
 * plan we chose or accepted as no larger than our own), the upgrade has
 * UPGRADE_TIMEOUT_MS, and the whole session SESSION_DEADLINE_MS.
 */
export class PunchSession {
  readonly peer: PeerId
  readonly side: Side
  readonly startedAt = Date.now()
  readonly outcome: SessionOutcome = { violation: false }
  phase: PunchPhase = 'coordinating'
  plan?: PunchPlan
  private readonly init: PunchSessionInit
  private readonly log: Logger
  /** callers' signal + the session deadline + our own abort (glare) */
  private readonly signal: AbortSignal
  private readonly deadline: AbortSignal
  private readonly local = new AbortController()
  private execution?: PunchExecution
  private localStreamId?: number
  private sessionId?: Uint8Array
  private peerAbort?: Error
  private abortSent = false
  private reservedSockets = 0
  private earlyListener?: EarlyProbeListener
  private early?: Launched

  constructor (init: PunchSessionInit) {
    this.init = init
    this.peer = init.peer
    this.side = init.side
    this.log = init.log
    this.deadline = AbortSignal.timeout(SESSION_DEADLINE_MS)
    this.signal = AbortSignal.any([init.signal, this.deadline, this.local.signal])
  }

  info (): PunchInfo {
    return {
      peer: this.peer,
      side: this.side,
      phase: this.phase,
      strategy: this.plan?.strategy,
      startedAt: this.startedAt,
      probesSent: this.execution?.stats.probesSent ?? 0,
      socketsOpen: this.execution?.stats.socketsOpen ?? 0
    }
  }

  /**
   * Give way to the peer's simultaneous OFFER: stop at once, tell the peer
   * (ABORT GLARE) and reject with GlareError
   */
  yieldToPeer (): void {
    this.local.abort(new GlareError())
  }

  /**
   * Initiator: OFFER, ANSWER, plan, SYNC, punch, dial (PROTOCOL.md 4)
   */
  async runInitiator (): Promise<Connection> {
    const { channel } = this.init
    const signal = this.signal

    return this.guard(async () => {
      const socket = this.mainSocket()

      // 1. session id, secret, stream id, our NAT and candidates (no LAN
      // addresses: we do not know yet whether the peer shares our public IP)
      const sessionId = randomBytes(SESSION_ID_LENGTH)
      const secret = randomBytes(SESSION_SECRET_LENGTH)
      this.sessionId = sessionId
      this.localStreamId = this.init.transport.reserveStreamId()
      const ours = await this.ourInfo(socket)
      const ipv6Socket = this.ipv6Socket()

      const offer: OfferInfo = {
        version: COORDINATION_VERSION,
        features: this.ourFeatures(),
        sessionId,
        secret,
        streamId: this.localStreamId,
        peer: { ...ours.info, candidates: ours.info.candidates },
        attempt: this.init.attempt ?? 0
      }
      // a responder that needs no simultaneous start probes as soon as it
      // answers: listen for its probes from now on (EARLY_PROBES)
      this.earlyListener = new EarlyProbeListener({
        sessionId,
        secret,
        mainSocket: socket,
        ipv6Socket,
        router: this.init.router,
        maxAcks: EARLY_MAX_ACKS,
        log: this.log
      })
      const sentAt = performance.now()
      await channel.send({ type: 'offer', offer }, { signal })
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:offer'))

      // 2. ANSWER; the relayed RTT without the time the responder held our
      // OFFER (its NAT refresh)
      const answer = this.expect(await channel.read({ signal }), 'answer').answer
      checkAnswerMatchesOffer(offer, answer)
      const rttMs = Math.max(1, performance.now() - sentAt - answer.holdMs)
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:answer', { rttMs }))

      // 3. plan; our LAN candidates join only behind the same public IP
      const lan = this.lanFor(ours, answer.peer)
      const initiator: PeerPunchInfo = { ...ours.info, candidates: [...ours.info.candidates, ...lan] }
      const input = this.planInput(initiator, answer.peer, rttMs, offer.features & answer.features)
      const { plan, summary } = planPunch(input, 'initiator')
      this.plan = plan
      this.log('plan for %p: %s (%s), rtt %d ms - %s', this.peer, summary.strategy, plan.role, Math.round(rttMs), plan.reason)
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:plan', { strategy: plan.strategy, reason: plan.reason }))

      if (summary.strategy === 'none-fallback') {
        await this.sendAbort('no-strategy', plan.reason)
        throw new PunchFailedError(`No punching strategy for this NAT pair (${plan.pairClass}): ${plan.reason}`, 'no-strategy')
      }

      // 4. SYNC; our plan's start delay is rtt/2, unless the responder is
      // already probing (EARLY_PROBES and a plan that probes both ways)
      await channel.send({ type: 'sync', sync: { sessionId, plan: summary, lanCandidates: summary.raceLan ? lan : [] } }, { signal })
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:sync'))
      const early = (offer.features & answer.features & FEATURE_EARLY_PROBES) !== 0 && isEarlyPlan(plan)
      const prefound = this.earlyListener.stop()

      // 6-7. punch
      const path = await this.punch(early ? startingNow(plan) : plan, sessionId, secret, socket, prefound)

      // 8. dial the direct path as the Noise initiator
      return this.upgrade(path, answer.streamId, true, (offer.features & answer.features & FEATURE_DIRECT_NOISE) !== 0, pathKeyOf(secret, sessionId))
    })
  }

  /**
   * Responder: OFFER (already read at `receivedAt`, performance.now()),
   * ANSWER, SYNC, our own limits, punch, accept
   */
  async runResponder (offer: OfferInfo, receivedAt: number): Promise<Connection> {
    const { channel } = this.init
    const signal = this.signal

    return this.guard(async () => {
      const socket = this.mainSocket()
      this.sessionId = offer.sessionId

      // 1-2. ANSWER with our NAT and candidates; LAN ones only for a peer
      // behind our public IP
      this.localStreamId = this.init.transport.reserveStreamId()
      const ours = await this.ourInfo(socket)
      const lan = this.lanFor(ours, offer.peer)
      const responder: PeerPunchInfo = { ...ours.info, candidates: [...ours.info.candidates, ...lan] }
      const answer: AnswerInfo = {
        version: COORDINATION_VERSION,
        features: offer.features & this.ourFeatures(),
        sessionId: offer.sessionId,
        streamId: this.localStreamId,
        peer: responder,
        holdMs: performance.now() - receivedAt
      }
      await channel.send({ type: 'answer', answer }, { signal })
      const answeredAt = performance.now()

      // 3a. EARLY_PROBES: when our own plan probes both ways (no side needs
      // a simultaneous start), probe now rather than after SYNC
      const early = (answer.features & FEATURE_EARLY_PROBES) !== 0
        ? this.launchEarly(offer, responder, socket, answer.features)
        : undefined
      this.early = early

      // 3. SYNC. We measure the RTT ourselves (ANSWER → SYNC) and plan from
      // the same inputs: the initiator's summary may ask for less than our
      // own plan, never for more (docs/PROTOCOL.md, Security considerations).
      // With early probes, SELECT may come first: then the upgrade starts at
      // once (the initiator's Noise message follows SELECT) and SYNC is
      // checked while it runs.
      const syncRead = channel.read({ signal })
      syncRead.catch(() => {})
      const pathFirst = early != null ? await firstPath(early.run, syncRead) : undefined
      let upgrading: Promise<Connection> | undefined
      if (pathFirst != null && early != null) {
        early.release()
        upgrading = this.upgrade(this.keep(early, pathFirst), offer.streamId, false, (answer.features & FEATURE_DIRECT_NOISE) !== 0, pathKeyOf(offer.secret, offer.sessionId))
        upgrading.catch(() => {})
      }

      let sync: SyncInfo
      try {
        sync = this.expect(await syncRead, 'sync').sync
        checkSession(offer.sessionId, sync.sessionId, 'sync.sessionId')
      } catch (err: any) {
        // no valid SYNC: an upgrade on the early path does not go on
        void upgrading?.then(connection => { connection.abort(err) }, () => {})
        throw err
      }

      const rttMs = Math.max(1, performance.now() - answeredAt)
      const initiator: PeerPunchInfo = { ...offer.peer, candidates: [...offer.peer.candidates, ...sync.lanCandidates] }

      let plan: PunchPlan
      try {
        plan = planFromSummary(sync.plan, this.planInput(initiator, responder, rttMs, answer.features), 'responder', { enforceOwnLimits: true })
      } catch (err: any) {
        void upgrading?.then(connection => { connection.abort(err) }, () => {})
        const refusal = planRefusalOf(err)

        if (refusal?.source === 'history') {
          // our own history says not to punch this peer or pair: no failure
          // to record, nothing the peer did wrong
          await this.sendAbort('no-strategy', err.message)
          throw new PunchFailedError(`Not punching ${this.peer.toString()}: ${err.message}`, 'no-strategy')
        }

        if (refusal?.source === 'structure') {
          // a summary no honest initiator sends
          this.outcome.violation = true
        }

        await this.sendAbort('plan-rejected', err.message)
        throw err
      }

      this.plan = plan
      this.log('following plan from %p: %s (%s) - %s', this.peer, sync.plan.strategy, plan.role, plan.reason)

      if (upgrading != null) {
        // the early path was selected before SYNC and SYNC checks out
        return upgrading
      }

      // 6-7. punch: go on with the early punch if it is the agreed plan,
      // else start the agreed plan now
      let path: PunchPath
      if (early != null && isEarlyPlan(plan) && plan.pairStrategy === early.plan.pairStrategy && sync.lanCandidates.length === 0) {
        early.execution.adopt(plan)
        path = await this.finish(early)
      } else {
        if (early != null) {
          await this.cancel(early)
        }
        path = await this.punch(plan, offer.sessionId, offer.secret, socket)
      }

      // 8. accept the direct path as the Noise responder
      return this.upgrade(path, offer.streamId, false, (answer.features & FEATURE_DIRECT_NOISE) !== 0, pathKeyOf(offer.secret, offer.sessionId))
    })
  }

  /**
   * The responder's early punch (EARLY_PROBES): our own plan from OFFER and
   * ANSWER, launched now if it probes both ways; the RTT is not measured
   * yet, so the plan's budget is provisional until SYNC (`adopt`)
   */
  private launchEarly (offer: OfferInfo, responder: PeerPunchInfo, socket: BoundSocket, features: number): Launched | undefined {
    const { plan } = planPunch(this.planInput(offer.peer, responder, EARLY_PLAN_RTT_MS, features), 'responder')

    if (!isEarlyPlan(plan)) {
      return undefined
    }

    this.log('probing %p early: %s (%s)', this.peer, plan.pairStrategy, plan.role)
    return this.launch(plan, offer.sessionId, offer.secret, socket)
  }

  /** `features`: the bits both sides announced */
  private planInput (initiator: PeerPunchInfo, responder: PeerPunchInfo, rttMs: number, features: number): PlanInput {
    const now = Date.now()
    const pairClass = pairClassOf(classifyNat(initiator.profile), classifyNat(responder.profile))

    return {
      initiator,
      responder,
      rttMs,
      now,
      history: this.init.history.advise(this.peer.toString(), pairClass, now),
      ipv6Race: (features & FEATURE_IPV6_RACE) !== 0,
      options: this.init.planner
    }
  }

  private async punch (plan: PunchPlan, sessionId: Uint8Array, secret: Uint8Array, socket: BoundSocket, prefound?: EarlyPath): Promise<PunchPath> {
    return this.finish(this.launch(plan, sessionId, secret, socket, prefound))
  }

  /**
   * Start executing `plan` now; `finish` follows it to its end
   */
  private launch (plan: PunchPlan, sessionId: Uint8Array, secret: Uint8Array, socket: BoundSocket, prefound?: EarlyPath): Launched {
    this.phase = 'punching'
    const controller = new AbortController()
    const onAbort = (): void => { controller.abort(this.signal.reason) }

    if (this.signal.aborted) {
      controller.abort(this.signal.reason)
    } else {
      this.signal.addEventListener('abort', onAbort, { once: true })
    }

    const pool = this.init.transport.pool
    const family = socket.address().family
    const execution = new PunchExecution({
      plan,
      sessionId,
      secret,
      mainSocket: socket,
      ipv6Socket: this.ipv6Socket(),
      openExtraSocket: () => pool.bindExtra(family === 4 ? '0.0.0.0' : '::'),
      closeSocket: async (s) => { await pool.closeSocket(s) },
      router: this.init.router,
      limits: this.init.limits,
      log: this.log,
      signal: controller.signal,
      onProgress: this.init.onProgress,
      prefound
    })
    this.execution = execution
    const run = execution.run()
    // rejections are handled by finish() or cancel()
    run.catch(() => {})

    return {
      plan,
      execution,
      controller,
      run,
      release: () => { this.signal.removeEventListener('abort', onAbort) }
    }
  }

  /**
   * Follow a launched punch to its path, watching the stream for ABORT
   */
  private async finish (launched: Launched): Promise<PunchPath> {
    const { execution } = launched
    // watch the stream: ABORT from the peer, or the stream dying, stops us
    const watcher = this.watchForAbort(launched.controller)

    try {
      return this.keep(launched, await launched.run)
    } catch (err: any) {
      await execution.dispose()

      if (this.peerAbort != null) {
        throw this.peerAbort
      }
      throw err
    } finally {
      launched.release()
      watcher.stop()
    }
  }

  /**
   * A launched punch found `path`: spare sockets go at once; the session
   * keeps answering late probes with SELECT for a moment while the
   * connection is upgraded
   */
  private keep (launched: Launched, path: PunchPath): PunchPath {
    const { execution } = launched
    void execution.releaseSpareSockets()
    const linger = setTimeout(() => { void execution.dispose() }, PUNCH_LINGER_MS)
    linger.unref()
    return path
  }

  /**
   * Stop a launched punch that will not be followed
   */
  private async cancel (launched: Launched): Promise<void> {
    launched.controller.abort(new AbortError('The early punch was replaced'))
    launched.release()
    await launched.execution.dispose()
  }

  /**
   * The OFFER/ANSWER.features bits we support
   */
  private ourFeatures (): number {
    return FEATURE_EARLY_PROBES | FEATURE_IPV6_RACE | (this.init.transport.canPreNegotiate() ? FEATURE_DIRECT_NOISE : 0)
  }

  private async upgrade (path: { socket: BoundSocket, remote: { host: string, port: number }, extraSocket: boolean }, remoteStreamId: number, initiator: boolean, preNegotiated: boolean, pathKey: Uint8Array): Promise<Connection> {
    this.phase = 'upgrading'
    this.init.onProgress?.(new CustomProgressEvent('hole-punch:upgrade'))
    const localStreamId = this.localStreamId as number
    // connectDirect owns the stream id from here on: it releases it if it fails
    this.localStreamId = undefined
    const timeout = AbortSignal.timeout(UPGRADE_TIMEOUT_MS)
    let upgraded: Connection | undefined

    try {
      const connection = await this.init.transport.connectDirect({
        socket: path.socket,
        remote: path.remote,
        localStreamId,
        remoteStreamId,
        initiator,
        expectedPeer: this.peer,
        closeSocketOnClose: path.extraSocket,
        preNegotiated,
        pathKey: this.init.pathMigration ? pathKey : undefined,
        onMigrated: (event) => {
          this.log('the direct connection to %p moved from %s:%d to %s:%d', this.peer, event.from.host, event.from.port, event.to.host, event.to.port)
          if (upgraded != null) {
            this.init.onMigrated?.(upgraded)
          }
        },
        signal: AbortSignal.any([this.signal, timeout])
      })

      if (connection.status !== 'open') {
        throw new CoordinationFailedError(`The direct connection to ${this.peer.toString()} closed during its upgrade`)
      }

      upgraded = connection

      return connection
    } catch (err: any) {
      if (timeout.aborted && !this.signal.aborted) {
        throw new CoordinationFailedError(`The peer did not complete the direct connection's upgrade (Noise, yamux) within ${UPGRADE_TIMEOUT_MS} ms`, { cause: err })
      }

      throw err
    }
  }

  /**
   * Run `fn`; on any failure tell the peer (ABORT with the reason
   * docs/PROTOCOL.md prescribes), release what we hold, and rethrow a
   * documented error. On success send RESULT. The stream is closed either
   * way.
   */
  private async guard (fn: () => Promise<Connection>): Promise<Connection> {
    try {
      const connection = await fn()
      await this.sendResult('success').catch(() => {})
      return connection
    } catch (err: any) {
      if (this.localStreamId != null) {
        this.init.transport.releaseStreamId(this.localStreamId)
        this.localStreamId = undefined
      }

      const glare = this.local.signal.aborted
      const deadline = this.deadline.aborted && !this.init.signal.aborted && !glare
      const cancelled = this.init.signal.aborted

      if (VIOLATIONS.has(err.name)) {
        this.outcome.violation = true
      }

      if (this.peerAbort == null && !(err instanceof PunchAbortedByPeerError)) {
        await this.sendAbort(this.abortReasonFor(err, { glare, deadline, cancelled }), err.message ?? '')
      }

      if (glare) {
        throw this.local.signal.reason
      }

      if (cancelled) {
        throw err.name === 'AbortError' ? err : new AbortError(`The punch with ${this.peer.toString()} was aborted`)
      }

      if (deadline) {
        throw new CoordinationFailedError(`The punch with ${this.peer.toString()} passed its ${SESSION_DEADLINE_MS} ms deadline while ${this.phase}`, { cause: err })
      }

      if (!OUR_ERRORS.has(err.name)) {
        // the relayed stream died, a message was malformed, the upgrade failed...
        throw new CoordinationFailedError(`The punch with ${this.peer.toString()} failed: ${err.name}: ${err.message}`, { cause: err })
      }

      throw err
    } finally {
      this.earlyListener?.stop()

      if (this.early != null && this.execution === this.early.execution && this.phase !== 'upgrading') {
        // an early punch nobody followed (SYNC never came, or was refused)
        await this.cancel(this.early).catch(() => {})
      }

      this.init.sockets.release(this.reservedSockets)
      this.reservedSockets = 0
      await this.init.channel.close()
    }
  }

  private abortReasonFor (err: any, state: { glare: boolean, deadline: boolean, cancelled: boolean }): AbortReason {
    if (state.glare) {
      return 'glare'
    }

    if (state.cancelled) {
      return this.init.isShuttingDown() ? 'shutting-down' : 'cancelled'
    }

    if (state.deadline) {
      return 'timeout'
    }

    switch (err.name) {
      case 'UnsupportedCoordinationVersionError':
        return 'unsupported-version'
      case 'InvalidCoordinationMessageError':
      case 'CoordinationMessageTooLargeError':
        return 'invalid-message'
      case 'PlanRejectedError':
        return 'plan-rejected'
      case 'PunchFailedError':
        return err.reason === 'no-strategy' ? 'no-strategy' : 'timeout'
      case 'TimeoutError':
        // a coordination step's timeout
        return 'timeout'
      default:
        return 'internal-error'
    }
  }

  private expect<T extends CoordinationMessage['type']>(message: CoordinationMessage, type: T): Extract<CoordinationMessage, { type: T }> {
    if (message.type === 'abort') {
      this.peerAbort = peerAbortError(message.abort)
      throw this.peerAbort
    }

    if (message.type !== type) {
      throw new InvalidCoordinationMessageError('type', `must be ${type.toUpperCase()} at this step, the peer sent ${message.type.toUpperCase()}`)
    }

    return message as Extract<CoordinationMessage, { type: T }>
  }

  private watchForAbort (controller: AbortController): { stop(): void } {
    const stop = new AbortController()

    void (async () => {
      while (!stop.signal.aborted) {
        let message: CoordinationMessage
        try {
          message = await this.init.channel.read({ signal: stop.signal, timeout: SESSION_DEADLINE_MS })
        } catch (err: any) {
          if (stop.signal.aborted) {
            return
          }

          if (VIOLATIONS.has(err.name)) {
            // an invalid message during the punch: the punch stops, the
            // peer gets ABORT INVALID_MESSAGE from guard()
            this.log('%p sent an invalid message during the punch - %e', this.peer, err)
            controller.abort(err)
            this.peerAbort = err
            this.outcome.violation = true
            void this.sendAbort('invalid-message', err.message)
            return
          }

          this.log('coordination stream with %p ended during the punch - %e', this.peer, err)
          this.peerAbort = new PunchAbortedByPeerError('The coordination stream ended during the punch')
          controller.abort(this.peerAbort)
          return
        }

        if (message.type === 'abort') {
          this.peerAbort = peerAbortError(message.abort)
          controller.abort(this.peerAbort)
          return
        }

        if (message.type !== 'result') {
          const err = new InvalidCoordinationMessageError('type', `must be ABORT or RESULT while punching, the peer sent ${message.type.toUpperCase()}`)
          this.outcome.violation = true
          this.peerAbort = err
          void this.sendAbort('invalid-message', err.message)
          controller.abort(err)
          return
        }
      }
    })()

    return { stop: () => { stop.abort() } }
  }

  private async sendAbort (reason: AbortReason, message: string): Promise<void> {
    if (this.sessionId == null || this.abortSent) {
      return
    }

    this.abortSent = true

    try {
      await this.init.channel.send({ type: 'abort', abort: { sessionId: this.sessionId, reason, message: truncate(message) } }, { signal: AbortSignal.timeout(1_000) })
    } catch {
      // the stream may be gone: the peer then stops on its own timeout
    }
  }

  private async sendResult (outcome: 'success' | 'failed'): Promise<void> {
    if (this.sessionId == null) {
      return
    }

    await this.init.channel.send({
      type: 'result',
      result: { sessionId: this.sessionId, outcome, elapsedMs: Math.min(600_000, Date.now() - this.startedAt), retryAfterMs: 0, nextOfferer: 'none' }
    }, { signal: AbortSignal.timeout(1_000) })
  }

  /** the listen socket of our NAT profile and main plan (src/socket/listen-sockets.ts) */
  private mainSocket (): BoundSocket {
    const socket = mainListenSocket(this.init.transport.getListenSockets())

    if (socket == null) {
      throw new PunchFailedError('The udx transport is not listening: add /ip4/0.0.0.0/udp/0/udx (and /ip6/::/udp/0/udx) listen addresses', 'no-strategy')
    }

    return socket
  }

  /** the listen socket of the IPv6 race, if we listen on IPv6 */
  private ipv6Socket (): BoundSocket | undefined {
    return ipv6ListenSocket(this.init.transport.getListenSockets())
  }

  /**
   * Our side of OFFER/ANSWER: a fresh NAT profile, the candidates anyone
   * may see, and the extra sockets we can open now (reserved from the
   * node-wide quota until the session ends)
   */
  private async ourInfo (socket: BoundSocket): Promise<{ info: PeerPunchInfo, lan: Candidate[] }> {
    const observed = await this.init.nat.fresh({ signal: this.signal })
    // a loopback or link-local "mapping" (a STUN server on our own host)
    // is no public address: peers would refuse it
    let publicAddresses = observed.publicAddresses.filter(a => !isLocalOnly(a.host) || this.init.planner?.addressScope?.(a.host) === 'public')

    // a sequential NAT's allocator moves with every new mapping (ours and
    // other hosts'): sample where it stands now, most recent first, so the
    // peer predicts from it rather than from the last full discovery
    if (observed.allocation.kind === 'sequential') {
      const latest = await this.init.nat.latestMapping({ signal: this.signal })
      if (latest != null && !isLocalOnly(latest.host)) {
        publicAddresses = [latest, ...publicAddresses.filter(a => a.host !== latest.host || a.port !== latest.port)].slice(0, MAX_PUBLIC_ADDRESSES)
      }
    }

    this.reservedSockets = this.init.sockets.reserve(Math.min(this.init.maxExtraSockets, MAX_EXTRA_SOCKETS))
    // the main socket's candidates, then the IPv6 socket's (the IPv6 race)
    const v6 = this.ipv6Socket()
    const candidates = v6 != null ? this.init.candidates(socket, v6) : this.init.candidates(socket)

    return {
      info: {
        profile: { ...observed, publicAddresses },
        candidates: candidates.shared,
        maxExtraSockets: this.reservedSockets
      },
      lan: candidates.lan
    }
  }

  /**
   * Our LAN candidates for this peer: only when it reports one of our
   * public IPs (or when the application shares them with everyone)
   */
  private lanFor (ours: { info: PeerPunchInfo, lan: Candidate[] }, peer: PeerPunchInfo): Candidate[] {
    if (this.init.shareLanAlways) {
      return ours.lan
    }

    const mine = publicIps(ours.info)
    const theirs = publicIps(peer)

    return [...mine].some(ip => theirs.has(ip)) ? ours.lan : []
  }
}

/** A punch launched and not yet followed to its end */
interface Launched {
  plan: PunchPlan
  execution: PunchExecution
  controller: AbortController
  run: Promise<PunchPath>
  release(): void
}

/**
 * Plans that need no simultaneous start: both sides probe the other's
 * addresses directly (cone or open NATs, or a public side), so a probe that
 * leaves early only opens our own mapping sooner
 */
function isEarlyPlan (plan: PunchPlan): boolean {
  return (plan.pairStrategy === 'direct-cone' || plan.pairStrategy === 'ipv6') && plan.role === 'both'
}

/** `plan` without its start delay (the peer is already probing) */
function startingNow (plan: PunchPlan): PunchPlan {
  return { ...plan, pacing: { ...plan.pacing, startDelayMs: 0 } }
}

/**
 * The early punch's path if it comes before the next coordination message,
 * else undefined
 */
async function firstPath (run: Promise<PunchPath>, next: Promise<CoordinationMessage>): Promise<PunchPath | undefined> {
  return Promise.race([
    run.then(path => path, () => next.then(() => undefined, () => undefined)),
    next.then(() => undefined, () => undefined)
  ])
}

/**
 * The direct connection's path key (path challenges, migration): both sides
 * derive it from the session secret they exchanged over the relayed,
 * Noise-encrypted connection, bound to the session id
 */
function pathKeyOf (secret: Uint8Array, sessionId: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, sessionId, PATH_KEY_INFO, 32))
}

function publicIps (info: PeerPunchInfo): Set<string> {
  return new Set([
    ...info.profile.publicAddresses.map(a => a.host),
    ...info.candidates.filter(c => c.kind === 'public' || c.kind === 'observed').map(c => c.host)
  ])
}

function truncate (message: string): string {
  // MAX_ABORT_MESSAGE_BYTES is in UTF-8 bytes; 200 characters of mostly
  // ASCII error text stay under it
  return message.slice(0, 200)
}

/**
 * The error for an ABORT from the peer: its punch budget ended or it found
 * no strategy → PunchFailedError (no direct path, reason `peer`); glare →
 * GlareError (the service waits for the peer's own OFFER); anything else
 * (it was cancelled, is stopping, refused) → PunchAbortedByPeerError
 */
function peerAbortError (abort: AbortInfo): Error {
  const detail = `${abort.reason}${abort.message !== '' ? ` (${abort.message})` : ''}`

  if (abort.reason === 'glare') {
    return new GlareError(`The peer keeps its own simultaneous OFFER: ${detail}`)
  }

  if (abort.reason === 'no-strategy') {
    return new PunchFailedError(`No direct path: the peer found no strategy: ${detail}`, 'no-strategy')
  }

  if (abort.reason === 'timeout') {
    return new PunchFailedError(`No direct path: the peer's punch ended with ${detail}`, 'peer')
  }

  return new PunchAbortedByPeerError(`The peer aborted the punch: ${detail}`)
}
