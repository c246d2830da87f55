/**
 * What the CLI reads from a running hole-punch service: the STUN servers it
 * uses (configured ones and those it learned from connected peers), the
 * servers its last NAT discovery ran against, and its port mappings.
 */

import type { HolePunch, StunServerAddress } from '../index.ts'
import type { PortMappingState } from '../nat/port-mapping/types.ts'
import type { AbortOptions } from '@libp2p/interface'

/**
 * The STUN servers the service uses now: configured first, then the ones
 * learned from connected peers (relays first); names not yet resolved
 */
export function stunServersInUse (service: HolePunch): StunServerAddress[] {
  return service.getStunServers()
}

/**
 * The STUN server addresses (IPs) the last NAT discovery ran against;
 * empty before the first
 */
export function stunServersOfLastDiscovery (service: HolePunch): StunServerAddress[] {
  return service.getNatDiscoveryServers()
}

/**
 * The service's port mapping (PCP, NAT-PMP, UPnP-IGD), which starts with
 * the node: `round` waits for the mapping round in progress (or starts one)
 * and verifies what it mapped; `verify` checks mappings still unchecked,
 * with the STUN servers known now.
 */
export interface PortMappingView {
  round(options: AbortOptions): Promise<PortMappingState[]>
  verify(options: AbortOptions): Promise<PortMappingState[]>
}

export function portMappingView (service: HolePunch): PortMappingView {
  return {
    round: async options => service.refreshPortMappings(options),
    verify: async options => service.refreshPortMappings(options)
  }
}
