/* eslint-disable no-console */
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { hasDirectFlow, startPeerNode, startRelayNode, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { blackhole, changeWanAddress, rebindNat } from '../../../src/lab/network-changes.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'
import type { NatType } from '../../../src/lab/index.ts'

/**
 * Issue 11, "Keep peers connected after the punch", in the NAT lab: what
 * happens to two peers' paths after the punch when the network changes
 * under them, judged by what the application sees (stream errors, the
 * service's path:lost / path:restored events, new streams, checksums) and
 * by the NAT routers' conntrack tables.
 *
 * Both peers run the package defaults with zero configuration (no
 * stunServers, autoUpgrade on); the relay runs this package on one IP and
 * one udx port (configuration (a) of the hole-punch matrix), except where
 * a stock relay with the circuit-relay-v2 server's default limits is
 * stated. Peer a (site a) dials peer b through the relay, so a is the side
 * that can dial the relay again. An application stream (a steady echo
 * flow) is open from a to b when the network changes: that makes each
 * side want the other (PATH_WANTED_WINDOW_MS).
 *
 * Every test builds its own lab: each changes the network for good. The
 * recovery times are printed at the end (docs/BENCHMARKS.md, "Paths over
 * time").
 */

/** peer env: the package defaults (autoUpgrade on), the service's path logs */
const PEER_ENV = {
  LAB_AUTO_UPGRADE: 'true',
  DEBUG: 'libp2p:udx*,-libp2p:udx*:trace'
}

/** the echo flow that makes each peer want the other: 4 KiB every 50 ms */
const FLOW = { chunkBytes: 4096, intervalMs: 50 }

/**
 * How long the flow runs before the network changes, ms: long enough for
 * the service's activity sampler (PATH_ACTIVITY_SAMPLE_MS, 1 s) to see it
 * on both sides
 */
const FLOW_WARMUP_MS = 2_500

/** the direct path must be judged dead and reported within this, ms (PATH_DEAD_TIMEOUT is 5 s) */
const LOST_WITHIN_MS = 15_000

/**
 * A re-punch must restore a direct connection within this, ms: the service
 * tries six punches per loss, 30 s of backoff before the sixth
 * (REPUNCH_BACKOFF_MS: 0, 2, 4, 8, 16 s) plus five punches of a few
 * seconds each
 */
const REPUNCH_WITHIN_MS = 60_000

/** the blackhole of scenario 3, ms */
const BLACKHOLE_MS = 30_000

/** a free address of the lab's internet for the new WAN address (routers use .100 and up) */
const NEW_WAN_IP = '203.0.113.200'

/** the first public port a rebound socket moves to */
const REBOUND_PORT = 45000

/** where the logs of a failed test are written */
const LOG_DIR = join(tmpdir(), 'hpl-paths-over-time')

interface Pair {
  lab: Lab
  relay: LabNode
  a: LabNode
  b: LabNode
}

interface Recovery {
  scenario: string
  figures: string
}

const recoveries: Recovery[] = []

async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** the events named `name` a node wrote about `peer` at or after `since` (epoch ms) */
function eventsSince (node: LabNode, name: string, peer: string, since: number): any[] {
  return node.events(name).filter(e => e.peer === peer && e.at >= since)
}

/** the first event named `name` about `peer` at or after `since` matching `predicate`, waiting up to `timeoutMs` */
async function nextEvent (node: LabNode, name: string, peer: string, since: number, timeoutMs: number, predicate: (e: any) => boolean = () => true): Promise<any> {
  return node.event(e => e.event === name && e.peer === peer && e.at >= since && predicate(e), timeoutMs)
}

/**
 * The `path:restored` event with how 're-punch' that a wrote about b at or
 * after `since`, waiting up to `timeoutMs`; on timeout the error lists what
 * a did meanwhile (its path events and failed punches), for the report
 */
async function repunched (a: LabNode, b: LabNode, since: number, timeoutMs: number): Promise<any> {
  try {
    return await nextEvent(a, 'path:restored', b.ready.peerId, since, timeoutMs, e => e.how === 're-punch')
  } catch {
    const seen = [...eventsSince(a, 'path:lost', b.ready.peerId, since), ...eventsSince(a, 'path:restored', b.ready.peerId, since), ...eventsSince(a, 'punch:failure', b.ready.peerId, since)]
      .sort((x, y) => x.at - y.at)
      .map(e => `+${e.at - since} ms ${e.event as string}${e.how != null ? ` ${e.how as string}` : ''}${e.reason != null ? `: ${String(e.reason).slice(0, 220)}` : ''}`)
    throw new Error(`no path:restored 're-punch' within ${timeoutMs} ms; what a saw since the change:\n  ${seen.join('\n  ')}`)
  }
}

function isDirect (connection: any): boolean {
  return connection?.limited === false && String(connection?.remoteAddr).includes('/udx')
}

/**
 * A lab with sites a and b (one LAN host each) and a relay, the relay and
 * both peers started: zero configuration everywhere
 */
async function startPair (natA: NatType, natB: NatType, relayKind: 'package' | 'stock-default' = 'package'): Promise<Pair> {
  const lab = await Lab.create({
    sites: [{ name: 'a', nat: natA }, { name: 'b', nat: natB }],
    publicHosts: ['relay']
  })
  const nodes: LabNode[] = []
  try {
    const relayHost = lab.host('relay')
    const relay = relayKind === 'package'
      ? await startRelayNode(relayHost, { ips: [relayHost.ip], udxPorts: [4001] })
      : await startRelayNode(relayHost, { kind: 'stock', ips: [relayHost.ip], limits: 'default' })
    nodes.push(relay)
    // a stock relay answers no STUN: no point waiting for a NAT profile
    const env = relayKind === 'package' ? PEER_ENV : { ...PEER_ENV, LAB_NAT_WAIT_MS: '2000' }
    const [a, b] = await Promise.all(['a1', 'b1'].map(async host => startPeerNode(lab.host(host), relay, relayHost, env, { stunServers: [] })))
    nodes.push(a, b)
    await Promise.all([a.request({ cmd: 'serve-echo' }), b.request({ cmd: 'serve-echo' })])
    return { lab, relay, a, b }
  } catch (err) {
    await stopNodes(nodes)
    await lab.destroy()
    throw err
  }
}

/** a punches b through the relay: the direct connection */
async function punch (pair: Pair): Promise<any> {
  const { a, b } = pair
  const res = await a.request({ cmd: 'connect', target: b.ready.circuit, timeoutMs: 30_000 }, 45_000)
  expect(res.ok, JSON.stringify(res)).to.be.true()
  expect(isDirect(res.connection), JSON.stringify(res)).to.be.true()
  return res.connection
}

/** start the echo flow from a to b and let both services see it */
async function startFlow (pair: Pair, name: string): Promise<any> {
  const res = await pair.a.request({ cmd: 'flow-start', name, peer: pair.b.ready.peerId, ...FLOW })
  expect(res.ok, JSON.stringify(res)).to.be.true()
  await delay(FLOW_WARMUP_MS)
  return res
}

/** a new stream from a to b carries `bytes` intact (SHA-256 on both ends); the transfer result */
async function transferIntact (pair: Pair, bytes: number): Promise<any> {
  const res = await pair.a.request({ cmd: 'transfer', peer: pair.b.ready.peerId, bytes }, 90_000)
  expect(res.ok, JSON.stringify(res)).to.be.true()
  expect(res.remote.bytes).to.equal(bytes)
  expect(res.remote.sha256, 'what b received is what a sent').to.equal(res.sha256)
  return res
}

/** a1's udx sockets with a replied flow to `remoteIp` on site a's router: the direct path's sockets */
async function directSockets (lab: Lab, remoteIp: string): Promise<number[]> {
  const a1 = lab.host('a1').ip
  const entries = await lab.conntrack('a')
  return [...new Set(entries.filter(e => !e.unreplied && e.original.src === a1 && e.original.dst === remoteIp).map(e => e.original.sport))]
}

function record (scenario: string, figures: string): void {
  recoveries.push({ scenario, figures })
  console.log(`      ${scenario}: ${figures}`)
}

describe('paths over time: the network changes under a punched connection (NAT lab)', function () {
  this.timeout(3 * 60_000)
  let pair: Pair | undefined

  beforeEach(function () {
    requireRootOrSkip(this)
  })

  afterEach(async function () {
    if (pair == null) {
      return
    }
    if (this.currentTest?.state === 'failed') {
      // the service's logs of both peers, for the report
      await mkdir(LOG_DIR, { recursive: true })
      const slug = (this.currentTest?.title ?? 'test').replace(/[^a-z0-9]+/gi, '-').slice(0, 60)
      for (const [who, node] of Object.entries({ relay: pair.relay, a: pair.a, b: pair.b })) {
        const file = join(LOG_DIR, `${slug}-${who}.log`)
        await writeFile(file, `--- stdout\n${node.proc.output('stdout').join('\n')}\n--- stderr\n${node.proc.output('stderr').join('\n')}\n`)
        console.log(`      ${who}: ${file}`)
      }
    }
    await stopNodes([pair.a, pair.b, pair.relay])
    await pair.lab.destroy()
    pair = undefined
  })

  after(() => {
    if (recoveries.length > 0) {
      console.log('\n      paths over time, measured (for docs/BENCHMARKS.md):')
      for (const r of recoveries) {
        console.log(`      - ${r.scenario}: ${r.figures}`)
      }
    }
  })

  it('1a. NAT mapping flushed mid-transfer, the peer behind a full-cone NAT: the connection migrates, the stream never fails, and everything written arrives intact', async () => {
    pair = await startPair('port-restricted', 'full-cone')
    const { lab, a, b } = pair
    const bPublic = lab.site('b').publicIp
    const direct = await punch(pair)
    const flow = await startFlow(pair, 'mid')
    expect(flow.connection.id, 'the flow runs on the punched connection').to.equal(direct.id)

    const { connections } = await b.request({ cmd: 'connections' })
    const atB = connections.find((c: any) => c.remotePeer === a.ready.peerId && isDirect(c))
    expect(atB, 'b\'s side of the direct connection').to.exist()

    const ports = await directSockets(lab, bPublic)
    expect(ports, 'a1 has a direct flow to b').to.not.be.empty()
    const rebindAt = Date.now()
    const deleted = await rebindNat(lab, 'a', ports.map((port, i) => ({ host: lab.host('a1').ip, port, newPort: REBOUND_PORT + i })))
    expect(deleted, 'the rebinding deleted the direct flow').to.be.greaterThan(0)

    // b sees a's datagrams arrive from the new port and moves the connection
    const migrated = await nextEvent(b, 'path:restored', a.ready.peerId, rebindAt, LOST_WITHIN_MS)
    expect(migrated.how).to.equal('migration')
    expect(migrated.connection.id, 'b moved the connection it had').to.equal(atB.id)

    // the flow goes on across the move, and after it
    await delay(3_000)
    const stopped = await a.request({ cmd: 'flow-stop', name: 'mid' })
    expect(stopped.errors, JSON.stringify(stopped)).to.deep.equal([])
    expect(stopped.intact, JSON.stringify(stopped)).to.be.true()
    expect(stopped.connection.status).to.equal('open')

    // the direct path now uses the new public port
    const flows = await lab.conntrack('a')
    expect(flows.some(f => !f.unreplied && f.original.dst === bPublic && f.reply.dport >= REBOUND_PORT && f.reply.dport < REBOUND_PORT + ports.length), JSON.stringify(flows)).to.be.true()

    // a new stream after the move uses the same connection
    const after = await transferIntact(pair, 256 * 1024)
    expect(after.via.id).to.equal(direct.id)

    expect(eventsSince(a, 'path:lost', b.ready.peerId, rebindAt), 'a lost nothing').to.be.empty()
    expect(eventsSince(b, 'path:lost', a.ready.peerId, rebindAt), 'b lost nothing').to.be.empty()
    record('1a. mapping flushed, peer full-cone', `rebinding → migrated (b) ${migrated.at - rebindAt} ms; longest wait for echoed data ${stopped.maxGapMs} ms; ${stopped.sentBytes} bytes echoed intact, no stream error`)
  })

  it('1b. NAT mapping flushed mid-transfer, both port-restricted: the stream fails with PathDeadError, a re-punch restores a direct connection, and data written after it arrives intact', async () => {
    pair = await startPair('port-restricted', 'port-restricted')
    const { lab, a, b } = pair
    const bPublic = lab.site('b').publicIp
    const direct = await punch(pair)
    await startFlow(pair, 'mid')

    const ports = await directSockets(lab, bPublic)
    expect(ports, 'a1 has a direct flow to b').to.not.be.empty()
    const rebindAt = Date.now()
    const deleted = await rebindNat(lab, 'a', ports.map((port, i) => ({ host: lab.host('a1').ip, port, newPort: REBOUND_PORT + i })))
    expect(deleted, 'the rebinding deleted the direct flow').to.be.greaterThan(0)

    // b's NAT drops a's datagrams from the new port, a's drops b's to the old
    // one: no migration is possible, the path is dead
    const flowError = await a.event(e => e.event === 'flow:error' && e.name === 'mid', LOST_WITHIN_MS)
    const lost = await nextEvent(a, 'path:lost', b.ready.peerId, rebindAt, LOST_WITHIN_MS)
    expect(flowError.errorName).to.equal('PathDeadError')
    expect(lost.errorName).to.equal('PathDeadError')

    const restored = await repunched(a, b, rebindAt, REPUNCH_WITHIN_MS)
    expect(isDirect(restored.connection), JSON.stringify(restored)).to.be.true()
    expect(restored.connection.id).to.not.equal(direct.id)

    const after = await transferIntact(pair, 256 * 1024)
    expect(isDirect(after.via), JSON.stringify(after)).to.be.true()
    expect(await hasDirectFlow(lab, 'a', bPublic)).to.be.true()
    await a.request({ cmd: 'flow-stop', name: 'mid' })

    const relayed = eventsSince(a, 'path:restored', b.ready.peerId, rebindAt).find(e => e.how === 'relay')
    record('1b. mapping flushed, both port-restricted', `rebinding → PathDeadError on the stream ${flowError.at - rebindAt} ms, → path:lost ${lost.at - rebindAt} ms; lost → relay re-dialed ${relayed != null ? `${relayed.at - lost.at} ms` : 'not reported'}; lost → re-punched direct ${restored.at - lost.at} ms (downtimeMs ${restored.downtimeMs})`)
  })

  it('2. the public IP of a site changes: a re-punch restores a direct connection to the new address', async () => {
    pair = await startPair('port-restricted', 'port-restricted')
    const { lab, a, b } = pair
    const direct = await punch(pair)
    await startFlow(pair, 'flow')

    const changedAt = Date.now()
    await changeWanAddress(lab, 'a', NEW_WAN_IP)

    const flowError = await a.event(e => e.event === 'flow:error' && e.name === 'flow', LOST_WITHIN_MS)
    const lost = await nextEvent(a, 'path:lost', b.ready.peerId, changedAt, LOST_WITHIN_MS)
    expect(flowError.errorName).to.equal('PathDeadError')

    const restored = await repunched(a, b, changedAt, REPUNCH_WITHIN_MS)
    expect(isDirect(restored.connection), JSON.stringify(restored)).to.be.true()
    expect(restored.connection.id).to.not.equal(direct.id)

    // b reaches a at its new address, directly
    const after = await transferIntact(pair, 256 * 1024)
    expect(isDirect(after.via), JSON.stringify(after)).to.be.true()
    expect(await hasDirectFlow(lab, 'b', NEW_WAN_IP), 'b\'s router tracks a direct flow to a\'s new address').to.be.true()
    await a.request({ cmd: 'flow-stop', name: 'flow' })

    record('2. WAN address of a changed', `change → PathDeadError on the stream ${flowError.at - changedAt} ms, → path:lost ${lost.at - changedAt} ms; lost → re-punched direct ${restored.at - lost.at} ms (downtimeMs ${restored.downtimeMs})`)
  })

  it('3. the direct path is blackholed for 30 s: path:lost within seconds, new streams go over the re-dialed relay meanwhile, and a re-punch restores a direct connection after it', async () => {
    pair = await startPair('port-restricted', 'port-restricted')
    const { lab, a, b } = pair
    const bPublic = lab.site('b').publicIp
    await punch(pair)
    await startFlow(pair, 'flow')

    // what goes wrong before the blackhole ends is collected, so that the
    // test still finds out whether the direct connection comes back
    const problems: string[] = []
    const startedAt = Date.now()
    const end = await blackhole(lab, 'a', [bPublic])
    try {
      const flowError = await a.event(e => e.event === 'flow:error' && e.name === 'flow', LOST_WITHIN_MS)
      const lost = await nextEvent(a, 'path:lost', b.ready.peerId, startedAt, LOST_WITHIN_MS)
      expect(flowError.errorName).to.equal('PathDeadError')
      expect(lost.errorName).to.equal('PathDeadError')

      // the relay was dialed again (the punched connection had retired it)
      const viaRelay = await nextEvent(a, 'path:restored', b.ready.peerId, startedAt, 20_000, e => e.how === 'relay')
      expect(viaRelay.connection.limited).to.be.true()

      // the application opens a new stream as usual (node.dialProtocol)
      const meanwhile = await a.request({ cmd: 'transfer', peer: b.ready.peerId, bytes: 32 * 1024 }, 60_000)
      if (meanwhile.ok !== true || meanwhile.via?.limited !== true || meanwhile.remote?.sha256 !== meanwhile.sha256) {
        const { addresses } = await a.request({ cmd: 'peer-addrs', peer: b.ready.peerId })
        problems.push(`a new stream (node.dialProtocol) while the direct path is blackholed: ${meanwhile.error ?? JSON.stringify(meanwhile.via)}; a's peer store offers ${addresses.map((x: any) => x.multiaddr).join(', ')}`)
        // is the re-dialed relayed connection usable at all?
        const opened = await a.request({ cmd: 'open-stream', name: 'relayed', peer: b.ready.peerId, via: 'relayed' })
        const check = opened.ok === true ? await a.request({ cmd: 'stream-check', name: 'relayed', bytes: 16 * 1024 }) : opened
        problems.push(`  (a stream opened on the re-dialed relayed connection itself: ${check.ok === true && check.echoed === true ? 'works' : check.error})`)
      }

      record('3. direct path blackholed 30 s (relayed meanwhile)', `blackhole → PathDeadError on the stream ${flowError.at - startedAt} ms, → path:lost ${lost.at - startedAt} ms; lost → relay re-dialed ${viaRelay.at - lost.at} ms; a new stream ${meanwhile.ok === true ? `over the relay ${meanwhile.seconds.toFixed(2)} s for 32 KiB` : `failed: ${meanwhile.error}`}`)
      if (Date.now() - startedAt > BLACKHOLE_MS) {
        problems.push(`the checks during the blackhole took ${Date.now() - startedAt} ms, longer than the blackhole`)
      }
      await delay(BLACKHOLE_MS - (Date.now() - startedAt))
    } finally {
      await end()
    }
    const endedAt = Date.now()

    let restored: any
    try {
      restored = await repunched(a, b, startedAt, REPUNCH_WITHIN_MS)
    } catch (err: any) {
      problems.push(`after the blackhole ended (+${endedAt - startedAt} ms): ${err.message}`)
      expect.fail(problems.join('\n'))
    }
    expect(isDirect(restored.connection), JSON.stringify(restored)).to.be.true()

    const after = await transferIntact(pair, 256 * 1024)
    expect(isDirect(after.via), JSON.stringify(after)).to.be.true()
    expect(await hasDirectFlow(lab, 'a', bPublic)).to.be.true()
    await a.request({ cmd: 'flow-stop', name: 'flow' })

    const lost = eventsSince(a, 'path:lost', b.ready.peerId, startedAt)[0]
    record('3. direct path blackholed 30 s (back to direct)', `blackhole ended → re-punched direct ${restored.at - endedAt} ms; lost → re-punched direct ${restored.at - lost.at} ms (downtimeMs ${restored.downtimeMs}); ${eventsSince(a, 'punch:failure', b.ready.peerId, startedAt).length} punches failed meanwhile`)
    expect(problems, problems.join('\n')).to.deep.equal([])
  })

  it('4. a stock relay with default limits and a pair whose punch fails: after the relay cuts the relayed connection (past 128 KiB), the service has dialed it again and new streams work', async () => {
    pair = await startPair('symmetric-random', 'symmetric-random', 'stock-default')
    const { a, b } = pair
    const since = Date.now()

    const res = await a.request({ cmd: 'connect', target: b.ready.circuit, timeoutMs: 30_000, fallback: true }, 45_000)
    expect(res.ok, JSON.stringify(res)).to.be.true()
    expect(res.connection.limited, 'no direct path: the relayed connection').to.be.true()
    const failure = await nextEvent(a, 'punch:failure', b.ready.peerId, since, 30_000)
    const original = res.connection

    // an application stream keeps b wanted; then more than the relay's
    // 128 KiB in one go: the relay cuts the relayed connection
    await startFlow(pair, 'slow')
    const cut = await a.request({ cmd: 'transfer', peer: b.ready.peerId, bytes: 256 * 1024 }, 60_000)
    const cutAt = Date.now()
    expect(cut.ok, `the relay let ${JSON.stringify(cut)} through`).to.be.false()

    // without the application asking, the service dials the relay again
    let redialed: any
    const deadline = Date.now() + 20_000
    while (redialed == null && Date.now() < deadline) {
      const { connections } = await a.request({ cmd: 'connections' })
      redialed = connections.find((c: any) => c.remotePeer === b.ready.peerId && c.limited === true && c.status === 'open' && c.id !== original.id)
      if (redialed == null) {
        await delay(100)
      }
    }
    const redialedAt = Date.now()
    expect(redialed, 'a re-dialed relayed connection to b').to.exist()

    // the application's new streams work over it
    const after = await transferIntact(pair, 32 * 1024)
    expect(after.via.limited).to.be.true()
    expect(after.via.id, 'the new stream used the service\'s re-dialed connection').to.equal(redialed.id)
    await a.request({ cmd: 'flow-stop', name: 'slow' })

    record('4. stock relay cut (128 KiB), punch failed', `punch:failure (${String(failure.reason).slice(0, 80)}) after ${failure.durationMs} ms; relay cut → re-dialed relayed connection seen within ${redialedAt - cutAt} ms (polled every 100 ms)`)
  })

  it('5. the relay restarts while the direct connection is up: the stream keeps flowing and no path is lost', async () => {
    pair = await startPair('port-restricted', 'port-restricted')
    const { lab, a, b } = pair
    const direct = await punch(pair)
    await startFlow(pair, 'flow')

    const killedAt = Date.now()
    pair.relay.proc.signal('SIGKILL')
    await pair.relay.proc.exited
    const relayHost = lab.host('relay')
    pair.relay = await startRelayNode(relayHost, { ips: [relayHost.ip], udxPorts: [4001] })
    const restartedAt = Date.now()

    await delay(8_000)
    const stopped = await a.request({ cmd: 'flow-stop', name: 'flow' })
    expect(stopped.errors, JSON.stringify(stopped)).to.deep.equal([])
    expect(stopped.intact, JSON.stringify(stopped)).to.be.true()
    expect(stopped.connection.id).to.equal(direct.id)
    expect(stopped.connection.status).to.equal('open')
    expect(eventsSince(a, 'path:lost', b.ready.peerId, killedAt), 'a lost nothing').to.be.empty()
    expect(eventsSince(b, 'path:lost', a.ready.peerId, killedAt), 'b lost nothing').to.be.empty()

    const after = await transferIntact(pair, 256 * 1024)
    expect(after.via.id).to.equal(direct.id)

    record('5. relay restarted', `relay down ${restartedAt - killedAt} ms; longest wait for echoed data on the direct stream ${stopped.maxGapMs} ms over ${stopped.durationMs} ms; no path:lost`)
  })
})
