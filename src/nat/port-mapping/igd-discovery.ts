/**
 * Finds the UPnP-IGD gateway for our IGDv1 client: an SSDP M-SEARCH for
 * `InternetGatewayDevice:1` (which IGDv2 devices answer too), sent to the
 * multicast group and unicast to each default gateway, again every
 * UPNP_SEARCH_INTERVAL_MS; then the description at the answer's LOCATION
 * says which IGD version the device really speaks (miniupnpd, for one,
 * announces `InternetGatewayDevice:2` in SSDP even when it describes
 * itself as IGDv1, so the search target alone does not tell).
 *
 * A hostile LAN device costs bounded work: at most UPNP_MAX_SSDP_RESPONSES
 * answers are parsed and UPNP_MAX_DESCRIPTIONS descriptions fetched per
 * search, each at most UPNP_MAX_DESCRIPTION_BYTES, under
 * PORT_MAPPING_REQUEST_TIMEOUT_MS, and only plain http on the answer's own
 * source address. That address must be a default gateway when those are
 * known (Linux reads them from the routes, elsewhere the `gateways`
 * option); when none is known (a system without /proc and no option) it
 * must at least be a private or link-local address, the only kind a LAN
 * gateway has. The control URLs must be on the same host as the
 * description, so a description cannot send our SOAP requests elsewhere.
 *
 * Why not `@achingbrain/ssdp` (the library's own SSDP, installed): on every
 * answer it fetches the LOCATION (any host, https without certificate
 * checks) with no timeout and no size limit and parses it with xml2js, and
 * it binds port 1900; none of that can be bounded from outside.
 */

import { createSocket } from 'node:dgram'
import { isIPv4 } from '@chainsafe/is-ip'
import { PORT_MAPPING_REQUEST_TIMEOUT_MS, UPNP_DISCOVERY_TIMEOUT_MS, UPNP_MAX_DESCRIPTION_BYTES, UPNP_MAX_DESCRIPTIONS, UPNP_MAX_SSDP_RESPONSES, UPNP_SEARCH_INTERVAL_MS, UPNP_SEARCH_MX_S } from '../../constants.ts'
import { InvalidUpnpResponseError, PortMappingTimeoutError } from '../../errors.ts'
import { canonicalHost } from '../ip.ts'
import { IGD_V1_DEVICE, SSDP_MULTICAST_IPV4, SSDP_PORT, decodeDescription, decodeSsdpResponse, encodeMSearch } from './igd-codec.ts'
import { igdHttpRequest } from './igd-http.ts'
import type { IgdServiceDescription } from './igd-codec.ts'
import type { AbortOptions, Logger } from '@libp2p/interface'
import type { RemoteInfo } from 'node:dgram'

/** the SSDP answer's largest part we read (a real one is about 400 bytes) */
const MAX_SSDP_RESPONSE_BYTES = 2048

export interface IgdDiscoveryInit {
  /**
   * The IPv4 default gateways: only a description on one of them is
   * fetched. Empty: any private or link-local answerer (see above).
   */
  gateways: string[]
  log: Logger
  /**
   * How long the search listens, in ms
   *
   * @default UPNP_DISCOVERY_TIMEOUT_MS
   */
  timeoutMs?: number
}

/** A gateway found and described */
export interface DiscoveredIgd {
  /** 1: it describes a WANIPConnection:1 or WANPPPConnection:1 and no WANIPConnection:2; 2: it describes a WANIPConnection:2 */
  igdVersion: 1 | 2
  /** the description's URL (its host is the gateway) */
  location: URL
  /** the IGDv1 connection services (WANIPConnection:1 first), on the gateway's host */
  services: IgdServiceDescription[]
}

/**
 * The first IGD whose description names a connection service (IGDv1) or
 * WANIPConnection:2 (IGDv2)
 *
 * @throws {PortMappingTimeoutError} when none did within the timeout
 */
