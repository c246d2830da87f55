/**
 * A libp2p peer of the anchors benchmark, for one NAT-lab host, driven over
 * stdin/stdout with JSON lines (demo/json-lines.ts), like demo/lab-node.ts.
 *
 * node libp2p-peer.ts ours <relay tcp multiaddr>
 * node libp2p-peer.ts webrtc <relay tcp multiaddr> <stun ip:port>
 *
 * - `ours`: this package as a user runs it: udx on 0.0.0.0:0, tcp (to reach
 * the relay), circuit-relay-v2 transport and `holePunch()` with the package
 * defaults (background upgrade on, no `stunServers`: zero configuration).
 * - `webrtc`: stock `@libp2p/webrtc` private-to-private: tcp, circuit-relay-v2
 * transport, `webRTC()` with the lab's STUN server as its only ICE server
 * (nothing of this package is imported, so the multiaddr registry is stock).
 *
 * Both: Noise, yamux, identify, a connection gater that allows the lab's
 * documentation-range "internet", and libp2p's dial, per-address dial and
 * inbound upgrade timeouts raised to LAB_LIBP2P_TIMEOUT_MS (default
 * 60000), so that the trial's own timeout is the one that counts.
 *
 * Events (stdout): {"event":"ready",...}, {"event":"result","id":N,...},
 * {"event":"punch:start"|"punch:success"|"punch:failure",...} (ours)
 * Commands (stdin):
 * - {"cmd":"trial","id":N,"target":"<multiaddr>","peer":"<peer id>","timeoutMs":N,"echoes":N}:
 * dial (ours: `holePunch.connect(target, { fallbackToRelay: true })`,
 * webrtc: `node.dial(target)`), then open an echo stream on the connection
 * it returned and time one 32-byte round trip, then `echoes` more
 * (the echo RTT). Times are ms since the dial started.
 * - {"cmd":"relay-rtt","id":N,"target":"<circuit multiaddr>","peer":"<peer id>","echoes":N}:
 * round trips of 32 bytes on an echo stream over the relayed connection
 * - {"cmd":"throughput","id":N,"peer":"<peer id>","streams":N,"seconds":S}:
 * send for S seconds on N parallel streams of the open direct connection
 * - {"cmd":"forget","id":N,"peer":"<peer id>"}: drop the peer from the peer
 * store (its addresses and protocols) and, ours, from the service's known
 * direct paths (`knownPaths`, an internal), so that the next trial is a
 * first contact again
 * - {"cmd":"hangup","id":N,"peer":"<peer id>"}, {"cmd":"connections","id":N},
 * {"cmd":"punches","id":N}, {"cmd":"stop"}
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { emit, serveCommands } from '../../demo/json-lines.ts'
import { AckTracker, Receiver } from './flow.ts'
import type { HolePunch } from '../../src/index.ts'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

const ECHO_PROTOCOL = '/anchors/echo/1.0.0'
const SINK_PROTOCOL = '/anchors/sink/1.0.0'
const ECHO_BYTES = 32
const CHUNK_BYTES = 64 * 1024
const LIBP2P_TIMEOUT_MS = Number(process.env.LAB_LIBP2P_TIMEOUT_MS ?? 60_000)
/** how long a peer waits for the package to learn a NAT profile before `ready` (ours) */
const NAT_WAIT_MS = Number(process.env.LAB_NAT_WAIT_MS ?? 5_000)

const [role, relayAddr, stun] = process.argv.slice(2)

type Node = Libp2p<{ holePunch?: HolePunch }>

function describe (connection: Connection): Record<string, unknown> {
  return {
    remoteAddr: connection.remoteAddr.toString(),
    limited: connection.limits != null,
    direction: connection.direction,
    status: connection.status,
    multiplexer: connection.multiplexer,
    encryption: connection.encryption
  }
}

const common = {
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // the lab's "internet" uses documentation ranges that js-libp2p calls private
  connectionGater: { denyDialMultiaddr: () => false },
  // libp2p limits each dial (10 s), each address (6 s) and each inbound
  // upgrade (10 s) whatever signal the caller passes: raise them all
  connectionManager: {
    dialTimeout: LIBP2P_TIMEOUT_MS,
    addressDialTimeout: LIBP2P_TIMEOUT_MS,
    inboundUpgradeTimeout: LIBP2P_TIMEOUT_MS
  }
}

