import { expect } from 'aegir/chai'
import { classifyAllocation, portDelta } from '../../src/nat/classify/allocation.ts'
import { classify } from '../../src/nat/classify/classify.ts'
import { combineFiltering, filteringOf } from '../../src/nat/classify/filtering.ts'
import { classifySocketMapping } from '../../src/nat/classify/mapping.ts'
import type { AllocationSample } from '../../src/nat/classify/allocation.ts'
import type { PortAllocation, TransportAddress } from '../../src/nat/nat-profile.ts'
import type { FilteringObservation, Observation } from '../../src/nat/observation.ts'

const NOW = 1_700_000_000_000
const MINUTE = 60_000

function addr (host: string, port: number): TransportAddress {
  return { host, port, family: host.includes(':') ? 6 : 4 }
}

const LOCAL = addr('192.168.1.10', 50000)
const PUBLIC_IP = '203.0.113.5'

/** one observation: `observer` saw our `local` socket as `mapped` */
function seen (observer: string, mapped: string, options: { local?: TransportAddress, at?: number, sentAt?: number } = {}): Observation {
  const [oh, op] = splitHostPort(observer)
  const [mh, mp] = splitHostPort(mapped)

  return {
    observer: addr(oh, op),
    local: options.local ?? LOCAL,
    mapped: addr(mh, mp),
    source: 'stun',
    at: options.at ?? NOW - 1000,
    sentAt: options.sentAt
  }
}

function splitHostPort (s: string): [string, number] {
  const i = s.lastIndexOf(':')

  return [s.slice(0, i), Number(s.slice(i + 1))]
}

function filteringResult (changeIpAndPort: FilteringObservation['changeIpAndPort'], changePort: FilteringObservation['changePort'], at = NOW - 1000): FilteringObservation {
  return { observer: addr('198.51.100.1', 3478), local: LOCAL, changeIpAndPort, changePort, at }
}

