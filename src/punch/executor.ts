import { AbortError } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { DIRECT_PROBE_INTERVAL_MS, PROBE_SIZE, PUNCH_SELECT_REPEATS_MS } from '../constants.ts'
import { PunchAbortedByPeerError, PunchFailedError } from '../errors.ts'
import { decodeProbe, elapsedSince, encodeProbe, probeTimestamp } from './probe.ts'
import { expandTargets } from './targets.ts'
import type { EarlyPath } from './early-listener.ts'
import type { PunchPlan, Side } from './plan.ts'
import type { ProbeRouter, ProbeSession } from './probe-router.ts'
import type { ProbeDatagram, ProbeType } from './probe.ts'
import type { Target } from './targets.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { RemoteInfo } from '../socket/datagram-socket.ts'
import type { Logger } from '@libp2p/interface'
import type { ProgressEvent, ProgressOptions } from 'progress-events'

/** A priming burst that the node-wide rate limit cut short goes on after this many ms */
const PRIME_RETRY_MS = 10

export type PunchExecutorEvents =
  ProgressEvent<'punch:probing'> |
  ProgressEvent<'punch:path-found', { host: string, port: number }>

/**
 * Bounds on what one session sends, whatever the plan says (see
 * docs/PROTOCOL.md, "Security considerations")
 */
export interface SendLimits {
  /** most datagrams this session sends: probes, priming, acks and SELECT */
  maxDatagrams: number
  /** most bytes this session sends */
  maxBytes: number
  /**
   * Consent (the RFC 7675 idea): an address that received this many
   * datagrams without one authenticated datagram back is dropped. Targets of
   * a birthday punch's random-port phase are exempt (bounded by the plan).
   */
  consentAfter: number
  /** node-wide pacing shared by every session: take one token per datagram */
  rate?: { take(): boolean }
  /** the address policy: a target it refuses is never sent to */
  allows?(host: string): boolean
}

export interface PunchExecutorInit extends ProgressOptions<PunchExecutorEvents> {
  plan: PunchPlan
  sessionId: Uint8Array
  secret: Uint8Array
  /** the socket our NAT profile and candidates belong to */
  mainSocket: BoundSocket
  /**
   * our IPv6 socket, for the plan's raced IPv6 candidates (`plan.ipv6`);
   * without one the race is left out
   */
  ipv6Socket?: BoundSocket
  /** bind one extra socket of the main socket's family (birthday punching) */
  openExtraSocket(): BoundSocket
  closeSocket(socket: BoundSocket): Promise<void>
  router: ProbeRouter
  limits: SendLimits
  log: Logger
  signal: AbortSignal
  /**
   * A path the initiator's EarlyProbeListener saw before this execution
   * existed: selected at once when the plan probes both ways
   */
  prefound?: EarlyPath
  /** clock in ms @default performance.now() + timeOrigin */
  now?(): number
  /** 0 ≤ random() < 1 @default Math.random */
  random?(): number
}

/**
 * The direct path a punch found
 */
export interface PunchPath {
  /** our socket on the path; if `extraSocket`, the caller owns it and closes it after use */
  socket: BoundSocket
  extraSocket: boolean
  /** the remote ip:port (the other side's NAT mapping) */
  remote: RemoteInfo
  /** direct round trip from a probe and its ack, when one was seen */
  rttMs?: number
}

export interface PunchStats {
  /** probes and priming datagrams sent (what the plan's maxProbes counts) */
  probesSent: number
  /** every datagram sent: probes, priming, acks, SELECT */
  datagramsSent: number
  bytesSent: number
  /** sends skipped by the node-wide rate limit */
  rateLimited: number
  /** addresses dropped for lack of consent */
  consentDropped: number
  /** targets the address policy refused */
  refusedTargets: number
  socketsOpen: number
  startedAt: number
}

interface PlannedTarget extends Target {
  /** part of a birthday punch's random-port phase: no consent check */
  consentExempt: boolean
}

interface Sender {
  socket: BoundSocket
  targets: PlannedTarget[]
  next: number
  /** priming position in `targets` (priming is paced too) */
  primed: number
  onlyPrime: boolean
  /** the IPv6 race: starts ahead of the others, at the direct pacing, never primes */
  raced: boolean
}

