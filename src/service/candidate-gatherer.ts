import os from 'node:os'
import { MAX_CANDIDATES, MAX_OBSERVED_IP_HINTS } from '../constants.ts'
import { ipFamily } from '../nat/ip.ts'
import { isLocalOnly, isWildcard } from '../socket/host-scope.ts'
import type { NatMonitor } from './nat-monitor.ts'
import type { OurCandidates } from './punch-session.ts'
import type { PortMappingState } from '../nat/port-mapping/types.ts'
import type { AddressPolicy } from '../punch/address-policy.ts'
import type { Candidate } from '../punch/plan.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface CandidateGathererInit {
  nat: NatMonitor
  policy: AddressPolicy
  /** which interface addresses may be offered as LAN candidates */
  lanAddressFilter?(host: string): boolean
  /**
   * Our port mappings (the service's PortMapper): a usable mapping of the
   * socket's port is the first candidate of all
   */
  portMapper?: {
    usableMappings(family?: 4 | 6): PortMappingState[]
  }
}

/**
 * Our candidates for a punch, in ICE's vocabulary:
 * - mapped: a port mapping the gateway made for the socket (UPnP-IGD,
 * NAT-PMP, PCP), once verified: reachable from anywhere, so it comes first
 * (kind `public`, source `port-mapping:<protocol>`)
 * - server-reflexive: the public mappings STUN servers (and peers on direct
 * udx connections) saw, from the NAT profile
 * - host: the socket's interface addresses; public ones are offered to any
 * peer (a public host needs nothing else), private ones only as LAN
 * candidates to a peer behind our public IP (PunchSession decides)
 * - observed hints: our public IP as identify over another transport (TCP to
 * a relay) reported it, with our udx port: right behind a port-preserving
 * NAT, the most common kind
 * (Peer-reflexive candidates need no gathering: the executor answers and
 * selects any authenticated probe, from wherever it comes.)
 */
export class CandidateGatherer {
  private readonly init: CandidateGathererInit
  /** public IPs identify said it sees us at, most recent last */
  private readonly observedIps = new Set<string>()

  constructor (init: CandidateGathererInit) {
    this.init = init
  }

  /**
   * An observed address from identify over a non-udx connection
   */
  observe (observedAddr: Multiaddr): void {
    const ip = observedAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value

    if (ip == null || this.init.policy.scope(ip) !== 'public') {
      return
    }

    this.observedIps.delete(ip)
    this.observedIps.add(ip)

    while (this.observedIps.size > MAX_OBSERVED_IP_HINTS) {
      this.observedIps.delete(this.observedIps.values().next().value as string)
    }
  }

  /** the usable port mappings of a local port, as candidates */
  private mapped (port: number, family: 4 | 6): Candidate[] {
    const candidates: Candidate[] = []

    for (const mapping of this.init.portMapper?.usableMappings(family) ?? []) {
      const external = mapping.external

      if (mapping.internal.port === port && this.init.policy.scope(external.host) === 'public' && !candidates.some(c => c.host === external.host && c.port === external.port)) {
        candidates.push({ ...external, kind: 'public', source: `port-mapping:${mapping.protocol}` })
      }
    }

    return candidates
  }

  /**
   * Our candidates on `sockets` (the main socket, then the IPv6 socket of
   * the IPv6 race), each socket's in the order above, at most
   * MAX_CANDIDATES in all
   */
  candidates (...sockets: BoundSocket[]): OurCandidates {
    const shared: Candidate[] = []
    const lan: Candidate[] = []

    for (const socket of new Set(sockets)) {
      this.gather(socket, shared, lan)
    }

    return { shared: shared.slice(0, MAX_CANDIDATES), lan: lan.slice(0, Math.max(0, MAX_CANDIDATES - shared.length)) }
  }

  private gather (socket: BoundSocket, shared: Candidate[], lan: Candidate[]): void {
    const { policy } = this.init
    const local = socket.address()
    const has = (host: string, port: number): boolean => shared.some(c => c.host === host && c.port === port) || lan.some(c => c.host === host && c.port === port)

    // mapped: a verified port mapping of this socket's port
    shared.push(...this.mapped(local.port, local.family))

    // server-reflexive
    for (const address of this.init.nat.getProfile().publicAddresses) {
      if (address.family === local.family && policy.scope(address.host) === 'public' && !has(address.host, address.port)) {
        shared.push({ host: address.host, port: address.port, family: address.family, kind: 'public', source: 'stun' })
      }
    }

    // host
    const filter = this.init.lanAddressFilter ?? defaultLanFilter
    const hosts = isWildcard(local.host) ? interfaceAddresses(local.family) : [local.host]

    for (const host of hosts) {
      if (has(host, local.port)) {
        continue
      }

      const scope = policy.scope(host)

      if (scope === 'public') {
        shared.push({ host, port: local.port, family: local.family, kind: 'public', source: 'interface' })
      } else if (scope === 'private' && filter(host)) {
        lan.push({ host, port: local.port, family: local.family, kind: 'lan', source: 'interface' })
      }
    }

    // observed hints
    for (const ip of [...this.observedIps].reverse()) {
      if (ipFamily(ip) === local.family && !has(ip, local.port)) {
        shared.push({ host: ip, port: local.port, family: local.family, kind: 'observed', source: 'identify-tcp' })
      }
    }
  }
}

function interfaceAddresses (family: 4 | 6): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap(addrs => addrs ?? [])
    .filter(a => a.family === (family === 4 ? 'IPv4' : 'IPv6'))
    .map(a => a.address)
}

function defaultLanFilter (host: string): boolean {
  return !isLocalOnly(host)
}
