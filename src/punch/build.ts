/**
 * One side's PunchPlan from the pair decision (the PlanSummary). Pure.
 *
 * Pacing is fixed by the strategy and the role (constants.ts): no summary
 * field sets an interval or a per-socket rate. What a summary can change is
 * how many targets a round covers (`window`, `randomPorts` of an in-order
 * burst) and how many sockets send (`*ExtraSockets`), and a responder that
 * enforces its own limits (check.ts) refuses any of them above its own
 * decision; `planPeakRate` gives the resulting datagram rate.
 */

import {
  BIRTHDAY_PRIME_LEAD_MS,
  BIRTHDAY_PROBE_INTERVAL_MS,
  BIRTHDAY_PROBES_PER_ROUND,
  BURST_REPEAT_INTERVAL_MS,
  DEFAULT_PRIME_TTL,
  DIRECT_PROBE_INTERVAL_MS,
  IPV4_RACE_MAX_DELAY_MS,
  IPV4_RACE_MIN_DELAY_MS,
  MAX_TARGET_IPS_PER_SESSION,
  MAX_TARGETS_PER_ROUND,
  PRIME_LEAD_MS,
  PRIME_REFRESH_MS,
  PRIMING_DATAGRAMS_PER_SECOND,
  PUNCHED_PATH_KEEPALIVE_MS,
  SEQ_ROUND_INTERVAL_MS
} from '../constants.ts'
import { canonicalHost } from '../nat/ip.ts'
import { orderCandidates, other, reliabilityOf } from './pair-view.ts'
import { refusePlan } from './refusal.ts'
import { targetCount } from './targets.ts'
import { birthdaySuccessProbability, syncStartDelayMs, windowBirthdaySuccessProbability } from './timing.ts'
import type { PairView, PeerView } from './pair-view.ts'
import type { Candidate, CandidateKind, PairClass, PairStrategy, PlanInput, PlanSummary, Priming, PunchPlan, PunchRole, PunchStrategy, Side, TargetSpec } from './plan.ts'

type Draft = Omit<PunchPlan, 'maxProbes' | 'reason'>

/**
 * Our side of the pair decision. `noneReason` explains a none-fallback.
 * Throws PlanRejectedError (cause `structure`) when the summary aims at an
 * address or a prediction the peer never gave.
 */
