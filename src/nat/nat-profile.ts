/**
 * The description of our NAT that the classifier derives from observations
 * and that the punch planner consumes. Terms follow RFC 4787.
 *
 * This file holds types only: it is shared by the nat, punch, protocol and
 * service layers.
 */

/**
 * Whether peers on the internet can reach us without any punching
 */
export type Reachability = 'public' | 'private' | 'unknown'

/**
 * RFC 4787 section 4.1 mapping behaviour.
 *
 * - `EIM` endpoint-independent mapping (all cones)
 * - `ADM` address-dependent mapping
 * - `APDM` address-and-port-dependent mapping ("symmetric")
 */
export type MappingBehaviour = 'EIM' | 'ADM' | 'APDM' | 'unknown'

/**
 * RFC 4787 section 5 filtering behaviour.
 *
 * - `EIF` endpoint-independent filtering (full cone)
 * - `ADF` address-dependent filtering (restricted cone)
 * - `APDF` address-and-port-dependent filtering (port-restricted, symmetric)
 */
export type FilteringBehaviour = 'EIF' | 'ADF' | 'APDF' | 'unknown'

/**
 * How the NAT picks the external port of a new mapping.
 */
export type PortAllocation =
  | { kind: 'preserving' }
  /** each new mapping takes the previous port plus `delta` (often 1) */
  | { kind: 'sequential', delta: number, reliability: number }
  | { kind: 'random' }
  | { kind: 'unknown' }

export interface TransportAddress {
  /** IPv4 or IPv6 address, no brackets */
  host: string
  port: number
  family: 4 | 6
}

export interface NatProfile {
  reachability: Reachability
  mapping: MappingBehaviour
  filtering: FilteringBehaviour
  allocation: PortAllocation
  /**
   * Our public (mapped) addresses as seen by observers, most recent first
   */
  publicAddresses: TransportAddress[]
  /**
   * 0..1, how much the classifier trusts this profile (more agreeing
   * observations from more distinct observers give more confidence)
   */
  confidence: number
  /**
   * Time (ms since the epoch, from the injected clock) of the newest
   * observation that went into this profile
   */
  observedAt: number
}

export const UNKNOWN_NAT_PROFILE: NatProfile = Object.freeze({
  reachability: 'unknown',
  mapping: 'unknown',
  filtering: 'unknown',
  allocation: Object.freeze({ kind: 'unknown' }),
  publicAddresses: [],
  confidence: 0,
  observedAt: 0
}) as NatProfile
