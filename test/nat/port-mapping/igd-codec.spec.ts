import { readFileSync } from 'node:fs'
import { expect } from 'aegir/chai'
import { InvalidUpnpResponseError } from '../../../src/errors.ts'
import {
  IGD_V1_DEVICE,
  WAN_IP_CONNECTION_1,
  WAN_PPP_CONNECTION_1,
  decodeDescription,
  decodeSoapFault,
  decodeSoapResponse,
  decodeSsdpResponse,
  encodeMSearch,
  encodeSoapRequest,
  escapeXml,
  unescapeXml
} from '../../../src/nat/port-mapping/igd-codec.ts'
import { locationProblem } from '../../../src/nat/port-mapping/igd-discovery.ts'

/** miniupnpd 2.3.1's root descriptions as the NAT lab serves them (force_igd_desc_v1 yes and no) */
const IGD1 = readFileSync(new URL('./fixtures/miniupnpd-igd1-rootdesc.xml', import.meta.url), 'utf8')
const IGD2 = readFileSync(new URL('./fixtures/miniupnpd-igd2-rootdesc.xml', import.meta.url), 'utf8')
const LOCATION = 'http://10.1.0.1:5000/rootDesc.xml'

describe('nat/port-mapping/igd-codec', () => {
  describe('SSDP', () => {
    it('writes an M-SEARCH for IGDv1, to the group or unicast', () => {
      expect(encodeMSearch(IGD_V1_DEVICE, 1)).to.equal(`M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${IGD_V1_DEVICE}\r\n\r\n`)
      expect(encodeMSearch(IGD_V1_DEVICE, 1, '10.1.0.1:1900')).to.include('HOST: 10.1.0.1:1900\r\n')
    })

    it('reads a search answer (miniupnpd\'s), case-insensitive header names', () => {
      const text = [
        'HTTP/1.1 200 OK', 'CACHE-CONTROL: max-age=120', `ST: ${IGD_V1_DEVICE}`,
        'USN: uuid:3f2b1a9e::urn:schemas-upnp-org:device:InternetGatewayDevice:1', 'EXT:',
        'SERVER: Debian UPnP/1.1 MiniUPnPd/2.3.1', 'location: http://10.1.0.1:5000/rootDesc.xml', '', ''
      ].join('\r\n')
      expect(decodeSsdpResponse(text)).to.deep.equal({ st: IGD_V1_DEVICE, location: LOCATION, usn: 'uuid:3f2b1a9e::urn:schemas-upnp-org:device:InternetGatewayDevice:1' })
    })

    it('ignores what is not a search answer, or lacks ST or LOCATION', () => {
      expect(decodeSsdpResponse('NOTIFY * HTTP/1.1\r\nNT: x\r\nLOCATION: http://a/\r\n\r\n')).to.equal(undefined)
      expect(decodeSsdpResponse('M-SEARCH * HTTP/1.1\r\nST: x\r\n\r\n')).to.equal(undefined)
      expect(decodeSsdpResponse('HTTP/1.1 200 OK\r\nST: x\r\n\r\n')).to.equal(undefined)
      expect(decodeSsdpResponse('HTTP/1.1 200 OK\r\nLOCATION: http://a/\r\n\r\n')).to.equal(undefined)
      expect(decodeSsdpResponse('HTTP/1.1 404 Not Found\r\nST: x\r\nLOCATION: http://a/\r\n\r\n')).to.equal(undefined)
      expect(decodeSsdpResponse('')).to.equal(undefined)
      expect(decodeSsdpResponse('\u0000'.repeat(2048))).to.equal(undefined)
    })

    it('reads only the first header lines of an answer', () => {
      const text = ['HTTP/1.1 200 OK', ...Array.from({ length: 40 }, (_, i) => `X-${i}: y`), 'ST: late', 'LOCATION: http://a/', ''].join('\r\n')
      expect(decodeSsdpResponse(text)).to.equal(undefined)
    })
  })

  describe('LOCATION checks', () => {
    const gateways = new Set(['10.1.0.1'])

    it('follows plain http on the answer\'s source when it is a default gateway', () => {
      expect(locationProblem(LOCATION, '10.1.0.1', gateways)).to.equal(undefined)
    })

    /** title, LOCATION, the answer's source, the known gateways, the reason */
    const refused: Array<[string, string, string, Set<string>, RegExp]> = [
      ['another host than the source', 'http://10.1.0.7:5000/d.xml', '10.1.0.1', gateways, /not the answer's source/],
      ['a source that is not a default gateway', 'http://10.1.0.7:5000/d.xml', '10.1.0.7', gateways, /not a default gateway/],
      ['https', 'https://10.1.0.1/d.xml', '10.1.0.1', gateways, /not plain http/],
      ['a name', 'http://router.local/d.xml', '10.1.0.1', gateways, /not the answer's source/],
      ['garbage', 'not a url', '10.1.0.1', gateways, /not a URL/],
      ['a public host when no gateway is known', 'http://198.51.100.1/d.xml', '198.51.100.1', new Set(), /private or link-local/]
    ]

    refused.forEach(([title, location, source, known, message]) => {
      it(`refuses ${title}`, () => {
        expect(locationProblem(location, source, known)).to.match(message)
      })
    })

    it('follows a private source when no gateway is known', () => {
      expect(locationProblem('http://192.168.1.1:49000/igd.xml', '192.168.1.1', new Set())).to.equal(undefined)
    })
  })

  describe('device description', () => {
    it('finds the WANIPConnection:1 control URL of miniupnpd in IGDv1 mode', () => {
      expect(decodeDescription(IGD1, LOCATION)).to.deep.equal({
        hasWanIpConnection2: false,
        v1Services: [{ serviceType: WAN_IP_CONNECTION_1, controlUrl: 'http://10.1.0.1:5000/ctl/IPConn' }]
      })
    })

    it('tells an IGDv2 description (WANIPConnection:2) apart', () => {
      expect(decodeDescription(IGD2, 'http://10.2.0.1:5000/rootDesc.xml')).to.deep.equal({ hasWanIpConnection2: true, v1Services: [] })
    })

    it('resolves against URLBase, lists WANIPConnection:1 before WANPPPConnection:1, reads prefixed tags and entities', () => {
      const xml = `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><URLBase>http://192.168.1.1:49000/</URLBase>
        <device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><serviceList>
        <service><serviceType>${WAN_PPP_CONNECTION_1}</serviceType><controlURL>/upnp/control/WANPPPConn1</controlURL></service>
        <d:service xmlns:d="x"><d:serviceType>${WAN_IP_CONNECTION_1}</d:serviceType><d:controlURL> upnp/ctl?a=1&amp;b=2 </d:controlURL></d:service>
        <service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/l3f</controlURL></service>
        <service><serviceType>${WAN_IP_CONNECTION_1}</serviceType></service>
        </serviceList></device></root>`
      expect(decodeDescription(xml, 'http://192.168.1.1:49000/igddesc.xml').v1Services).to.deep.equal([
        { serviceType: WAN_IP_CONNECTION_1, controlUrl: 'http://192.168.1.1:49000/upnp/ctl?a=1&b=2' },
        { serviceType: WAN_PPP_CONNECTION_1, controlUrl: 'http://192.168.1.1:49000/upnp/control/WANPPPConn1' }
      ])
    })

    it('refuses what is no description, and stops at an unclosed service', () => {
      expect(() => decodeDescription('<html>hello</html>', LOCATION)).to.throw(InvalidUpnpResponseError)
      const unclosed = `<root><device><service><serviceType>${WAN_IP_CONNECTION_1}</serviceType><controlURL>/c</controlURL></device></root>`
      expect(decodeDescription(unclosed, LOCATION).v1Services).to.deep.equal([])
    })

    it('reads a large hostile description in bounded time', () => {
      const xml = '<root><device>' + '<service><serviceType>'.repeat(6000) + '</root>'
      const started = Date.now()
      expect(decodeDescription(xml, LOCATION).v1Services).to.deep.equal([])
      expect(Date.now() - started).to.be.lessThan(500)
    })
  })

  describe('SOAP', () => {
    it('writes an action with escaped arguments', () => {
      const { body, soapAction } = encodeSoapRequest(WAN_IP_CONNECTION_1, 'AddPortMapping', [
        ['NewRemoteHost', ''], ['NewExternalPort', 40000], ['NewPortMappingDescription', 'a<b>&"c\'']
      ])
      expect(soapAction).to.equal(`"${WAN_IP_CONNECTION_1}#AddPortMapping"`)
      expect(body).to.include(`<s:Body><u:AddPortMapping xmlns:u="${WAN_IP_CONNECTION_1}">`)
      expect(body).to.include('<NewRemoteHost></NewRemoteHost><NewExternalPort>40000</NewExternalPort>')
      expect(body).to.include('<NewPortMappingDescription>a&lt;b&gt;&amp;&quot;c&apos;</NewPortMappingDescription>')
      expect(body).to.include('</u:AddPortMapping></s:Body></s:Envelope>')
    })

    it('reads an answer\'s out arguments (miniupnpd\'s form, and prefixed, empty and self-closed ones)', () => {
      const miniupnpd = '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalIPAddress>203.0.113.100</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>\r\n'
      expect(decodeSoapResponse(miniupnpd, 'GetExternalIPAddress').get('NewExternalIPAddress')).to.equal('203.0.113.100')

      const other = '<SOAP-ENV:Envelope><SOAP-ENV:Body><m:GetSpecificPortMappingEntryResponse xmlns:m="x"><m:NewInternalPort>40000</m:NewInternalPort><NewInternalClient>10.1.0.10</NewInternalClient><NewEnabled/><NewPortMappingDescription>a &amp; b</NewPortMappingDescription><NewLeaseDuration></NewLeaseDuration></m:GetSpecificPortMappingEntryResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>'
      expect(Object.fromEntries(decodeSoapResponse(other, 'GetSpecificPortMappingEntry'))).to.deep.equal({
        NewInternalPort: '40000', NewInternalClient: '10.1.0.10', NewEnabled: '', NewPortMappingDescription: 'a & b', NewLeaseDuration: ''
      })
      expect(decodeSoapResponse('<u:AddPortMappingResponse xmlns:u="x"/>', 'AddPortMapping').size).to.equal(0)
    })

    it('refuses an answer without the action\'s response', () => {
      expect(() => decodeSoapResponse('<s:Envelope><s:Body></s:Body></s:Envelope>', 'AddPortMapping')).to.throw(InvalidUpnpResponseError).with.property('reason', 'no-response')
    })

    it('reads the UPnP error of a fault (718, 725), or none', () => {
      const fault = (code: string, description: string): string => `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`
      expect(decodeSoapFault(fault('718', 'ConflictInMappingEntry'))).to.deep.equal({ code: 718, description: 'ConflictInMappingEntry' })
      expect(decodeSoapFault(fault('725', 'OnlyPermanentLeasesSupported'))).to.deep.equal({ code: 725, description: 'OnlyPermanentLeasesSupported' })
      expect(decodeSoapFault(fault('x', 'y'))).to.equal(undefined)
      expect(decodeSoapFault('Internal Server Error')).to.equal(undefined)
    })

    it('escapes and unescapes XML text', () => {
      expect(escapeXml('<a href="x">&\'</a>')).to.equal('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;')
      expect(unescapeXml('&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&bogus;&#0;')).to.equal('<>&"\'AB&bogus;&#0;')
      expect(unescapeXml(escapeXml('a & <b> "c" \'d\''))).to.equal('a & <b> "c" \'d\'')
    })
  })
})
