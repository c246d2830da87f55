/**
 * The planner's view of the two peers: the NAT class of each, and the
 * addresses of each that the other side may aim at under the address
 * policy (src/punch/address-policy.ts). Pure.
 *
 * Target rules (docs/PROTOCOL.md section 6, "Targets"):
 * - a forbidden address is never a target;
 * - NAT-facing targets (public mappings, public/observed/predicted
 * candidates, and the host of a window or of random ports) must be public;
 * - LAN candidates (public or private) are raced only when both peers
 * report the same public IP;
 * - one side's plan aims at no more than MAX_TARGET_IPS_PER_SESSION distinct
 * IPs, LAN and IPv6 included (applied in build.ts);
 * - with the IPv6 race (both peers announced FEATURE_IPV6_RACE) the main
 * plan aims at IPv4 addresses only, and public IPv6 candidates are raced
 * from the IPv6 socket when both peers have some.
 */

import {
  MAX_PLAN_WINDOW,
  MIN_TRUSTED_FILTERING_CONFIDENCE,
  SEQ_MIN_RELIABILITY
} from '../constants.ts'
import { canonicalHost } from '../nat/ip.ts'
import { addressPolicy } from './address-policy.ts'
import { wrapPort } from './targets.ts'
import { predictionWindow } from './timing.ts'
import type { AddressPolicy } from './address-policy.ts'
import type { Candidate, CandidateKind, NatClass, PairClass, PeerPunchInfo, PlanInput, Side } from './plan.ts'
import type { NatProfile } from '../nat/nat-profile.ts'

const NAT_CLASS_ORDER: NatClass[] = ['open', 'cone', 'seq', 'random', 'unknown']
const DEFAULT_KIND_ORDER: CandidateKind[] = ['public', 'observed', 'predicted', 'lan']

/**
 * The planner's view of one NAT:
 * - public reachability, or EIM + EIF trusted → `open`
 * - EIM → `cone`
 * - ADM/APDM with preserving allocation, or sequential allocation with
 * reliability ≥ SEQ_MIN_RELIABILITY and a known public address → `seq`
 * - other ADM/APDM → `random` (ADM is treated like APDM: the mapping towards
 * the peer is new, so the observed port says nothing about it)
 * - unknown mapping → `unknown`
 */
export function classifyNat (profile: NatProfile): NatClass {
  if (profile.reachability === 'public') {
    return 'open'
  }

  switch (profile.mapping) {
    case 'EIM':
      if (profile.filtering === 'EIF' && profile.confidence >= MIN_TRUSTED_FILTERING_CONFIDENCE) {
        return 'open'
      }

      return 'cone'
    case 'ADM':
    case 'APDM':
      if (isPredictable(profile)) {
        return 'seq'
      }

      return 'random'
    default:
      return 'unknown'
  }
}

/**
 * The pair class both sides compute for the same two profiles
 */
export function pairClassOf (a: NatClass, b: NatClass): PairClass {
  return NAT_CLASS_ORDER.indexOf(a) <= NAT_CLASS_ORDER.indexOf(b) ? `${a}~${b}` : `${b}~${a}`
}

/** Where the predicted ports of a sequential (or port-preserving) NAT lie */
export interface Prediction {
  host: string
  family: 4 | 6
  first: number
  step: number
}

/**
 * One peer as the OTHER side may aim at it
 */
export interface PeerView {
  info: PeerPunchInfo
  natClass: NatClass
  /** the address windows, random ports and priming aim at: public scope only */
  primary?: Candidate
  /** its predicted ports, from its newest mapping (public scope only) */
  prediction?: Prediction
  /** its public-scope mappings and public/observed/predicted candidates, de-duplicated, as announced */
  nat: Candidate[]
  /** its LAN candidates that may be probed when racing LAN (public or private scope) */
  lan: Candidate[]
  /** with the IPv6 race: its public-scope IPv6 candidates (the main plan's `nat` and `lan` are then IPv4 only) */
  ipv6: Candidate[]
  /** address families its main plan can send from */
  families: Set<4 | 6>
  /** its public IPs (canonical text), to find peers behind the same public IP */
  publicHosts: Set<string>
  /** announced addresses the policy refuses as targets (forbidden, or private outside a LAN race) */
  refused: number
}

export interface PairView {
  initiator: PeerView
  responder: PeerView
  /** both peers report the same public IP and both have usable LAN candidates */
  raceLan: boolean
  /** both peers announced FEATURE_IPV6_RACE and both have public IPv6 candidates */
  raceIpv6: boolean
  pairClass: PairClass
  policy: AddressPolicy
}

export function viewPair (input: PlanInput): PairView {
  const policy = addressPolicy(input.options?.addressScope)
  const ipv6Race = input.ipv6Race === true
  const initiator = viewPeer(input.initiator, input.now, policy, ipv6Race)
  const responder = viewPeer(input.responder, input.now, policy, ipv6Race)
  const shared = [...responder.publicHosts].some(h => initiator.publicHosts.has(h))

  return {
    initiator,
    responder,
    raceLan: shared && initiator.lan.length > 0 && responder.lan.length > 0,
    raceIpv6: ipv6Race && initiator.ipv6.length > 0 && responder.ipv6.length > 0,
    pairClass: pairClassOf(initiator.natClass, responder.natClass),
    policy
  }
}

