import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { hasDirectFlow } from '../../demo/lab-driver.ts'
import { Lab, udpReflectorScript } from '../../src/lab/index.ts'
import { judgeObservations } from './helpers/nat-observations.ts'
import { requireRootOrSkip } from './helpers/require-root.ts'
import type { LabHost, LabProcess, LabSite } from '../../src/lab/index.ts'

const UDP_PEER = fileURLToPath(new URL('./fixtures/udp-peer.ts', import.meta.url))
const NAT_PROBE = fileURLToPath(new URL('./fixtures/nat-probe.ts', import.meta.url))

/** short, so that the IPv4 self-test's expiry check takes seconds; whole seconds */
const BINDING_TIMEOUT_MS = 3000
/** one-way delay of the slow site's link (ms) */
const DELAY_MS = 25
/** loss of the lossy public host's link, each direction (percent) */
const LOSS_PERCENT = 50
/** how long a test waits before it decides that a datagram was dropped (ms) */
const SILENCE_MS = 800
const REFLECTOR_PORTS = [3478, 3479, 3480, 3481]

interface Received { local: number, from: string, port: number, data: string, at: number }

/** the datagrams a udp-peer process has received so far */
function received (proc: LabProcess): Received[] {
  return proc.output().filter(line => line.startsWith('recv ')).map(line => JSON.parse(line.slice(5)))
}

function send (proc: LabProcess, command: { from: number, to: string, port: number, data: string, count?: number, intervalMs?: number }): void {
  proc.stdin?.write(JSON.stringify({ op: 'send', ...command }) + '\n')
}

