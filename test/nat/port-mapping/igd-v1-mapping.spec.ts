/*
 * Our IGDv1 client's decisions (which service, 718 and 725, deletion,
 * size caps) against a scripted SOAP endpoint on 127.0.0.1. The real
 * gateway (miniupnpd in IGDv1 mode) is in igd-v1-lab.spec.ts.
 */

import { createServer } from 'node:http'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { InvalidUpnpResponseError, PortMappingTimeoutError, UpnpActionError } from '../../../src/errors.ts'
import { WAN_IP_CONNECTION_1, WAN_PPP_CONNECTION_1 } from '../../../src/nat/port-mapping/igd-codec.ts'
import { mapWithIgdV1 } from '../../../src/nat/port-mapping/igd-v1-mapping.ts'
import type { Server } from 'node:http'

interface Call { path: string, action: string, args: Record<string, string> }
type Answer = { status: number, body: string } | 'hang'

const ok = (action: string, inner = ''): Answer => ({ status: 200, body: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="${WAN_IP_CONNECTION_1}">${inner}</u:${action}Response></s:Body></s:Envelope>` })
/** the gateway's answer to GetExternalIPAddress */
const external = (host = '203.0.113.5'): Answer => ok('GetExternalIPAddress', `<NewExternalIPAddress>${host}</NewExternalIPAddress>`)
/** `refuse` for the calls it matches, else success (the external address for GetExternalIPAddress) */
const refuseIf = (matches: (call: Call) => boolean, refuse: Answer): (call: Call) => Answer => call => {
  if (matches(call)) {
    return refuse
  }
  return call.action === 'GetExternalIPAddress' ? external() : ok(call.action)
}
/** the in arguments of a SOAP request, as sent (escaped) */
const soapArgs = (body: string): Record<string, string> => {
  const args: Record<string, string> = {}
  for (const m of body.matchAll(/<(New\w+)>([^<]*)<\/\1>/g)) {
    args[m[1]] = m[2]
  }
  return args
}
const fault = (code: number, description: string): Answer => ({ status: 500, body: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>` })

