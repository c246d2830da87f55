/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { hasDirectFlow, startPeersBehindRelay, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'

const MiB = 1024 * 1024

async function poll<T> (fn: () => Promise<T>, until: (value: T) => boolean, timeoutMs: number): Promise<{ value: T, ms: number, met: boolean }> {
  const started = Date.now()
  let value = await fn()
  while (!until(value) && Date.now() - started < timeoutMs) {
    await new Promise(resolve => setTimeout(resolve, 100))
    value = await fn()
  }
  return { value, ms: Date.now() - started, met: until(value) }
}

/** relayed connections of `node` (to any peer): limited ones */
async function relayedConnections (node: LabNode): Promise<any[]> {
  const res = await node.request({ cmd: 'connections' })
  return res.connections.filter((c: any) => c.limited === true)
}

/**
 * Data over an upgraded connection: a bulk transfer, and streams that were
 * opened over the relay before the upgrade. port-restricted ~
 * port-restricted, which the matrix shows punches every time.
 */
describe('hole-punch scenario: data across the upgrade (NAT lab)', function () {
  this.timeout(3 * 60_000)
  let lab: Lab | undefined
  let relay: LabNode | undefined
  const nodes: Record<string, LabNode> = {}

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: ['a', 'b', 'c', 'd'].map(name => ({ name, nat: 'port-restricted' as const })),
      publicHosts: ['relay']
    })
    const started = await startPeersBehindRelay(lab, ['a1', 'b1', 'c1', 'd1'])
    relay = started.relay
    Object.assign(nodes, started.nodes)
    await Promise.all(Object.values(nodes).map(async n => n.request({ cmd: 'serve-echo' })))
  })

  after(async () => {
    await stopNodes([...Object.values(nodes), relay])
    await lab?.destroy()
  })

  it('50 MiB go over the direct connection intact (SHA-256 on both ends)', async () => {
    const l = lab as Lab
    const x = nodes.a1
    const y = nodes.b1
    const res = await x.request({ cmd: 'connect', target: y.ready.circuit, timeoutMs: 30_000 }, 45_000)
    expect(res.ok, JSON.stringify(res)).to.equal(true)
    expect(res.connection.limited).to.equal(false)
    expect(await hasDirectFlow(l, 'b', l.site('a').publicIp), 'conntrack shows the direct flow').to.equal(true)

    // the transfer may only use the direct connection: wait until the relayed one is retired
    const retired = await poll(async () => relayedConnections(x), c => c.length === 0, 5_000)
    expect(retired.met, `the relayed connection is still open: ${JSON.stringify(retired.value)}`).to.equal(true)

    const t = await x.request({ cmd: 'transfer', peer: y.ready.peerId, bytes: 50 * MiB }, 120_000)
    console.log(`      50 MiB in ${t.seconds?.toFixed(2)} s (${(50 / t.seconds).toFixed(1)} MiB/s) over ${t.over?.remoteAddr}`)
    expect(t.ok, JSON.stringify(t)).to.equal(true)
    expect(t.remote.bytes).to.equal(50 * MiB)
    expect(t.remote.sha256).to.equal(t.sha256)
    expect(t.over.limited).to.equal(false)
    expect(t.over.remoteAddr).to.include('/udx')
    expect(await relayedConnections(x), 'no relayed connection carried the transfer').to.have.lengthOf(0)
  })

  it('a stream opened over the relay survives the upgrade, new streams go direct, and the relayed connection closes once the old stream does', async () => {
    const x = nodes.c1
    const y = nodes.d1

    await x.request({ cmd: 'dial', target: y.ready.circuit })
    const old = await x.request({ cmd: 'open-stream', name: 'old', peer: y.ready.peerId, via: 'relayed' })
    expect(old.ok, JSON.stringify(old)).to.equal(true)
    expect(old.connection.limited).to.equal(true)
    const before = await x.request({ cmd: 'stream-check', name: 'old', bytes: 16 * 1024 })
    expect(before.echoed, JSON.stringify(before)).to.equal(true)

    const res = await x.request({ cmd: 'connect', target: y.ready.circuit, timeoutMs: 30_000 }, 45_000)
    expect(res.ok, JSON.stringify(res)).to.equal(true)
    expect(res.connection.limited).to.equal(false)

    // several retire polls (every 500 ms) pass while the old stream is open
    await new Promise(resolve => setTimeout(resolve, 1_500))
    const after = await x.request({ cmd: 'stream-check', name: 'old', bytes: 16 * 1024 })
    expect(after.echoed, JSON.stringify(after)).to.equal(true)
    expect(after.connection.limited).to.equal(true)
    expect(after.connection.status).to.equal('open')

    const fresh = await x.request({ cmd: 'open-stream', name: 'new', peer: y.ready.peerId, via: 'dial' })
    expect(fresh.ok, JSON.stringify(fresh)).to.equal(true)
    expect(fresh.connection.limited, 'a new stream uses the direct connection').to.equal(false)
    expect(fresh.connection.remoteAddr).to.include('/udx')
    const freshCheck = await x.request({ cmd: 'stream-check', name: 'new', bytes: 16 * 1024 })
    expect(freshCheck.echoed).to.equal(true)
    expect(await relayedConnections(x), 'the relayed connection stays while the old stream is open').to.have.lengthOf(1)

    await x.request({ cmd: 'stream-close', name: 'old' })
    const retired = await poll(async () => relayedConnections(x), c => c.length === 0, 5_000)
    console.log(`      relayed connection closed ${retired.ms} ms after the old stream closed`)
    expect(retired.met, `the relayed connection is still open: ${JSON.stringify(retired.value)}`).to.equal(true)
    const peerSide = await poll(async () => relayedConnections(y), c => c.length === 0, 5_000)
    expect(peerSide.met, 'the peer closed its side too').to.equal(true)

    const last = await x.request({ cmd: 'stream-check', name: 'new', bytes: 16 * 1024 })
    expect(last.echoed, 'the direct stream outlives the relayed connection').to.equal(true)
  })
})

