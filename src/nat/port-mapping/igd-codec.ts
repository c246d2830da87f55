/**
 * The UPnP-IGD messages our IGDv1 client reads and writes, as text: the
 * SSDP search and its answers, the device description (which services,
 * at which control URLs) and SOAP actions, faults and answers. Pure and
 * bounded: every scan is a forward search for a tag (no backtracking
 * regular expression over the whole text), the callers cap the text's size,
 * and the number of elements read is capped here.
 */

import { InvalidUpnpResponseError } from '../../errors.ts'

/** the SSDP multicast group and port (UDA 1.1 section 1.1.2) */
export const SSDP_MULTICAST_IPV4 = '239.255.255.250'
export const SSDP_PORT = 1900

/** IGDv1's root device: every IGD (v2 ones too, UDA 1.1 section 1.3.2) answers a search for it */
export const IGD_V1_DEVICE = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1'
export const WAN_IP_CONNECTION_1 = 'urn:schemas-upnp-org:service:WANIPConnection:1'
export const WAN_PPP_CONNECTION_1 = 'urn:schemas-upnp-org:service:WANPPPConnection:1'
export const WAN_IP_CONNECTION_2 = 'urn:schemas-upnp-org:service:WANIPConnection:2'

/** UPnP error codes of WANIPConnection:1 / WANPPPConnection:1 that we act on */
export const UPNP_ERROR = {
  /** the external port is mapped to another internal client */
  CONFLICT_IN_MAPPING_ENTRY: 718,
  /** the gateway only grants leases of 0 (permanent) */
  ONLY_PERMANENT_LEASES_SUPPORTED: 725,
  /** DeletePortMapping: no such mapping (already gone) */
  NO_SUCH_ENTRY_IN_ARRAY: 714
} as const

/** header lines read of one SSDP answer; a real one has about 10 */
const MAX_SSDP_HEADER_LINES = 32
/** `<service>` elements read of one description */
const MAX_DESCRIPTION_SERVICES = 64
/** out arguments read of one SOAP answer */
const MAX_SOAP_ARGUMENTS = 32

export interface SsdpSearchResponse {
  /** the search target it answers for (ST) */
  st: string
  /** where its device description is (LOCATION) */
  location: string
  usn?: string
}

export interface IgdServiceDescription {
  serviceType: string
  /** absolute, resolved against URLBase or the description's own URL */
  controlUrl: string
}

export interface IgdDescription {
  /** a WANIPConnection:2 is described: an IGDv2 device (the library's) */
  hasWanIpConnection2: boolean
  /** the WANIPConnection:1 services first, then the WANPPPConnection:1 ones, in document order */
  v1Services: IgdServiceDescription[]
}

/** An M-SEARCH for `st`, to the multicast group or (`host`) unicast to one device */
export function encodeMSearch (st: string, mx: number, host = `${SSDP_MULTICAST_IPV4}:${SSDP_PORT}`): string {
  return [
    'M-SEARCH * HTTP/1.1',
    `HOST: ${host}`,
    'MAN: "ssdp:discover"',
    `MX: ${mx}`,
    `ST: ${st}`,
    '',
    ''
  ].join('\r\n')
}

/**
 * An SSDP search answer (`HTTP/1.1 200 OK` with ST and LOCATION), or
 * undefined for anything else (NOTIFY, M-SEARCH of other hosts, garbage)
 */
export function decodeSsdpResponse (text: string): SsdpSearchResponse | undefined {
  const lines = text.split(/\r?\n/, MAX_SSDP_HEADER_LINES + 1)

  if (!/^HTTP\/1\.[01] 200\b/i.test(lines[0] ?? '')) {
    return undefined
  }

  const headers = new Map<string, string>()

  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')

    if (colon > 0) {
      const name = line.slice(0, colon).trim().toUpperCase()

      if (!headers.has(name)) {
        headers.set(name, line.slice(colon + 1).trim())
      }
    }
  }

  const st = headers.get('ST')
  const location = headers.get('LOCATION')

  if (st == null || st === '' || location == null || location === '') {
    return undefined
  }

  return { st, location, usn: headers.get('USN') }
}

/**
 * The services of a device description that our client and the library
 * care about, with their control URLs made absolute (against URLBase,
 * else the description's URL)
 *
 * @throws {InvalidUpnpResponseError} `not-a-description` without a root device
 */
