/**
 * Runs a ProbePlan with a STUN client and turns the answers into
 * observations and filtering results. Steps start as soon as the steps they
 * depend on have finished; the client's pacer spaces the requests.
 */

import { InvalidParametersError } from '@libp2p/interface'
import { StunErrorResponseError, StunTimeoutError } from '../../errors.ts'
import { addressKey, sameHost } from '../ip.ts'
import { validateProbePlan } from './plan.ts'
import type { ProbePlan, ProbeStep } from './plan.ts'
import type { TransportAddress } from '../nat-profile.ts'
import type { FilteringObservation, FilteringOutcome, Observation } from '../observation.ts'
import type { BindingOptions, BindingResult, StunServerAddress } from '../stun/client.ts'
import type { AbortOptions } from '@libp2p/interface'

/**
 * What the runner needs from a STUN client
 */
export interface BindingClient {
  binding(server: StunServerAddress, options?: BindingOptions): Promise<BindingResult>
}

export type StepStatus = 'ok' | 'timeout' | 'unsupported' | 'skipped' | 'error'

export interface StepOutcome {
  step: ProbeStep
  status: StepStatus
  /** where the request went (absent when skipped) */
  target?: StunServerAddress
  result?: BindingResult
  /** why it was skipped or failed */
  reason?: string
}

export interface DiscoveryResult {
  observations: Observation[]
  filtering: FilteringObservation[]
  steps: StepOutcome[]
}

export interface RunProbePlanOptions extends AbortOptions {
  /** clock in ms (default Date.now), for the filtering results' time */
  now?(): number
  /**
   * the client for a step's fresh socket (ProbeStep.socket), opened when the
   * first step on it runs; without it such steps are skipped
   */
  clientFor?(socket: string): BindingClient | Promise<BindingClient>
}

/**
 * Execute a plan. Individual failures (timeouts, error answers) become step
 * outcomes; only an abort rejects (with the signal's AbortError).
 */
export async function runProbePlan (client: BindingClient, plan: ProbePlan, options: RunProbePlanOptions = {}): Promise<DiscoveryResult> {
  const problems = validateProbePlan(plan)

  if (problems.length > 0) {
    throw new InvalidParametersError(`Invalid probe plan: ${problems.join('; ')}`)
  }

  const now = options.now ?? Date.now
  const outcomes = new Map<string, Promise<StepOutcome>>()

  for (const step of plan.steps) {
    const deps = step.after.map(id => outcomes.get(id)).filter(p => p != null)
    outcomes.set(step.id, Promise.all(deps).then(async () => runStep(client, plan, step, outcomes, options)))
  }

  const steps = await Promise.all(outcomes.values())
  options.signal?.throwIfAborted()

  return {
    observations: toObservations(steps),
    filtering: toFilteringResults(plan, steps, now()),
    steps
  }
}

async function runStep (mainClient: BindingClient, plan: ProbePlan, step: ProbeStep, outcomes: Map<string, Promise<StepOutcome>>, options: RunProbePlanOptions): Promise<StepOutcome> {
  options.signal?.throwIfAborted()
  const primary = plan.servers[step.server]
  let other: TransportAddress | undefined
  let rtt: number | undefined

  if (step.target.ip === 'other' || step.target.port === 'other' || step.change != null) {
    const first = (await outcomes.get(`${step.server}/mapping-I`))?.result
    other = first?.otherAddress

    if (other == null) {
      return { step, status: step.change != null ? 'unsupported' : 'skipped', reason: 'the server announced no OTHER-ADDRESS' }
    }

    // a server whose other address shares the primary's IP (or port) cannot
    // answer from a changed IP (or port): nothing to ask
    if ((step.change?.ip === true && sameHost(other.host, primary.host)) || (step.change?.port === true && other.port === primary.port)) {
      return { step, status: 'unsupported', reason: 'OTHER-ADDRESS does not differ as the test needs' }
    }

    // Karn: only an answer to the first send is a clean RTT sample
    rtt = first?.transmissions === 1 ? first.rtt : undefined
  }

  const target: StunServerAddress = {
    host: step.target.ip === 'other' && other != null ? other.host : primary.host,
    port: step.target.port === 'other' && other != null ? other.port : primary.port
  }

  const duplicate = step.change == null && step.test !== 'mapping-I' && step.socket == null
    ? await earlierStepWithTarget(plan, step, target, outcomes)
    : undefined

  if (duplicate != null) {
    return { step, status: 'skipped', reason: `same destination as ${duplicate}` }
  }

  let client = mainClient

  if (step.socket != null) {
    if (options.clientFor == null) {
      return { step, status: 'skipped', reason: `no socket factory for ${step.socket}` }
    }

    try {
      client = await options.clientFor(step.socket)
    } catch (err: any) {
      options.signal?.throwIfAborted()
      return { step, status: 'error', reason: `could not open ${step.socket}: ${err.message ?? String(err)}` }
    }
  }

  try {
    const result = await client.binding(target, {
      changeIp: step.change?.ip,
      changePort: step.change?.port,
      maxTransmissions: step.transmissions,
      rtt,
      signal: options.signal
    })

    return { step, status: 'ok', target, result }
  } catch (err: any) {
    options.signal?.throwIfAborted()

    if (err instanceof StunTimeoutError) {
      return { step, status: 'timeout', target, reason: err.message }
    }

    if (err instanceof StunErrorResponseError && err.code === 420) {
      return { step, status: 'unsupported', target, reason: err.message }
    }

    return { step, status: 'error', target, reason: err.message ?? String(err) }
  }
}

