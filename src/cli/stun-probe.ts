/**
 * The measurements of `nat` that the hole-punch service does not make:
 * the round-trip time to each STUN source, and whether IPv6 reaches the
 * internet. Both run on sockets of their own (a socket pool apart from the
 * node's), so they never touch the mapping the node punches from.
 */

import { networkInterfaces } from 'node:os'
import { ipFamily } from '../nat/ip.ts'
import { StunClient } from '../nat/stun/client.ts'
import { addressScope } from '../punch/address-policy.ts'
import { SocketPool } from '../socket/socket-pool.ts'
import type { StunServerAddress, TransportAddress } from '../index.ts'
import type { BindingResult } from '../nat/stun/client.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { ComponentLogger } from '@libp2p/interface'

/** binding requests per STUN source for the latency figure (the fastest clean one counts) */
export const LATENCY_SAMPLES = 3

/** sends per latency request: a lost request costs one retransmission, not the full STUN schedule */
const LATENCY_MAX_TRANSMISSIONS = 2

/** sends of the IPv6 binding request (first RTO 500 ms, doubling: 3.5 s in all) */
const IPV6_MAX_TRANSMISSIONS = 3

export interface LatencyResult {
  host: string
  port: number
  /** the fastest answer among the samples, ms; undefined when none answered */
  rttMs?: number
  /** answers out of LATENCY_SAMPLES */
  answered: number
}

export interface ProbeOptions {
  logger: ComponentLogger
  signal: AbortSignal
}

/**
 * The round-trip time to each server: LATENCY_SAMPLES binding requests
 * each from one fresh socket per address family. An answer that needed a
 * retransmission counts only when no clean one came (its RTT may belong to
 * an earlier send). Only an abort rejects.
 */
export async function measureStunLatency (servers: readonly StunServerAddress[], options: ProbeOptions): Promise<LatencyResult[]> {
  const pool = new SocketPool({ logger: options.logger })
  const clients = new Map<4 | 6, StunClient>()

  const clientFor = (family: 4 | 6): StunClient => {
    let client = clients.get(family)
    if (client == null) {
      // performance.now: round trips on a LAN are well below Date.now's 1 ms steps
      client = new StunClient({ logger: options.logger }, { socket: pool.bindExtra(family === 4 ? '0.0.0.0' : '::'), maxTransmissions: LATENCY_MAX_TRANSMISSIONS, now: () => performance.now() })
      clients.set(family, client)
    }
    return client
  }

  try {
    return await Promise.all(servers.map(async server => {
      const family = ipFamily(server.host)
      const samples: BindingResult[] = []

      if (family == null) {
        return { ...server, answered: 0 }
      }

      let client: StunClient
      try {
        client = clientFor(family)
      } catch {
        // no socket of that family on this host (IPv6 disabled)
        return { ...server, answered: 0 }
      }

      for (let i = 0; i < LATENCY_SAMPLES; i++) {
        try {
          samples.push(await client.binding(server, { signal: options.signal }))
        } catch (err) {
          options.signal.throwIfAborted()
        }
      }

      return { ...server, rttMs: bestRtt(samples), answered: samples.length }
    }))
  } finally {
    for (const client of clients.values()) {
      client.close()
    }
    await pool.close()
  }
}

/** the smallest RTT among clean samples (one transmission), else among all */
export function bestRtt (samples: ReadonlyArray<Pick<BindingResult, 'rtt' | 'transmissions'>>): number | undefined {
  const clean = samples.filter(s => s.transmissions === 1)
  const pick = clean.length > 0 ? clean : samples

  return pick.length > 0 ? Math.min(...pick.map(s => s.rtt)) : undefined
}

/**
 * Whether IPv6 reaches the internet:
 * - `yes`: a STUN server answered over IPv6 (`address` is our public IPv6
 * address and port, `translated` whether it differs from our own: NAT66)
 * - `no`: no global IPv6 address on this host, IPv6 is disabled, or no
 * IPv6 server answered
 * - `unknown`: the host has a global IPv6 address but no IPv6 STUN source
 * is known to ask
 */
export interface Ipv6Result {
  status: 'yes' | 'no' | 'unknown'
  reason: string
  address?: TransportAddress
  translated?: boolean
  /** the server that answered, or that was asked */
  server?: StunServerAddress
}

/** the global (public-scope) IPv6 addresses of this host's interfaces */
export function globalIpv6Addresses (interfaces = networkInterfaces()): string[] {
  return Object.values(interfaces)
    .flatMap(list => list ?? [])
    .filter(i => i.family === 'IPv6' && !i.internal && addressScope(i.address.split('%')[0]) === 'public')
    .map(i => i.address)
}

/**
 * Ask IPv6 STUN servers, one after the other until one answers, for our
 * public IPv6 address. Only an abort rejects.
 */
export async function checkIpv6 (servers: readonly StunServerAddress[], options: ProbeOptions & { localAddresses?: string[] }): Promise<Ipv6Result> {
  const local = options.localAddresses ?? globalIpv6Addresses()
  const v6 = servers.filter(s => ipFamily(s.host) === 6)

  if (local.length === 0) {
    return { status: 'no', reason: 'no global IPv6 address on this host' }
  }

  if (v6.length === 0) {
    return { status: 'unknown', reason: `this host has ${local[0]}, but no IPv6 STUN source is known: pass --stun [<IPv6 address>]:<port>, or --relay with an /ip6/ address of a relay that runs this package` }
  }

  const pool = new SocketPool({ logger: options.logger })
  let socket: BoundSocket
  try {
    socket = pool.bindExtra('::')
  } catch (err: any) {
    await pool.close()
    return { status: 'no', reason: `cannot open an IPv6 UDP socket (${String(err.message)})` }
  }

  const client = new StunClient({ logger: options.logger }, { socket, maxTransmissions: IPV6_MAX_TRANSMISSIONS })

  try {
    for (const server of v6) {
      try {
        const result = await client.binding(server, { signal: options.signal })
        return ipv6Answer(result, server, local)
      } catch (err) {
        options.signal.throwIfAborted()
      }
    }

    return { status: 'no', reason: `no answer over IPv6 from ${v6.map(s => `[${s.host}]:${s.port}`).join(', ')}`, server: v6[0] }
  } finally {
    client.close()
    await pool.close()
  }
}

/** the verdict for an answer: translated when the mapped address is none of ours */
export function ipv6Answer (result: Pick<BindingResult, 'mapped'>, server: StunServerAddress, localAddresses: readonly string[]): Ipv6Result {
  const translated = !localAddresses.some(a => a.split('%')[0].toLowerCase() === result.mapped.host.toLowerCase())

  return {
    status: 'yes',
    reason: translated ? 'reached the internet over IPv6 through an address translator (NAT66)' : 'reached the internet over IPv6 from our own address (no NAT)',
    address: result.mapped,
    translated,
    server
  }
}
