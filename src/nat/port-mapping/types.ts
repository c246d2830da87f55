/**
 * Types of the port-mapping part of the nat layer: the init options the
 * service exposes, the state of a mapping, and the seams between the
 * orchestrator (PortMapper), the protocols and the verifier. Types only.
 */

import type { ExternalAddressProblem } from './external-address.ts'
import type { TransportAddress } from '../nat-profile.ts'
import type { AbortOptions } from '@libp2p/interface'

/**
 * Options of port mapping, for `holePunch({ portMapping: { ... } })`
 * (HolePunchInit references this interface).
 */
export interface PortMappingInit {
  /**
   * Ask the default gateway to map the udx listen ports for UDP (UPnP-IGD,
   * NAT-PMP, PCP) at start and after a network change, renew the mappings
   * before their lease ends and delete them on stop. A verified mapped
   * address is the best candidate there is: peers reach us on it whatever
   * our NAT does, so the planner treats our side as open.
   *
   * @default true
   */
  enabled?: boolean

  /**
   * Use PCP (RFC 6887), including IPv6 firewall pinholes. Tried first.
   *
   * @default true
   */
  pcp?: boolean

  /**
   * Use NAT-PMP (RFC 6886), IPv4 only. Tried when PCP gets no mapping.
   *
   * @default true
   */
  natPmp?: boolean

  /**
   * Use UPnP-IGD (found with SSDP). Tried last: it needs a multicast search
   * and HTTP requests, and many routers have it switched off.
   *
   * @default true
   */
  upnp?: boolean

  /**
   * The gateways that PCP and NAT-PMP requests go to. By default the next
   * hops of the default routes (read from /proc/net/route and
   * /proc/net/ipv6_route on Linux; on other systems PCP and NAT-PMP need
   * this option, UPnP finds its gateway by itself).
   *
   * @default the default routes' next hops
   */
  gateways?: string[]

  /**
   * The lease we ask for, in seconds; the gateway may grant less. Mappings
   * are renewed at half the granted lifetime.
   *
   * @default 7200
   */
  lifetime?: number

  /**
   * The description UPnP gateways show for our mappings
   *
   * @default 'libp2p-udp-holepunch'
   */
  description?: string

  /**
   * Verify a mapped address before trusting it: a STUN server sends to it
   * (RESPONSE-PORT, RFC 5780) and the answer must arrive through the
   * mapping. With `false` a mapping whose external address is public is
   * trusted as the gateway reports it (for networks whose STUN servers
   * cannot run the test and whose router is known to tell the truth).
   *
   * @default true
   */
  verify?: boolean
}

export type PortMappingProtocol = 'pcp' | 'nat-pmp' | 'upnp'

/**
 * Whether a mapping was checked from outside:
 * - `pending` the check has not run yet (or runs now)
 * - `verified` a packet from the internet reached us through it
 * - `failed` a server sent to it and nothing arrived: the router lied, or
 * another NAT is in front
 * - `unknown` no server could run the check (none known yet, none honours
 * RESPONSE-PORT); it is tried again later
 * - `skipped` verification is switched off (`verify: false`): trusted as
 * reported
 * - `refused` not used at all: the external address is private or shared
 * (double NAT), see `doubleNat`
 */
export type MappingVerification = 'pending' | 'verified' | 'failed' | 'unknown' | 'skipped' | 'refused'

/** One mapped udx port, as the PortMapper reports it */
export interface PortMappingState {
  protocol: PortMappingProtocol
  /**
   * `upnp` only: the UPnP-IGD version whose actions made the mapping (2:
   * AddAnyPortMapping through the library, 1: AddPortMapping through our
   * own IGDv1 client)
   */
  igdVersion?: 1 | 2
  /** the gateway that made the mapping */
  gateway: string
  /** our address and port as the gateway sees them (the mapping's inside) */
  internal: TransportAddress
  /** the address and port the gateway says the internet reaches us on */
  external: TransportAddress
  /** granted lifetime, in seconds (the requested one where the protocol does not say) */
  lifetime: number
  /** clock time (ms) of the last successful map or renew */
  mappedAt: number
  verification: MappingVerification
  /** clock time (ms) of the last verification outcome */
  verifiedAt?: number
  /**
   * Set when the gateway's external address is private or shared: the
   * router sits behind another NAT, and the mapping is not used
   */
  doubleNat?: ExternalAddressProblem
}

/** A mapping may be offered and trusted: verified, or verification switched off */
export function isUsableMapping (state: PortMappingState): boolean {
  return state.doubleNat == null && (state.verification === 'verified' || state.verification === 'skipped')
}

export type VerificationOutcome = 'verified' | 'failed' | 'unknown'

export interface VerifyMappingRequest {
  /** the mapped address to reach */
  external: TransportAddress
  /** the local udx port behind it (the socket an answer arrives on) */
  internalPort: number
}

/**
 * Checks a mapped address from outside. The default is StunMappingVerifier;
 * a peer probe or any other test can take its place.
 */
export interface MappingVerifier {
  verify(request: VerifyMappingRequest, options?: AbortOptions): Promise<VerificationOutcome>
}

/** What a protocol made: the mapping as granted, and how to keep or end it */
export interface ProtocolMapping {
  protocol: PortMappingProtocol
  /** `upnp` only: the IGD version spoken (see PortMappingState) */
  igdVersion?: 1 | 2
  gateway: string
  internal: TransportAddress
  external: TransportAddress
  /** granted lifetime in seconds */
  lifetime: number
  /**
   * Ask again for the same mapping. Resolves with the mapping as granted now
   * (the external address may have moved); `stateLost` when the gateway's
   * epoch shows it forgot its mappings in between (PCP).
   */
  renew(options: AbortOptions): Promise<{ external: TransportAddress, lifetime: number, stateLost: boolean }>
  /** delete the mapping at the gateway */
  remove(options: AbortOptions): Promise<void>
  /** release local resources (sockets of the library) without a request */
  close(): Promise<void>
}

/** What a protocol needs to map one port */
export interface ProtocolMapRequest {
  /** the local udx port */
  port: number
  family: 4 | 6
  /** seconds */
  lifetime: number
  description: string
}
