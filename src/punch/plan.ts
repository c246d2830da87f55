/**
 * Types of the punch layer: candidates, the pair-level decision both sides
 * agree on (`PlanSummary`, sent in SYNC) and the per-side `PunchPlan` the
 * executor runs. Types only.
 */

import type { AddressScopeOverride } from './address-policy.ts'
import type { NatProfile } from '../nat/nat-profile.ts'

/**
 * Where a candidate address comes from:
 * - `public` a public mapping from the NatProfile (STUN, RFC 5780 tests)
 * - `observed` an address a remote peer saw us at (identify observed addrs)
 * - `lan` a local interface address (only useful behind the same public IP)
 * - `predicted` a port we expect our NAT to allocate next
 */
export type CandidateKind = 'public' | 'lan' | 'predicted' | 'observed'

export interface Candidate {
  /** IPv4 or IPv6 address, no brackets, RFC 5952 form for IPv6 */
  host: string
  port: number
  family: 4 | 6
  kind: CandidateKind
  /** free text for logs: 'stun:203.0.113.1', 'identify', 'interface:eth0', 'offer' */
  source: string
}

/** Coordination roles: the initiator sends OFFER and SYNC and dials UDX/Noise */
export type Side = 'initiator' | 'responder'

/**
 * What the pair does, agreed by both sides (the offerer decides, SYNC
 * carries it).
 */
export type PairStrategy =
  | 'direct-cone'
  | 'predict-sequential'
  | 'birthday'
  | 'predict-both'
  | 'lan'
  | 'ipv6'
  | 'none-fallback'

/**
 * What one side does in the pair strategy:
 * - `both` symmetric: probe the other side's candidates (direct-cone, lan)
 * - `predictor` probe a window of the other side's predicted ports
 * - `predicted` send to the other side's fixed mapping (our NAT allocates the
 * port the predictor aims at, so send there FIRST, before any other new
 * destination)
 * - `many-sockets` open extra sockets and prime them towards the other side
 * - `random-ports` probe random ports of the other side's public IP
 * - `none` do not punch
 */
export type PunchRole = 'both' | 'predictor' | 'predicted' | 'many-sockets' | 'random-ports' | 'none'

/**
 * One side's strategy, as named in the design. The pair strategy `birthday`
 * splits into `birthday-many-sockets` and `birthday-probe-random-ports`.
 */
export type PunchStrategy =
  | 'direct-cone'
  | 'predict-sequential'
  | 'birthday-many-sockets'
  | 'birthday-probe-random-ports'
  | 'predict-both'
  | 'lan'
  | 'ipv6'
  | 'none-fallback'

/**
 * The NAT of one side as the planner sees it
 * - `open` no NAT, or a full cone (EIM + EIF): anything reaches it
 * - `cone` EIM with ADF/APDF (or unknown) filtering
 * - `seq` ADM/APDM with predictable (sequential or preserving) allocation
 * - `random` ADM/APDM with random or unpredictable allocation
 * - `unknown` not classified
 */
export type NatClass = 'open' | 'cone' | 'seq' | 'random' | 'unknown'

/**
 * `${NatClass}~${NatClass}`, the two classes in a fixed order (the order of
 * the NatClass union), so both sides name the pair the same way
 */
export type PairClass = `${NatClass}~${NatClass}`

/**
 * Where probes from one socket go. The executor cycles through the expanded
 * targets (see `expandTargets` in targets.ts) round after round until the
 * budget or the probe limit is reached.
 */
export type TargetSpec =
  /** exactly these addresses, in this order */
  | { kind: 'list', candidates: Candidate[] }
  /** ports first + i·step for i = 0..count-1 (wrapping inside the NAT port range) of host */
  | { kind: 'window', host: string, family: 4 | 6, first: number, step: number, count: number }
  /** `count` distinct random ports of host inside NAT_PORT_MIN..NAT_PORT_MAX, then the same ones again */
  | { kind: 'random-ports', host: string, family: 4 | 6, count: number }