describe('nat/classify', () => {
  describe('mapping behaviour of one socket', () => {
    const cases: Array<{ name: string, observations: Observation[], expected: ReturnType<typeof classifySocketMapping> }> = [
      {
        name: 'one observer tells nothing',
        observations: [seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`)],
        expected: undefined
      },
      {
        name: 'the same mapping for observers on different IPs is EIM',
        observations: [
          seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
          seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`),
          seen('192.0.2.9:19302', `${PUBLIC_IP}:40000`)
        ],
        expected: { behaviour: 'EIM', observers: 3, strength: 1 }
      },
      {
        name: 'one outlier among four observers is still EIM, with less strength',
        observations: [
          seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
          seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`),
          seen('192.0.2.9:19302', `${PUBLIC_IP}:40000`),
          seen('192.0.2.77:4001', `${PUBLIC_IP}:41234`)
        ],
        expected: { behaviour: 'EIM', observers: 4, strength: 0.75 }
      },
      {
        name: 'the same mapping per observer IP but different across IPs is ADM',
        observations: [
          seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
          seen('198.51.100.1:3479', `${PUBLIC_IP}:40000`),
          seen('198.51.100.2:3478', `${PUBLIC_IP}:40001`),
          seen('198.51.100.2:3479', `${PUBLIC_IP}:40001`)
        ],
        expected: { behaviour: 'ADM', observers: 4, strength: 1 }
      },
      {
        name: 'three observers on one IP and one elsewhere that disagrees is ADM, not a noisy EIM',
        observations: [
          seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
          seen('198.51.100.1:3479', `${PUBLIC_IP}:40000`),
          seen('198.51.100.1:3480', `${PUBLIC_IP}:40000`),
          seen('198.51.100.2:3478', `${PUBLIC_IP}:40007`)
        ],
        expected: { behaviour: 'ADM', observers: 4, strength: 1 }
      },
      {
        name: 'different mappings for two ports of one IP is APDM',
        observations: [
          seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
          seen('198.51.100.1:3479', `${PUBLIC_IP}:40001`),
          seen('198.51.100.2:3478', `${PUBLIC_IP}:40002`)
        ],
        expected: { behaviour: 'APDM', observers: 3, strength: 1 }
      },
      {
        name: 'different mappings seen only from different IPs is APDM with half strength (ADM not ruled out)',
        observations: [
          seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
          seen('198.51.100.2:3478', `${PUBLIC_IP}:40001`)
        ],
        expected: { behaviour: 'APDM', observers: 2, strength: 0.5 }
      },
      {
        name: 'only the newest observation of each observer counts',
        observations: [
          seen('198.51.100.1:3478', `${PUBLIC_IP}:39999`, { at: NOW - 5000 }),
          seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`, { at: NOW - 1000 }),
          seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`)
        ],
        expected: { behaviour: 'EIM', observers: 2, strength: 1 }
      }
    ]

    for (const { name, observations, expected } of cases) {
      it(name, () => {
        expect(classifySocketMapping(observations)).to.deep.equal(expected)
      })
    }
  })

  describe('port allocation', () => {
    /** samples 100 ms apart with the given mapped ports (local ports all differ from them) */
    function samples (ports: number[], options: { gap?: number, localPorts?: number[] } = {}): AllocationSample[] {
      return ports.map((mappedPort, i) => ({
        at: NOW + i * (options.gap ?? 100),
        localPort: options.localPorts?.[i] ?? 50000,
        mappedHost: PUBLIC_IP,
        mappedPort
      }))
    }

    const cases: Array<{ name: string, input: AllocationSample[], expected: PortAllocation }> = [
      { name: 'two samples are too few: unknown', input: samples([1000, 1001]), expected: { kind: 'unknown' } },
      { name: 'a clean +1 run is sequential with reliability 1', input: samples([1000, 1001, 1002, 1003, 1004]), expected: { kind: 'sequential', delta: 1, reliability: 1 } },
      { name: 'a clean +2 run is sequential with delta 2', input: samples([1000, 1002, 1004, 1006]), expected: { kind: 'sequential', delta: 2, reliability: 1 } },
      { name: 'a descending run is sequential with delta -1', input: samples([1000, 999, 998, 997]), expected: { kind: 'sequential', delta: -1, reliability: 1 } },
      {
        name: 'another host taking ports in between keeps delta 1 with reduced reliability',
        // deltas 1, 1, 2, 1, 3, 1, 1, 2: 5 of 8 exact, all multiples of 1
        input: samples([1000, 1001, 1002, 1004, 1005, 1008, 1009, 1010, 1012]),
        expected: { kind: 'sequential', delta: 1, reliability: 5 / 8 }
      },
      {
        name: 'one random jump among sequential ports still gives sequential (7 of 8 consistent)',
        input: samples([1000, 1001, 1002, 1003, 31337, 31338, 31339, 31340, 31341]),
        expected: { kind: 'sequential', delta: 1, reliability: 7 / 8 }
      },
      { name: 'random ports are random', input: samples([1000, 48213, 7731, 60122, 23004]), expected: { kind: 'random' } },
      {
        name: 'a wrap around the port range counts as a small step',
        input: samples([65534, 65535, 0, 1]),
        expected: { kind: 'sequential', delta: 1, reliability: 1 }
      },
      {
        name: 'mapped port equal to the local port is preserving',
        input: samples([50001, 50007, 50100], { localPorts: [50001, 50007, 50100] }),
        expected: { kind: 'preserving' }
      },
      {
        name: 'samples far apart in time are not compared: unknown',
        input: samples([1000, 1001, 1002, 1003], { gap: 60_000 }),
        expected: { kind: 'unknown' }
      }
    ]

    for (const { name, input, expected } of cases) {
      it(name, () => {
        expect(classifyAllocation(input)).to.deep.equal(expected)
      })
    }

    it('orders samples by time, not by input order', () => {
      const input = samples([1000, 1001, 1002, 1003]).reverse()
      expect(classifyAllocation(input)).to.deep.equal({ kind: 'sequential', delta: 1, reliability: 1 })
    })

    it('folds port differences into -32768..32767', () => {
      expect(portDelta(65535, 0)).to.equal(1)
      expect(portDelta(0, 65535)).to.equal(-1)
      expect(portDelta(1000, 1010)).to.equal(10)
    })
  })

  describe('filtering behaviour', () => {
    const cases: Array<[FilteringObservation['changeIpAndPort'], FilteringObservation['changePort'], string]> = [
      ['received', 'received', 'EIF'],
      ['received', 'timeout', 'EIF'],
      ['timeout', 'received', 'ADF'],
      ['timeout', 'timeout', 'APDF'],
      ['unsupported', 'received', 'ADF'],
      ['unsupported', 'timeout', 'APDF'],
      ['timeout', undefined, 'APDF'],
      ['unsupported', 'unsupported', 'unknown'],
      [undefined, undefined, 'unknown']
    ]

    for (const [ii, iii, expected] of cases) {
      it(`test II ${ii ?? 'not run'} and test III ${iii ?? 'not run'} give ${expected}`, () => {
        expect(filteringOf(filteringResult(ii, iii))).to.equal(expected)
      })
    }

    it('lets an answer that got through outweigh a timeout (loss cannot fake an answer)', () => {
      expect(combineFiltering([filteringResult('timeout', 'timeout'), filteringResult('timeout', 'received')])).to.equal('ADF')
      expect(combineFiltering([])).to.equal('unknown')
    })
  })

  describe('classify()', () => {
    it('gives the unknown profile without observations', () => {
      const profile = classify([], { now: NOW })
      expect(profile).to.deep.include({ reachability: 'unknown', mapping: 'unknown', filtering: 'unknown', confidence: 0, observedAt: 0 })
      expect(profile.allocation).to.deep.equal({ kind: 'unknown' })
    })

    it('calls a host whose mapped address equals its local address public, with preserved ports', () => {
      const local = addr('198.51.100.50', 4001)
      const profile = classify([
        seen('198.51.100.1:3478', '198.51.100.50:4001', { local }),
        seen('192.0.2.1:3478', '198.51.100.50:4001', { local })
      ], { now: NOW })
      expect(profile.reachability).to.equal('public')
      expect(profile.mapping).to.equal('EIM')
      expect(profile.allocation).to.deep.equal({ kind: 'preserving' })
      expect(profile.publicAddresses).to.deep.equal([local])
    })

    it('calls a public address behind a filtering firewall private', () => {
      const local = addr('198.51.100.50', 4001)
      const profile = classify([
        seen('198.51.100.1:3478', '198.51.100.50:4001', { local }),
        seen('192.0.2.1:3478', '198.51.100.50:4001', { local })
      ], { now: NOW, filtering: [filteringResult('timeout', 'timeout')] })
      expect(profile.reachability).to.equal('private')
      expect(profile.filtering).to.equal('APDF')
    })

    it('classifies a full-cone NAT from plain STUN and RFC 5780 results', () => {
      const profile = classify([
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.2:3479', `${PUBLIC_IP}:40000`)
      ], { now: NOW, filtering: [filteringResult('received', 'received')] })
      expect(profile).to.deep.include({ reachability: 'private', mapping: 'EIM', filtering: 'EIF', observedAt: NOW - 1000 })
      expect(profile.publicAddresses).to.deep.equal([addr(PUBLIC_IP, 40000)])
      expect(profile.confidence).to.be.within(0.7, 0.75)
    })

    it('classifies a sequential symmetric NAT from mappings made in quick succession', () => {
      const profile = classify([
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`, { sentAt: NOW - 5000, at: NOW - 4990 }),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:40001`, { sentAt: NOW - 4900, at: NOW - 4890 }),
        seen('198.51.100.2:3479', `${PUBLIC_IP}:40002`, { sentAt: NOW - 4800, at: NOW - 4790 }),
        seen('198.51.100.1:3479', `${PUBLIC_IP}:40003`, { sentAt: NOW - 4700, at: NOW - 4690 })
      ], { now: NOW, filtering: [filteringResult('timeout', 'timeout')] })
      expect(profile).to.deep.include({ reachability: 'private', mapping: 'APDM', filtering: 'APDF' })
      expect(profile.allocation).to.deep.equal({ kind: 'sequential', delta: 1, reliability: 1 })
      // most recent first
      expect(profile.publicAddresses.map(a => a.port)).to.deep.equal([40003, 40002, 40001, 40000])
    })

    it('still finds the delta of a noisy symmetric NAT, with reduced reliability', () => {
      // another host behind the NAT took 40002 and 40005..40006 between our samples
      const ports = [40000, 40001, 40003, 40004, 40007, 40008]
      const observations = ports.map((port, i) => seen(`198.51.100.${1 + (i >> 1)}:${3478 + (i & 1)}`, `${PUBLIC_IP}:${port}`, { sentAt: NOW - 5000 + i * 100, at: NOW - 4990 + i * 100 }))
      const profile = classify(observations, { now: NOW })
      expect(profile.mapping).to.equal('APDM')
      expect(profile.allocation).to.deep.equal({ kind: 'sequential', delta: 1, reliability: 3 / 5 })
    })

    it('gives unknown allocation and mapping with too few samples', () => {
      const profile = classify([seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`)], { now: NOW })
      expect(profile).to.deep.include({ reachability: 'private', mapping: 'unknown' })
      expect(profile.allocation).to.deep.equal({ kind: 'unknown' })
      expect(profile.confidence).to.equal(0.5 * (1 - 0.5 * 1000 / (10 * MINUTE)))
    })

    it('ignores observations older than the maximum age, and from the future', () => {
      const profile = classify([
        // an hour ago the NAT looked symmetric (e.g. another network)
        seen('198.51.100.1:3478', `${PUBLIC_IP}:30000`, { at: NOW - 60 * MINUTE }),
        seen('198.51.100.1:3479', `${PUBLIC_IP}:30001`, { at: NOW - 60 * MINUTE }),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:30002`, { at: NOW - 60 * MINUTE }),
        seen('198.51.100.3:3478', `${PUBLIC_IP}:1`, { at: NOW + MINUTE }),
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`)
      ], { now: NOW, maxAge: 10 * MINUTE, filtering: [filteringResult('received', 'received', NOW - 60 * MINUTE)] })
      expect(profile.mapping).to.equal('EIM')
      expect(profile.filtering).to.equal('unknown')
      expect(profile.publicAddresses).to.deep.equal([addr(PUBLIC_IP, 40000)])
    })

    it('returns the unknown profile when every observation is stale', () => {
      const profile = classify([seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`, { at: NOW - 60 * MINUTE })], { now: NOW })
      expect(profile.reachability).to.equal('unknown')
      expect(profile.publicAddresses).to.deep.equal([])
      expect(profile.confidence).to.equal(0)
    })

    it('trusts more agreeing observers more, and a noisy set less', () => {
      const two = classify([seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`), seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`)], { now: NOW })
      const four = classify([
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`), seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.3:3478', `${PUBLIC_IP}:40000`), seen('198.51.100.4:3478', `${PUBLIC_IP}:40000`)
      ], { now: NOW })
      const noisy = classify([
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`), seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.3:3478', `${PUBLIC_IP}:40000`), seen('198.51.100.4:3478', `${PUBLIC_IP}:41111`)
      ], { now: NOW })
      expect(four.confidence).to.be.above(two.confidence)
      expect(noisy.mapping).to.equal('EIM')
      expect(noisy.confidence).to.be.below(four.confidence)
    })

    it('trusts older observations less', () => {
      const observations = (at: number): Observation[] => [seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`, { at }), seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`, { at })]
      const fresh = classify(observations(NOW), { now: NOW })
      const old = classify(observations(NOW - 8 * MINUTE), { now: NOW })
      expect(fresh.confidence).to.be.above(old.confidence)
      expect(old.observedAt).to.equal(NOW - 8 * MINUTE)
    })

    it('classifies one address family when asked to', () => {
      const local6 = addr('2001:db8::10', 50000)
      const observations = [
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:40001`),
        seen('2001:db8:ffff::1:3478', '2001:db8::10:50000', { local: local6 }),
        seen('2001:db8:ffff::2:3478', '2001:db8::10:50000', { local: local6 })
      ]
      expect(classify(observations, { now: NOW, family: 6 })).to.deep.include({ reachability: 'public', mapping: 'EIM' })
      expect(classify(observations, { now: NOW, family: 4 })).to.deep.include({ reachability: 'private', mapping: 'APDM' })
    })

    it('lets several sockets vote on the mapping', () => {
      const other = addr('192.168.1.10', 50001)
      const profile = classify([
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.3:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40100`, { local: other }),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:40101`, { local: other })
      ], { now: NOW })
      // EIM weight 3 x 1 against APDM weight 2 x 0.5
      expect(profile.mapping).to.equal('EIM')
      expect(profile.confidence).to.be.below(classify([
        seen('198.51.100.1:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:40000`),
        seen('198.51.100.3:3478', `${PUBLIC_IP}:40000`)
      ], { now: NOW }).confidence)
    })
  })

  describe('reachability of a socket bound to 0.0.0.0 (the lab\'s `none` site)', () => {
    const WILDCARD = addr('0.0.0.0', 37314)
    const OWN = '192.0.2.2'
    const observers = ['203.0.113.10:4001', '198.51.100.10:4001', '198.51.100.10:4002']
    const cases: Array<{ name: string, mapped: string, localHosts?: string[], filtering?: FilteringObservation[], expected: string }> = [
      { name: 'own address and same port, interfaces known: public', mapped: `${OWN}:37314`, localHosts: ['127.0.0.1', OWN], expected: 'public' },
      { name: 'own address and same port, interfaces unknown: cannot tell (a port-preserving NAT looks the same)', mapped: `${OWN}:37314`, expected: 'unknown' },
      { name: 'another address, same port (a port-preserving NAT): private', mapped: `${PUBLIC_IP}:37314`, localHosts: [OWN], expected: 'private' },
      { name: 'another port: private, interfaces known or not', mapped: `${OWN}:40000`, expected: 'private' },
      { name: 'own address, but a filtering test timed out (a firewall): private', mapped: `${OWN}:37314`, localHosts: [OWN], filtering: [filteringResult('timeout', 'timeout')], expected: 'private' },
      { name: 'own address, filtering EIF: public', mapped: `${OWN}:37314`, localHosts: [OWN], filtering: [filteringResult('received', 'received')], expected: 'public' }
    ]

    for (const { name, mapped, localHosts, filtering, expected } of cases) {
      it(name, () => {
        const profile = classify(observers.map(o => seen(o, mapped, { local: WILDCARD })), { now: NOW, localHosts, filtering })
        expect(profile.reachability).to.equal(expected)
      })
    }

    it('keeps preserving allocation and EIM for a public wildcard socket', () => {
      const profile = classify(observers.map(o => seen(o, `${OWN}:37314`, { local: WILDCARD })), { now: NOW, localHosts: [OWN] })
      expect(profile).to.deep.include({ reachability: 'public', mapping: 'EIM', allocation: { kind: 'preserving' } })
    })
  })

  describe('allocation samples from fresh sockets', () => {
    /** observations of a symmetric NAT (delta 2): a main socket whose mappings are old, and fresh sockets */
    function symmetric (freshPorts: number[]): Observation[] {
      const main = [
        // mappings from an earlier run (ports far below), asked again now
        seen('198.51.100.1:3478', `${PUBLIC_IP}:20000`, { sentAt: NOW - 2000 }),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:20001`, { sentAt: NOW - 1900 }),
        seen('198.51.100.2:3479', `${PUBLIC_IP}:20002`, { sentAt: NOW - 1800 })
      ]
      const fresh = freshPorts.map((port, k): Observation => ({
        ...seen('198.51.100.1:3478', `${PUBLIC_IP}:${port}`, { local: addr('0.0.0.0', 41000 + k), sentAt: NOW - 1500 + 100 * k }),
        freshSocket: true
      }))
      return [...main, ...fresh]
    }

    it('uses only the fresh sockets\' samples when there are enough', () => {
      const profile = classify(symmetric([20500, 20502, 20504, 20506, 20508]), { now: NOW })
      expect(profile.allocation).to.deep.equal({ kind: 'sequential', delta: 2, reliability: 1 })
    })

    it('falls back to every distinct mapping when fresh samples are too few', () => {
      const profile = classify(symmetric([20003, 20004].map(p => p)), { now: NOW })
      // 20000, 20001, 20002, 20003, 20004 in time order: delta 1
      expect(profile.allocation).to.deep.include({ kind: 'sequential', delta: 1 })
    })

    it('keeps the fresh sockets\' mappings out of the public addresses and the mapping vote', () => {
      const profile = classify(symmetric([20500, 20502, 20504, 20506, 20508]), { now: NOW })
      expect(profile.publicAddresses.map(a => a.port)).to.have.members([20000, 20001, 20002])
      expect(profile.mapping).to.equal('APDM')
    })

    it('calls port-keeping fresh sockets behind a NAT preserving', () => {
      const observations = [
        seen('198.51.100.1:3478', `${PUBLIC_IP}:50000`),
        seen('198.51.100.2:3478', `${PUBLIC_IP}:50000`),
        ...[41000, 41001, 41002, 41003, 41004].map((port, k): Observation => ({
          ...seen('198.51.100.1:3478', `${PUBLIC_IP}:${port}`, { local: addr('0.0.0.0', port), sentAt: NOW - 1500 + 100 * k }),
          freshSocket: true
        }))
      ]
      const profile = classify(observations, { now: NOW, localHosts: ['192.168.1.10'] })
      expect(profile).to.deep.include({ reachability: 'private', mapping: 'EIM', allocation: { kind: 'preserving' } })
    })
  })
})
