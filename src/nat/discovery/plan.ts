/**
 * The NAT behaviour discovery test plan (RFC 5780 section 4) as plain data,
 * built by a pure function and executed by runProbePlan().
 *
 * Order matters: the filtering tests expect answers from the server's other
 * address, so nothing may be sent to that address from the socket they run
 * on (which would open our own NAT's filter for it) before they are done.
 * On the main socket, every step that sends to the other address therefore
 * waits for every filtering step of every server, and each server's first
 * request waits for the filtering steps of the servers before it (it may go
 * to where their answers come from: the relay's other IP or other port,
 * given as a second server). With fresh sockets
 * (`filteringSockets`), each server's filtering tests run on a socket of
 * their own that sends nowhere else, so nothing needs to wait for them, and
 * a refresh shortly after an earlier run cannot see a filter that run opened.
 *
 * Port-allocation samples (`allocationSockets`): one request each from that
 * many fresh sockets, planned right after the mapping-I steps with no
 * dependencies, so they take consecutive pacing slots (a burst of new
 * mappings that nothing else of ours interleaves with).
 */

import { STUN_FILTERING_TEST_TRANSMISSIONS } from '../../constants.ts'
import type { StunServerAddress } from '../stun/client.ts'

export type ProbeTest =
  /** RFC 5780 4.3 test I: a plain binding request to the primary address */
  | 'mapping-I'
  /** 4.3 test II: to the other IP, primary port */
  | 'mapping-II'
  /** 4.3 test III: to the other IP and other port */
  | 'mapping-III'
  /** a fourth destination (primary IP, other port): one more allocation sample */
  | 'mapping-IV'
  /** 4.4 test II: answer from the other IP and other port */
  | 'filtering-II'
  /** 4.4 test III: answer from the primary IP, other port */
  | 'filtering-III'
  /** one request from a fresh socket: a new mapping, a port-allocation sample */
  | 'allocation'

export interface ProbeTarget {
  ip: 'primary' | 'other'
  port: 'primary' | 'other'
}

export interface ProbeStep {
  /** unique in the plan: `<server index>/<test>` */
  id: string
  /** index into ProbePlan.servers */
  server: number
  test: ProbeTest
  /** where to send; `other` comes from OTHER-ADDRESS of the server's mapping-I */
  target: ProbeTarget
  /** RFC 5780 CHANGE-REQUEST */
  change?: { ip: boolean, port: boolean }
  /** steps (earlier in the list) that must have finished first, whatever their outcome */
  after: string[]
  /** sends per request (default: the client's) */
  transmissions?: number
  /**
   * the socket to send from: absent for the main socket (the one whose
   * mapping we classify), else the name of a fresh socket that the runner
   * gets from its `clientFor` option
   */
  socket?: string
}

export interface ProbePlan {
  servers: StunServerAddress[]
  steps: ProbeStep[]
}

export interface ProbePlanOptions {
  /**
   * run the RFC 5780 tests where a server announces OTHER-ADDRESS
   * (default true); without them each server gives one observation
   */
  rfc5780?: boolean
  /**
   * port-allocation samples from this many fresh sockets, one request each
   * to the servers' primary addresses in turn (default 0)
   */
  allocationSockets?: number
  /**
   * run each server's filtering tests on a fresh socket of its own instead
   * of the main socket (default false)
   */
  filteringSockets?: boolean
}

const PRIMARY: ProbeTarget = { ip: 'primary', port: 'primary' }

/**
 * Build the plan for a list of servers
 */
