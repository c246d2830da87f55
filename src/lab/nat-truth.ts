/**
 * The behaviour that each lab NAT type is built to have: the "truth" that
 * NAT discovery is judged against. Pure.
 */

import { DEFAULT_SEQUENTIAL_PORT_DELTA } from './constants.ts'
import type { Ipv6Mode, Ipv6Truth, NatOptions, NatTruth, NatType, SiteOptions } from './types.ts'

const MAPPING_RANK = { EIM: 0, ADM: 1, APDM: 2 } as const
const FILTERING_RANK = { EIF: 0, ADF: 1, APDF: 2 } as const

/**
 * The RFC 4787 behaviour of one NAT of the given type.
 *
 * `none` (no NAT) counts as endpoint-independent mapping and filtering with
 * preserved ports: the public address is the host's own.
 */
export function natTruth (nat: NatType | NatOptions): NatTruth {
  const options: NatOptions = typeof nat === 'string' ? { nat } : nat

  switch (options.nat) {
    case 'none':
      return { mapping: 'EIM', filtering: 'EIF', allocation: 'preserving' }
    case 'full-cone':
      return { mapping: 'EIM', filtering: 'EIF', allocation: 'preserving' }
    case 'restricted':
      return { mapping: 'EIM', filtering: 'ADF', allocation: 'preserving' }
    case 'port-restricted':
      return { mapping: 'EIM', filtering: 'APDF', allocation: 'preserving' }
    case 'symmetric-seq':
      return {
        mapping: 'APDM',
        filtering: 'APDF',
        allocation: 'sequential',
        portDelta: options.portDelta ?? DEFAULT_SEQUENTIAL_PORT_DELTA
      }
    case 'symmetric-random':
      return { mapping: 'APDM', filtering: 'APDF', allocation: 'random' }
    default:
      throw new TypeError(`Unknown NAT type "${String(options.nat)}"`)
  }
}

/**
 * The behaviour that an observer on the internet sees for a site: its own
 * NAT, combined with the carrier NAT in front of it if there is one.
 *
 * Mapping and filtering are the stricter of the two. The allocation is the
 * carrier's, unless the carrier preserves ports: then the ports the site
 * router picks show through. (A preserving carrier keeps a port only while
 * no other flow holds it; the lab's carriers serve one site router each, so
 * that holds.)
 */
export function siteTruth (site: Pick<SiteOptions, 'nat' | 'portDelta' | 'carrier'>): NatTruth {
  const inner = natTruth(site)

  if (site.carrier == null || site.carrier.nat === 'none') {
    return inner
  }

  const outer = natTruth(site.carrier)
  const mapping = MAPPING_RANK[inner.mapping] >= MAPPING_RANK[outer.mapping] ? inner.mapping : outer.mapping
  const filtering = FILTERING_RANK[inner.filtering] >= FILTERING_RANK[outer.filtering] ? inner.filtering : outer.filtering
  const shown = outer.allocation === 'preserving' ? inner : outer
  const truth: NatTruth = { mapping, filtering, allocation: shown.allocation }

  if (shown.portDelta != null) {
    truth.portDelta = shown.portDelta
  }

  return truth
}

/**
 * What an observer on the internet sees of a site's IPv6: never a
 * translation (the LAN host's own address and port: EIM, preserving), and
 * the router's filtering: address-and-port-dependent for the stateful
 * firewall (only replies from exactly the contacted address and port pass),
 * none for an open router. A carrier in front routes IPv6 without a filter,
 * so it changes nothing.
 */
export function ipv6Truth (mode: Ipv6Mode): Ipv6Truth {
  switch (mode) {
    case 'firewall':
      return { mode, translation: 'none', mapping: 'EIM', filtering: 'APDF', allocation: 'preserving' }
    case 'open':
      return { mode, translation: 'none', mapping: 'EIM', filtering: 'EIF', allocation: 'preserving' }
    default:
      throw new TypeError(`Unknown IPv6 mode "${String(mode)}"`)
  }
}