/**
 * With autoUpgrade, the side that receives a relayed connection starts the
 * punch once identify shows the peer speaks the protocol: nobody calls
 * connect().
 */
describe('hole-punch scenario: automatic upgrade of a relayed connection (NAT lab)', function () {
  this.timeout(2 * 60_000)
  let lab: Lab | undefined
  let relay: LabNode | undefined
  let x: LabNode | undefined
  let y: LabNode | undefined

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: [{ name: 'x', nat: 'port-restricted' }, { name: 'y', nat: 'port-restricted' }],
      publicHosts: ['relay']
    })
    const started = await startPeersBehindRelay(lab, ['x1', 'y1'], { LAB_AUTO_UPGRADE: 'true' })
    relay = started.relay
    ;({ x1: x, y1: y } = started.nodes)
  })

  after(async () => {
    await stopNodes([x, y, relay])
    await lab?.destroy()
  })

  it('dialing a peer through the relay ends in punch:success on the side that received the relayed connection', async () => {
    const l = lab as Lab
    const dialer = x as LabNode
    const receiver = y as LabNode

    const dialed = await dialer.request({ cmd: 'dial', target: receiver.ready.circuit })
    const dialedAt = Date.now()
    expect(dialed.ok, JSON.stringify(dialed)).to.equal(true)
    expect(dialed.connection.limited).to.equal(true)

    const success = await receiver.event(e => e.event === 'punch:success' && e.peer === dialer.ready.peerId, 30_000)
    const other = await dialer.event(e => e.event === 'punch:success' && e.peer === receiver.ready.peerId, 10_000)
    console.log(`      receiver ${success.side} (${success.strategy}) punched in ${success.durationMs} ms, ${Date.now() - dialedAt} ms after the dial returned; dialer: ${other.side}`)
    expect(success.side, 'the receiver of the relayed connection starts the punch').to.equal('initiator')
    expect(other.side).to.equal('responder')

    const connections = await dialer.request({ cmd: 'connections' })
    expect(connections.connections.some((c: any) => c.limited === false && c.remoteAddr.includes('/udx') /* the relay is reached over tcp */), JSON.stringify(connections)).to.equal(true)
    expect(await hasDirectFlow(l, 'x', l.site('y').publicIp), 'conntrack shows the direct flow').to.equal(true)
    const ping = await dialer.request({ cmd: 'ping', peer: receiver.ready.peerId })
    expect(ping.ok, JSON.stringify(ping)).to.equal(true)
    // nobody called connect()
    expect(dialer.events('result').concat(receiver.events('result')).some(e => e.timeline != null)).to.equal(false)
  })
})