describe('nat/port-mapping/IGDv1 mapping (scripted gateway)', () => {
  let server: Server
  let port: number
  let calls: Call[]
  let answer: (call: Call) => Answer
  const log = defaultLogger().forComponent('test:igd-v1')

  beforeEach(async () => {
    calls = []
    answer = refuseIf(() => false, ok(''))
    server = createServer((req, res) => {
      let body = ''
      req.on('data', chunk => { body += chunk })
      req.on('end', () => {
        const action = /#(\w+)"$/.exec(req.headers.soapaction as string ?? '')?.[1] ?? ''
        const call = { path: req.url ?? '', action, args: soapArgs(body) }
        calls.push(call)
        const a = answer(call)
        if (a === 'hang') {
          return
        }
        res.writeHead(a.status, { 'Content-Type': 'text/xml' })
        res.end(a.body)
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })

  afterEach(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })

  const device = (services = [{ serviceType: WAN_IP_CONNECTION_1, controlUrl: `http://127.0.0.1:${port}/ctl/IPConn` }]): any => ({
    igdVersion: 1, location: new URL(`http://127.0.0.1:${port}/rootDesc.xml`), services
  })
  const map = async (extra: Record<string, unknown> = {}): ReturnType<typeof mapWithIgdV1> => mapWithIgdV1({ port: 40000, family: 4, lifetime: 7200, description: 'd&<x>', device: device(), log, ...extra }, {})

  it('maps our own port for UDP with the lease asked for, to our address towards the gateway', async () => {
    const mapping = await map()
    expect(mapping).to.deep.include({ protocol: 'upnp', igdVersion: 1, gateway: '127.0.0.1', lifetime: 7200 })
    expect(mapping.external).to.deep.equal({ host: '203.0.113.5', port: 40000, family: 4 })
    expect(mapping.internal).to.deep.equal({ host: '127.0.0.1', port: 40000, family: 4 })
    expect(calls.map(c => c.action)).to.deep.equal(['GetExternalIPAddress', 'AddPortMapping'])
    expect(calls[1].path).to.equal('/ctl/IPConn')
    expect(calls[1].args).to.deep.equal({
      NewRemoteHost: '',
      NewExternalPort: '40000',
      NewProtocol: 'UDP',
      NewInternalPort: '40000',
      NewInternalClient: '127.0.0.1',
      NewEnabled: '1',
      NewPortMappingDescription: 'd&amp;&lt;x&gt;',
      NewLeaseDuration: '7200'
    })
  })

  it('renews with the same AddPortMapping and reads the external address again; deletes UDP on remove', async () => {
    const mapping = await map()
    answer = refuseIf(call => call.action === 'GetExternalIPAddress', external('203.0.113.9'))
    const renewed = await mapping.renew({})
    expect(renewed).to.deep.equal({ external: { host: '203.0.113.9', port: 40000, family: 4 }, lifetime: 7200, stateLost: false })
    expect(calls[2]).to.deep.include({ action: 'AddPortMapping' })
    expect(calls[2].args).to.deep.equal(calls[1].args)

    await mapping.remove({})
    expect(calls.at(-1)).to.deep.equal({ path: '/ctl/IPConn', action: 'DeletePortMapping', args: { NewRemoteHost: '', NewExternalPort: '40000', NewProtocol: 'UDP' } })
  })

  it('tries other external ports on 718 ConflictInMappingEntry, a bounded number of times', async () => {
    const ports = [41001, 41002, 41003, 41004]
    answer = refuseIf(call => call.action === 'AddPortMapping' && call.args.NewExternalPort !== '41002', fault(718, 'ConflictInMappingEntry'))
    const mapping = await map({ nextPort: () => ports.shift() })
    expect(mapping.external.port).to.equal(41002)
    expect(calls.filter(c => c.action === 'AddPortMapping').map(c => [c.args.NewExternalPort, c.args.NewInternalPort])).to.deep.equal([['40000', '40000'], ['41001', '40000'], ['41002', '40000']])

    calls = []
    answer = refuseIf(call => call.action === 'AddPortMapping', fault(718, 'ConflictInMappingEntry'))
    const err = await map().catch(e => e)
    expect(err).to.be.an.instanceOf(UpnpActionError).with.property('code', 718)
    expect(calls.filter(c => c.action === 'AddPortMapping')).to.have.lengthOf(4)
  })

  it('asks again with lease 0 on 725 OnlyPermanentLeasesSupported, renews with lease 0 and still deletes', async () => {
    answer = refuseIf(call => call.action === 'AddPortMapping' && call.args.NewLeaseDuration !== '0', fault(725, 'OnlyPermanentLeasesSupported'))
    const mapping = await map()
    expect(calls.filter(c => c.action === 'AddPortMapping').map(c => c.args.NewLeaseDuration)).to.deep.equal(['7200', '0'])
    await mapping.renew({})
    expect(calls.filter(c => c.action === 'AddPortMapping').map(c => c.args.NewLeaseDuration)).to.deep.equal(['7200', '0', '0'])
    await mapping.remove({})
    expect(calls.at(-1)?.action).to.equal('DeletePortMapping')
  })

  it('uses the first connection service with an external address (WANPPPConnection:1 after a WANIPConnection:1 that is down)', async () => {
    answer = call => call.action === 'GetExternalIPAddress'
      ? external(call.path === '/ip' ? '0.0.0.0' : '203.0.113.7')
      : ok(call.action)
    const mapping = await mapWithIgdV1({
      port: 40000,
      family: 4,
      lifetime: 7200,
      description: 'd',
      log,
      device: device([{ serviceType: WAN_IP_CONNECTION_1, controlUrl: `http://127.0.0.1:${port}/ip` }, { serviceType: WAN_PPP_CONNECTION_1, controlUrl: `http://127.0.0.1:${port}/ppp` }])
    }, {})
    expect(mapping.external.host).to.equal('203.0.113.7')
    expect(calls.map(c => `${c.action} ${c.path}`)).to.deep.equal(['GetExternalIPAddress /ip', 'GetExternalIPAddress /ppp', 'AddPortMapping /ppp'])
  })

  it('passes other errors on, and takes 714 (no such entry) on delete as done', async () => {
    answer = refuseIf(call => call.action === 'AddPortMapping', fault(606, 'Action not authorized'))
    expect(await map().catch(e => e)).to.be.an.instanceOf(UpnpActionError).with.property('code', 606)

    answer = refuseIf(call => call.action === 'DeletePortMapping', fault(714, 'NoSuchEntryInArray'))
    const mapping = await map()
    await mapping.remove({})
  })

  it('refuses an oversized answer and times out on a gateway that does not answer', async () => {
    answer = () => ({ status: 200, body: 'x'.repeat(64 * 1024) })
    expect(await map().catch(e => e)).to.be.an.instanceOf(InvalidUpnpResponseError).with.property('reason', 'too-large')

    answer = () => 'hang'
    const { IgdV1Client } = await import('../../../src/nat/port-mapping/igd-v1-client.ts')
    const client = new IgdV1Client({ controlUrl: `http://127.0.0.1:${port}/ctl`, serviceType: WAN_IP_CONNECTION_1, log, timeoutMs: 200 })
    expect(await client.getExternalIPAddress().catch(e => e)).to.be.an.instanceOf(PortMappingTimeoutError)
  })
})