export interface Pacing {
  /** wait this long after the start signal (initiator: after sending SYNC; responder: on receiving it) */
  startDelayMs: number
  /** ms between rounds */
  intervalMs: number
  /** probes sent per round from each socket (the first of them go to the first targets) */
  probesPerRound: number
  /**
   * Racing IPv6 (`PunchPlan.ipv6` not empty): the main socket's probes
   * (IPv4), its priming and the extra sockets' start this long after the
   * IPv6 probes (happy eyeballs); 0 otherwise
   */
  ipv4DelayMs: number
}

export interface Priming {
  /** send one low-TTL datagram to each target before the first normal probe */
  enabled: boolean
  /** TTL / hop limit of priming datagrams */
  ttl: number
  /** wait this long after priming before normal-TTL probes, ms */
  leadMs: number
  /**
   * Resend the priming datagrams this often, ms (0: never). With
   * `onlyPrime` this keeps the mappings of sockets that never send a
   * normal-TTL probe alive.
   */
  refreshMs: number
  /**
   * true: this side's probes from these sockets are only ever low-TTL (the
   * birthday many-sockets side: a normal packet reaching the remote cone NAT
   * would create a flow there that clashes with the remote's own probe and
   * makes its NAT pick another port). It answers valid probes with normal
   * TTL.
   */
  onlyPrime: boolean
}

/**
 * The pair-level decision, identical on both sides. Sent in SYNC.
 */
export interface PlanSummary {
  strategy: PairStrategy
  /** each side gives up this long after its start signal, ms */
  budgetMs: number
  initiatorRole: PunchRole
  responderRole: PunchRole
  initiatorExtraSockets: number
  responderExtraSockets: number
  /** predicted-port window size (predict-*, and birthday against a sequential NAT), 0 if unused */
  window: number
  /** distinct random ports the `random-ports` side probes, 0 if unused */
  randomPorts: number
  /** both sides also probe each other's LAN candidates */
  raceLan: boolean
  /**
   * both sides also probe each other's public IPv6 candidates from their
   * IPv6 sockets, before the main plan's IPv4 probes (happy eyeballs); only
   * when both announced FEATURE_IPV6_RACE
   */
  raceIpv6: boolean
}

/**
 * What ONE side does
 */
export interface PunchPlan {
  side: Side
  pairStrategy: PairStrategy
  strategy: PunchStrategy
  role: PunchRole
  /** the pair class both sides computed, for history and metrics */
  pairClass: PairClass
  /** probes from the main socket (the one the NAT profile and the UDX listener use) */
  main: TargetSpec[]
  /** extra sockets to open (0..256); each probes `extra` */
  extraSockets: number
  extra: TargetSpec[]
  /** LAN candidates of the other side, raced from the main socket (empty if not racing) */
  lan: Candidate[]
  /**
   * public IPv6 candidates of the other side, raced from our IPv6 socket
   * at the direct pacing, `pacing.ipv4DelayMs` ahead of the main socket
   * (empty if not racing IPv6)
   */
  ipv6: Candidate[]
  pacing: Pacing
  priming: Priming
  /** give up this long after the start signal, ms */
  budgetMs: number
  /** most datagrams this side sends (probes and priming, not acks) */
  maxProbes: number
  /** keepalive interval on the chosen path after success, ms */
  keepaliveIntervalMs: number
  /** the planner's model probability that the pair succeeds, 0..1 */
  expectedSuccess: number
  /** why, for logs and events */
  reason: string
}

/**
 * What one side announces about itself in OFFER / ANSWER
 */
export interface PeerPunchInfo {
  profile: NatProfile
  candidates: Candidate[]
  /** how many extra sockets this side may open (0..256) */
  maxExtraSockets: number
}

/**
 * Advice derived from our punch history (see history.ts)
 */
