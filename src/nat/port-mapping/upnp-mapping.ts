/**
 * A UDP mapping made with UPnP-IGD through the library:
 * SSDP finds the gateway, AddAnyPortMapping (IGDv2) maps the port and
 * renews it, DeletePortMapping removes it. IPv4 port mappings; for IPv6
 * the library opens a WANIPv6FirewallControl pinhole. (The library is
 * `@achingbrain/nat-port-mapper`.)
 */

import { upnpNat } from '@achingbrain/nat-port-mapper'
import { PORT_MAPPING_REQUEST_TIMEOUT_MS, UPNP_DISCOVERY_TIMEOUT_MS } from '../../constants.ts'
import { PortMappingTimeoutError } from '../../errors.ts'
import { canonicalHost } from '../ip.ts'
import { localAddressTowards } from './local-address.ts'
import type { ProtocolMapRequest, ProtocolMapping } from './types.ts'
import type { Gateway } from '@achingbrain/nat-port-mapper'
import type { AbortOptions, Logger } from '@libp2p/interface'

/** the IGDv2 WANIPConnection service the library speaks */
const WAN_IP_CONNECTION_2 = 'urn:schemas-upnp-org:service:WANIPConnection:2'

type SoapRun = (service: string, action: string, args: Array<[string, string | number]>, options: AbortOptions) => Promise<unknown>

export interface UpnpMappingInit extends ProtocolMapRequest {
  log: Logger
}

/**
 * @throws {PortMappingTimeoutError} when no gateway of the family answers the search
 * @throws {Error} the library's error when the gateway refuses
 */
export async function mapWithUpnp (init: UpnpMappingInit, options: AbortOptions): Promise<ProtocolMapping> {
  const gateway = await findGateway(init, options)

  try {
    const internalHost = await localAddressTowards(gateway.host, gateway.port)
    const map = async (opts: AbortOptions): Promise<{ host: string, port: number }> => {
      const signal = withTimeout(opts)
      const result = await gateway.map(init.port, internalHost, {
        protocol: 'udp',
        externalPort: init.port,
        ttl: init.lifetime * 1000,
        autoRefresh: false,
        description: init.description,
        signal
      })

      return { host: canonicalHost(result.externalHost), port: result.externalPort }
    }

    const first = await map(options)
    const mapping: ProtocolMapping = {
      protocol: 'upnp',
      gateway: gateway.host,
      internal: { host: internalHost, port: init.port, family: init.family },
      external: { ...first, family: init.family },
      // the library asks for at least an hour, and IGD answers do not say
      lifetime: Math.max(init.lifetime, 3600),
      renew: async (renewOptions) => {
        const external = await map(renewOptions)
        mapping.external = { ...external, family: init.family }
        return { external: mapping.external, lifetime: mapping.lifetime, stateLost: false }
      },
      remove: async (removeOptions) => {
        const signal = withTimeout(removeOptions)
        // the library's unmap() (and stop()) sends DeletePortMapping with an
        // empty NewProtocol, which gateways refuse (402 Invalid Args): ask
        // with UDP through its own SOAP call where it exposes one
        const device = (gateway as unknown as { gateway?: { run?: SoapRun } }).gateway

        if (typeof device?.run === 'function' && init.family === 4) {
          await device.run(WAN_IP_CONNECTION_2, 'DeletePortMapping', [
            ['NewRemoteHost', ''],
            ['NewExternalPort', mapping.external.port],
            ['NewProtocol', 'UDP']
          ], { signal })
        }

        await gateway.stop({ signal })
      },
      close: async () => {
        await gateway.stop({ signal: AbortSignal.timeout(1) }).catch(() => {})
      }
    }

    return mapping
  } catch (err) {
    await gateway.stop({ signal: AbortSignal.timeout(1) }).catch(() => {})
    throw err
  }
}

async function findGateway (init: UpnpMappingInit, options: AbortOptions): Promise<Gateway> {
  const timeout = AbortSignal.timeout(UPNP_DISCOVERY_TIMEOUT_MS)
  const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
  const client = upnpNat({ autoRefresh: false, description: init.description })
  const family = init.family === 4 ? 'IPv4' : 'IPv6'

  for await (const gateway of client.findGateways({ signal })) {
    if (gateway.family === family) {
      return gateway
    }

    await gateway.stop({ signal: AbortSignal.timeout(1) }).catch(() => {})
  }

  options.signal?.throwIfAborted()
  throw new PortMappingTimeoutError(`No UPnP-IGD gateway (IGDv2, ${family}) answered the SSDP search within ${UPNP_DISCOVERY_TIMEOUT_MS} ms`)
}

function withTimeout (options: AbortOptions): AbortSignal {
  const timeout = AbortSignal.timeout(PORT_MAPPING_REQUEST_TIMEOUT_MS)
  return options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
}
