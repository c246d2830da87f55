import type { NatProfile } from '../../src/nat/nat-profile.ts'
import type { Candidate, PeerPunchInfo, PlanInput } from '../../src/punch/plan.ts'

export const NOW = 1_700_000_000_000

export function profile (overrides: Partial<NatProfile> = {}): NatProfile {
  return {
    reachability: 'private',
    mapping: 'EIM',
    filtering: 'APDF',
    allocation: { kind: 'preserving' },
    publicAddresses: [{ host: '203.0.113.10', port: 40000, family: 4 }],
    confidence: 0.9,
    observedAt: NOW - 1_000,
    ...overrides
  }
}

/** profiles by the names of the design's table */
export const NATS = {
  public: (host = '198.51.100.1', port = 4001): NatProfile => profile({ reachability: 'public', mapping: 'EIM', filtering: 'EIF', publicAddresses: [{ host, port, family: 4 }] }),
  fullCone: (host = '203.0.113.10', port = 40000): NatProfile => profile({ filtering: 'EIF', publicAddresses: [{ host, port, family: 4 }] }),
  restricted: (host = '203.0.113.10', port = 40000): NatProfile => profile({ filtering: 'ADF', publicAddresses: [{ host, port, family: 4 }] }),
  portRestricted: (host = '203.0.113.10', port = 40000): NatProfile => profile({ filtering: 'APDF', publicAddresses: [{ host, port, family: 4 }] }),
  symmetricSeq: (host = '198.51.100.20', port = 50000, delta = 1, reliability = 1): NatProfile => profile({
    mapping: 'APDM', filtering: 'APDF', allocation: { kind: 'sequential', delta, reliability }, publicAddresses: [{ host, port, family: 4 }]
  }),
  symmetricRandom: (host = '198.51.100.30', port = 51234): NatProfile => profile({
    mapping: 'APDM', filtering: 'APDF', allocation: { kind: 'random' }, publicAddresses: [{ host, port, family: 4 }]
  }),
  unknown: (): NatProfile => profile({ reachability: 'unknown', mapping: 'unknown', filtering: 'unknown', allocation: { kind: 'unknown' }, publicAddresses: [], confidence: 0 })
}

export function candidate (host: string, port: number, kind: Candidate['kind'] = 'public'): Candidate {
  return { host, port, family: host.includes(':') ? 6 : 4, kind, source: 'test' }
}

export function peer (p: NatProfile, candidates: Candidate[] = [], maxExtraSockets = 256): PeerPunchInfo {
  const pub = p.publicAddresses.map(a => candidate(a.host, a.port, 'public'))

  return { profile: p, candidates: [...pub, ...candidates], maxExtraSockets }
}

export function input (initiator: PeerPunchInfo, responder: PeerPunchInfo, extra: Partial<PlanInput> = {}): PlanInput {
  return { initiator, responder, rttMs: 100, now: NOW, ...extra }
}

/** deterministic PRNG (mulberry32) for reproducible tests */
export function seeded (seed: number): () => number {
  let a = seed >>> 0

  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Every NAT profile fixture, each at its own public IP (so no two share a
 * public IP and no pair races LAN), for property-style loops over pairs.
 * Each peer also announces one observed address (identify's) and a LAN
 * address; the unknown NAT without any address is the last one.
 */
export const PEER_FIXTURES: Array<{ name: string, info(): PeerPunchInfo }> = [
  { name: 'public', info: () => peer(NATS.public('198.51.100.1', 4001), [candidate('10.0.0.1', 4001, 'lan')]) },
  { name: 'full cone', info: () => peer(NATS.fullCone('203.0.113.11', 40011), [candidate('203.0.113.11', 40011, 'observed'), candidate('192.168.1.11', 4001, 'lan')]) },
  { name: 'restricted cone', info: () => peer(NATS.restricted('203.0.113.12', 40012), [candidate('192.168.1.12', 4001, 'lan')]) },
  { name: 'port-restricted cone', info: () => peer(NATS.portRestricted('203.0.113.13', 40013), [candidate('192.168.1.13', 4001, 'lan')]) },
  { name: 'low-confidence restricted cone', info: () => peer({ ...NATS.restricted('203.0.113.14', 40014), confidence: 0.2 }) },
  { name: 'symmetric sequential', info: () => peer(NATS.symmetricSeq('198.51.100.20', 50000, 1, 1), [candidate('192.168.2.20', 4001, 'lan')]) },
  { name: 'unreliable symmetric sequential (delta 2)', info: () => peer({ ...NATS.symmetricSeq('198.51.100.21', 52000, 2, 0.6), observedAt: NOW - 20_000 }) },
  { name: 'symmetric random', info: () => peer(NATS.symmetricRandom('198.51.100.30', 51234), [candidate('172.16.3.30', 4001, 'lan')]) },
  { name: 'symmetric random with 32 sockets', info: () => peer(NATS.symmetricRandom('198.51.100.31', 52345), [], 32) },
  { name: 'unknown with an observed address', info: () => peer(NATS.unknown(), [candidate('198.51.100.40', 4040, 'observed')]) },
  { name: 'unknown without any address', info: () => peer(NATS.unknown(), [candidate('192.168.4.40', 4001, 'lan')]) }
]