/** per remote address: datagrams sent there, and whether it ever answered */
interface Consent {
  sent: number
  answered: boolean
}

/**
 * Runs one side's punch plan on real sockets:
 *
 * 1. open the plan's extra sockets and register the session with the probe
 * router of every socket
 * 2. wait the plan's start delay (the start-time sync); when the plan races
 * IPv6, probe the IPv6 candidates from the IPv6 socket at once and let
 * the other sockets start `pacing.ipv4DelayMs` later (happy eyeballs)
 * 3. if the plan primes, send low-TTL datagrams to every target so our NAT
 * opens mappings without the remote filter seeing them, then wait
 * 4. every `intervalMs`, send `probesPerRound` probes from each socket to
 * its next targets, until a path is selected, `budgetMs` passes or
 * `maxProbes` datagrams went out
 * 5. answer every valid probe with an ack from the socket it reached
 * 6. the initiator selects the first path on which a valid probe or ack
 * arrives and sends SELECT on it (again for every later probe on it);
 * the responder takes the path on which SELECT arrives
 * 7. stop sending at once; close every extra socket except the selected one
 *
 * Abort stops sending at once, releases every timer and socket and rejects
 * with AbortError.
 */
export class PunchExecution implements ProbeSession {
  readonly stats: PunchStats
  private readonly init: PunchExecutorInit
  private readonly side: Side
  private readonly peerSide: Side
  private readonly now: () => number
  private readonly random: () => number
  private readonly senders: Sender[] = []
  private readonly extraSockets = new Set<BoundSocket>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly result = Promise.withResolvers<PunchPath>()
  private removeSession?: () => void
  private seq = 0
  private selected?: PunchPath
  private finished = false
  private lastRtt?: number
  private readonly consent = new Map<string, Consent>()
  private plan: PunchPlan
  private budgetTimer?: ReturnType<typeof setTimeout>
  private runStartedAt = 0

  constructor (init: PunchExecutorInit) {
    this.init = init
    this.plan = init.plan
    this.side = init.plan.side
    this.peerSide = this.side === 'initiator' ? 'responder' : 'initiator'
    this.now = init.now ?? (() => performance.timeOrigin + performance.now())
    this.random = init.random ?? Math.random
    this.stats = { probesSent: 0, datagramsSent: 0, bytesSent: 0, rateLimited: 0, consentDropped: 0, refusedTargets: 0, socketsOpen: 0, startedAt: Date.now() }
    // rejections are delivered through run()
    this.result.promise.catch(() => {})
  }

