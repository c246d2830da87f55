import { randomBytes } from 'node:crypto'
import { AbortError } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { COORDINATION_VERSION, MAX_EXTRA_SOCKETS, MAX_PUBLIC_ADDRESSES, PUNCH_LINGER_MS, SESSION_ID_LENGTH, SESSION_SECRET_LENGTH } from '../constants.ts'
import { CoordinationFailedError, PunchAbortedByPeerError, PunchFailedError } from '../errors.ts'
import { checkAnswerMatchesOffer, checkSession } from '../protocol/validate.ts'
import { PunchExecution } from '../punch/executor.ts'
import { classifyNat, pairClassOf, planFromSummary, planPunch } from '../punch/planner.ts'
import { isLocalOnly } from '../socket/host-scope.ts'
import type { CoordinationChannel } from './coordination-channel.ts'
import type { NatMonitor } from './nat-monitor.ts'
import type { HolePunchProgressEvents, PunchInfo, PunchPhase } from './types.ts'
import type { AbortInfo, AbortReason, AnswerInfo, CoordinationMessage, OfferInfo } from '../protocol/messages.ts'
import type { PunchHistory } from '../punch/history.ts'
import type { Candidate, PeerPunchInfo, PlanInput, PunchPlan, Side } from '../punch/plan.ts'
import type { ProbeRouter } from '../punch/probe-router.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { UDXTransport } from '../transport/udx-transport.ts'
import type { Connection, Logger, PeerId } from '@libp2p/interface'
import type { ProgressOptions } from 'progress-events'

/**
 * Errors that reach the caller as they are; anything else is wrapped in
 * CoordinationFailedError (with the original as `cause`)
 */
const OUR_ERRORS = new Set(['AbortError', 'PunchFailedError', 'PunchAbortedByPeerError', 'UnexpectedRemotePeerError', 'CoordinationFailedError'])

export interface PunchSessionInit extends ProgressOptions<HolePunchProgressEvents> {
  peer: PeerId
  side: Side
  channel: CoordinationChannel
  transport: UDXTransport
  router: ProbeRouter
  nat: NatMonitor
  history: PunchHistory
  /** our candidates for this punch (public mappings, LAN addresses) */
  candidates(socket: BoundSocket): Candidate[]
  maxExtraSockets: number
  log: Logger
  signal: AbortSignal
  attempt?: number
}

/**
 * One coordinated punch with one peer over one coordination stream, from
 * OFFER to the upgraded direct connection (docs/PROTOCOL.md, section 4).
 */
export class PunchSession {
  readonly peer: PeerId
  readonly side: Side
  readonly startedAt = Date.now()
  phase: PunchPhase = 'coordinating'
  plan?: PunchPlan
  private readonly init: PunchSessionInit
  private readonly log: Logger
  private execution?: PunchExecution
  private localStreamId?: number
  private sessionId?: Uint8Array
  private peerAbort?: Error