export async function discoverIgd (init: IgdDiscoveryInit, options: AbortOptions = {}): Promise<DiscoveredIgd> {
  const timeoutMs = init.timeoutMs ?? UPNP_DISCOVERY_TIMEOUT_MS
  const gateways = new Set(init.gateways.filter(g => isIPv4(g)).map(canonicalHost))
  const socket = createSocket({ type: 'udp4' })
  const controller = new AbortController()
  const signal = options.signal != null ? AbortSignal.any([options.signal, controller.signal]) : controller.signal
  const seen = new Set<string>()
  const problems: string[] = []
  let responses = 0
  let fetches = 0
  let timer: ReturnType<typeof setInterval> | undefined
  let deadline: ReturnType<typeof setTimeout> | undefined

  try {
    return await new Promise<DiscoveredIgd>((resolve, reject) => {
      const onAbort = (): void => { reject(options.signal?.reason ?? new Error('aborted')) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      socket.on('error', err => {
        init.log('IGD search socket error - %e', err)
      })
      socket.on('close', () => {
        options.signal?.removeEventListener('abort', onAbort)
      })

      socket.on('message', (data: Buffer, remote: RemoteInfo) => {
        if (++responses > UPNP_MAX_SSDP_RESPONSES) {
          return
        }

        const answer = decodeSsdpResponse(data.subarray(0, MAX_SSDP_RESPONSE_BYTES).toString('latin1'))
        init.log.trace('SSDP answer from %s:%d: %s', remote.address, remote.port, answer?.st ?? 'not a search answer')

        if (answer == null || seen.has(answer.location)) {
          return
        }

        seen.add(answer.location)
        const problem = locationProblem(answer.location, remote.address, gateways)

        if (problem != null) {
          init.log('ignoring the SSDP answer of %s: %s', remote.address, problem)
          problems.push(problem)
          return
        }

        if (++fetches > UPNP_MAX_DESCRIPTIONS) {
          return
        }

        void describe(new URL(answer.location), signal).then(device => {
          if (device == null) {
            problems.push(`${answer.location} describes no WAN connection service`)
            return
          }

          init.log('found an IGDv%d gateway at %s (%d IGDv1 connection services)', device.igdVersion, device.location.href, device.services.length)
          resolve(device)
        }, (err: Error) => {
          init.log('could not read the IGD description at %s - %e', answer.location, err)
          problems.push(`${answer.location}: ${err.message}`)
        })
      })

      socket.bind(0, () => {
        const search = (): void => {
          send(socket, encodeMSearch(IGD_V1_DEVICE, UPNP_SEARCH_MX_S), SSDP_MULTICAST_IPV4, init.log)

          for (const gateway of gateways) {
            send(socket, encodeMSearch(IGD_V1_DEVICE, UPNP_SEARCH_MX_S, `${gateway}:${SSDP_PORT}`), gateway, init.log)
          }
        }

        search()
        timer = setInterval(search, UPNP_SEARCH_INTERVAL_MS)
      })

      deadline = setTimeout(() => {
        reject(new PortMappingTimeoutError(`No UPnP-IGD gateway answered the IGDv1 SSDP search within ${timeoutMs} ms${problems.length > 0 ? ` (${problems.slice(0, 4).join('; ')})` : ''}`))
      }, timeoutMs)
    })
  } finally {
    clearInterval(timer)
    clearTimeout(deadline)
    controller.abort()
    socket.close()
  }
}

/**
 * Why a LOCATION is not followed, or undefined when it may be: plain http,
 * on the answer's own source address, which is a default gateway (or, none
 * known, private or link-local)
 */
export function locationProblem (location: string, source: string, gateways: Set<string>): string | undefined {
  let url: URL

  try {
    url = new URL(location)
  } catch {
    return 'LOCATION is not a URL'
  }

  if (url.protocol !== 'http:') {
    return `LOCATION is not plain http (${url.protocol})`
  }

  const host = url.hostname

  if (!isIPv4(host) || canonicalHost(host) !== canonicalHost(source)) {
    return `LOCATION ${url.host} is not the answer's source ${source}`
  }

  if (gateways.size > 0 ? !gateways.has(canonicalHost(host)) : !isPrivateOrLinkLocalIPv4(host)) {
    return `${host} is not ${gateways.size > 0 ? 'a default gateway' : 'a private or link-local address'}`
  }

  return undefined
}

/** fetch and read one description, bounded; undefined when it names no service of ours */
async function describe (location: URL, signal: AbortSignal): Promise<DiscoveredIgd | undefined> {
  const timeout = AbortSignal.timeout(PORT_MAPPING_REQUEST_TIMEOUT_MS)
  const response = await igdHttpRequest(location, {
    method: 'GET',
    headers: { Accept: 'text/xml, application/xml' },
    maxBytes: UPNP_MAX_DESCRIPTION_BYTES,
    signal: AbortSignal.any([signal, timeout])
  })

  if (response.status !== 200) {
    throw new InvalidUpnpResponseError('http-status', `HTTP status ${response.status}`)
  }

  const description = decodeDescription(response.body, location.href)
  const services = description.v1Services.filter(s => new URL(s.controlUrl).host === location.host && s.controlUrl.startsWith('http:'))

  if (description.hasWanIpConnection2) {
    return { igdVersion: 2, location, services }
  }

  return services.length > 0 ? { igdVersion: 1, location, services } : undefined
}

function send (socket: ReturnType<typeof createSocket>, message: string, host: string, log: Logger): void {
  socket.send(message, SSDP_PORT, host, err => {
    if (err != null) {
      log.trace('could not send the M-SEARCH to %s - %e', host, err)
    }
  })
}

function isPrivateOrLinkLocalIPv4 (host: string): boolean {
  const [a, b] = host.split('.').map(Number)
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127)
}