export function buildSide (summary: PlanSummary, input: PlanInput, view: PairView, side: Side, noneReason?: string): PunchPlan {
  const us = view[side]
  const peer = view[other(side)]
  const { role, extraSockets } = sideOf(summary, side)
  const { lowTtl, noPriming, priming } = primingOf(input)
  const preferred = input.history?.preferredKinds ?? []
  const startDelayMs = syncStartDelayMs(side, input.rttMs)
  const lanCandidates = summary.raceLan ? orderCandidates(peer.lan, preferred, us.families) : []
  const { ipv6Candidates, ipv4DelayMs } = ipv6RaceOf(summary, peer, preferred, input.rttMs)
  let capped = 0

  /** the peer's NAT, LAN and IPv6 candidates within the distinct-IP cap */
  const targets = (fixedHost: string | undefined, list: Candidate[]): { list: Candidate[], lan: Candidate[], ipv6: Candidate[] } => {
    const out = capTargetIps(fixedHost, list, lanCandidates, ipv6Candidates)
    capped = list.length + lanCandidates.length + ipv6Candidates.length - out.list.length - out.lan.length - out.ipv6.length
    return out
  }

  const base = {
    side,
    pairStrategy: summary.strategy,
    strategy: sideStrategy(summary.strategy, role),
    role,
    pairClass: view.pairClass,
    budgetMs: summary.budgetMs,
    keepaliveIntervalMs: PUNCHED_PATH_KEEPALIVE_MS,
    expectedSuccess: expectedSuccess(summary, view)
  }

  const finish = (plan: Draft): PunchPlan => ({
    ...plan,
    maxProbes: maxProbesOf(plan),
    reason: reasonFor(summary, role, view.pairClass, plan, noneReason, peer.refused + capped)
  })

  switch (role) {
    case 'none':
      return finish({
        ...base,
        main: [],
        extraSockets: 0,
        extra: [],
        lan: [],
        ipv6: [],
        pacing: { startDelayMs: 0, intervalMs: DIRECT_PROBE_INTERVAL_MS, probesPerRound: 0, ipv4DelayMs: 0 },
        priming: noPriming,
        budgetMs: 0
      })
    case 'both': {
      if (summary.strategy === 'predict-both') {
        const window = predictedWindowSpec(peer, summary.window)
        const { lan, ipv6 } = targets(window.host, [])

        return finish({
          ...base,
          main: [window],
          extraSockets: 0,
          extra: [],
          lan,
          ipv6,
          pacing: { startDelayMs, intervalMs: SEQ_ROUND_INTERVAL_MS, probesPerRound: window.count, ipv4DelayMs },
          priming
        })
      }

      // lan and ipv6: no NAT target, only the race(s)
      const raceOnly = summary.strategy === 'lan' || summary.strategy === 'ipv6'
      const ordered = raceOnly ? [] : orderCandidates(peer.nat, preferred, us.families)
      const { list, lan, ipv6 } = targets(undefined, ordered)

      return finish({
        ...base,
        main: list.length > 0 ? [{ kind: 'list', candidates: list }] : [],
        extraSockets: 0,
        extra: [],
        lan,
        ipv6,
        pacing: { startDelayMs, intervalMs: DIRECT_PROBE_INTERVAL_MS, probesPerRound: Math.min(MAX_TARGETS_PER_ROUND, list.length), ipv4DelayMs },
        priming: raceOnly ? noPriming : priming
      })
    }
    case 'predictor': {
      const window = predictedWindowSpec(peer, summary.window)
      const { list, lan, ipv6 } = targets(window.host, orderCandidates(peer.nat, preferred, us.families))
      const main: TargetSpec[] = [window]

      if (list.length > 0) {
        main.push({ kind: 'list', candidates: list })
      }

      return finish({
        ...base,
        main,
        extraSockets: 0,
        extra: [],
        lan,
        ipv6,
        pacing: { startDelayMs, intervalMs: SEQ_ROUND_INTERVAL_MS, probesPerRound: window.count + list.length, ipv4DelayMs },
        priming
      })
    }
    case 'predicted': {
      // the peer's mapping first: our NAT must allocate the predicted port for it
      const { list, lan, ipv6 } = targets(undefined, orderCandidates(peer.nat, ['public', ...preferred], us.families))

      return finish({
        ...base,
        main: list.length > 0 ? [{ kind: 'list', candidates: list }] : [],
        extraSockets: 0,
        extra: [],
        lan,
        ipv6,
        pacing: { startDelayMs, intervalMs: SEQ_ROUND_INTERVAL_MS, probesPerRound: Math.min(MAX_TARGETS_PER_ROUND, list.length), ipv4DelayMs },
        priming
      })
    }
    case 'many-sockets': {
      // prime towards the cone's mapping, or towards the sequential peer's predicted ports
      const spec: TargetSpec = peer.natClass === 'seq'
        ? predictedWindowSpec(peer, summary.window)
        : { kind: 'list', candidates: [requirePrimary(peer)] }
      const { lan, ipv6 } = targets(spec.kind === 'window' ? spec.host : spec.candidates[0].host, [])

      return finish({
        ...base,
        main: [spec],
        extraSockets,
        extra: [spec],
        lan,
        ipv6,
        pacing: { startDelayMs, intervalMs: PRIME_REFRESH_MS, probesPerRound: targetCount(spec), ipv4DelayMs },
        priming: { enabled: true, ttl: lowTtl, leadMs: 0, refreshMs: PRIME_REFRESH_MS, onlyPrime: true }
      })
    }
    default: {
      // random-ports
      const host = requirePrimary(peer)
      const peerSockets = side === 'initiator' ? summary.responderExtraSockets : summary.initiatorExtraSockets
      const spec: TargetSpec = { kind: 'random-ports', host: host.host, family: host.family, count: summary.randomPorts }
      const { lan, ipv6 } = targets(host.host, [])

      return finish({
        ...base,
        main: [spec],
        extraSockets: 0,
        extra: [],
        lan,
        ipv6,
        pacing: us.natClass === 'seq'
          // one burst in order so our NAT allocates the predicted ports, then repeats
          ? { startDelayMs: startDelayMs + primingLeadMs(peerSockets, summary.window), intervalMs: BURST_REPEAT_INTERVAL_MS, probesPerRound: spec.count, ipv4DelayMs }
          : { startDelayMs: startDelayMs + BIRTHDAY_PRIME_LEAD_MS, intervalMs: BIRTHDAY_PROBE_INTERVAL_MS, probesPerRound: BIRTHDAY_PROBES_PER_ROUND, ipv4DelayMs },
        priming: noPriming
      })
    }
  }
}