  constructor (init: PunchSessionInit) {
    this.init = init
    this.peer = init.peer
    this.side = init.side
    this.log = init.log
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
   * Initiator: OFFER, ANSWER, plan, SYNC, punch, dial (PROTOCOL.md 4)
   */
  async runInitiator (): Promise<Connection> {
    const { channel, signal } = this.init

    return this.guard(async () => {
      const socket = this.mainSocket()

      // 1. session id, secret, stream id, our NAT and candidates
      const sessionId = randomBytes(SESSION_ID_LENGTH)
      const secret = randomBytes(SESSION_SECRET_LENGTH)
      this.sessionId = sessionId
      this.localStreamId = this.init.transport.reserveStreamId()
      const ours = await this.ourInfo(socket)

      const offer: OfferInfo = {
        version: COORDINATION_VERSION,
        features: 0,
        sessionId,
        secret,
        streamId: this.localStreamId,
        peer: ours,
        attempt: this.init.attempt ?? 0
      }
      const sentAt = performance.now()
      await channel.send({ type: 'offer', offer }, { signal })
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:offer'))

      // 2. ANSWER, relayed RTT
      const answer = this.expect(await channel.read({ signal }), 'answer').answer
      checkAnswerMatchesOffer(offer, answer)
      const rttMs = performance.now() - sentAt
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:answer', { rttMs }))

      // 3. plan
      const input: PlanInput = {
        initiator: ours,
        responder: answer.peer,
        rttMs,
        now: Date.now(),
        history: this.init.history.advise(this.peer.toString(), pairClassOf(classifyNat(ours.profile), classifyNat(answer.peer.profile)), Date.now())
      }
      const { plan, summary } = planPunch(input, 'initiator')
      this.plan = plan
      this.log('plan for %p: %s (%s), rtt %d ms - %s', this.peer, summary.strategy, plan.role, Math.round(rttMs), plan.reason)
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:plan', { strategy: plan.strategy, reason: plan.reason }))

      if (summary.strategy === 'none-fallback') {
        await this.sendAbort('no-strategy', plan.reason)
        throw new PunchFailedError(`No punching strategy for this NAT pair (${plan.pairClass}): ${plan.reason}`)
      }

      // 4. SYNC; our plan's start delay is rtt/2
      await channel.send({ type: 'sync', sync: { sessionId, plan: summary } }, { signal })
      this.init.onProgress?.(new CustomProgressEvent('hole-punch:sync'))

      // 6-7. punch
      const path = await this.punch(plan, sessionId, secret, socket)

      // 8. dial the direct path as the Noise initiator
      return this.upgrade(path, answer.streamId, true)
    })
  }

  /**
   * Responder: OFFER (already read), ANSWER, SYNC, punch, accept
   */
  async runResponder (offer: OfferInfo): Promise<Connection> {
    const { channel, signal } = this.init

    return this.guard(async () => {
      const socket = this.mainSocket()
      this.sessionId = offer.sessionId

      // 1-2. ANSWER with our NAT and candidates
      this.localStreamId = this.init.transport.reserveStreamId()
      const ours = await this.ourInfo(socket)
      const answer: AnswerInfo = {
        version: COORDINATION_VERSION,
        features: 0,
        sessionId: offer.sessionId,
        streamId: this.localStreamId,
        peer: ours
      }
      await channel.send({ type: 'answer', answer }, { signal })

      // 3. SYNC: follow the initiator's plan
      const sync = this.expect(await channel.read({ signal }), 'sync').sync
      checkSession(offer.sessionId, sync.sessionId)

      let plan: PunchPlan
      try {
        plan = planFromSummary(sync.plan, { initiator: offer.peer, responder: ours, rttMs: 0, now: Date.now() }, 'responder')
      } catch (err: any) {
        await this.sendAbort('plan-rejected', err.message)
        throw err
      }

      this.plan = plan
      this.log('following plan from %p: %s (%s) - %s', this.peer, sync.plan.strategy, plan.role, plan.reason)

      // 6-7. punch, starting now
      const path = await this.punch(plan, offer.sessionId, offer.secret, socket)

      // 8. accept the direct path as the Noise responder
      return this.upgrade(path, offer.streamId, false)
    })
  }

  private async punch (plan: PunchPlan, sessionId: Uint8Array, secret: Uint8Array, socket: BoundSocket): Promise<{ socket: BoundSocket, remote: { host: string, port: number } }> {
    this.phase = 'punching'
    const controller = new AbortController()
    const onAbort = (): void => { controller.abort(this.init.signal.reason) }
    this.init.signal.addEventListener('abort', onAbort, { once: true })

    // watch the stream: ABORT from the peer, or the stream dying, stops us
    const watcher = this.watchForAbort(controller)

    const pool = this.init.transport.pool
    const family = socket.address().family
    const execution = new PunchExecution({
      plan,
      sessionId,
      secret,
      mainSocket: socket,
      openExtraSocket: () => pool.bindExtra(family === 4 ? '0.0.0.0' : '::'),
      closeSocket: async (s) => { await pool.closeSocket(s) },
      router: this.init.router,
      log: this.log,
      signal: controller.signal,
      onProgress: this.init.onProgress
    })
    this.execution = execution

    try {
      const path = await execution.run()
      // spare sockets go at once; the session keeps answering late probes
      // with SELECT for a moment while the connection is upgraded
      void execution.releaseSpareSockets()
      const linger = setTimeout(() => { void execution.dispose() }, PUNCH_LINGER_MS)
      linger.unref()
      return path
    } catch (err: any) {
      await execution.dispose()

      if (this.peerAbort != null) {
        throw this.peerAbort
      }
      throw err
    } finally {
      this.init.signal.removeEventListener('abort', onAbort)
      watcher.stop()
    }
  }

  private async upgrade (path: { socket: BoundSocket, remote: { host: string, port: number } }, remoteStreamId: number, initiator: boolean): Promise<Connection> {
    this.phase = 'upgrading'
    this.init.onProgress?.(new CustomProgressEvent('hole-punch:upgrade'))
    const localStreamId = this.localStreamId as number
    this.localStreamId = undefined // owned by the stream from here on

    return this.init.transport.connectDirect({
      socket: path.socket,
      remote: path.remote,
      localStreamId,
      remoteStreamId,
      initiator,
      expectedPeer: this.peer,
      signal: this.init.signal
    })
  }

  /**
   * Run `fn`; on any failure tell the peer (ABORT), release the reserved
   * stream id, and rethrow. On success send RESULT.
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

      if (this.peerAbort == null && !(err instanceof PunchAbortedByPeerError)) {
        const reason: AbortReason = this.init.signal.aborted ? 'cancelled' : err.name === 'PunchFailedError' ? 'timeout' : 'internal-error'
        await this.sendAbort(reason, err.message ?? '')
      }

      if (this.init.signal.aborted && err.name !== 'AbortError') {
        throw new AbortError(`The punch with ${this.peer.toString()} was aborted`)
      }

      if (!OUR_ERRORS.has(err.name)) {
        // the relayed stream died, a message was malformed, the upgrade failed...
        throw new CoordinationFailedError(`The punch with ${this.peer.toString()} failed: ${err.name}: ${err.message}`, { cause: err })
      }

      throw err
    } finally {
      await this.init.channel.close()
    }
  }

  private expect<T extends CoordinationMessage['type']>(message: CoordinationMessage, type: T): Extract<CoordinationMessage, { type: T }> {
    if (message.type === 'abort') {
      this.peerAbort = peerAbortError(message.abort)
      throw this.peerAbort
    }

    if (message.type !== type) {
      throw new PunchFailedError(`Expected ${type.toUpperCase()} but the peer sent ${message.type.toUpperCase()}`)
    }

    return message as Extract<CoordinationMessage, { type: T }>
  }

  private watchForAbort (controller: AbortController): { stop(): void } {
    const stop = new AbortController()

    void (async () => {
      while (!stop.signal.aborted) {
        let message: CoordinationMessage
        try {
          message = await this.init.channel.read({ signal: stop.signal, timeout: 5 * 60_000 })
        } catch (err: any) {
          if (!stop.signal.aborted) {
            this.log('coordination stream with %p ended during the punch - %e', this.peer, err)
            this.peerAbort = new PunchAbortedByPeerError('The coordination stream ended during the punch')
            controller.abort(this.peerAbort)
          }
          return
        }

        if (message.type === 'abort') {
          this.peerAbort = peerAbortError(message.abort)
          controller.abort(this.peerAbort)
          return
        }
      }
    })()

    return { stop: () => { stop.abort() } }
  }

  private async sendAbort (reason: AbortReason, message: string): Promise<void> {
    if (this.sessionId == null) {
      return
    }

    try {
      await this.init.channel.send({ type: 'abort', abort: { sessionId: this.sessionId, reason, message: message.slice(0, 200) } }, { signal: AbortSignal.timeout(1_000) })
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
      result: { sessionId: this.sessionId, outcome, elapsedMs: Date.now() - this.startedAt, retryAfterMs: 0, nextOfferer: 'none' }
    }, { signal: AbortSignal.timeout(1_000) })
  }

  private mainSocket (): BoundSocket {
    const socket = this.init.transport.getListenSockets()[0]

    if (socket == null) {
      throw new PunchFailedError('The udx transport is not listening: add a /ip4/0.0.0.0/udp/0/udx listen address')
    }

    return socket
  }

  private async ourInfo (socket: BoundSocket): Promise<PeerPunchInfo> {
    const observed = await this.init.nat.fresh({ signal: this.init.signal })
    // a loopback or link-local "mapping" (a STUN server on our own host)
    // is no public address: peers would refuse it
    let publicAddresses = observed.publicAddresses.filter(a => !isLocalOnly(a.host))

    // a sequential NAT's allocator moves with every new mapping (ours and
    // other hosts'): sample where it stands now, most recent first, so the
    // peer predicts from it rather than from the last full discovery
    if (observed.allocation.kind === 'sequential') {
      const latest = await this.init.nat.latestMapping({ signal: this.init.signal })
      if (latest != null && !isLocalOnly(latest.host)) {
        publicAddresses = [latest, ...publicAddresses.filter(a => a.host !== latest.host || a.port !== latest.port)].slice(0, MAX_PUBLIC_ADDRESSES)
      }
    }

    const profile = { ...observed, publicAddresses }

    return {
      profile,
      candidates: this.init.candidates(socket),
      maxExtraSockets: Math.min(this.init.maxExtraSockets, MAX_EXTRA_SOCKETS)
    }
  }
}

/**
 * The error for an ABORT from the peer: its punch budget ended or it found
 * no strategy → PunchFailedError (no direct path); anything else (it was
 * cancelled, is stopping, refused) → PunchAbortedByPeerError
 */
function peerAbortError (abort: AbortInfo): Error {
  const detail = `${abort.reason}${abort.message !== '' ? ` (${abort.message})` : ''}`

  if (abort.reason === 'timeout' || abort.reason === 'no-strategy') {
    return new PunchFailedError(`No direct path: the peer ended the punch with ${detail}`)
  }

  return new PunchAbortedByPeerError(`The peer aborted the punch: ${detail}`)
}