function viewPeer (info: PeerPunchInfo, now: number, policy: AddressPolicy, ipv6Race: boolean): PeerView {
  // with the IPv6 race, the main plan (NAT profile, strategies) is IPv4's
  // and IPv6 candidates go to the race
  const main = (c: { family: 4 | 6 }): boolean => !ipv6Race || c.family === 4
  const pubs: Candidate[] = info.profile.publicAddresses.filter(main).map(a => ({ ...a, kind: 'public', source: 'nat-profile' }))
  const natClaims = dedupe([...pubs, ...info.candidates.filter(c => c.kind !== 'lan' && main(c))])
  const lanClaims = dedupe(info.candidates.filter(c => c.kind === 'lan' && main(c)))
  const ipv6Claims = ipv6Race ? dedupe(info.candidates.filter(c => c.kind !== 'lan' && c.family === 6)) : []
  const nat = natClaims.filter(c => policy.allowsNatTarget(c.host))
  const lan = lanClaims.filter(c => policy.allowsLanTarget(c.host))
  const ipv6 = ipv6Claims.filter(c => policy.allowsNatTarget(c.host))
  const newest = pubs[0]

  return {
    info,
    natClass: classifyNat(info.profile),
    // its newest usable mapping, else its first public, else observed candidate
    primary: pubs.find(c => policy.allowsNatTarget(c.host)) ?? nat.find(c => c.kind === 'public') ?? nat.find(c => c.kind === 'observed'),
    prediction: newest != null && policy.allowsNatTarget(newest.host) ? predictionOf(info.profile, newest) : undefined,
    nat,
    lan,
    ipv6,
    families: new Set([...info.candidates.filter(main).map(c => c.family), ...pubs.map(a => a.family)]),
    publicHosts: new Set([...nat, ...ipv6].filter(c => c.kind === 'public' || c.kind === 'observed').map(c => canonicalHost(c.host))),
    refused: natClaims.length - nat.length + lanClaims.length - lan.length + ipv6Claims.length - ipv6.length
  }
}

/**
 * Predicted ports: the next ones after the newest mapping (preserving: the
 * mapping's own port onwards)
 */
function predictionOf (profile: NatProfile, last: { host: string, port: number, family: 4 | 6 } | undefined): Prediction | undefined {
  const a = profile.allocation

  if (last == null) {
    return undefined
  }

  if (a.kind === 'preserving') {
    return { host: last.host, family: last.family, first: last.port, step: 1 }
  }

  if (a.kind === 'sequential' && a.delta !== 0 && Number.isFinite(a.delta)) {
    return { host: last.host, family: last.family, first: wrapPort(last.port + a.delta), step: a.delta }
  }

  return undefined
}

export function isPredictable (profile: NatProfile): boolean {
  if (profile.publicAddresses.length === 0) {
    return false
  }

  const a = profile.allocation

  if (a.kind === 'preserving') {
    return true
  }

  return a.kind === 'sequential' && a.delta !== 0 && Number.isFinite(a.delta) && a.reliability >= SEQ_MIN_RELIABILITY
}

export function reliabilityOf (profile: NatProfile): number {
  const a = profile.allocation

  if (a.kind === 'sequential') {
    return Math.min(1, Math.max(0, a.reliability))
  }

  return a.kind === 'preserving' ? 1 : 0
}

export function windowFor (profile: NatProfile, now: number): number {
  return Math.min(MAX_PLAN_WINDOW, predictionWindow(reliabilityOf(profile), now - profile.observedAt))
}

/**
 * Cone filtering that the cone side itself opens for a whole remote IP (EIF,
 * or ADF after one probe to that IP), trusted only with enough confidence
 */
export function filterOpensForPeerIp (profile: NatProfile): boolean {
  return profile.mapping === 'EIM' &&
    (profile.filtering === 'EIF' || profile.filtering === 'ADF') &&
    profile.confidence >= MIN_TRUSTED_FILTERING_CONFIDENCE
}

export function other (side: Side): Side {
  return side === 'initiator' ? 'responder' : 'initiator'
}

/**
 * The list without repeated addresses (same family, canonical host and
 * port), first occurrence kept
 */
export function dedupe (list: Candidate[]): Candidate[] {
  const seen = new Set<string>()

  return list.filter(c => {
    const key = `${c.family}/${canonicalHost(c.host)}/${c.port}`

    if (seen.has(key)) {
      return false
    }

    seen.add(key)
    return true
  })
}

/**
 * Stable order: kinds that worked before first, then public, observed,
 * predicted, lan; candidates of families we cannot send from are dropped
 */
export function orderCandidates (list: Candidate[], preferred: CandidateKind[], families: Set<4 | 6>): Candidate[] {
  const order = [...new Set([...preferred, ...DEFAULT_KIND_ORDER])]

  return dedupe(list)
    .filter(c => families.size === 0 || families.has(c.family))
    .map((c, i) => ({ c, i }))
    .sort((x, y) => (order.indexOf(x.c.kind) - order.indexOf(y.c.kind)) || (x.i - y.i))
    .map(({ c }) => c)
}