function sideOf (summary: PlanSummary, side: Side): { role: PunchRole, extraSockets: number } {
  return side === 'initiator'
    ? { role: summary.initiatorRole, extraSockets: summary.initiatorExtraSockets }
    : { role: summary.responderRole, extraSockets: summary.responderExtraSockets }
}

function primingOf (input: PlanInput): { lowTtl: number, noPriming: Priming, priming: Priming } {
  const lowTtl = input.options?.lowTtl ?? DEFAULT_PRIME_TTL

  return {
    lowTtl,
    noPriming: { enabled: false, ttl: lowTtl, leadMs: 0, refreshMs: 0, onlyPrime: false },
    priming: { enabled: true, ttl: lowTtl, leadMs: PRIME_LEAD_MS, refreshMs: 0, onlyPrime: false }
  }
}

/**
 * The most datagrams per second `plan` sends at its full pace: its probing
 * rounds (every sending socket's probes plus the LAN targets, per interval,
 * and the raced IPv6 targets at the direct pacing),
 * or its priming burst spread over the lead the plan gives it (as fast as
 * PRIMING_DATAGRAMS_PER_SECOND at most), whichever is higher. For a
 * node-wide rate limit: the sum over running sessions is what they ask for.
 */
export function planPeakRate (plan: PunchPlan): number {
  if (plan.role === 'none') {
    return 0
  }

  const perSocket = plan.main.reduce((n, s) => n + targetCount(s), 0)
  const extraPerSocket = plan.extra.reduce((n, s) => n + targetCount(s), 0)
  const probingSockets = 1 + (plan.priming.enabled && plan.priming.onlyPrime ? 0 : plan.extraSockets)
  const probing = (Math.min(plan.pacing.probesPerRound, perSocket) * probingSockets + plan.lan.length) * 1000 / Math.max(1, plan.pacing.intervalMs) +
    plan.ipv6.length * 1000 / DIRECT_PROBE_INTERVAL_MS

  if (!plan.priming.enabled) {
    return probing
  }

  const primingDatagrams = perSocket + plan.lan.length + plan.extraSockets * extraPerSocket
  const leadMs = plan.priming.leadMs > 0 ? plan.priming.leadMs : BIRTHDAY_PRIME_LEAD_MS
  const primingRate = Math.min(PRIMING_DATAGRAMS_PER_SECOND, primingDatagrams * 1000 / leadMs)

  return Math.max(probing, primingRate)
}

/**
 * The addresses of the peer that one side's plan may aim at: at most
 * MAX_TARGET_IPS_PER_SESSION distinct IPs. The host of a window or of random
 * ports comes first, then the best NAT candidate, then the best LAN
 * candidate (a LAN race keeps at least one LAN IP), then the best IPv6
 * candidate, then the rest in order.
 */
