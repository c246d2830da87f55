/**
 * A UDP mapping (IPv4 through a NAT, or an IPv6 firewall pinhole) made with
 * our PCP client: MAP with the port we listen on as the suggested external
 * port, renewed with the same nonce, deleted with lifetime 0.
 */

import { globalIpv6Of } from './local-address.ts'
import { PcpClient } from './pcp-client.ts'
import { pcpEpochLost } from './pcp-codec.ts'
import type { PcpMapResult } from './pcp-client.ts'
import type { PcpEpochSample } from './pcp-codec.ts'
import type { ProtocolMapRequest, ProtocolMapping } from './types.ts'
import type { AbortOptions, ComponentLogger } from '@libp2p/interface'

export interface PcpMappingInit extends ProtocolMapRequest {
  gateway: string
  /** 12 bytes, kept for the life of the mapping (a renewal must repeat it) */
  nonce: Uint8Array
  now(): number
  /** seams for tests of the client's timing (defaults: the client's) */
  initialRtoMs?: number
  maxTransmissions?: number
}

/**
 * @throws {Error} whatever PcpClient.map throws
 */
export async function mapWithPcp (components: { logger: ComponentLogger }, init: PcpMappingInit, options: AbortOptions): Promise<ProtocolMapping> {
  const localAddress = init.family === 6 ? globalIpv6Of(init.gateway.split('%')[1]) : undefined
  const client = new PcpClient(components, {
    server: init.gateway,
    localAddress,
    now: init.now,
    initialRtoMs: init.initialRtoMs,
    maxTransmissions: init.maxTransmissions
  })
  const request = (lifetime: number, suggested?: { host: string, port: number }): Parameters<PcpClient['map']>[0] => ({
    lifetime,
    nonce: init.nonce,
    protocol: 'udp',
    internalPort: init.port,
    suggestedExternalPort: suggested?.port ?? init.port,
    suggestedExternalIp: suggested?.host
  })
  const epochOf = (result: PcpMapResult): PcpEpochSample => ({ epoch: result.epoch, at: result.receivedAt / 1000 })

  const first = await client.map(request(init.lifetime), options)
  let epoch = epochOf(first)
  const mapping: ProtocolMapping = {
    protocol: 'pcp',
    gateway: init.gateway,
    internal: { host: first.clientIp, port: first.internalPort, family: init.family },
    external: { host: first.externalIp, port: first.externalPort, family: first.externalFamily },
    lifetime: first.lifetime,
    renew: async (renewOptions) => {
      const result = await client.map(request(init.lifetime, mapping.external), renewOptions)
      const sample = epochOf(result)
      const stateLost = pcpEpochLost(epoch, sample)
      epoch = sample
      mapping.external = { host: result.externalIp, port: result.externalPort, family: result.externalFamily }
      mapping.lifetime = result.lifetime
      return { external: mapping.external, lifetime: result.lifetime, stateLost }
    },
    remove: async (removeOptions) => {
      await client.map(request(0), removeOptions)
    },
    close: async () => {}
  }

  return mapping
}
