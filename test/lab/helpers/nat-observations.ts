/**
 * Judges the raw observations of fixtures/nat-probe.ts. Pure, so that the
 * judgement itself is table-tested (nat-observations.spec.ts).
 */

import type { NatTruth } from '../../../src/lab/index.ts'

export interface Mapped { address: string, port: number }

export interface NatObservations {
  localPort: number
  /** in order: P:p0, P:p1, A:p0, A:p1, P:p2, P:p3 (P, A: the reflector's two addresses) */
  mappings: Array<{ to: string, mapped: Mapped }>
  filtering: { samePortOther: boolean, otherAddress: boolean, thirdHost: boolean }
  hairpin: boolean
  binding: {
    before: { atMs: number, delivered: boolean }
    after: { atMs: number, delivered: boolean }
  }
}

export interface ObservedBehaviour {
  mapping: NatTruth['mapping'] | 'inconsistent'
  filtering: NatTruth['filtering'] | 'inconsistent'
  allocation: NatTruth['allocation'] | 'non-preserving' | 'unknown'
  portDelta?: number
  hairpin: boolean
  /** the binding was still open shortly before the timeout */
  aliveBeforeTimeout: boolean
  /** the binding was closed shortly after the timeout */
  expiredAfterTimeout: boolean
}

/** a delta larger than this is not a "sequential" allocation (ports) */
const MAX_SEQUENTIAL_DELTA = 64

const same = (a: Mapped, b: Mapped): boolean => a.address === b.address && a.port === b.port

export function judgeObservations (obs: NatObservations): ObservedBehaviour {
  const m = obs.mappings.map(entry => entry.mapped)
  if (m.length < 6) {
    throw new Error(`expected 6 mappings, got ${m.length}`)
  }
  const mapping = judgeMapping(m)
  const result: ObservedBehaviour = {
    mapping,
    filtering: judgeFiltering(obs.filtering),
    ...judgeAllocation(mapping, m, obs.localPort),
    hairpin: obs.hairpin,
    aliveBeforeTimeout: obs.binding.before.delivered,
    expiredAfterTimeout: !obs.binding.after.delivered
  }
  if (result.portDelta == null) {
    delete result.portDelta
  }
  return result
}

/**
 * RFC 5780 section 4.3: the same mapping for another port of the same
 * address, and for the other address?
 */
function judgeMapping (m: Mapped[]): ObservedBehaviour['mapping'] {
  const samePort = same(m[0], m[1])
  const sameAddress = same(m[0], m[2])
  if (samePort && sameAddress && m.every(x => same(x, m[0]))) {
    return 'EIM'
  }
  if (samePort && !sameAddress && same(m[2], m[3])) {
    return 'ADM'
  }
  // a random allocator may hand out one port twice to different
  // destinations (about 1 in 4,000 probes), so no all-distinct check
  if (!samePort && !sameAddress) {
    return 'APDM'
  }
  return 'inconsistent'
}

function judgeAllocation (mapping: ObservedBehaviour['mapping'], m: Mapped[], localPort: number): Pick<ObservedBehaviour, 'allocation' | 'portDelta'> {
  if (mapping === 'EIM') {
    return { allocation: m[0].port === localPort ? 'preserving' : 'non-preserving' }
  }
  if (mapping !== 'APDM') {
    return { allocation: 'unknown' }
  }
  const deltas = m.slice(1).map((x, i) => x.port - m[i].port)
  if (deltas.every(d => d === deltas[0]) && deltas[0] !== 0 && Math.abs(deltas[0]) <= MAX_SEQUENTIAL_DELTA) {
    return { allocation: 'sequential', portDelta: deltas[0] }
  }
  return { allocation: 'random' }
}

function judgeFiltering ({ samePortOther, otherAddress, thirdHost }: NatObservations['filtering']): ObservedBehaviour['filtering'] {
  if (samePortOther && otherAddress && thirdHost) {
    return 'EIF'
  }
  if (samePortOther && !otherAddress && !thirdHost) {
    return 'ADF'
  }
  if (!samePortOther && !otherAddress && !thirdHost) {
    return 'APDF'
  }
  return 'inconsistent'
}