function capTargetIps (fixedHost: string | undefined, list: Candidate[], lan: Candidate[], ipv6: Candidate[]): { list: Candidate[], lan: Candidate[], ipv6: Candidate[] } {
  const ips = new Set<string>()
  const admit = (host: string): boolean => {
    const ip = canonicalHost(host)

    if (ips.has(ip)) {
      return true
    }

    if (ips.size >= MAX_TARGET_IPS_PER_SESSION) {
      return false
    }

    ips.add(ip)
    return true
  }

  for (const host of [fixedHost, list[0]?.host, lan[0]?.host, ipv6[0]?.host]) {
    if (host != null) {
      admit(host)
    }
  }

  return {
    list: list.filter(c => admit(c.host)),
    lan: lan.filter(c => admit(c.host)),
    ipv6: ipv6.filter(c => admit(c.host))
  }
}

/** the peer's raced IPv6 candidates and the IPv4 delay, when the pair races IPv6 */
function ipv6RaceOf (summary: PlanSummary, peer: PeerView, preferred: CandidateKind[], rttMs: number): { ipv6Candidates: Candidate[], ipv4DelayMs: number } {
  if (!summary.raceIpv6) {
    return { ipv6Candidates: [], ipv4DelayMs: 0 }
  }

  return { ipv6Candidates: orderCandidates(peer.ipv6, preferred, new Set([6])), ipv4DelayMs: ipv4RaceDelayMs(rttMs) }
}

/**
 * How long the main family (IPv4) waits behind the raced IPv6 probes: the
 * relayed RTT within IPV4_RACE_MIN_DELAY_MS..IPV4_RACE_MAX_DELAY_MS (happy
 * eyeballs, RFC 8305)
 */
export function ipv4RaceDelayMs (rttMs: number): number {
  return Math.round(Math.min(IPV4_RACE_MAX_DELAY_MS, Math.max(IPV4_RACE_MIN_DELAY_MS, rttMs)))
}

function sideStrategy (strategy: PairStrategy, role: PunchRole): PunchStrategy {
  if (strategy === 'birthday') {
    return role === 'many-sockets' ? 'birthday-many-sockets' : 'birthday-probe-random-ports'
  }

  return strategy
}

function maxProbesOf (plan: Draft): number {
  if (plan.role === 'none') {
    return 0
  }

  const active = Math.max(0, plan.budgetMs - plan.pacing.startDelayMs)
  const rounds = Math.max(1, Math.ceil(active / Math.max(1, plan.pacing.intervalMs)))
  // LAN targets every round, raced IPv6 targets at the direct pacing for the whole budget
  const raced = rounds * plan.lan.length + Math.ceil(plan.budgetMs / DIRECT_PROBE_INTERVAL_MS) * plan.ipv6.length

  if (plan.role === 'random-ports') {
    const distinct = plan.main.reduce((n, s) => n + targetCount(s), 0)

    // in-order bursts (we are the sequential side) repeat the same ports;
    // otherwise every port is probed once
    return (plan.pacing.probesPerRound >= distinct ? rounds * distinct : distinct) + raced
  }

  const perRound = plan.pacing.probesPerRound * (1 + plan.extraSockets)
  const priming = plan.priming.enabled && !plan.priming.onlyPrime ? plan.pacing.probesPerRound : 0

  return rounds * perRound + priming + raced
}

function expectedSuccess (summary: PlanSummary, view: PairView): number {
  switch (summary.strategy) {
    case 'none-fallback':
      return 0
    case 'lan':
    case 'ipv6':
      return 0.9
    case 'direct-cone':
      return view.initiator.natClass === 'unknown' || view.responder.natClass === 'unknown' ? 0.5 : 0.95
    case 'predict-sequential': {
      const seq = summary.initiatorRole === 'predicted' ? view.initiator : view.responder

      return 0.9 * reliabilityOf(seq.info.profile)
    }
    case 'predict-both':
      return 0.5 * reliabilityOf(view.initiator.info.profile) * reliabilityOf(view.responder.info.profile)
    default: {
      // birthday
      const sockets = summary.initiatorExtraSockets + summary.responderExtraSockets
      const probeSide = summary.initiatorRole === 'many-sockets' ? view.responder : view.initiator

      if (probeSide.natClass === 'seq') {
        return windowBirthdaySuccessProbability(sockets + 1, summary.window, reliabilityOf(probeSide.info.profile))
      }

      return birthdaySuccessProbability(sockets, summary.randomPorts)
    }
  }
}