async function waitForData (proc: LabProcess, data: string, timeoutMs = 5000): Promise<Received> {
  const escaped = data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const match = await proc.waitForLine(new RegExp(`^recv .*"data":"${escaped}(#\\d+)?"`), { timeoutMs })
  return JSON.parse((match.input ?? '').slice(5))
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

describe('the NAT lab\'s IPv6 (dual-stack sites, stateful firewalls)', function () {
  this.timeout(120_000)
  let lab: Lab
  let procs: LabProcess[] = []

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      ipv6: true,
      sites: [
        // IPv4 NAT + IPv6 firewall (the default)
        { name: 'a', nat: 'port-restricted', bindingTimeoutMs: BINDING_TIMEOUT_MS },
        // double NAT: IPv6 routed through the carrier, firewalled by the site router
        { name: 'b', nat: 'symmetric-random', bindingTimeoutMs: BINDING_TIMEOUT_MS, carrier: { nat: 'port-restricted', bindingTimeoutMs: BINDING_TIMEOUT_MS } },
        // no NAT: IPv6 open by default
        { name: 'o', nat: 'none' },
        // IPv4 NAT, IPv6 open
        { name: 'op', nat: 'port-restricted', ipv6: 'open' },
        // IPv4 only in a dual-stack lab
        { name: 'four', nat: 'port-restricted', bindingTimeoutMs: BINDING_TIMEOUT_MS, ipv6: false },
        { name: 'slow', nat: 'port-restricted', delayMs: DELAY_MS }
      ],
      publicHosts: ['pub', 'stun', 'third', { name: 'lossy', lossPercent: LOSS_PERCENT }, { name: 'old', ipv6: false }]
    })
  })

  afterEach(async () => {
    await Promise.all(procs.map(async proc => proc.kill()))
    procs = []
  })

  after(async () => {
    await lab?.destroy()
  })

  /** a udp-peer on `host`, bound to its primary IPv6 address (or `ip`) */
  async function peer (host: LabHost, ports: number[], options: { echo?: boolean, ip?: string } = {}): Promise<LabProcess> {
    const ip = options.ip ?? host.ip6
    if (ip == null) {
      throw new Error(`${host.name} has no IPv6 address`)
    }
    const proc = host.spawnNode(UDP_PEER, [ip, ports.join(','), ...(options.echo === true ? ['--echo'] : [])])
    procs.push(proc)
    await proc.waitForLine(/^ready$/)
    return proc
  }

  it('gives hosts, routers and sites the documented IPv6 addresses', () => {
    expect(lab.host('pub').ips6).to.deep.equal(['2001:db8::10', '2001:db8::1:10'])
    expect(lab.host('pub').ip6).to.equal('2001:db8::10')
    expect(lab.host('old').ip6).to.equal(undefined)
    expect(lab.host('a1').ip6).to.equal('2001:db8:1::10')
    expect(lab.host('b1').ip6).to.equal('2001:db8:2::10')
    expect(lab.host('four1').ip6).to.equal(undefined)
    expect(lab.site('a').ipv6).to.deep.include({ mode: 'firewall', prefix: '2001:db8:1::/64', routerLanIp: '2001:db8:1::1', routerWanIp: '2001:db8::100', publicRouterIp: '2001:db8::100' })
    expect(lab.site('b').ipv6).to.deep.include({ mode: 'firewall', routerWanIp: '2001:db8:2:ff::2', publicRouterIp: '2001:db8::101' })
    expect(lab.site('o').ipv6?.mode).to.equal('open')
    expect(lab.site('op').ipv6?.truth).to.deep.equal({ mode: 'open', translation: 'none', mapping: 'EIM', filtering: 'EIF', allocation: 'preserving' })
    expect(lab.site('a').ipv6?.truth).to.deep.equal({ mode: 'firewall', translation: 'none', mapping: 'EIM', filtering: 'APDF', allocation: 'preserving' })
    expect(lab.site('four').ipv6).to.equal(undefined)
  })

  it('(1) a host behind a firewall reaches a public host and gets the reply, untranslated, also behind a carrier', async () => {
    const pub = lab.host('pub')
    const server = await peer(pub, [5000], { echo: true })

    for (const name of ['a1', 'b1']) {
      const host = lab.host(name)
      const client = await peer(host, [41000])
      send(client, { from: 41000, to: pub.ip6 ?? '', port: 5000, data: `hello-${name}` })

      const answer = await waitForData(client, `echo:hello-${name}`)
      expect(answer).to.include({ from: pub.ip6, port: 5000 })
      // no translation: the public host sees the LAN host's own address and port
      const seen = await waitForData(server, `hello-${name}`)
      expect(seen).to.include({ from: host.ip6, port: 41000 })
    }

    // the firewall tracks the flow; hasDirectFlow finds it by any spelling of the address
    const flows = await lab.conntrack('a', { family: 6 })
    const flow = flows.find(entry => entry.original.src === lab.host('a1').ip6 && entry.original.dport === 5000)
    expect(flow, JSON.stringify(flows)).to.not.equal(undefined)
    expect(flow?.reply).to.deep.equal({ src: pub.ip6, dst: lab.host('a1').ip6, sport: 5000, dport: 41000 })
    expect(flow?.unreplied).to.equal(false)
    expect(await hasDirectFlow(lab, 'a', pub.ip6 ?? '')).to.equal(true)
    expect(await hasDirectFlow(lab, 'a', '2001:0DB8:0:0:0:0:0:0010')).to.equal(true)
    expect(await hasDirectFlow(lab, 'a', '2001:db8::11')).to.equal(false)
    // the IPv4 table knows nothing of it
    expect((await lab.conntrack('a')).some(entry => entry.original.src.includes(':'))).to.equal(false)
  })

  it('(2) drops an unsolicited datagram from the internet to a firewalled host', async () => {
    const pub = lab.host('pub')
    const server = await peer(pub, [5010])
    const a1 = await peer(lab.host('a1'), [41010])
    const b1 = await peer(lab.host('b1'), [41010])

    send(server, { from: 5010, to: lab.host('a1').ip6 ?? '', port: 41010, data: 'unsolicited', count: 3, intervalMs: 50 })
    send(server, { from: 5010, to: lab.host('b1').ip6 ?? '', port: 41010, data: 'unsolicited', count: 3, intervalMs: 50 })
    await sleep(SILENCE_MS)

    expect(server.output().filter(line => line.startsWith('sent '))).to.have.length(6)
    expect(received(a1)).to.deep.equal([])
    expect(received(b1)).to.deep.equal([])
  })

  it('(3) lets two hosts behind two firewalls punch a hole by sending to each other', async () => {
    const a1 = lab.host('a1')
    const b1 = lab.host('b1')
    const a = await peer(a1, [42000, 43000])
    const b = await peer(b1, [42000, 43000])

    // step by step: a's first datagram opens a's pinhole and dies at b's firewall ...
    send(a, { from: 42000, to: b1.ip6 ?? '', port: 42000, data: 'knock' })
    await sleep(SILENCE_MS)
    expect(received(b)).to.deep.equal([])
    // ... b's answer passes a's pinhole and opens b's ...
    send(b, { from: 42000, to: a1.ip6 ?? '', port: 42000, data: 'punch' })
    expect(await waitForData(a, 'punch')).to.include({ from: b1.ip6, port: 42000 })
    // ... through which a now reaches b
    send(a, { from: 42000, to: b1.ip6 ?? '', port: 42000, data: 'through' })
    expect(await waitForData(b, 'through')).to.include({ from: a1.ip6, port: 42000 })

    // at the same time, as a hole punch does it
    send(a, { from: 43000, to: b1.ip6 ?? '', port: 43000, data: 'from-a', count: 10, intervalMs: 50 })
    send(b, { from: 43000, to: a1.ip6 ?? '', port: 43000, data: 'from-b', count: 10, intervalMs: 50 })
    expect(await waitForData(a, 'from-b')).to.include({ from: b1.ip6, port: 43000 })
    expect(await waitForData(b, 'from-a')).to.include({ from: a1.ip6, port: 43000 })

    expect(await hasDirectFlow(lab, 'a', b1.ip6 ?? '')).to.equal(true)
    expect(await hasDirectFlow(lab, 'b', a1.ip6 ?? '')).to.equal(true)
  })

  it('(4) drops a reply from another port or another address of the contacted host (APDF)', async () => {
    const pub = lab.host('pub')
    const a1 = lab.host('a1')
    const server = await peer(pub, [5020, 5021])
    const otherAddress = await peer(pub, [5020], { ip: pub.ips6[1] })
    const client = await peer(a1, [44000])

    send(client, { from: 44000, to: pub.ip6 ?? '', port: 5020, data: 'open' })
    await waitForData(server, 'open')

    send(server, { from: 5021, to: a1.ip6 ?? '', port: 44000, data: 'other-port' })
    send(otherAddress, { from: 5020, to: a1.ip6 ?? '', port: 44000, data: 'other-address' })
    await sleep(100)
    send(server, { from: 5020, to: a1.ip6 ?? '', port: 44000, data: 'contacted' })

    await waitForData(client, 'contacted')
    await sleep(SILENCE_MS)
    expect(received(client).map(r => r.data)).to.deep.equal(['contacted'])
  })

  it('(5) lets unsolicited datagrams into an open IPv6 site, with or without an IPv4 NAT', async () => {
    const pub = lab.host('pub')
    const server = await peer(pub, [5030])

    for (const name of ['o1', 'op1']) {
      const host = lab.host(name)
      const inside = await peer(host, [45000])
      send(server, { from: 5030, to: host.ip6 ?? '', port: 45000, data: `knock-${name}` })
      expect(await waitForData(inside, `knock-${name}`)).to.include({ from: pub.ip6, port: 5030 })
      send(inside, { from: 45000, to: pub.ip6 ?? '', port: 5030, data: `back-${name}` })
      await waitForData(server, `back-${name}`)
    }
    // an open router still lets conntrack watch: the flow is listed
    expect(await hasDirectFlow(lab, 'op', pub.ip6 ?? '')).to.equal(true)
  })

  it('(6) keeps the IPv4 NATs of dual-stack sites as they are (NAT self-test)', async () => {
    const stun = lab.host('stun')
    const third = lab.host('third')
    await Promise.all([
      stun.spawnNode(udpReflectorScript, stun.ips.flatMap(ip => REFLECTOR_PORTS.map(port => `${ip}:${port}`))),
      third.spawnNode(udpReflectorScript, [`${third.ip}:3478`])
    ].map(async proc => { procs.push(proc); await proc.waitForLine(/^ready$/) }))

    const config = {
      primary: stun.ips[0],
      alternate: stun.ips[1],
      ports: REFLECTOR_PORTS,
      third: `${third.ip}:3478`,
      bindingTimeoutMs: BINDING_TIMEOUT_MS,
      localPortBase: 40000
    }

    await Promise.all(['a', 'b', 'four'].map(async name => {
      const site: LabSite = lab.site(name)
      const result = await site.hosts[0].exec([process.execPath, NAT_PROBE, JSON.stringify(config)], { timeoutMs: 30_000 })
      expect(result.code, result.stderr).to.equal(0)
      const observed = judgeObservations(JSON.parse(result.stdout))
      expect(observed, `site ${name}`).to.deep.include({
        mapping: site.truth.mapping,
        filtering: site.truth.filtering,
        allocation: site.truth.allocation,
        hairpin: false,
        aliveBeforeTimeout: true,
        expiredAfterTimeout: true
      })
    }))
  })

  it('leaves IPv4-only sites and public hosts without IPv6 routes in a dual-stack lab', async () => {
    for (const name of ['four1', 'old']) {
      const { stdout } = await lab.host(name).exec(['ip', '-6', 'route', 'show'])
      expect(stdout, name).to.not.match(/2001:db8|default/)
    }
    const v4only = await peer(lab.host('four1'), [46000], { ip: '::' })
    send(v4only, { from: 46000, to: lab.host('pub').ip6 ?? '', port: 5000, data: 'nowhere' })
    await v4only.waitForLine(/^error .*(ENETUNREACH|EHOSTUNREACH)/)
  })

  it('delays and drops IPv6 on impaired links as it does IPv4', async () => {
    const pub = lab.host('pub')
    const server = await peer(pub, [5040], { echo: true })

    // delay: a round trip through the slow site's link takes 2 × DELAY_MS more
    const slow = await peer(lab.host('slow1'), [47000])
    send(slow, { from: 47000, to: pub.ip6 ?? '', port: 5040, data: 'rtt', count: 5, intervalMs: 100 })
    await slow.waitForLine(/^recv .*"data":"echo:rtt#4"/)
    const sentAt = new Map(slow.output().filter(line => line.startsWith('sent ')).map(line => JSON.parse(line.slice(5))).map(s => [s.data, s.at]))
    const rtts = received(slow).map(r => r.at - (sentAt.get(r.data.slice(5)) ?? NaN))
    expect(rtts).to.have.length(5)
    // eslint-disable-next-line no-console
    console.log(`      IPv6 round trips through a ${DELAY_MS} ms link: ${rtts.map(r => r.toFixed(1)).join(', ')} ms`)
    expect(Math.min(...rtts)).to.be.at.least(2 * DELAY_MS)
    expect(Math.min(...rtts)).to.be.below(2 * DELAY_MS + 40)

    // loss: one direction through the lossy link loses about LOSS_PERCENT
    const lossy = await peer(lab.host('lossy'), [5041])
    const count = 200
    send(lossy, { from: 5041, to: pub.ip6 ?? '', port: 5040, data: 'loss', count, intervalMs: 2 })
    await lossy.waitForLine(new RegExp(`^sent .*"loss#${count - 1}"`))
    await sleep(300)
    const arrived = received(server).filter(r => r.data.startsWith('loss#')).length
    // eslint-disable-next-line no-console
    console.log(`      IPv6 datagrams through a ${LOSS_PERCENT} % lossy link: ${arrived} of ${count} arrived`)
    // binomial(200, 0.5): mean 100, sd 7
    expect(arrived).to.be.within(60, 140)
  })
})
