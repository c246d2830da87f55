/*
 * UPnP-IGD version 1 against a real router: miniupnpd in IGDv1 mode
 * (`force_igd_desc_v1=yes`, NAT-PMP and PCP off) on a NAT lab site, and
 * one in IGDv2 mode beside it. Our IGDv1 client (igd-v1-*.ts) maps, renews
 * (the lease the router reports goes back up) and deletes a UDP mapping,
 * through the PortMapper as a node runs it, and a datagram from the
 * internet reaches the LAN host through the mapping; with IGDv2 the
 * library's path is still the one used.
 *
 * Needs root and miniupnpd (Debian `miniupnpd-nftables`); fails under
 * CI=true without them.
 */

import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { Lab } from '../../../src/lab/index.ts'
import { WAN_IP_CONNECTION_1 } from '../../../src/nat/port-mapping/igd-codec.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import { MapperNode, sendFromInternet } from './fixtures/mapper-driver.ts'
import type { PortMappingState } from '../../../src/nat/port-mapping/types.ts'

const PROBE = fileURLToPath(new URL('./fixtures/igd-v1-probe.ts', import.meta.url))

describe('nat/port-mapping UPnP-IGDv1 on a miniupnpd router (NAT lab)', function () {
  this.timeout(180_000)
  let lab: Lab
  const nodes: MapperNode[] = []

  /** run the probe (our IGDv1 client, one command) in a LAN host */
  const probe = async (host: string, ...args: Array<string | number>): Promise<any> => {
    const result = await lab.host(host).exec([process.execPath, '--experimental-transform-types', '--disable-warning=ExperimentalWarning', PROBE, ...args.map(String)], {
      timeoutMs: 30_000,
      env: { ...process.env, DEBUG: 'libp2p:udx:port-mapping*' }
    })
    const line = result.stdout.trim().split('\n').at(-1) ?? ''
    try {
      return JSON.parse(line)
    } catch {
      throw new Error(`probe ${args.join(' ')} in ${host}: ${result.stdout}\n${result.stderr}`)
    }
  }

  const start = async (host: string): Promise<MapperNode> => {
    // PCP and NAT-PMP stay on in the node: the router does not answer them
    const node = await MapperNode.start(lab.host(host), { init: { verify: false } })
    nodes.push(node)
    return node
  }

  const expectForwarded = async (node: MapperNode, mapping: PortMappingState): Promise<void> => {
    const text = `hello-${randomBytes(4).toString('hex')}`
    await sendFromInternet(lab.host('relay'), mapping.external.host, mapping.external.port, text)
    expect(await node.waitReceived(text), `${text} did not arrive through ${mapping.external.host}:${mapping.external.port}\n${node.log()}`).to.be.true()
  }

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: [
        { name: 'v1', nat: 'symmetric-random', portMapping: { igdVersion: 1, natPmp: false, pcp: false }, hosts: 2 },
        { name: 'v2', nat: 'symmetric-random', portMapping: { natPmp: false, pcp: false } }
      ],
      publicHosts: ['relay']
    })
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => node.close()))
  })

  after(async () => {
    await lab?.destroy()
  })

  it('miniupnpd with force_igd_desc_v1 describes itself as IGDv1 (WANIPConnection:1 only); without it, as IGDv2', async () => {
    const v1 = await probe('v11', 'discover')
    expect(v1, JSON.stringify(v1)).to.deep.include({ igdVersion: 1, location: `http://${lab.site('v1').routerLanIp}:5000/rootDesc.xml` })
    expect(v1.services).to.deep.equal([{ serviceType: WAN_IP_CONNECTION_1, controlUrl: `http://${lab.site('v1').routerLanIp}:5000/ctl/IPConn` }])
    expect(v1.gateways).to.deep.equal([lab.site('v1').routerLanIp])

    const v2 = await probe('v21', 'discover')
    expect(v2, JSON.stringify(v2)).to.deep.include({ igdVersion: 2 })
  })

  it('maps with our IGDv1 client through the PortMapper: the router forwards, the lease renews, stop deletes it', async () => {
    const node = await start('v11')
    const [mapping] = await node.command('refresh')
    expect(mapping, node.log()).to.deep.include({ protocol: 'upnp', igdVersion: 1, gateway: lab.site('v1').routerLanIp, verification: 'skipped' })
    expect(mapping.external).to.deep.equal({ host: lab.site('v1').publicIp, port: node.port, family: 4 })
    expect(mapping.internal).to.deep.equal({ host: lab.host('v11').ip, port: node.port, family: 4 })
    expect(node.log()).to.match(/mapped with upnp \(IGDv1\)/)
    expect(await lab.portMappings('v1')).to.deep.include({ protocol: 'udp', externalPort: node.port, internalHost: lab.host('v11').ip, internalPort: node.port })
    await expectForwarded(node, mapping)

    // the lease the router reports runs down, and a renewal sets it back
    const before = await probe('v11', 'entry', node.port)
    expect(before, JSON.stringify(before)).to.deep.include({ internalClient: lab.host('v11').ip, internalPort: node.port, enabled: true, description: 'libp2p-udp-holepunch' })
    await new Promise(resolve => setTimeout(resolve, 2_500))
    const ranDown = await probe('v11', 'entry', node.port)
    expect(ranDown.leaseDuration).to.be.within(1, 7198)
    const [renewed] = await node.command('renew')
    expect(renewed.external).to.deep.equal(mapping.external)
    expect(renewed.mappedAt).to.be.greaterThan(mapping.mappedAt)
    const after = await probe('v11', 'entry', node.port)
    expect(after.leaseDuration, `${ranDown.leaseDuration as number} -> ${after.leaseDuration as number}`).to.be.greaterThan(ranDown.leaseDuration)
    await expectForwarded(node, renewed)

    expect(await node.command('stop')).to.deep.equal([])
    expect((await lab.portMappings('v1')).filter(m => m.internalPort === node.port)).to.deep.equal([])
    expect(await probe('v11', 'entry', node.port)).to.have.property('code', 714)
    const text = `hello-after-stop-${randomBytes(4).toString('hex')}`
    await sendFromInternet(lab.host('relay'), mapping.external.host, mapping.external.port, text)
    expect(await node.waitReceived(text, 2_000)).to.be.false()
  })

  it('maps another external port when another LAN host holds ours (718 ConflictInMappingEntry)', async () => {
    const port = 45000 + Math.floor(Math.random() * 1000)
    const other = await probe('v12', 'map', port)
    expect(other, JSON.stringify(other)).to.deep.include({ igdVersion: 1 })
    expect(other.external.port).to.equal(port)

    const ours = await probe('v11', 'map', port)
    expect(ours, JSON.stringify(ours)).to.deep.include({ igdVersion: 1 })
    expect(ours.external.port).to.not.equal(port)
    const mappings = await lab.portMappings('v1')
    expect(mappings).to.deep.include({ protocol: 'udp', externalPort: port, internalHost: lab.host('v12').ip, internalPort: port })
    expect(mappings).to.deep.include({ protocol: 'udp', externalPort: ours.external.port, internalHost: lab.host('v11').ip, internalPort: port })

    expect(await probe('v12', 'delete', port)).to.deep.equal({ deleted: port })
    expect(await probe('v11', 'delete', ours.external.port)).to.deep.equal({ deleted: ours.external.port })
    expect((await lab.portMappings('v1')).filter(m => m.internalPort === port)).to.deep.equal([])
  })

  it('uses the library (IGDv2, AddAnyPortMapping) on an IGDv2 router', async () => {
    const node = await start('v21')
    const [mapping] = await node.command('refresh')
    expect(mapping, node.log()).to.deep.include({ protocol: 'upnp', igdVersion: 2 })
    expect(mapping.external).to.deep.equal({ host: lab.site('v2').publicIp, port: node.port, family: 4 })
    expect(node.log()).to.match(/mapped with upnp \(IGDv2\)/)
    await expectForwarded(node, mapping)
    expect(await node.command('stop')).to.deep.equal([])
    expect((await lab.portMappings('v2')).filter(m => m.internalPort === node.port)).to.deep.equal([])
  })
})
