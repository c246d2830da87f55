/**
 * A UDP mapping made with NAT-PMP (RFC 6886, IPv4 only) through
 * `@achingbrain/nat-port-mapper`. The library's NAT-PMP client never
 * retransmits and, once a request went unanswered, keeps waiting for it:
 * every operation here uses a client of its own under a timeout, and closes
 * it after.
 */

import { pmpNat } from '@achingbrain/nat-port-mapper'
import { PORT_MAPPING_REQUEST_TIMEOUT_MS } from '../../constants.ts'
import { PortMappingTimeoutError } from '../../errors.ts'
import { canonicalHost } from '../ip.ts'
import { localAddressTowards } from './local-address.ts'
import type { ProtocolMapRequest, ProtocolMapping } from './types.ts'
import type { Gateway } from '@achingbrain/nat-port-mapper'
import type { AbortOptions, Logger } from '@libp2p/interface'

/** NAT-PMP servers listen here (RFC 6886 section 3) */
const NAT_PMP_PORT = 5351

export interface NatPmpMappingInit extends ProtocolMapRequest {
  gateway: string
  log: Logger
}

/**
 * @throws {PortMappingTimeoutError} when the gateway does not answer
 * @throws {Error} the library's error (with the NAT-PMP result code) when it refuses
 */
export async function mapWithNatPmp (init: NatPmpMappingInit, options: AbortOptions): Promise<ProtocolMapping> {
  const internalHost = await localAddressTowards(init.gateway, NAT_PMP_PORT)
  const map = async (lifetime: number, opts: AbortOptions): Promise<{ host: string, port: number }> => withGateway(init, opts, async (gateway, signal) => {
    const result = await gateway.map(init.port, internalHost, {
      protocol: 'udp',
      externalPort: init.port,
      // the library writes `ttl` into the request as it is: seconds on the
      // wire (its own refresh, which we switch off, reads it as ms)
      ttl: lifetime,
      autoRefresh: false,
      signal
    })

    return { host: canonicalHost(result.externalHost), port: result.externalPort }
  })

  const first = await map(init.lifetime, options)
  const mapping: ProtocolMapping = {
    protocol: 'nat-pmp',
    gateway: init.gateway,
    internal: { host: internalHost, port: init.port, family: 4 },
    external: { ...first, family: 4 },
    // NAT-PMP grants a lifetime, but the library does not pass it on
    lifetime: init.lifetime,
    renew: async (renewOptions) => {
      const external = await map(init.lifetime, renewOptions)
      mapping.external = { ...external, family: 4 }
      return { external: mapping.external, lifetime: init.lifetime, stateLost: false }
    },
    remove: async (removeOptions) => {
      // a request with lifetime 0 deletes (RFC 6886 section 3.4); not the
      // library's unmap(), which deletes the TCP mapping of the port
      await withGateway(init, removeOptions, async (gateway, signal) => {
        await gateway.map(init.port, internalHost, { protocol: 'udp', externalPort: 0, ttl: 0, autoRefresh: false, signal })
      })
    },
    close: async () => {}
  }

  return mapping
}

async function withGateway<T> (init: NatPmpMappingInit, options: AbortOptions, run: (gateway: Gateway, signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeout = AbortSignal.timeout(PORT_MAPPING_REQUEST_TIMEOUT_MS)
  const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
  const gateway = pmpNat(init.gateway, { autoRefresh: false })
  // the library's socket errors are emitted as 'error' events: without a
  // listener they would crash the process
  ;(gateway as unknown as { on?(event: string, listener: (err: Error) => void): void }).on?.('error', err => {
    init.log('NAT-PMP socket error - %e', err)
  })

  try {
    return await run(gateway, signal)
  } catch (err: any) {
    if (timeout.aborted && options.signal?.aborted !== true) {
      throw new PortMappingTimeoutError(`The NAT-PMP gateway ${init.gateway} did not answer within ${PORT_MAPPING_REQUEST_TIMEOUT_MS} ms`)
    }

    throw err
  } finally {
    await gateway.stop().catch(() => {})
  }
}
