/**
 * What the CLI reads from a running hole-punch service beyond its public
 * API (`HolePunch`): the STUN servers it uses (configured ones and those it
 * learned from connected peers), the servers its last NAT discovery ran
 * against, and a way to wait for its port mapper. The service keeps these
 * private; these readers fail loudly,
 * naming what is missing, if its internals change (the lab tests of the
 * CLI would then fail). To be replaced by a public API on HolePunch.
 */

import type { HolePunch, StunServerAddress } from '../index.ts'
import type { PortMappingState } from '../nat/port-mapping/types.ts'
import type { AbortOptions } from '@libp2p/interface'

/**
 * The STUN servers the service uses now: configured first, then the ones
 * learned from connected peers (relays first); names not yet resolved
 */
export function stunServersInUse (service: HolePunch): StunServerAddress[] {
  const list = (service as any).stunServerList

  if (typeof list !== 'function') {
    throw new Error('this version of the hole-punch service does not tell which STUN servers it uses (stunServerList)')
  }

  return (list.call(service) as StunServerAddress[]).map(s => ({ host: s.host, port: s.port }))
}

/**
 * The STUN server addresses (IPs) the last NAT discovery ran against;
 * empty before the first
 */
export function stunServersOfLastDiscovery (service: HolePunch): StunServerAddress[] {
  const nat = (service as any).nat

  if (typeof nat?.getServers !== 'function') {
    throw new Error('this version of the hole-punch service does not tell which STUN servers its NAT discovery used (nat.getServers)')
  }

  return (nat.getServers() as StunServerAddress[]).map(s => ({ host: s.host, port: s.port }))
}

/**
 * The service's port mapper (PCP, NAT-PMP, UPnP-IGD), which starts with
 * the node: `round` waits for the mapping round in progress (or starts one)
 * including the verification of what it mapped; `verify` checks mappings
 * still unchecked, with the STUN servers known now. Undefined when this
 * version of the package has no port mapping.
 */
export interface PortMappingView {
  round(options: AbortOptions): Promise<PortMappingState[]>
  verify(options: AbortOptions): Promise<PortMappingState[]>
}

export function portMappingView (service: HolePunch): PortMappingView | undefined {
  const mapper = (service as any).portMapper

  if (typeof (service as any).getPortMappings !== 'function' || typeof mapper?.refresh !== 'function' || typeof mapper?.verifyAll !== 'function') {
    return undefined
  }

  return {
    round: async options => mapper.refresh(options),
    verify: async options => mapper.verifyAll(options)
  }
}
