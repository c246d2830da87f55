/**
 * One call for a full NAT behaviour discovery: plan, run, classify
 */

import { classify } from '../classify/classify.ts'
import { createProbePlan } from './plan.ts'
import { runProbePlan } from './runner.ts'
import type { ProbePlanOptions } from './plan.ts'
import type { BindingClient, DiscoveryResult } from './runner.ts'
import type { ClassifyOptions } from '../classify/classify.ts'
import type { NatProfile } from '../nat-profile.ts'
import type { Observation } from '../observation.ts'
import type { StunServerAddress } from '../stun/client.ts'
import type { AbortOptions } from '@libp2p/interface'

export interface DiscoverNatOptions extends AbortOptions, ProbePlanOptions {
  /** clock in ms (default Date.now) */
  now?(): number
  /** earlier observations (e.g. from identify) to classify together with the new ones */
  observations?: readonly Observation[]
  classify?: Omit<ClassifyOptions, 'now' | 'filtering'>
}

export interface NatDiscovery extends DiscoveryResult {
  profile: NatProfile
}

/**
 * Run the RFC 5780 test plan against `servers` and classify the result
 */
export async function discoverNat (client: BindingClient, servers: readonly StunServerAddress[], options: DiscoverNatOptions = {}): Promise<NatDiscovery> {
  const now = options.now ?? Date.now
  const plan = createProbePlan(servers, options)
  const result = await runProbePlan(client, plan, { signal: options.signal, now })
  const profile = classify([...(options.observations ?? []), ...result.observations], {
    ...options.classify,
    now: now(),
    filtering: result.filtering
  })

  return { ...result, profile }
}
