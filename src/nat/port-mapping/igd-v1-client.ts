/**
 * The actions of one UPnP-IGDv1 connection service (WANIPConnection:1 or
 * WANPPPConnection:1, which have the same port-mapping actions) that we
 * need for UDP mappings: GetExternalIPAddress, AddPortMapping,
 * GetSpecificPortMappingEntry, DeletePortMapping. One bounded SOAP POST per
 * action (igd-http.ts), each under PORT_MAPPING_REQUEST_TIMEOUT_MS.
 *
 * Why our own: `@achingbrain/nat-port-mapper` 4.0.5 finds and speaks IGDv2
 * only (AddAnyPortMapping on WANIPConnection:2), and many home routers are
 * IGDv1 only.
 */

import { PORT_MAPPING_REQUEST_TIMEOUT_MS, UPNP_MAX_SOAP_RESPONSE_BYTES } from '../../constants.ts'
import { InvalidUpnpResponseError, PortMappingTimeoutError, UpnpActionError } from '../../errors.ts'
import { canonicalHost, parseIPv4 } from '../ip.ts'
import { decodeSoapFault, decodeSoapResponse, encodeSoapRequest } from './igd-codec.ts'
import { igdHttpRequest } from './igd-http.ts'
import type { AbortOptions, Logger } from '@libp2p/interface'

export interface IgdV1ClientInit {
  /** the service's absolute control URL */
  controlUrl: string
  /** WANIPConnection:1 or WANPPPConnection:1 */
  serviceType: string
  log: Logger
  /**
   * How long one action may take, in ms
   *
   * @default PORT_MAPPING_REQUEST_TIMEOUT_MS
   */
  timeoutMs?: number
}

/** an AddPortMapping of a UDP port */
export interface IgdV1PortMapping {
  externalPort: number
  internalPort: number
  /** our LAN address towards the gateway */
  internalClient: string
  description: string
  /** seconds; 0 asks for a permanent mapping */
  leaseDuration: number
}

/** GetSpecificPortMappingEntry's answer */
export interface IgdV1PortMappingEntry {
  internalPort: number
  internalClient: string
  enabled: boolean
  description: string
  /** seconds left (0: permanent), as the gateway reports it */
  leaseDuration: number
}

export class IgdV1Client {
  readonly controlUrl: URL
  readonly serviceType: string
  private readonly log: Logger
  private readonly timeoutMs: number

  constructor (init: IgdV1ClientInit) {
    this.controlUrl = new URL(init.controlUrl)
    this.serviceType = init.serviceType
    this.log = init.log
    this.timeoutMs = init.timeoutMs ?? PORT_MAPPING_REQUEST_TIMEOUT_MS
  }

  /**
   * The gateway's external IPv4 address
   *
   * @throws {InvalidUpnpResponseError} `bad-address` when it is none (0.0.0.0, empty: a connection that is down)
   */
  async getExternalIPAddress (options: AbortOptions = {}): Promise<string> {
    const out = await this.action('GetExternalIPAddress', [], options)
    const address = out.get('NewExternalIPAddress') ?? ''

    if (parseIPv4(address) == null || address === '0.0.0.0') {
      throw new InvalidUpnpResponseError('bad-address', `The UPnP-IGD gateway reports no usable external address (${JSON.stringify(address.slice(0, 64))})`)
    }

    return canonicalHost(address)
  }

  /** map (or, for the same internal client, refresh) a UDP port */
  async addPortMapping (mapping: IgdV1PortMapping, options: AbortOptions = {}): Promise<void> {
    await this.action('AddPortMapping', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', mapping.externalPort],
      ['NewProtocol', 'UDP'],
      ['NewInternalPort', mapping.internalPort],
      ['NewInternalClient', mapping.internalClient],
      ['NewEnabled', 1],
      ['NewPortMappingDescription', mapping.description],
      ['NewLeaseDuration', mapping.leaseDuration]
    ], options)
  }

  /** the gateway's entry for a UDP external port */
  async getSpecificPortMappingEntry (externalPort: number, options: AbortOptions = {}): Promise<IgdV1PortMappingEntry> {
    const out = await this.action('GetSpecificPortMappingEntry', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', externalPort],
      ['NewProtocol', 'UDP']
    ], options)

    return {
      internalPort: Number(out.get('NewInternalPort') ?? NaN),
      internalClient: out.get('NewInternalClient') ?? '',
      enabled: out.get('NewEnabled') === '1' || out.get('NewEnabled')?.toLowerCase() === 'true',
      description: out.get('NewPortMappingDescription') ?? '',
      leaseDuration: Number(out.get('NewLeaseDuration') ?? NaN)
    }
  }

  /** delete the mapping of a UDP external port */
  async deletePortMapping (externalPort: number, options: AbortOptions = {}): Promise<void> {
    await this.action('DeletePortMapping', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', externalPort],
      ['NewProtocol', 'UDP']
    ], options)
  }

  /**
   * One SOAP action: its out arguments
   *
   * @throws {UpnpActionError} the gateway's UPnP error (or HTTP status)
   * @throws {PortMappingTimeoutError} no answer within the timeout
   */
  private async action (action: string, args: Array<[string, string | number]>, options: AbortOptions): Promise<Map<string, string>> {
    const { body, soapAction } = encodeSoapRequest(this.serviceType, action, args)
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    this.log.trace('IGDv1 %s to %s', action, this.controlUrl.href)

    let response

    try {
      response = await igdHttpRequest(this.controlUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: soapAction },
        body,
        maxBytes: UPNP_MAX_SOAP_RESPONSE_BYTES,
        signal
      })
    } catch (err) {
      if (timeout.aborted && options.signal?.aborted !== true) {
        throw new PortMappingTimeoutError(`The UPnP-IGD gateway ${this.controlUrl.host} did not answer ${action} within ${this.timeoutMs} ms`)
      }

      throw err
    }

    this.log.trace('IGDv1 %s answered %d (%d bytes)', action, response.status, response.body.length)

    if (response.status !== 200) {
      const fault = decodeSoapFault(response.body)
      throw new UpnpActionError(action, fault?.code ?? 0, fault?.description ?? `HTTP status ${response.status}`)
    }

    return decodeSoapResponse(response.body, action)
  }
}