export function decodeDescription (xml: string, location: string): IgdDescription {
  if (!/<([A-Za-z_][\w.-]*:)?device[\s>]/.test(xml)) {
    throw new InvalidUpnpResponseError('not-a-description', 'The UPnP device description has no <device> element')
  }

  const urlBase = childText(xml, 'URLBase')
  const base = urlBase != null && urlBase !== '' ? urlBase : location
  const ipServices: IgdServiceDescription[] = []
  const pppServices: IgdServiceDescription[] = []
  let hasWanIpConnection2 = false
  let from = 0

  for (let n = 0; n < MAX_DESCRIPTION_SERVICES; n++) {
    const service = findElement(xml, 'service', from)

    if (service == null) {
      break
    }

    from = service.end
    const serviceType = childText(service.inner, 'serviceType')
    const controlUrl = childText(service.inner, 'controlURL')

    if (serviceType === WAN_IP_CONNECTION_2) {
      hasWanIpConnection2 = true
      continue
    }

    if ((serviceType !== WAN_IP_CONNECTION_1 && serviceType !== WAN_PPP_CONNECTION_1) || controlUrl == null || controlUrl === '') {
      continue
    }

    const resolved = resolveUrl(controlUrl, base, location)

    if (resolved == null) {
      continue
    }

    (serviceType === WAN_IP_CONNECTION_1 ? ipServices : pppServices).push({ serviceType, controlUrl: resolved })
  }

  return { hasWanIpConnection2, v1Services: [...ipServices, ...pppServices] }
}

/** A SOAP request for one action of `serviceType`, with its SOAPAction header value */
export function encodeSoapRequest (serviceType: string, action: string, args: Array<[string, string | number]>): { body: string, soapAction: string } {
  const body = [
    '<?xml version="1.0"?>',
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">',
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">`,
    ...args.map(([name, value]) => `<${name}>${escapeXml(String(value))}</${name}>`),
    `</u:${action}></s:Body>`,
    '</s:Envelope>',
    ''
  ].join('')

  return { body, soapAction: `"${serviceType}#${action}"` }
}

/**
 * The out arguments of a SOAP answer to `action` (the children of its
 * `<actionResponse>`), by name
 *
 * @throws {InvalidUpnpResponseError} `no-response` when the answer has no `<actionResponse>`
 */
export function decodeSoapResponse (xml: string, action: string): Map<string, string> {
  const response = findElement(xml, `${action}Response`, 0)

  if (response == null) {
    throw new InvalidUpnpResponseError('no-response', `The UPnP-IGD gateway's answer to ${action} has no ${action}Response`)
  }

  const args = new Map<string, string>()
  const open = /<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)((?:\s[^<>]*)?)(\/?)>/g
  let n = 0
  let match: RegExpExecArray | null

  while (n++ < MAX_SOAP_ARGUMENTS && (match = open.exec(response.inner)) != null) {
    const [tag, prefix = '', name, attributes, selfClosed] = match

    if (selfClosed === '/' || attributes.endsWith('/')) {
      args.set(name, '')
      continue
    }

    const close = response.inner.indexOf(`</${prefix}${name}>`, match.index + tag.length)

    if (close < 0) {
      break
    }

    args.set(name, unescapeXml(response.inner.slice(match.index + tag.length, close).trim()))
    open.lastIndex = close + prefix.length + name.length + 3
  }

  return args
}

/**
 * The UPnP error of a SOAP fault (UDA 1.1 section 3.2.2), or undefined
 * when the text is not one
 */
export function decodeSoapFault (xml: string): { code: number, description: string } | undefined {
  const code = childText(xml, 'errorCode')

  if (code == null || !/^\d{1,4}$/.test(code)) {
    return undefined
  }

  return { code: Number(code), description: childText(xml, 'errorDescription') ?? '' }
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

export function escapeXml (text: string): string {
  return text.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c)
}

export function unescapeXml (text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (entity, name: string) => {
    const named = XML_ENTITIES[name]

    if (named != null) {
      return named
    }

    const code = name.startsWith('#x') ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10)
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity
  })
}

/**
 * The first element `name` (with any namespace prefix) at or after `from`:
 * its inner text and where it ends; undefined when there is none or it is
 * not closed
 */
function findElement (xml: string, name: string, from: number): { inner: string, end: number } | undefined {
  const open = new RegExp(`<([A-Za-z_][\\w.-]*:)?${name}(?=[\\s/>])[^<>]*>`, 'g')
  open.lastIndex = from
  const match = open.exec(xml)

  if (match == null) {
    return undefined
  }

  const start = match.index + match[0].length

  if (match[0].endsWith('/>')) {
    return { inner: '', end: start }
  }

  const closeTag = `</${match[1] ?? ''}${name}>`
  const close = xml.indexOf(closeTag, start)

  if (close < 0) {
    return undefined
  }

  return { inner: xml.slice(start, close), end: close + closeTag.length }
}

/** the trimmed, unescaped text of the first element `name` in `xml` */
function childText (xml: string, name: string): string | undefined {
  const element = findElement(xml, name, 0)
  return element != null ? unescapeXml(element.inner.trim()) : undefined
}

/** `url` against `base` (itself against `location`), or undefined when it is not a URL */
function resolveUrl (url: string, base: string, location: string): string | undefined {
  try {
    return new URL(url, new URL(base, location)).toString()
  } catch {
    return undefined
  }
}
