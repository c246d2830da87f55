/* eslint-disable no-console */
/*
 * Port mapping against real routers: each lab site router runs miniupnpd
 * (UPnP-IGD, NAT-PMP, PCP on its LAN side), over every NAT type, with its
 * protocols switched off one at a time, and behind a carrier NAT (double
 * NAT). A PortMapper runs in a LAN host for its udx socket's port
 * (test/nat/port-mapping/fixtures/port-mapper-node.ts); datagrams sent from
 * a public host to the mapped address show whether the mapping really
 * forwards. coturn (RFC 5780, two IPs) on `stun` is the STUN server that
 * verifies mappings (RESPONSE-PORT).
 *
 * Then end to end, as users run it (zero configuration: no stunServers,
 * a relay that runs holePunch() on one IP and one udx port, the package
 * defaults with the background upgrade on, port mapping on and verified
 * by the relay's own STUN server through RESPONSE-PORT): two libp2p nodes
 * behind symmetric-random NATs, one router with miniupnpd, connect
 * directly through the mapping, with each router protocol switched off in
 * turn; without port mapping the same pair stays relayed.
 *
 * Needs root and miniupnpd (Debian `miniupnpd-nftables`), coturn; fails
 * under CI=true without them.
 */

import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { startCoturn, startPeerNode, startRelayNode, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import { MapperNode, sendFromInternet } from '../../nat/port-mapping/fixtures/mapper-driver.ts'
import { formatTrial, punchTrial } from './punch-trial.ts'
import type { PunchTrial } from './punch-trial.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'
import type { LabProcess, SiteOptions } from '../../../src/lab/index.ts'
import type { PortMappingInit, PortMappingState } from '../../../src/nat/port-mapping/types.ts'
import type { MapperNodeOptions } from '../../nat/port-mapping/fixtures/mapper-driver.ts'

const COTURN_PORT = 3478

const SITES: SiteOptions[] = [
  { name: 'rand', nat: 'symmetric-random', portMapping: true },
  { name: 'noupnp', nat: 'symmetric-random', portMapping: { upnp: false } },
  { name: 'nopmp', nat: 'symmetric-random', portMapping: { natPmp: false } },
  { name: 'nopcp', nat: 'symmetric-random', portMapping: { pcp: false } },
  { name: 'full', nat: 'full-cone', portMapping: true },
  { name: 'restr', nat: 'restricted', portMapping: true },
  { name: 'port', nat: 'port-restricted', portMapping: true },
  { name: 'seq', nat: 'symmetric-seq', portMapping: true },
  { name: 'dbl', nat: 'port-restricted', portMapping: true, carrier: { nat: 'port-restricted' } },
  { name: 'plain', nat: 'symmetric-random' },
  // end to end: X behind a router with miniupnpd (host 2 of `e2eall` is the
  // control, with the package's port mapping off), Y behind a plain one
  { name: 'e2eall', nat: 'symmetric-random', portMapping: true, hosts: 2 },
  { name: 'e2enopcp', nat: 'symmetric-random', portMapping: { pcp: false } },
  { name: 'e2enopmp', nat: 'symmetric-random', portMapping: { natPmp: false } },
  { name: 'e2enoupn', nat: 'symmetric-random', portMapping: { upnp: false } },
  // an IGDv1-only router (miniupnpd with force_igd_desc_v1): our own IGDv1
  // client, the library speaks IGDv2 only
  { name: 'e2eigdv1', nat: 'symmetric-random', portMapping: { igdVersion: 1, natPmp: false, pcp: false } },
  // the reverse row has a router of its own: no earlier flow of Y's can
  // stand in for the one under test in its conntrack table
  { name: 'e2erev', nat: 'symmetric-random', portMapping: true },
  { name: 'e2ey', nat: 'symmetric-random' }
]

/** one end-to-end row: X (`host`) connects to Y behind `e2ey` */
interface EndToEndRow {
  title: string
  host: string
  /** the node's `portMapping` option; left out, the package default (on, verified) */
  portMapping?: false | PortMappingInit
  /** the protocol the mapping is made with; none for the control */
  protocol?: 'pcp' | 'nat-pmp' | 'upnp'
  /** `upnp` only: the IGD version the mapping is made with */
  igdVersion?: 1 | 2
  outcome: 'direct' | 'relayed'
  /** Y connects to X instead (X, behind the mapping, answers) */
  reverse?: boolean
}

const ROWS: EndToEndRow[] = [
  { title: 'router with PCP, NAT-PMP and UPnP-IGD', host: 'e2eall1', protocol: 'pcp', outcome: 'direct' },
  { title: 'router with PCP off (NAT-PMP and UPnP-IGD left)', host: 'e2enopcp1', protocol: 'nat-pmp', outcome: 'direct' },
  { title: 'router with NAT-PMP off (PCP and UPnP-IGD left)', host: 'e2enopmp1', protocol: 'pcp', outcome: 'direct' },
  { title: 'router with UPnP-IGD off (PCP and NAT-PMP left)', host: 'e2enoupn1', protocol: 'pcp', outcome: 'direct' },
  { title: 'router with UPnP-IGD v1 only (NAT-PMP and PCP off)', host: 'e2eigdv11', protocol: 'upnp', igdVersion: 1, outcome: 'direct' },
  { title: 'reverse: Y connects to X behind the full router', host: 'e2erev1', protocol: 'pcp', outcome: 'direct', reverse: true },
  { title: 'control: the same router, the node\'s port mapping off', host: 'e2eall2', portMapping: false, outcome: 'relayed' }
]

describe('port mapping through a router that runs miniupnpd (NAT lab)', function () {
  this.timeout(240_000)
  let lab: Lab
  let coturn: LabProcess
  const nodes: MapperNode[] = []

  const start = async (site: string, options: MapperNodeOptions = {}): Promise<MapperNode> => {
    const node = await MapperNode.start(lab.host(`${site}1`), options)
    nodes.push(node)
    return node
  }

  /** one mapping, of the given protocol, at the site's public address and the node's own port */
  const expectMapping = (mappings: PortMappingState[], site: string, node: MapperNode, protocol: string): PortMappingState => {
    expect(mappings, node.log()).to.have.lengthOf(1)
    const [mapping] = mappings
    expect(mapping.protocol, node.log()).to.equal(protocol)
    expect(mapping.external).to.deep.equal({ host: lab.site(site).publicIp, port: node.port, family: 4 })
    expect(mapping.internal).to.deep.equal({ host: lab.host(`${site}1`).ip, port: node.port, family: 4 })
    return mapping
  }

  /** a datagram from the internet to the mapped address reaches the LAN host's socket */
  const expectForwarded = async (site: string, node: MapperNode, mapping: PortMappingState): Promise<void> => {
    const text = `hello-${randomBytes(4).toString('hex')}`
    await sendFromInternet(lab.host('relay'), mapping.external.host, mapping.external.port, text)
    expect(await node.waitReceived(text), `${text} did not reach ${site}1 through ${mapping.external.host}:${mapping.external.port}`).to.be.true()
  }

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({ sites: SITES, publicHosts: ['relay', 'stun'] })
    coturn = await startCoturn(lab.host('stun'), [...lab.host('stun').ips])
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => node.close()))
  })

  after(async () => {
    await coturn?.kill()
    await lab?.destroy()
  })

  it('maps the udx port with PCP on a symmetric-random NAT, and a datagram from the internet reaches the LAN host through it', async () => {
    const node = await start('rand', { init: { verify: false } })
    const mapping = expectMapping(await node.command('refresh'), 'rand', node, 'pcp')
    expect(mapping.verification).to.equal('skipped')
    expect(mapping.lifetime).to.be.within(120, 7200)
    expect(await lab.portMappings('rand')).to.deep.include({ protocol: 'udp', externalPort: node.port, internalHost: lab.host('rand1').ip, internalPort: node.port })

    await expectForwarded('rand', node, mapping)
  })

  it('verifies the mapped address from outside before trusting it: a STUN answer sent to it with RESPONSE-PORT arrives', async () => {
    const node = await start('rand', { servers: [{ host: lab.host('stun').ip, port: COTURN_PORT }] })
    const [mapping] = await node.command('refresh')
    expect(mapping?.verification, node.log()).to.equal('verified')
    expect(mapping.external.host).to.equal(lab.site('rand').publicIp)
  })

  it('calls a mapping that the router reports but does not forward "failed", and does not use it', async () => {
    const node = await start('rand', { servers: [{ host: lab.host('stun').ip, port: COTURN_PORT }] })
    const [mapping] = await node.command('refresh')
    expect(mapping?.verification, node.log()).to.equal('verified')

    // the router "loses" its rule without telling (as a reboot does; UPnP
    // has no epoch to tell it)
    const result = spawnSync('ip', ['netns', 'exec', lab.site('rand').routerNamespace, 'nft', 'flush', 'chain', 'inet', 'miniupnpd', 'prerouting_miniupnpd'])
    expect(result.status).to.equal(0)
    // and its connection tracking, as a reboot does: the first
    // verification's answer left a DNATed flow that would carry the next one
    await lab.resetNat('rand')

    const [after] = await node.command('verify')
    expect(after.verification, node.log()).to.equal('failed')
  })

  it('renews the mapping at the router with the same external address', async () => {
    const node = await start('rand', { init: { verify: false } })
    const [first] = await node.command('refresh')
    const [renewed] = await node.command('renew')
    expect(renewed.external).to.deep.equal(first.external)
    expect(renewed.mappedAt).to.be.greaterThanOrEqual(first.mappedAt)
    expect(await lab.portMappings('rand')).to.deep.include({ protocol: 'udp', externalPort: node.port, internalHost: lab.host('rand1').ip, internalPort: node.port })
    await expectForwarded('rand', node, renewed)
  })

  it('deletes the mapping on stop: the router holds no rule for it and the internet no longer reaches the host', async () => {
    const node = await start('rand', { init: { verify: false } })
    const [mapping] = await node.command('refresh')
    await expectForwarded('rand', node, mapping)

    expect(await node.command('stop')).to.deep.equal([])
    expect((await lab.portMappings('rand')).filter(m => m.internalPort === node.port)).to.deep.equal([])

    const text = `hello-after-stop-${randomBytes(4).toString('hex')}`
    await sendFromInternet(lab.host('relay'), mapping.external.host, mapping.external.port, text)
    expect(await node.waitReceived(text, 2_000)).to.be.false()
  })

  it('maps again after a network change (PCP renews the mapping with the same nonce)', async () => {
    const node = await start('rand', { init: { verify: false } })
    const [first] = await node.command('refresh')
    const [again] = await node.command('network-changed')
    expect(again.external).to.deep.equal(first.external)
    expect(again.protocol).to.equal('pcp')
    expect((await lab.portMappings('rand')).filter(m => m.internalPort === node.port)).to.have.lengthOf(1)
  })

  it('uses PCP when the router has UPnP or NAT-PMP switched off', async () => {
    for (const site of ['noupnp', 'nopmp']) {
      const node = await start(site, { init: { verify: false } })
      const mapping = expectMapping(await node.command('refresh'), site, node, 'pcp')
      await expectForwarded(site, node, mapping)
    }
  })

  it('falls back to NAT-PMP when the router does not answer PCP', async () => {
    const node = await start('nopcp', { init: { verify: false } })
    const mapping = expectMapping(await node.command('refresh'), 'nopcp', node, 'nat-pmp')
    await expectForwarded('nopcp', node, mapping)
  })

  it('maps with NAT-PMP when the node switches PCP off, and with UPnP-IGD when it switches NAT-PMP off too', async () => {
    const pmp = await start('rand', { init: { verify: false, pcp: false } })
    const viaPmp = expectMapping(await pmp.command('refresh'), 'rand', pmp, 'nat-pmp')
    await expectForwarded('rand', pmp, viaPmp)
    await pmp.command('stop')
    expect((await lab.portMappings('rand')).filter(m => m.internalPort === pmp.port)).to.deep.equal([])

    const upnp = await start('rand', { init: { verify: false, pcp: false, natPmp: false } })
    const viaUpnp = expectMapping(await upnp.command('refresh'), 'rand', upnp, 'upnp')
    await expectForwarded('rand', upnp, viaUpnp)
    await upnp.command('stop')
    expect((await lab.portMappings('rand')).filter(m => m.internalPort === upnp.port)).to.deep.equal([])
  })

  it('maps through the router over every NAT type', async () => {
    for (const site of ['full', 'restr', 'port', 'seq']) {
      const node = await start(site, { init: { verify: false } })
      const mapping = expectMapping(await node.command('refresh'), site, node, 'pcp')
      await expectForwarded(site, node, mapping)
    }
  })

  it('detects a double NAT (the router maps to its private WAN address) and refuses the mapping', async () => {
    const node = await start('dbl', { servers: [{ host: lab.host('stun').ip, port: COTURN_PORT }] })
    const mappings = await node.command('refresh')
    expect(mappings, node.log()).to.have.lengthOf(1)
    expect(mappings[0].external.host).to.equal(lab.site('dbl').routerWanIp)
    expect(mappings[0].doubleNat).to.equal('private')
    expect(mappings[0].verification).to.equal('refused')
    // given back to the router
    expect(await lab.portMappings('dbl')).to.deep.equal([])
  })

  it('finds no mapping behind a router without port mapping, after trying PCP, NAT-PMP and UPnP', async () => {
    const node = await start('plain', { init: { verify: false } })
    expect(await node.command('refresh')).to.deep.equal([])
    const log = node.log()
    expect(log).to.match(/no mapping for udx port \d+ - PortMappingUnavailableError/)
    expect(log).to.include('pcp:').and.to.include('nat-pmp:').and.to.include('upnp:')
  })

  describe('end to end: symmetric-random behind miniupnpd ↔ symmetric-random, zero configuration', function () {
    const Y_HOST = 'e2ey1'
    let relay: LabNode | undefined
    let y: LabNode | undefined
    const xs = new Map<string, LabNode>()
    /** when the nodes were started (clock ms) */
    let started = 0
    const results: Array<{ row: EndToEndRow, trial: PunchTrial, mapping?: PortMappingState, throughMapping?: boolean }> = []

    before(async function () {
      requireRootOrSkip(this)
      const relayHost = lab.host('relay')
      // zero configuration: the relay runs this package on one IP and one
      // udx port (it adds its second STUN port itself); the peers have no
      // stunServers and the background upgrade on
      relay = await startRelayNode(relayHost, { ips: [relayHost.ip], udxPorts: [4001] })
      const r = relay
      const env = { LAB_AUTO_UPGRADE: 'true' }
      started = Date.now()
      const hosts = [...new Set(ROWS.map(row => row.host))]
      const peers = await Promise.all([
        startPeerNode(lab.host(Y_HOST), r, relayHost, env, { stunServers: [] }),
        ...hosts.map(async host => {
          const portMapping = ROWS.find(row => row.host === host)?.portMapping
          return startPeerNode(lab.host(host), r, relayHost, env, { stunServers: [], ...(portMapping != null ? { portMapping } : {}) })
        })
      ])
      y = peers[0]
      hosts.forEach((host, i) => xs.set(host, peers[i + 1]))
      await Promise.all(peers.map(async n => n.request({ cmd: 'serve-echo' })))

      // the mappings are verified by the relay's STUN server (RESPONSE-PORT)
      // once the nodes have learnt it from the relay
      await Promise.all(hosts.filter(host => ROWS.some(row => row.host === host && row.protocol != null)).map(async host => {
        const x = xs.get(host) as LabNode
        const deadline = Date.now() + 60_000
        while (Date.now() < deadline) {
          const res = await x.request({ cmd: 'port-mappings' })
          if ((res.portMappings as PortMappingState[] | undefined)?.some(m => m.verification === 'verified') === true && res.nat?.reachability === 'public') {
            return
          }
          await new Promise(resolve => setTimeout(resolve, 250))
        }
      }))
    })

    after(async () => {
      await stopNodes([...xs.values(), y, relay])

      if (results.length > 0) {
        console.log('\n      end to end, zero configuration (relay runs this package on one IP, one udx port; autoUpgrade on; verification on):')
        console.log('      X (symmetric-random) ~ Y (symmetric-random, plain)         mapping           mapped  verified   outcome   connect ms  through mapping  strategy')
        console.log('                                                                                   (ms after the nodes were started)')
        const at = (t?: number): string => t != null ? String(t - started) : '-'
        for (const { row, trial, mapping, throughMapping } of results) {
          const through = { true: 'yes', false: 'NO', undefined: '-' }[String(throughMapping) as 'true' | 'false' | 'undefined']
          console.log(`      ${row.title.padEnd(58)} ${(mapping != null ? `${mapping.protocol}${mapping.igdVersion != null ? ` v${mapping.igdVersion}` : ''} ${mapping.verification}` : 'none').padEnd(16)} ${at(mapping?.mappedAt).padStart(7)} ${at(mapping?.verifiedAt).padStart(9)}   ${trial.outcome.padEnd(8)} ${String(trial.durationMs).padStart(10)}  ${through.padEnd(15)}  ${trial.strategy ?? '-'}`)
        }
      }
    })

    /** X connects to Y (or Y to X); the outcome and, for a direct one, the flow through the mapping */
    async function runRow (row: EndToEndRow): Promise<void> {
      const x = xs.get(row.host) as LabNode
      const xy = y as LabNode
      const { portMappings } = await x.request({ cmd: 'port-mappings' })
      const mappings = portMappings as PortMappingState[]
      const siteName = lab.host(row.host).site as string

      if (row.protocol == null) {
        expect(mappings, 'the control maps nothing').to.deep.equal([])
      } else {
        const log = `X's mappings: ${JSON.stringify(mappings)}; X's stderr: ${x.proc.output('stderr').slice(-20).join('\n')}`
        expect(mappings, log).to.have.lengthOf(1)
        expect(mappings[0].protocol, log).to.equal(row.protocol)
        if (row.igdVersion != null) {
          expect(mappings[0].igdVersion, log).to.equal(row.igdVersion)
        }
        expect(mappings[0].external.host, log).to.equal(lab.site(siteName).publicIp)
        // verified by the relay's own STUN server (RESPONSE-PORT), not skipped
        expect(mappings[0].verification, log).to.equal('verified')
      }

      const trial = row.reverse === true ? await punchTrial(lab, xy, Y_HOST, x, row.host) : await punchTrial(lab, x, row.host, xy, Y_HOST)
      const result: typeof results[number] = { row, trial, mapping: mappings[0] }
      results.push(result)
      const detail = `${row.title}: ${formatTrial(trial, 0)}`
      console.log(`      ${detail}`)

      if (row.outcome === 'relayed') {
        expect(trial.outcome, detail).to.equal('relayed')
        return
      }

      expect(trial.outcome, detail).to.equal('direct')
      // through the mapping: X's router tracks a replied flow that Y's
      // public address opened to the mapped address
      const external = mappings[0].external
      const entries = await lab.conntrack(siteName)
      result.throughMapping = entries.some(e => !e.unreplied && e.original.src === lab.site('e2ey').publicIp && e.original.dst === external.host && e.original.dport === external.port)
      expect(result.throughMapping, `${detail}\n      no replied flow from ${lab.site('e2ey').publicIp} to ${external.host}:${external.port} in ${JSON.stringify(entries)}`).to.be.true()
    }

    for (const row of ROWS) {
      const promise = row.outcome === 'direct' ? `direct through a ${row.protocol ?? ''} mapping` : 'relayed (random ~ random: the planner uses the relay)'
      it(`${row.title}: ${promise}`, async () => { await runRow(row) })
    }
  })
})
