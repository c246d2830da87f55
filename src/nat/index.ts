/**
 * @packageDocumentation
 *
 * The nat layer: observations of our public mapping (STUN client and server,
 * RFC 5780 behaviour discovery) and the pure classifier that turns them into
 * a NatProfile. See docs/NAT-DISCOVERY.md.
 */

export { classify, allocationSamples } from './classify/classify.ts'
export type { ClassifyOptions } from './classify/classify.ts'
export { classifyAllocation, portDelta } from './classify/allocation.ts'
export type { AllocationSample, AllocationOptions } from './classify/allocation.ts'
export { classifySocketMapping, voteMapping } from './classify/mapping.ts'
export type { SocketMapping, MappingVote, MappingKind } from './classify/mapping.ts'
export { filteringOf, combineFiltering } from './classify/filtering.ts'
export { createProbePlan, validateProbePlan } from './discovery/plan.ts'
export type { ProbePlan, ProbeStep, ProbeTest, ProbeTarget, ProbePlanOptions } from './discovery/plan.ts'
export { runProbePlan } from './discovery/runner.ts'
export type { BindingClient, DiscoveryResult, StepOutcome, StepStatus, RunProbePlanOptions } from './discovery/runner.ts'
export { discoverNat } from './discovery/discover.ts'
export type { DiscoverNatOptions, NatDiscovery } from './discovery/discover.ts'
export type { Observation, ObservationSource, FilteringObservation, FilteringOutcome } from './observation.ts'
export { natAdvice } from './advice.ts'
export type { NatAdvice, NatAdviceCode, NatAdviceContext } from './advice.ts'
export * from './stun/index.ts'
