/**
 * Runs a ProbePlan with a STUN client and turns the answers into
 * observations and filtering results. Steps start as soon as the steps they
 * depend on have finished; the client's pacer spaces the requests.
 */

import { InvalidParametersError } from '@libp2p/interface'
import { StunErrorResponseError, StunTimeoutError } from '../../errors.ts'
import { addressKey, sameHost } from '../ip.ts'
import { StunChangeRequestIgnoredError } from '../stun/client.ts'
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
  const run: RunState = { plan, outcomes, mainSent: [] }

  for (const step of plan.steps) {
    const deps = step.after.map(id => outcomes.get(id)).filter(p => p != null)
    outcomes.set(step.id, Promise.all(deps).then(async () => runStep(client, run, step, options)))
  }

  const steps = await Promise.all(outcomes.values())
  options.signal?.throwIfAborted()

  return {
    observations: toObservations(steps),
    filtering: toFilteringResults(plan, steps, now()),
    steps
  }
}

interface RunState {
  plan: ProbePlan
  outcomes: Map<string, Promise<StepOutcome>>
  /** where the main socket has sent requests so far (its filter is open for them) */
  mainSent: StunServerAddress[]
}

async function runStep (mainClient: BindingClient, run: RunState, step: ProbeStep, options: RunProbePlanOptions): Promise<StepOutcome> {
  options.signal?.throwIfAborted()
  const prepared = await prepare(run, step)

  if ('status' in prepared) {
    return prepared
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
  } else {
    run.mainSent.push(prepared.target)
  }

  return send(client, step, prepared.target, prepared.rtt, options)
}

/**
 * Where a step sends and with which RTT hint, or the outcome of a step that
 * does not send: skipped (nothing to ask, or a destination asked before) or
 * unsupported (the server cannot change as the test needs, or the main
 * socket's filter is already open for the answer)
 */
async function prepare (run: RunState, step: ProbeStep): Promise<StepOutcome | { target: StunServerAddress, rtt?: number }> {
  const { plan, outcomes } = run
  const primary = plan.servers[step.server]
  let other: TransportAddress | undefined
  let rtt: number | undefined

  if (step.target.ip === 'other' || step.target.port === 'other' || step.change != null) {
    const first = (await outcomes.get(`${step.server}/mapping-I`))?.result
    other = first?.otherAddress

    if (other == null) {
      // without OTHER-ADDRESS, a change-port test still makes sense when
      // another server of the plan is this one's IP with another port (a
      // node bound to 0.0.0.0 on two ports answers "change port" but cannot
      // announce its address): a server that cannot change says 420
      const sibling = first != null && isChangePortOnly(step) ? siblingPort(plan, step.server) : undefined

      if (sibling == null) {
        return { step, status: step.change != null ? 'unsupported' : 'skipped', reason: 'the server announced no OTHER-ADDRESS' }
      }
    } else if ((step.change?.ip === true && sameHost(other.host, primary.host)) || (step.change?.port === true && other.port === primary.port)) {
      // a server whose other address shares the primary's IP (or port)
      // cannot answer from a changed IP (or port): nothing to ask
      return { step, status: 'unsupported', reason: 'OTHER-ADDRESS does not differ as the test needs' }
    }

    // Karn: only an answer to the first send is a clean RTT sample
    rtt = first?.transmissions === 1 ? first.rtt : undefined
  }

  const target: StunServerAddress = {
    host: step.target.ip === 'other' && other != null ? other.host : primary.host,
    port: step.target.port === 'other' && other != null ? other.port : primary.port
  }

  if (step.socket != null) {
    return { target, rtt }
  }

  if (step.change == null) {
    const duplicate = step.test !== 'mapping-I' ? await earlierStepWithTarget(plan, step, target, outcomes) : undefined

    return duplicate == null ? { target, rtt } : { step, status: 'skipped', reason: `same destination as ${duplicate}` }
  }

  const opened = openedFilterFor(run.mainSent, primary, other, step.change)

  if (opened != null) {
    return { step, status: 'unsupported', reason: `the main socket has already sent to ${opened.host}:${opened.port}, so its filter lets the answer in` }
  }

  return { target, rtt }
}

/** one binding request; timeouts, 420 and other errors become the outcome */
async function send (client: BindingClient, step: ProbeStep, target: StunServerAddress, rtt: number | undefined, options: RunProbePlanOptions): Promise<StepOutcome> {
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

    if ((err instanceof StunErrorResponseError && err.code === 420) || err instanceof StunChangeRequestIgnoredError) {
      return { step, status: 'unsupported', target, reason: err.message }
    }

    return { step, status: 'error', target, reason: err.message ?? String(err) }
  }
}

/**
 * A destination the main socket has sent to that opened its NAT's filter for
 * the answer a filtering test expects, if any: test II (change IP and port)
 * expects an answer from the other IP, which sending anything to that IP
 * lets through an address-dependent filter; test III (change port) expects
 * one from the other port of the primary IP, which only sending to that
 * very port lets through (any other port on the primary IP when the server
 * announced no OTHER-ADDRESS)
 */
function openedFilterFor (sent: readonly StunServerAddress[], primary: StunServerAddress, other: TransportAddress | undefined, change: { ip: boolean, port: boolean }): StunServerAddress | undefined {
  if (change.ip) {
    return other == null ? undefined : sent.find(d => sameHost(d.host, other.host))
  }

  return sent.find(d => sameHost(d.host, primary.host) && d.port !== primary.port && (other == null || d.port === other.port))
}

function isChangePortOnly (step: ProbeStep): boolean {
  return step.change?.port === true && step.change.ip !== true
}

/**
 * The port of another server of the plan on the same IP as server `s`
 * (the first one listed), if any
 */
function siblingPort (plan: ProbePlan, s: number): number | undefined {
  const self = plan.servers[s]

  return plan.servers.find((server, i) => i !== s && server.port !== self.port && sameHost(server.host, self.host))?.port
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
