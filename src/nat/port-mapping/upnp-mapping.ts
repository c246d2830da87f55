/**
 * A UDP mapping made with UPnP-IGD, version 2 or 1:
 * - IGDv2 through the library (`@achingbrain/nat-port-mapper`): its SSDP
 * search finds the gateway, AddAnyPortMapping maps the port and renews it,
 * DeletePortMapping removes it. IPv4 port mappings; for IPv6 the library
 * opens a WANIPv6FirewallControl pinhole.
 * - IGDv1 through our own client (igd-discovery.ts, igd-v1-mapping.ts): the
 * library neither finds nor speaks it, and many home routers are IGDv1
 * only. IPv4 only.
 *
 * Both searches run at once, and the description decides: our IGDv1
 * search (for `InternetGatewayDevice:1`, which IGDv2 devices answer too)
 * reads the gateway's description; if it describes IGDv1 services only we
 * map with our client at once and abort the library's search; if it
 * describes WANIPConnection:2 (or nothing answered our search) the
 * library's search decides, as before. Why in parallel rather than IGDv1
 * after IGDv2: a router without UPnP, or an IGDv1 one, would otherwise
 * cost two discovery timeouts (6 s) per round instead of one, and an IGDv2
 * router loses nothing (the library's search runs from the start). Why the
 * description and not the SSDP search target: miniupnpd in IGDv1 mode
 * still answers searches for `InternetGatewayDevice:2`, so the library
 * would "find" it and then fail to map.
 */

import { upnpNat } from '@achingbrain/nat-port-mapper'
import { PORT_MAPPING_REQUEST_TIMEOUT_MS, UPNP_DISCOVERY_TIMEOUT_MS } from '../../constants.ts'
import { PortMappingTimeoutError } from '../../errors.ts'
import { canonicalHost } from '../ip.ts'
import { discoverIgd } from './igd-discovery.ts'
import { mapWithIgdV1 } from './igd-v1-mapping.ts'
import { localAddressTowards } from './local-address.ts'
import type { DiscoveredIgd } from './igd-discovery.ts'
import type { ProtocolMapRequest, ProtocolMapping } from './types.ts'
import type { Gateway } from '@achingbrain/nat-port-mapper'
import type { AbortOptions, Logger } from '@libp2p/interface'

/** the IGDv2 WANIPConnection service the library speaks */
const WAN_IP_CONNECTION_2 = 'urn:schemas-upnp-org:service:WANIPConnection:2'

type SoapRun = (service: string, action: string, args: Array<[string, string | number]>, options: AbortOptions) => Promise<unknown>

export interface UpnpMappingInit extends ProtocolMapRequest {
  log: Logger
  /**
   * The default gateways of the family: our IGDv1 search follows only a
   * description on one of them (see igd-discovery.ts); empty when unknown
   */
  gateways?: string[]
}

/**
 * @throws {PortMappingTimeoutError} when no gateway of the family answers either search
 * @throws {Error} the library's error, or an UpnpActionError of our IGDv1 client, when the gateway refuses
 */
export async function mapWithUpnp (init: UpnpMappingInit, options: AbortOptions): Promise<ProtocolMapping> {
  if (init.family === 6) {
    return mapWithIgdV2(init, await findGateway(init, options), options)
  }

  // aborts the search that lost
  const v2Controller = new AbortController()
  const v2Signal = options.signal != null ? AbortSignal.any([options.signal, v2Controller.signal]) : v2Controller.signal
  const v2 = findGateway(init, { signal: v2Signal })
  // settled either way: we may never await it
  v2.catch(() => {})

  let v1: DiscoveredIgd | undefined
  let v1Error: Error | undefined

  try {
    v1 = await discoverIgd({ gateways: init.gateways ?? [], log: init.log }, options)
  } catch (err: any) {
    options.signal?.throwIfAborted()
    v1Error = err
  }

  if (v1?.igdVersion === 1) {
    v2Controller.abort()
    void v2.then(async gateway => gateway.stop({ signal: AbortSignal.timeout(1) }), () => {}).catch(() => {})
    init.log('the gateway %s describes itself as IGDv1: mapping with our IGDv1 client', v1.location.hostname)
    return mapWithIgdV1({ ...init, device: v1 }, options)
  }

  let gateway: Gateway

  try {
    gateway = await v2
  } catch (err: any) {
    options.signal?.throwIfAborted()

    if (err instanceof PortMappingTimeoutError && v1Error != null) {
      throw new PortMappingTimeoutError(`No UPnP-IGD gateway answered: ${err.message}; ${v1Error.message}`)
    }

    throw err
  }

  return mapWithIgdV2(init, gateway, options)
}

async function mapWithIgdV2 (init: UpnpMappingInit, gateway: Gateway, options: AbortOptions): Promise<ProtocolMapping> {
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
      igdVersion: 2,
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
