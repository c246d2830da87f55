import { lpStream } from '@libp2p/utils'
import { MAX_STUN_ENDPOINTS_MESSAGE_SIZE, MAX_STUN_SOURCE_PEERS, STUN_ENDPOINTS_PROTOCOL, STUN_ENDPOINTS_QUERY_TIMEOUT_MS } from '../constants.ts'
import { ipFamily } from '../nat/ip.ts'
import { decodeStunEndpoints } from '../protocol/stun-endpoints-message.ts'
import { isUdxMultiaddr } from '../transport/multiaddr.ts'
import type { StunServerAddress } from './types.ts'
import type { AddressPolicy } from '../punch/address-policy.ts'
import type { Connection, Logger } from '@libp2p/interface'

/** identify's protocol list of a circuit-relay-v2 server */
const RELAY_HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'

interface Source {
  servers: StunServerAddress[]
  relay: boolean
}

export interface StunSourcesInit {
  log: Logger
  policy: AddressPolicy
  /** most peers used as STUN sources at once */
  maxPeers?: number
}

/**
 * STUN servers found among connected peers, without configuration: every
 * node that runs this package answers STUN on its udx sockets and tells a
 * directly connected peer which ports those are (STUN_ENDPOINTS_PROTOCOL).
 * The host is the address we reached the peer at (a relay's TCP address),
 * unless the peer's socket is bound to one address. Relays come first.
 */
export class StunSources {
  private readonly init: StunSourcesInit
  private readonly sources = new Map<string, Source>()
  private readonly asking = new Set<string>()

  constructor (init: StunSourcesInit) {
    this.init = init
  }

  /**
   * The servers to use now: relays first, at most `maxPeers` peers
   */
  servers (): StunServerAddress[] {
    return [...this.sources.values()]
      .sort((a, b) => Number(b.relay) - Number(a.relay))
      .slice(0, this.init.maxPeers ?? MAX_STUN_SOURCE_PEERS)
      .flatMap(source => source.servers)
  }

  get size (): number {
    return this.sources.size
  }

  /**
   * After identify: ask a directly connected peer that speaks the protocol
   * for its STUN endpoints. Resolves true when it added servers.
   */
  async learnFrom (key: string, connection: Connection, protocols: string[], signal: AbortSignal): Promise<boolean> {
    if (connection.limits != null || !protocols.includes(STUN_ENDPOINTS_PROTOCOL) || this.sources.has(key) || this.asking.has(key)) {
      return false
    }

    const relay = protocols.includes(RELAY_HOP_PROTOCOL)

    if (!relay && this.sources.size >= (this.init.maxPeers ?? MAX_STUN_SOURCE_PEERS)) {
      return false
    }

    const reachedAt = hostOf(connection)

    // only a peer we reached at an address it listens on: we dialed it over
    // another transport (a relay's TCP address), or a udx connection whose
    // remote port is one of its own sockets (no NAT in front of it). Behind
    // a NAT its ports mean nothing at its public IP
    if (reachedAt == null || !(connection.direction === 'outbound' || isUdxMultiaddr(connection.remoteAddr))) {
      return false
    }

    this.asking.add(key)

    try {
      const stream = await connection.newStream(STUN_ENDPOINTS_PROTOCOL, { signal: AbortSignal.any([signal, AbortSignal.timeout(STUN_ENDPOINTS_QUERY_TIMEOUT_MS)]) })
      const lp = lpStream(stream, { maxDataLength: MAX_STUN_ENDPOINTS_MESSAGE_SIZE })
      const bytes = await lp.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(STUN_ENDPOINTS_QUERY_TIMEOUT_MS)]) })
      await stream.close().catch(() => { stream.abort(new Error('could not close')) })
      const servers: StunServerAddress[] = []

      const endpoints = decodeStunEndpoints(bytes.subarray())

      if (isUdxMultiaddr(connection.remoteAddr) && !endpoints.some(e => e.port === portOf(connection))) {
        this.init.log('%s is behind a NAT (its udx ports are not what we reach it at): not a STUN source', key)
        return false
      }

      for (const endpoint of endpoints) {
        // the IP we reached the peer at, for its family: a peer cannot point
        // our STUN requests at another host of that family; for the other
        // family only a public address the peer says it is bound to
        const host = ipFamily(reachedAt) === endpoint.family ? reachedAt : this.otherFamilyHost(endpoint.host)

        if (host != null && this.init.policy.scope(host) !== 'forbidden' && !servers.some(s => s.host === host && s.port === endpoint.port)) {
          servers.push({ host, port: endpoint.port })
        }
      }

      if (servers.length === 0) {
        return false
      }

      this.sources.set(key, { servers, relay })
      this.init.log('%s answers STUN on %s%s', key, servers.map(s => `${s.host}:${s.port}`).join(', '), relay ? ' (a relay)' : '')
      return true
    } catch (err: any) {
      this.init.log('could not learn the STUN endpoints of %s - %e', key, err)
      return false
    } finally {
      this.asking.delete(key)
    }
  }

  /** an endpoint of the other family: only a public address it says it is bound to */
  private otherFamilyHost (host?: string): string | undefined {
    return host != null && this.init.policy.scope(host) === 'public' ? host : undefined
  }

  forget (key: string): void {
    this.sources.delete(key)
  }
}

/** The port we reached a peer at */
function portOf (connection: Connection): number | undefined {
  const port = connection.remoteAddr.getComponents().find(c => c.name === 'udp' || c.name === 'tcp')?.value

  return port != null ? Number(port) : undefined
}

/** The IP we reached a peer at, from the connection's remote multiaddr */
function hostOf (connection: Connection): string | undefined {
  const components = connection.remoteAddr.getComponents()
  const ip = components.find(c => c.name === 'ip4' || c.name === 'ip6')

  return ip?.value
}