function reasonFor (summary: PlanSummary, role: PunchRole, pairClass: PairClass, plan: Draft, noneReason: string | undefined, skipped: number): string {
  const lan = (plan.lan.length > 0 ? `; racing ${plan.lan.length} LAN candidate(s) (same public IP)` : '') +
    (plan.ipv6.length > 0 && summary.strategy !== 'ipv6' ? `; racing ${plan.ipv6.length} IPv6 candidate(s), IPv4 ${plan.pacing.ipv4DelayMs} ms later` : '')
  const pct = `${Math.round(plan.expectedSuccess * 100)}%`
  const policy = skipped > 0 && summary.strategy !== 'none-fallback' ? `; ${skipped} announced address(es) not targeted (address policy, at most ${MAX_TARGET_IPS_PER_SESSION} IPs)` : ''

  switch (summary.strategy) {
    case 'none-fallback':
      return `${pairClass}: ${noneReason ?? 'no strategy can open a direct path, use the relay'}`
    case 'lan':
      return `${pairClass}: NATs cannot be punched, but both peers share a public IP: trying ${plan.lan.length} LAN candidate(s) only${policy}`
    case 'ipv6':
      return `${pairClass}: nothing to punch over IPv4, but both peers have public IPv6 addresses (no NAT, firewalls open like cones): probing ${plan.ipv6.length} IPv6 candidate(s) (${summary.budgetMs} ms)${lan}${policy}`
    case 'direct-cone':
      if (pairClass.includes('unknown')) {
        return `${pairClass}: NAT type unknown, one short direct attempt (${summary.budgetMs} ms)${lan}${policy}`
      }

      if (pairClass.includes('cone') && (pairClass.includes('seq') || pairClass.includes('random'))) {
        return `${pairClass}: the cone's EIF/ADF filter opens for the symmetric peer's IP, so its probes from the main socket get through without a birthday punch${lan}${policy}`
      }

      return `${pairClass}: both mappings are endpoint independent, probe each other's mapped address (${summary.budgetMs} ms)${lan}${policy}`
    case 'predict-sequential':
      return role === 'predictor'
        ? `${pairClass}: probe ${summary.window} predicted ports of the sequential NAT every ${plan.pacing.intervalMs} ms (~${pct})${lan}${policy}`
        : `${pairClass}: send to the peer's mapping first so our NAT allocates the predicted port (~${pct})${lan}${policy}`
    case 'predict-both':
      return `${pairClass}: both NATs sequential, each probes ${summary.window} predicted ports in order (stretch, ~${pct})${lan}${policy}`
    default:
      // birthday
      return role === 'many-sockets'
        ? `${pairClass}: birthday, open ${plan.extraSockets} extra sockets and prime them with TTL ${plan.priming.ttl} (~${pct})${lan}${policy}`
        : `${pairClass}: birthday, probe ${summary.randomPorts} random ports of ${plan.main[0]?.kind === 'random-ports' ? plan.main[0].host : 'the peer'} (~${pct})${lan}${policy}`
  }
}

function requirePrimary (peer: PeerView): Candidate {
  if (peer.primary == null) {
    return refusePlan('structure', 'the plan aims at the peer\'s public IP, which the peer did not announce as a usable public address')
  }

  return peer.primary
}

function predictedWindowSpec (peer: PeerView, count: number): TargetSpec & { kind: 'window' } {
  const p = peer.prediction

  if (p == null) {
    return refusePlan('structure', 'the plan predicts ports of a NAT whose allocation is not predictable from a usable public address')
  }

  return { kind: 'window', host: p.host, family: p.family, first: p.first, step: p.step, count: Math.max(1, count) }
}

/**
 * How long the many-sockets side needs to prime sockets × window mappings
 * before the other side's probes may arrive, ms
 */
export function primingLeadMs (sockets: number, window: number): number {
  return BIRTHDAY_PRIME_LEAD_MS + Math.ceil((sockets + 1) * Math.max(1, window) / PRIMING_DATAGRAMS_PER_SECOND * 1000)
}