async function createNode (): Promise<Node> {
  if (role === 'ours') {
    const { holePunch, udx } = await import('../../src/index.ts')
    return await createLibp2p({
      ...common,
      addresses: { listen: ['/ip4/0.0.0.0/udp/0/udx', '/p2p-circuit'] },
      transports: [tcp(), udx(), circuitRelayTransport()],
      // the package defaults: background upgrade on, no STUN servers
      services: { identify: identify(), holePunch: holePunch() }
    }) as unknown as Node
  }
  if (role === 'webrtc') {
    if (stun == null) {
      throw new Error('webrtc needs the STUN server: webrtc <relay multiaddr> <ip:port>')
    }
    return await createLibp2p({
      ...common,
      addresses: { listen: ['/p2p-circuit', '/webrtc'] },
      transports: [tcp(), circuitRelayTransport(), webRTC({ rtcConfiguration: { iceServers: [{ urls: `stun:${stun}` }] } })],
      services: { identify: identify() }
    }) as unknown as Node
  }
  throw new Error(`unknown role ${role}: use ours or webrtc`)
}

/** a reader of exactly `n` bytes at a time from a stream */
class StreamReader {
  private readonly it: AsyncIterator<any>
  private buffered: Buffer = Buffer.alloc(0)

  constructor (stream: Stream) {
    this.it = stream[Symbol.asyncIterator]()
  }

  async read (n: number): Promise<Buffer> {
    while (this.buffered.byteLength < n) {
      const next = await this.it.next()
      if (next.done === true) {
        throw new Error(`stream ended after ${this.buffered.byteLength} of ${n} bytes`)
      }
      this.buffered = Buffer.concat([this.buffered, Buffer.from(next.value.subarray())])
    }
    const out = this.buffered.subarray(0, n)
    this.buffered = this.buffered.subarray(n)
    return out
  }
}

async function send (stream: Stream, data: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!stream.send(data)) {
    await stream.onDrain({ signal })
  }
}

/** one 32-byte round trip on an echo stream; ms */
async function echoOnce (stream: Stream, reader: StreamReader, signal: AbortSignal, seq: number): Promise<number> {
  const data = Buffer.alloc(ECHO_BYTES, seq & 0xff)
  const started = performance.now()
  await send(stream, data, signal)
  const back = await reader.read(ECHO_BYTES)
  if (!back.equals(data)) {
    throw new Error('the echo differs from what was sent')
  }
  return performance.now() - started
}

/** the selected ICE candidate pair of a WebRTC connection (node-datachannel's polyfill) */
function selectedPair (connection: Connection): unknown {
  try {
    const pc = (connection as any).maConn?.peerConnection
    const pair = pc?.selectedCandidatePair?.()
    if (pair == null) {
      return undefined
    }
    const side = (c: any): Record<string, unknown> => ({ address: c.address, port: c.port, type: c.type, transportType: c.transportType })
    return { local: side(pair.local), remote: side(pair.remote) }
  } catch (err: any) {
    return { error: err.message }
  }
}

const trialStreams = new Map<string, { stream: Stream }>()

async function trial (node: Node, command: any): Promise<Record<string, unknown>> {
  const peer = peerIdFromString(command.peer)
  const timeoutMs = Number(command.timeoutMs ?? 30_000)
  const signal = AbortSignal.timeout(timeoutMs)
  const timeline: Array<{ at: number, step: string, detail?: unknown }> = []
  const started = performance.now()
  const since = (): number => Math.round((performance.now() - started) * 10) / 10
  let relayedMs: number | undefined
  const onOpen = (evt: CustomEvent<Connection>): void => {
    if (evt.detail.remotePeer.equals(peer) && evt.detail.limits != null && relayedMs == null) {
      relayedMs = since()
    }
  }
  node.addEventListener('connection:open', onOpen)
  const onProgress = (evt: any): void => {
    const detail = evt.detail != null && typeof evt.detail === 'object' && !(evt.detail.candidate != null) ? evt.detail : undefined
    timeline.push({ at: since(), step: evt.type, ...(detail != null ? { detail: safeDetail(detail) } : {}) })
  }

  let connection: Connection
  try {
    if (role === 'ours') {
      const holePunch = node.services.holePunch as HolePunch
      connection = await holePunch.connect(multiaddr(command.target), { signal, fallbackToRelay: true, onProgress })
    } else {
      connection = await node.dial(multiaddr(command.target), { signal, onProgress })
    }
  } catch (err: any) {
    return { ok: false, error: `${err.name}: ${err.message}`, errorName: err.name, failedMs: since(), relayedMs, timeline }
  } finally {
    node.removeEventListener('connection:open', onOpen)
  }
  const connectMs = since()
  const result: Record<string, unknown> = { connectMs, relayedMs, connection: describe(connection), timeline }
  if (role === 'webrtc') {
    result.icePair = selectedPair(connection)
  }
  if (connection.limits != null) {
    // ours fell back to the relayed connection
    const fallback = timeline.find(s => s.step === 'hole-punch:fallback')
    return { ok: true, direct: false, ...result, fallbackReason: (fallback?.detail as any)?.reason }
  }

  // the first data round trip over the connection connect()/dial() returned
  try {
    const stream = await connection.newStream(ECHO_PROTOCOL, { signal })
    const streamOpenMs = since()
    result.streamOpenMs = streamOpenMs
    const reader = new StreamReader(stream)
    await echoOnce(stream, reader, signal, 0)
    const firstRttMs = since()
    const rtts: number[] = []
    for (let i = 1; i <= Number(command.echoes ?? 10); i++) {
      rtts.push(Math.round(await echoOnce(stream, reader, signal, i) * 100) / 100)
    }
    trialStreams.set(command.peer, { stream })
    await stream.close({ signal }).catch(() => {})
    return { ok: true, direct: true, ...result, firstRttMs, echoRttsMs: rtts }
  } catch (err: any) {
    return { ok: true, direct: false, ...result, echoError: `${err.name}: ${err.message}` }
  }
}