  /**
   * Run the plan; resolves with the selected path
   */
  async run (): Promise<PunchPath> {
    const { signal, log } = this.init
    const plan = this.plan

    if (signal.aborted) {
      throw new AbortError('The punch was aborted before it started')
    }

    const onAbort = (): void => {
      this.fail(new AbortError('The punch was aborted'))
    }
    signal.addEventListener('abort', onAbort, { once: true })

    try {
      // 1. sockets and session registration
      this.removeSession = this.init.router.add(this.init.sessionId, this)
      this.senders.push({
        socket: this.init.mainSocket,
        targets: this.allowed([
          ...plan.lan.map(c => ({ host: c.host, port: c.port, family: c.family, consentExempt: false })),
          ...plan.main.flatMap(spec => this.expand(spec))
        ]),
        next: 0,
        primed: 0,
        onlyPrime: false,
        raced: false
      })

      if (plan.ipv6.length > 0) {
        if (this.init.ipv6Socket == null) {
          log('%s has no IPv6 socket: the IPv6 race is left out', this.side)
        } else {
          this.senders.push({
            socket: this.init.ipv6Socket,
            targets: this.allowed(plan.ipv6.map(c => ({ host: c.host, port: c.port, family: c.family, consentExempt: false }))),
            next: 0,
            primed: 0,
            onlyPrime: false,
            raced: true
          })
        }
      }

      const extraTargets = this.allowed(plan.extra.flatMap(spec => this.expand(spec)))

      for (let i = 0; i < plan.extraSockets; i++) {
        const socket = this.init.openExtraSocket()
        this.extraSockets.add(socket)
        this.senders.push({
          socket,
          targets: extraTargets,
          next: 0,
          primed: 0,
          onlyPrime: plan.priming.enabled && plan.priming.onlyPrime,
          raced: false
        })
      }
      this.stats.socketsOpen = 1 + this.extraSockets.size

      log('%s runs %s (%s) with %d socket(s), budget %d ms, at most %d probes: %s', this.side, plan.strategy, plan.role, this.senders.length, plan.budgetMs, plan.maxProbes, plan.reason)

      // budget: counted from the start signal
      this.runStartedAt = this.now()
      this.scheduleBudget(plan.pacing.startDelayMs + plan.budgetMs)

      // 2. start-time sync
      this.schedule(() => { this.start() }, plan.pacing.startDelayMs)

      // the responder's early probes already reached us (EarlyProbeListener)
      if (this.init.prefound != null && plan.role === 'both') {
        log('%s takes the path the early probes found', this.side)
        this.select(this.init.prefound.socket, this.init.prefound.remote)
      }

      return await this.result.promise
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /**
   * Follow `plan` from now on, in place of the one this execution started
   * with: the responder started early on its own plan and SYNC brought the
   * agreed one (same strategy and targets). Its caps and budget apply; the
   * budget still counts from the start of this execution.
   */
  adopt (plan: PunchPlan): void {
    this.plan = plan

    if (this.finished) {
      return
    }

    this.scheduleBudget(Math.max(0, plan.pacing.startDelayMs + plan.budgetMs - (this.now() - this.runStartedAt)))
  }

  private scheduleBudget (ms: number): void {
    if (this.budgetTimer != null) {
      clearTimeout(this.budgetTimer)
      this.timers.delete(this.budgetTimer)
    }

    const timer = setTimeout(() => {
      this.timers.delete(timer)
      const plan = this.plan
      this.fail(new PunchFailedError(`No direct path within the ${plan.budgetMs} ms budget of ${plan.strategy} after ${this.stats.probesSent} probes from ${this.senders.length} socket(s)`))
    }, ms)
    this.timers.add(timer)
    this.budgetTimer = timer
  }

  /**
   * Release everything: unregister the session (late probes are then
   * dropped) and close extra sockets other than the selected one
   */
  async dispose (): Promise<void> {
    this.finished = true
    this.clearTimers()
    this.removeSession?.()
    this.removeSession = undefined
    await this.releaseSpareSockets()
  }

  /**
   * Close every extra socket except the one of the selected path
   */
  async releaseSpareSockets (): Promise<void> {
    const closing = [...this.extraSockets]
      .filter(socket => socket !== this.selected?.socket)
      .map(async socket => { await this.init.closeSocket(socket) })
    this.extraSockets.clear()
    this.stats.socketsOpen = this.selected?.extraSocket === true ? 1 : 0
    await Promise.all(closing)
  }

  receive (data: Uint8Array, parsed: ProbeDatagram, from: RemoteInfo, socket: BoundSocket): void {
    // throws ProbeAuthenticationError for another sender or a bad MAC: the
    // socket counts it as dropped
    const probe = decodeProbe(data, {
      sessionId: this.init.sessionId,
      secret: this.init.secret,
      sender: this.peerSide
    })

    this.init.log.trace('%s got %s #%d from %s:%d', this.side, probe.type, probe.seq, from.host, from.port)
    this.consentOf(from).answered = true

    switch (probe.type) {
      case 'probe':
        // 5. answer from the socket it reached
        this.send(socket, from, { type: 'ack', seq: probe.seq, timestamp: probe.timestamp }, false)

        if (this.side === 'initiator') {
          if (this.selected == null) {
            this.select(socket, from)
          } else if (this.isSelected(socket, from)) {
            // the responder is still probing: it has not seen SELECT yet
            this.send(socket, from, { type: 'select' }, false)
          }
        }
        break
      case 'ack':
        this.lastRtt = elapsedSince(probe.timestamp, this.now())

        if (this.side === 'initiator' && this.selected == null) {
          this.select(socket, from)
        }
        break
      case 'select':
        if (this.side === 'responder' && this.selected == null) {
          this.select(socket, from)
        }
        break
      case 'abort':
        this.fail(new PunchAbortedByPeerError('The peer aborted the punch'))
        break
      default:
        break
    }
  }

  private start (): void {
    if (this.finished) {
      return
    }

    this.init.onProgress?.(new CustomProgressEvent('punch:probing'))
    const raced = this.senders.filter(s => s.raced)
    const others = this.senders.filter(s => !s.raced)

    if (raced.length === 0) {
      this.startSenders(others)
      return
    }

    // happy eyeballs: IPv6 now, at the direct pacing, the rest after the delay
    this.round(raced)
    this.every(DIRECT_PROBE_INTERVAL_MS, () => { this.round(raced) })
    this.schedule(() => { this.startSenders(others) }, this.plan.pacing.ipv4DelayMs)
  }

  /** priming (if the plan primes), then paced probing rounds of `senders` */
  private startSenders (senders: Sender[]): void {
    const plan = this.plan

    // 3. low-TTL priming
    if (plan.priming.enabled) {
      for (const sender of senders) {
        this.prime(sender)
      }

      if (plan.priming.refreshMs > 0) {
        this.every(plan.priming.refreshMs, () => {
          for (const sender of senders.filter(s => s.onlyPrime)) {
            sender.primed = 0
            this.prime(sender)
          }
        })
      }
    }

    // 4. paced probing
    const firstRound = plan.priming.enabled ? plan.priming.leadMs : 0
    this.schedule(() => {
      this.round(senders)
      this.every(plan.pacing.intervalMs, () => { this.round(senders) })
    }, firstRound)
  }

  /**
   * One round of `senders`: the plan's probes per round each (the IPv6
   * race: each of its targets once)
   */
  private round (senders: Sender[]): void {
    for (const sender of senders) {
      if (sender.onlyPrime || sender.targets.length === 0) {
        continue
      }

      const probes = sender.raced ? sender.targets.length : this.plan.pacing.probesPerRound

      for (let i = 0; i < probes && sender.targets.length > 0; i++) {
        if (!this.budgetLeft()) {
          return
        }

        const index = sender.next % sender.targets.length
        const target = sender.targets[index]

        if (!this.hasConsent(target)) {
          // RFC 7675 idea: an address that never answers stops getting probes
          sender.targets.splice(index, 1)
          this.stats.consentDropped++
          this.init.log('%s stops probing %s:%d: %d datagrams without an authenticated answer', this.side, target.host, target.port, this.consentOf(target).sent)
          continue
        }

        sender.next = index + 1

        if (!this.send(sender.socket, target, { type: 'probe' }, true)) {
          return
        }
      }
    }

    if (this.senders.every(s => s.targets.length === 0)) {
      // nothing left that may be probed: no need to wait out the budget
      this.fail(new PunchFailedError(`No direct path: every target of ${this.plan.strategy} went ${this.init.limits.consentAfter} datagrams without an authenticated answer`))
    }
  }

  /**
   * Send the low-TTL priming datagrams of `sender` that are still due,
   * paced by the node-wide rate limit: what the limit refuses now goes out
   * on a later tick
   */
  private prime (sender: Sender): void {
    while (sender.primed < sender.targets.length) {
      if (!this.budgetLeft()) {
        return
      }

      if (!this.send(sender.socket, sender.targets[sender.primed], { type: 'probe' }, true, this.plan.priming.ttl)) {
        this.schedule(() => { this.prime(sender) }, PRIME_RETRY_MS)
        return
      }

      sender.primed++
    }
  }

  private budgetLeft (): boolean {
    const { limits } = this.init

    return !this.finished &&
      this.stats.probesSent < this.plan.maxProbes &&
      this.stats.datagramsSent < limits.maxDatagrams &&
      this.stats.bytesSent + PROBE_SIZE <= limits.maxBytes
  }

  private expand (spec: Parameters<typeof expandTargets>[0]): PlannedTarget[] {
    const exempt = spec.kind === 'random-ports'

    return expandTargets(spec, this.random).map(t => ({ ...t, consentExempt: exempt }))
  }

  /** the address policy's last word on every target (the planner filters too) */
  private allowed (targets: PlannedTarget[]): PlannedTarget[] {
    const allows = this.init.limits.allows

    if (allows == null) {
      return targets
    }

    return targets.filter(t => {
      if (allows(t.host)) {
        return true
      }

      this.stats.refusedTargets++
      return false
    })
  }

  private consentOf (to: { host: string, port: number }): Consent {
    const key = `${to.host}|${to.port}`
    let consent = this.consent.get(key)

    if (consent == null) {
      consent = { sent: 0, answered: false }
      this.consent.set(key, consent)
    }

    return consent
  }

  private hasConsent (target: PlannedTarget): boolean {
    if (target.consentExempt) {
      return true
    }

    const consent = this.consentOf(target)

    return consent.answered || consent.sent < this.init.limits.consentAfter
  }

  /**
   * Send one datagram within the session's caps and (for probes) the
   * node-wide rate. Returns false when a cap or the rate refused it.
   */
  private send (socket: BoundSocket, to: { host: string, port: number }, message: { type: ProbeType, seq?: number, timestamp?: number }, counts: boolean, ttl?: number): boolean {
    if (socket.closed) {
      return true
    }

    const { limits } = this.init

    if (this.stats.datagramsSent >= limits.maxDatagrams || this.stats.bytesSent + PROBE_SIZE > limits.maxBytes) {
      return false
    }

    if (counts && limits.rate != null && !limits.rate.take()) {
      this.stats.rateLimited++
      return false
    }

    const datagram = encodeProbe({
      type: message.type,
      sender: this.side,
      sessionId: this.init.sessionId,
      seq: message.seq ?? (this.seq = (this.seq + 1) >>> 0),
      timestamp: message.timestamp ?? probeTimestamp(this.now())
    }, this.init.secret)

    if (counts) {
      this.stats.probesSent++
      this.consentOf(to).sent++
    }

    this.stats.datagramsSent++
    this.stats.bytesSent += datagram.byteLength

    socket.send(datagram, to.port, to.host, ttl).catch((err: Error) => {
      this.init.log.trace('probe to %s:%d failed - %e', to.host, to.port, err)
    })

    return true
  }

  private select (socket: BoundSocket, remote: RemoteInfo): void {
    if (this.finished) {
      return
    }

    this.finished = true
    this.clearTimers()
    this.selected = {
      socket,
      extraSocket: socket !== this.init.mainSocket && socket !== this.init.ipv6Socket,
      remote: { ...remote },
      rttMs: this.lastRtt
    }

    this.init.log('%s selected path %s:%d -> %s:%d after %d probes', this.side, socket.address().host, socket.address().port, remote.host, remote.port, this.stats.probesSent)
    this.init.onProgress?.(new CustomProgressEvent('punch:path-found', { host: remote.host, port: remote.port }))

    if (this.side === 'initiator') {
      // 6. tell the responder at once, before our first UDX packet, and a
      // few more times in case one is lost; later probes on the path are
      // answered with SELECT as well (see receive)
      this.send(socket, remote, { type: 'select' }, false)

      for (const delay of PUNCH_SELECT_REPEATS_MS) {
        const timer = setTimeout(() => {
          this.timers.delete(timer)
          this.send(socket, remote, { type: 'select' }, false)
        }, delay)
        this.timers.add(timer)
      }
    }

    this.result.resolve(this.selected)
  }

  private isSelected (socket: BoundSocket, remote: RemoteInfo): boolean {
    return this.selected?.socket === socket && this.selected.remote.host === remote.host && this.selected.remote.port === remote.port
  }

  private fail (err: Error): void {
    if (this.finished && this.selected != null) {
      return
    }

    this.finished = true
    this.clearTimers()
    this.init.log('%s punch ended without a path - %e', this.side, err)
    this.result.reject(err)
  }

  private schedule (fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn()
    }, ms)
    this.timers.add(timer)
  }

  private every (ms: number, fn: () => void): void {
    const timer = setInterval(fn, Math.max(1, ms))
    this.timers.add(timer)
  }

  private clearTimers (): void {
    // timers scheduled for SELECT repeats after selection are kept until dispose
    for (const timer of this.timers) {
      clearTimeout(timer)
      clearInterval(timer)
    }
    this.timers.clear()
  }
}