/**
 * A server whose other address shares our primary's IP (or port), or two
 * configured servers that are the two addresses of one RFC 5780 server, make
 * some targets repeat: asking the same endpoint twice from the main socket
 * adds nothing. Only earlier steps are awaited, so this cannot deadlock.
 */
async function earlierStepWithTarget (plan: ProbePlan, step: ProbeStep, target: StunServerAddress, outcomes: Map<string, Promise<StepOutcome>>): Promise<string | undefined> {
  for (const earlier of plan.steps) {
    if (earlier === step) {
      return undefined
    }

    if (earlier.change != null || earlier.socket != null) {
      continue
    }

    const done = await outcomes.get(earlier.id)

    if (done?.target != null && addressKey(done.target) === addressKey(target)) {
      return earlier.id
    }
  }

  return undefined
}

function toObservations (steps: StepOutcome[]): Observation[] {
  const observations: Observation[] = []

  for (const outcome of steps) {
    const { step, result, target } = outcome

    if (outcome.status !== 'ok' || result == null || target == null || step.change != null) {
      continue
    }

    const observation: Observation = {
      observer: { host: target.host, port: target.port, family: result.from.family },
      local: result.local,
      mapped: result.mapped,
      source: step.test === 'mapping-I' || step.test === 'allocation' ? 'stun' : 'rfc5780',
      at: result.receivedAt,
      sentAt: result.sentAt
    }

    if (step.socket != null) {
      observation.freshSocket = true
    }

    observations.push(observation)
  }

  return observations
}

function toFilteringResults (plan: ProbePlan, steps: StepOutcome[], at: number): FilteringObservation[] {
  const results: FilteringObservation[] = []

  plan.servers.forEach((server, s) => {
    const mine = steps.filter(o => o.step.server === s)
    const first = mine.find(o => o.step.test === 'mapping-I')?.result
    const outcome = (test: string): FilteringOutcome | undefined => {
      const o = mine.find(o => o.step.test === test)

      switch (o?.status) {
        case 'ok': return 'received'
        case 'timeout': return 'timeout'
        case 'unsupported': return 'unsupported'
        default: return undefined
      }
    }
    const changeIpAndPort = outcome('filtering-II')
    const changePort = outcome('filtering-III')

    if (first == null || (changeIpAndPort == null && changePort == null)) {
      return
    }

    // the socket the tests ran on (a fresh one, or the main socket)
    const local = mine.find(o => o.step.change != null && o.result != null)?.result?.local ?? first.local

    // a server whose other address has our primary's IP cannot test II
    const otherIpDiffers = first.otherAddress != null && !sameHost(first.otherAddress.host, server.host)

    results.push({
      observer: { host: server.host, port: server.port, family: first.from.family },
      local,
      changeIpAndPort: otherIpDiffers ? changeIpAndPort : 'unsupported',
      changePort,
      at
    })
  })

  return results
}