/** progress details can hold connections and candidates: keep what serialises */
function safeDetail (detail: any): unknown {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(detail)) {
    if (value == null || ['string', 'number', 'boolean'].includes(typeof value)) {
      out[key] = value
    }
  }
  return out
}

async function relayRtt (node: Node, command: any): Promise<Record<string, unknown>> {
  const signal = AbortSignal.timeout(20_000)
  const connection = await node.dial(multiaddr(command.target), { signal })
  if (connection.limits == null) {
    throw new Error(`the circuit dial returned an unlimited connection (${connection.remoteAddr.toString()})`)
  }
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal, runOnLimitedConnection: true })
  const reader = new StreamReader(stream)
  const rtts: number[] = []
  for (let i = 0; i < Number(command.echoes ?? 5); i++) {
    rtts.push(Math.round(await echoOnce(stream, reader, signal, i) * 100) / 100)
  }
  await stream.close({ signal }).catch(() => {})
  return { rttsMs: rtts, connection: describe(connection) }
}

/** the open direct (unlimited) connection to a peer */
function directConnection (node: Node, peer: string): Connection {
  const connection = node.getConnections(peerIdFromString(peer)).find(c => c.limits == null && c.status === 'open')
  if (connection == null) {
    throw new Error(`no direct connection to ${peer}`)
  }
  return connection
}

async function throughput (node: Node, command: any): Promise<Record<string, unknown>> {
  const connection = directConnection(node, command.peer)
  const seconds = Number(command.seconds ?? 2)
  const streamCount = Number(command.streams ?? 1)
  const signal = AbortSignal.timeout((seconds + 60) * 1000)
  const chunk = new Uint8Array(CHUNK_BYTES).fill(0x5a)
  const streams = await Promise.all(Array.from({ length: streamCount }, async () => connection.newStream(SINK_PROTOCOL, { signal })))
  // read the receiver's acknowledgements from the start
  const trackers = streams.map(stream => {
    const tracker = new AckTracker(streamCount, command.windowBytes)
    void (async () => {
      try {
        for await (const data of stream) {
          tracker.onData(data.subarray())
        }
      } catch {
        // a reset stream ends the count too
      }
      tracker.onEnd()
    })()
    return tracker
  })
  const started = performance.now()
  const deadline = started + seconds * 1000
  const perStream = await Promise.all(streams.map(async (stream, i) => {
    let sent = 0
    while (performance.now() < deadline && !trackers[i].ended) {
      await trackers[i].room(sent, deadline)
      if (performance.now() >= deadline) {
        break
      }
      await send(stream, chunk, signal)
      sent += chunk.byteLength
    }
    // every byte acknowledged by the receiving application (30 s at most)
    await trackers[i].all(sent, performance.now() + 30_000)
    return { sent, received: trackers[i].acked, at: trackers[i].ackedAt }
  }))
  const elapsed = (Math.max(...perStream.map(s => s.at)) - started) / 1000
  const received = perStream.reduce((sum, s) => sum + s.received, 0)
  const sent = perStream.reduce((sum, s) => sum + s.sent, 0)
  // outside the measured time; a close that fails does not matter here
  await Promise.all(streams.map(async stream => stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => { stream.abort(new Error('throughput test over')) })))
  if (received < sent) {
    throw new Error(`${received} of ${sent} bytes acknowledged (connection ${connection.status})`)
  }
  return { streams: streamCount, seconds: elapsed, bytes: received, mbps: received * 8 / elapsed / 1e6, perStreamBytes: perStream.map(s => s.received), connection: describe(connection) }
}

