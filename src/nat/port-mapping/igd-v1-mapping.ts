/**
 * A UDP mapping made with our own UPnP-IGDv1 client (igd-v1-client.ts) on a
 * gateway that igd-discovery.ts found and described as IGDv1:
 * - the first connection service (WANIPConnection:1 before
 * WANPPPConnection:1) that reports an external address is used (routers
 * list one per WAN connection; only the active one has an address);
 * - AddPortMapping asks for our own port as the external port; on 718
 * ConflictInMappingEntry (another host holds it) a few random ones
 * (UPNP_MAX_PORT_TRIES in all); on 725 OnlyPermanentLeasesSupported it
 * asks again with lease 0 (permanent);
 * - renew repeats the same AddPortMapping (a refresh for the same internal
 * client) and reads the external address again; for a permanent mapping
 * the lease needs no renewal, but the repeat restores a mapping that a
 * rebooted router forgot (IGD has no epoch to tell us);
 * - remove sends DeletePortMapping for UDP (714, already gone, is fine).
 * IPv4 only: IGDv1 has no IPv6 mappings.
 */

import { randomInt } from 'node:crypto'
import { UPNP_MAX_PORT_TRIES, UPNP_MAX_SERVICES } from '../../constants.ts'
import { UpnpActionError } from '../../errors.ts'
import { UPNP_ERROR } from './igd-codec.ts'
import { IgdV1Client } from './igd-v1-client.ts'
import { localAddressTowards } from './local-address.ts'
import type { DiscoveredIgd } from './igd-discovery.ts'
import type { ProtocolMapRequest, ProtocolMapping } from './types.ts'
import type { AbortOptions, Logger } from '@libp2p/interface'

/** the lowest external port we try after a conflict (below are the well-known and registered ports routers often reserve) */
const MIN_RANDOM_PORT = 1024

export interface IgdV1MappingInit extends ProtocolMapRequest {
  /** the gateway, as discoverIgd found it (igdVersion 1) */
  device: DiscoveredIgd
  log: Logger
  /**
   * The external ports tried after our own, on conflicts (a seam for
   * tests; default: random)
   */
  nextPort?(): number
}

/**
 * @throws {UpnpActionError} the gateway's UPnP error when it refuses (718 after every port tried)
 * @throws {PortMappingTimeoutError} when it does not answer
 */
export async function mapWithIgdV1 (init: IgdV1MappingInit, options: AbortOptions): Promise<ProtocolMapping> {
  const gateway = init.device.location.hostname
  const port = init.device.location.port !== '' ? Number(init.device.location.port) : 80
  const internalHost = await localAddressTowards(gateway, port)
  const { client, externalHost } = await chooseService(init, options)
  const nextPort = init.nextPort ?? (() => randomInt(MIN_RANDOM_PORT, 65536))
  let leaseDuration = init.lifetime
  let externalPort = init.port

  const add = async (opts: AbortOptions): Promise<void> => {
    try {
      await client.addPortMapping({ externalPort, internalPort: init.port, internalClient: internalHost, description: init.description, leaseDuration }, opts)
    } catch (err) {
      if (err instanceof UpnpActionError && err.code === UPNP_ERROR.ONLY_PERMANENT_LEASES_SUPPORTED && leaseDuration !== 0) {
        init.log('the IGDv1 gateway %s grants permanent leases only: mapping with lease 0 (deleted on stop)', gateway)
        leaseDuration = 0
        await client.addPortMapping({ externalPort, internalPort: init.port, internalClient: internalHost, description: init.description, leaseDuration }, opts)
        return
      }

      throw err
    }
  }

  for (let tries = 1; ; tries++) {
    try {
      await add(options)
      break
    } catch (err) {
      if (!(err instanceof UpnpActionError) || err.code !== UPNP_ERROR.CONFLICT_IN_MAPPING_ENTRY || tries >= UPNP_MAX_PORT_TRIES) {
        throw err
      }

      const taken = externalPort
      externalPort = nextPort()
      init.log('external port %d of the IGDv1 gateway %s is mapped to another host (718): trying %d', taken, gateway, externalPort)
    }
  }

  const mapping: ProtocolMapping = {
    protocol: 'upnp',
    igdVersion: 1,
    gateway,
    internal: { host: internalHost, port: init.port, family: 4 },
    external: { host: externalHost, port: externalPort, family: 4 },
    // AddPortMapping does not say what it granted: what we asked for (a
    // permanent lease is checked at the same pace)
    lifetime: init.lifetime,
    renew: async (renewOptions) => {
      await add(renewOptions)
      mapping.external = { host: await client.getExternalIPAddress(renewOptions), port: externalPort, family: 4 }
      return { external: mapping.external, lifetime: mapping.lifetime, stateLost: false }
    },
    remove: async (removeOptions) => {
      try {
        await client.deletePortMapping(externalPort, removeOptions)
      } catch (err) {
        if (!(err instanceof UpnpActionError) || err.code !== UPNP_ERROR.NO_SUCH_ENTRY_IN_ARRAY) {
          throw err
        }
      }
    },
    close: async () => {}
  }

  init.log('IGDv1 %s at %s mapped UDP %s:%d -> %s:%d, lease %d s', client.serviceType.split(':').at(-2), client.controlUrl.href, externalHost, externalPort, internalHost, init.port, leaseDuration)

  return mapping
}

/** the first connection service that reports an external address */
async function chooseService (init: IgdV1MappingInit, options: AbortOptions): Promise<{ client: IgdV1Client, externalHost: string }> {
  let last: unknown = new Error(`The IGD at ${init.device.location.href} describes no WANIPConnection:1 or WANPPPConnection:1 service`)

  for (const service of init.device.services.slice(0, UPNP_MAX_SERVICES)) {
    const client = new IgdV1Client({ controlUrl: service.controlUrl, serviceType: service.serviceType, log: init.log })

    try {
      return { client, externalHost: await client.getExternalIPAddress(options) }
    } catch (err) {
      options.signal?.throwIfAborted()
      init.log('IGDv1 service %s at %s has no external address - %e', service.serviceType, service.controlUrl, err)
      last = err
    }
  }

  throw last
}