export function createProbePlan (servers: readonly StunServerAddress[], options: ProbePlanOptions = {}): ProbePlan {
  const steps: ProbeStep[] = []
  const rfc5780 = options.rfc5780 ?? true

  const allocationSockets = options.allocationSockets ?? 0
  const filteringSockets = options.filteringSockets === true

  if (!Number.isInteger(allocationSockets) || allocationSockets < 0) {
    throw new RangeError('allocationSockets must be a non-negative integer')
  }

  const allocation = (): ProbeStep[] => {
    const list: ProbeStep[] = []

    for (let k = 0; k < allocationSockets && servers.length > 0; k++) {
      list.push({
        id: `allocation/${k}`,
        server: k % servers.length,
        test: 'allocation',
        target: PRIMARY,
        after: [],
        socket: `allocation-${k}`
      })
    }

    return list
  }
  const mappingI = (s: number, after: string[] = []): ProbeStep => ({ id: `${s}/mapping-I`, server: s, test: 'mapping-I', target: PRIMARY, after })
  const filtering = (s: number): ProbeStep[] => {
    const socket = filteringSockets ? { socket: `filtering-${s}` } : {}

    return [{
      id: `${s}/filtering-II`,
      server: s,
      test: 'filtering-II',
      target: PRIMARY,
      change: { ip: true, port: true },
      after: [`${s}/mapping-I`],
      transmissions: STUN_FILTERING_TEST_TRANSMISSIONS,
      ...socket
    }, {
      id: `${s}/filtering-III`,
      server: s,
      test: 'filtering-III',
      target: PRIMARY,
      change: { ip: false, port: true },
      after: [`${s}/mapping-I`],
      transmissions: STUN_FILTERING_TEST_TRANSMISSIONS,
      ...socket
    }]
  }

  if (!rfc5780) {
    steps.push(...servers.map((_, s) => mappingI(s)), ...allocation())
    return { servers: [...servers], steps }
  }

  const filteringIds: string[] = []

  if (filteringSockets) {
    steps.push(...servers.map((_, s) => mappingI(s)), ...allocation())
    servers.forEach((_, s) => { steps.push(...filtering(s)) })
  } else {
    // On the main socket, a server's filtering tests must run before the
    // main socket sends to anything their answers come from; another
    // server's first request may go exactly there (the relay's other IP,
    // or its other port, given as a second server). So each server's
    // mapping-I waits for the filtering tests of the servers before it, and
    // the runner refuses a test whose answer source the main socket has
    // already sent to.
    servers.forEach((_, s) => {
      steps.push(mappingI(s, [...filteringIds]), ...filtering(s))
      filteringIds.push(`${s}/filtering-II`, `${s}/filtering-III`)

      if (s === 0) {
        // no dependencies: their pacing slots follow the first request's
        steps.push(...allocation())
      }
    })
  }

  servers.forEach((_, s) => {
    // chained, so the NAT makes these mappings in a known order
    steps.push({
      id: `${s}/mapping-II`,
      server: s,
      test: 'mapping-II',
      target: { ip: 'other', port: 'primary' },
      after: [`${s}/mapping-I`, ...filteringIds]
    }, {
      id: `${s}/mapping-III`,
      server: s,
      test: 'mapping-III',
      target: { ip: 'other', port: 'other' },
      after: [`${s}/mapping-II`]
    }, {
      id: `${s}/mapping-IV`,
      server: s,
      test: 'mapping-IV',
      target: { ip: 'primary', port: 'other' },
      after: [`${s}/mapping-III`]
    })
  })

  return { servers: [...servers], steps }
}

/**
 * Check that a plan can run: ids unique, every dependency names an earlier
 * step, server indexes exist. Returns the problems found (empty when valid).
 */
export function validateProbePlan (plan: ProbePlan): string[] {
  const problems: string[] = []
  const seen = new Set<string>()

  for (const step of plan.steps) {
    if (seen.has(step.id)) {
      problems.push(`duplicate step id ${step.id}`)
    }

    if (step.server < 0 || step.server >= plan.servers.length || !Number.isInteger(step.server)) {
      problems.push(`step ${step.id} names server ${step.server} that is not in the plan`)
    }

    for (const dep of step.after) {
      if (!seen.has(dep)) {
        problems.push(`step ${step.id} depends on ${dep}, which is not an earlier step`)
      }
    }

    seen.add(step.id)
  }

  return problems
}