async function handle (node: Node, command: any): Promise<void> {
  const id = command.id
  try {
    switch (command.cmd) {
      case 'trial':
        emit({ event: 'result', id, ...(await trial(node, command)) })
        break
      case 'relay-rtt':
        emit({ event: 'result', id, ok: true, ...(await relayRtt(node, command)) })
        break
      case 'throughput':
        emit({ event: 'result', id, ok: true, ...(await throughput(node, command)) })
        break
      case 'hangup':
        await node.hangUp(peerIdFromString(command.peer), { signal: AbortSignal.timeout(10_000) })
        trialStreams.delete(command.peer)
        emit({ event: 'result', id, ok: true })
        break
      case 'connections':
        emit({ event: 'result', id, ok: true, connections: node.getConnections().map(describe) })
        break
      case 'forget': {
        await node.peerStore.delete(peerIdFromString(command.peer))
        // ours: the service's memory of the peer's last direct address (an
        // internal of the package, where it exists), raced against the relay
        const knownPaths = (node.services.holePunch as any)?.knownPaths
        knownPaths?.forget?.(command.peer)
        emit({ event: 'result', id, ok: true, knownPaths: knownPaths != null })
        break
      }
      case 'punches':
        emit({ event: 'result', id, ok: true, punches: node.services.holePunch?.getActivePunches().map(p => ({ ...p, peer: p.peer.toString() })) ?? [] })
        break
      case 'stop':
        await node.stop()
        emit({ event: 'stopped' })
        process.exit(0)
        break
      default:
        emit({ event: 'result', id, ok: false, error: `unknown command ${command.cmd}` })
    }
  } catch (err: any) {
    emit({ event: 'result', id, ok: false, error: `${err.name}: ${err.message}` })
  }
}

async function echo (stream: Stream): Promise<void> {
  for await (const chunk of stream) {
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
  }
  await stream.close()
}

/** count what arrives, acknowledge it (benchmarks/anchors/flow.ts) */
async function sink (stream: Stream): Promise<void> {
  const receiver = new Receiver(ack => {
    if (stream.writeStatus === 'writable') {
      stream.send(ack)
    }
  })
  try {
    for await (const chunk of stream) {
      receiver.add(chunk.byteLength)
    }
    receiver.flush()
  } finally {
    receiver.stop()
  }
  await stream.close()
}

const node = await createNode()
await node.handle(ECHO_PROTOCOL, echo, { runOnLimitedConnection: true })
await node.handle(SINK_PROTOCOL, sink, { maxInboundStreams: 64 })

if (role === 'ours') {
  const holePunch = node.services.holePunch as HolePunch
  for (const name of ['punch:start', 'punch:success', 'punch:failure'] as const) {
    holePunch.addEventListener(name, (evt: CustomEvent<any>) => {
      emit({ event: name, peer: evt.detail.peer.toString(), side: evt.detail.side, durationMs: evt.detail.durationMs, strategy: evt.detail.strategy, reason: evt.detail.reason })
    })
  }
}

const startedAt = Date.now()
await node.dial(multiaddr(relayAddr), { signal: AbortSignal.timeout(15_000) })
const want = role === 'webrtc' ? '/p2p-circuit/webrtc' : '/p2p-circuit'
let circuit: string | undefined
for (let i = 0; i < 300 && circuit == null; i++) {
  circuit = node.getMultiaddrs().map(String).find(ma => ma.includes(want))
  if (circuit == null) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
if (circuit == null) {
  throw new Error(`no ${want} address after the relay reservation: ${node.getMultiaddrs().map(String).join(', ')}`)
}

let nat: unknown
if (role === 'ours') {
  // zero configuration: whatever the package learns by itself, unasked (nothing from a stock relay)
  const holePunch = node.services.holePunch as HolePunch
  const natStarted = Date.now()
  let profile = holePunch.getNatProfile()
  while (profile.observedAt === 0 && Date.now() - natStarted < NAT_WAIT_MS) {
    await new Promise(resolve => setTimeout(resolve, 50))
    profile = holePunch.getNatProfile()
  }
  nat = profile
}

emit({ event: 'ready', role, peerId: node.peerId.toString(), circuit, nat, startupMs: Date.now() - startedAt })

serveCommands(async (command) => { await handle(node, command) }, async () => { await node.stop() })