export interface HistoryAdvice {
  /** do not punch: go to the relay fallback */
  skip: boolean
  /** why skip (or why the budget was cut) */
  reason: string
  /** when (clock ms) a skipped pair may be tried again */
  retryAt?: number
  /**
   * what decided the skip (set only when `skip`): this peer's failures, its
   * NAT-pair class's failures with several peers, or this peer's protocol
   * violation. A skip is not a punch failure: do not record it as one.
   */
  skipSource?: 'peer' | 'class' | 'violation'
  /** candidate kinds that worked with this peer, best first */
  preferredKinds: CandidateKind[]
  /** upper bound for the budget from remembered successes, ms */
  budgetCapMs?: number
}

/**
 * Local knobs that need not agree between the sides
 */
export interface PlannerOptions {
  /** TTL of priming datagrams (default DEFAULT_PRIME_TTL) */
  lowTtl?: number
  /**
   * aim for this success probability when sizing birthday punches (default
   * BIRTHDAY_TARGET_SUCCESS). A responder checking a SYNC sizes with its own
   * value, so an initiator aiming higher than its peer gets its plan refused.
   */
  targetSuccess?: number
  /**
   * Test/lab-only: the scope of some addresses (e.g. the lab's documentation
   * ranges as LAN addresses); undefined for an address keeps the default of
   * `addressScope` (src/punch/address-policy.ts). Both sides must use the
   * same override: the pair decision depends on it.
   */
  addressScope?: AddressScopeOverride
}

export interface PlanInput {
  initiator: PeerPunchInfo
  responder: PeerPunchInfo
  /**
   * relayed RTT, ms: on the initiator OFFER sent → ANSWER received (minus the
   * responder's ANSWER.hold_ms); on a responder checking SYNC against its
   * own plan, its own measurement ANSWER sent → SYNC received (see
   * `checkSummaryWithinOwnPlan` for the tolerance)
   */
  rttMs: number
  /** clock, ms since the epoch, only used to age NAT observations */
  now: number
  /**
   * our history's advice about this peer / pair class: the initiator's
   * shapes the plan; a responder's skip makes it refuse SYNC (as its own
   * decision, see `checkSummaryWithinOwnPlan`)
   */
  history?: HistoryAdvice
  /**
   * Both peers announced FEATURE_IPV6_RACE: the main plan aims at IPv4
   * candidates only, and IPv6 candidates are raced beside it (`raceIpv6`)
   *
   * @default false
   */
  ipv6Race?: boolean
  options?: PlannerOptions
}

export interface PairPlan {
  summary: PlanSummary
  initiator: PunchPlan
  responder: PunchPlan
}

/**
 * Options of `planFromSummary`
 */
export interface FollowOptions {
  /**
   * Also refuse a summary that asks more of us than our own pair decision
   * from the same inputs (`checkSummaryWithinOwnPlan`). The responder sets
   * it, with its own measured RTT in `input.rttMs`.
   */
  enforceOwnLimits?: boolean
}

/**
 * Who a refused SYNC should be blamed on, carried as the `cause` of the
 * PlanRejectedError that `planFromSummary` / `checkSummaryWithinOwnPlan`
 * throw (read it with `planRefusalOf`):
 * - `structure` the summary cannot be followed at all (roles that do not fit
 * the strategy, more sockets than we offered, a target we were never told):
 * a protocol violation, an honest peer never sends it
 * - `limits` the summary asks for more than our own decision from the same
 * inputs (another strategy or roles, more sockets, a wider window, more
 * random ports, a longer budget, a LAN race): a protocol violation, except
 * for an honest initiator whose relayed RTT exceeded our tolerance
 * - `history` our own punch history says not to punch this peer or its
 * NAT-pair class now: not the peer's fault and not a punch failure, so do
 * not record it as either
 */
export type PlanRefusalSource = 'structure' | 'limits' | 'history'

export interface PlanRefusal {
  source: PlanRefusalSource
  /** the summary field that asked for too much or broke a rule, if one did */
  field?: keyof PlanSummary
  /** `history` only: what decided our skip (HistoryAdvice.skipSource) */
  skipSource?: HistoryAdvice['skipSource']
}
