/**
 * A libp2p node for the NAT lab, driven over stdin/stdout with JSON lines.
 * The NAT-lab demo (`npm start` as root) and the lab tests run one per lab
 * host.
 *
 * node lab-node.ts relay <ip> [<second ip>]
 * node lab-node.ts peer <relay tcp multiaddr> <stun ip:port>
 *
 * Events (stdout): {"event":"ready",...}, {"event":"result","id":N,...},
 * {"event":"punch:success"|"punch:failure",...}
 * Commands (stdin): {"cmd":"connect","id":N,"target":"<multiaddr>",...},
 * {"cmd":"nat","id":N}, {"cmd":"ping","id":N,"peer":"<peer id>"},
 * {"cmd":"transfer","id":N,"peer":"<peer id>","bytes":N},
 * {"cmd":"punches","id":N}, {"cmd":"stop"},
 * {"cmd":"connect-tracked","id":N,"target":"<multiaddr>","abortOn":"<progress event>"},
 * {"cmd":"watch-punch","id":N,"peer":"<peer id>"}, {"cmd":"resources","id":N},
 * {"cmd":"wait-released","id":N,"baseline":<sockets>},
 * {"cmd":"serve-echo","id":N}, {"cmd":"open-stream","id":N,"name":"s","peer":"<peer id>","via":"relayed"|"dial"},
 * {"cmd":"stream-check","id":N,"name":"s","bytes":N}, {"cmd":"stream-close","id":N,"name":"s"},
 * {"cmd":"dial","id":N,"target":"<multiaddr>"}
 */
import { createHash, randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { holePunch, udx, UDXTransport } from '../src/index.ts'
import { emit, serveCommands } from './json-lines.ts'
import type { HolePunch } from '../src/index.ts'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

const TRANSFER_PROTOCOL = '/lab/transfer/1.0.0'
const [role, ...args] = process.argv.slice(2)

function describe (connection: Connection): Record<string, unknown> {
  return {
    remoteAddr: connection.remoteAddr.toString(),
    limited: connection.limits != null,
    direction: connection.direction,
    encryption: connection.encryption,
    multiplexer: connection.multiplexer
  }
}

type Node = Libp2p<{ holePunch: HolePunch, ping: Ping }>

async function startRelay (ips: string[]): Promise<Node> {
  const node = await createLibp2p({
    addresses: {
      // two udx ports on each of two IPs: the four sockets of an RFC 5780 STUN server
      listen: ips.flatMap(ip => [`/ip4/${ip}/tcp/4001`, `/ip4/${ip}/udp/4001/udx`, `/ip4/${ip}/udp/4002/udx`])
    },
    transports: [tcp(), udx()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: { maxReservations: 256, defaultDataLimit: BigInt(1 << 30), defaultDurationLimit: 10 * 60_000 }
      }),
      holePunch: holePunch({ autoUpgrade: false })
    }
  }) as unknown as Node

  emit({
    event: 'ready',
    role: 'relay',
    peerId: node.peerId.toString(),
    tcp: node.getMultiaddrs().filter(ma => ma.toString().includes('/tcp/')).map(String)
  })
  return node
}

async function startPeer (relayAddr: string, stun: string): Promise<Node> {
  // one or more ip:port STUN servers, comma separated
  const stunServers = stun.split(',').map(s => {
    const [host, port] = s.split(':')
    return { host, port: Number(port) }
  })
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/0.0.0.0/udp/0/udx', '/p2p-circuit'] },
    transports: [tcp(), udx(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // the lab's "internet" uses documentation ranges that js-libp2p calls private
    connectionGater: { denyDialMultiaddr: () => false },
    connectionManager: { inboundUpgradeTimeout: 30_000 },
    services: {
      identify: identify(),
      ping: ping(),
      holePunch: holePunch({
        stunServers,
        autoUpgrade: process.env.LAB_AUTO_UPGRADE === 'true'
      })
    }
  }) as unknown as Node

  await node.handle(TRANSFER_PROTOCOL, async (stream: Stream) => {
    // echo the SHA-256 of everything received
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of stream) {
      hash.update(chunk.subarray())
      bytes += chunk.byteLength
    }
    stream.send(new TextEncoder().encode(JSON.stringify({ bytes, sha256: hash.digest('hex') })))
    await stream.close()
  }, { runOnLimitedConnection: true })

  for (const name of ['punch:start', 'punch:success', 'punch:failure'] as const) {
    node.services.holePunch.addEventListener(name, (evt: CustomEvent<any>) => {
      emit({ event: name, peer: evt.detail.peer.toString(), side: evt.detail.side, durationMs: evt.detail.durationMs, strategy: evt.detail.strategy, reason: evt.detail.reason })
    })
  }

  const startedAt = Date.now()
  await node.dial(multiaddr(relayAddr), { signal: AbortSignal.timeout(10_000) })
  let circuit: string | undefined
  for (let i = 0; i < 200 && circuit == null; i++) {
    circuit = node.getMultiaddrs().map(String).find(ma => ma.includes('/p2p-circuit'))
    await new Promise(resolve => setTimeout(resolve, 50))
  }

  const profile = await node.services.holePunch.refreshNat({ signal: AbortSignal.timeout(20_000) })
  emit({ event: 'ready', role: 'peer', peerId: node.peerId.toString(), circuit, nat: profile, startupMs: Date.now() - startedAt })
  return node
}

async function transfer (node: Node, peer: string, bytes: number): Promise<Record<string, unknown>> {
  const stream = await node.dialProtocol(peerIdFromString(peer), TRANSFER_PROTOCOL, { signal: AbortSignal.timeout(60_000), runOnLimitedConnection: true })
  const hash = createHash('sha256')
  const started = performance.now()
  for (let sent = 0; sent < bytes;) {
    const chunk = randomBytes(Math.min(64 * 1024, bytes - sent))
    hash.update(chunk)
    sent += chunk.byteLength
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal: AbortSignal.timeout(60_000) })
    }
  }
  await stream.close()
  let reply = ''
  for await (const chunk of stream) {
    reply += new TextDecoder().decode(chunk.subarray())
  }
  const remote = JSON.parse(reply)
  const connection = node.getConnections(peerIdFromString(peer)).find(c => c.limits == null)
  return {
    bytes,
    sha256: hash.digest('hex'),
    remote,
    seconds: (performance.now() - started) / 1000,
    over: connection != null ? describe(connection) : undefined
  }
}

const ECHO_PROTOCOL = '/lab/echo/1.0.0'

/** echo every chunk back until the remote closes its write side */
async function echo (stream: Stream): Promise<void> {
  for await (const chunk of stream) {
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
  }
  await stream.close()
}

function udxTransport (node: Node): UDXTransport {
  return (node as any).components.transportManager.getTransports().find((t: any) => t instanceof UDXTransport) as UDXTransport
}

/** the punch resources of the node: udx sockets and active punches */
function resources (node: Node): { sockets: number, punches: number } {
  return { sockets: udxTransport(node).pool.socketCount, punches: node.services.holePunch.getActivePunches().length }
}

/**
 * Poll (every 5 ms) until no punch is active and the udx socket count is
 * back at `baseline`; the epoch ms it was first seen so, or undefined after
 * `timeoutMs`. Also tracks the largest socket count seen.
 */
async function waitReleased (node: Node, baseline: number, timeoutMs: number, peak: { sockets: number }): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const r = resources(node)
    peak.sockets = Math.max(peak.sockets, r.sockets)
    if (r.punches === 0 && r.sockets <= baseline) {
      return Date.now()
    }
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  return undefined
}

/**
 * connect() with progress lines ({"event":"progress","id","step","epoch"})
 * written as they happen, optionally aborting the signal when the progress
 * event `abortOn` arrives. Reports the error name, the epoch times of the
 * abort, the rejection and the release of every punch resource (no active
 * punch, socket count back to what it was before the connect), and the
 * largest socket count seen while punching.
 */
async function connectTracked (node: Node, command: any): Promise<void> {
  const id = command.id
  const controller = new AbortController()
  const baseline = resources(node).sockets
  const peak = { sockets: baseline }
  const sampler = setInterval(() => { peak.sockets = Math.max(peak.sockets, resources(node).sockets) }, 5)
  const started = Date.now()
  let abortedAt: number | undefined
  const steps: string[] = []
  let result: Record<string, unknown>

  try {
    const connection = await node.services.holePunch.connect(multiaddr(command.target), {
      signal: AbortSignal.any([controller.signal, AbortSignal.timeout(command.timeoutMs ?? 30_000)]),
      fallbackToRelay: command.fallback === true,
      onProgress: (evt: any) => {
        steps.push(evt.type)
        emit({ event: 'progress', id, step: evt.type, epoch: Date.now() })
        if (evt.type === command.abortOn && abortedAt == null) {
          // the punch sockets exist now: count them before aborting
          peak.sockets = Math.max(peak.sockets, resources(node).sockets)
          abortedAt = Date.now()
          controller.abort()
        }
      }
    })
    result = { ok: true, connection: describe(connection) }
  } catch (err: any) {
    result = { ok: false, errorName: err.name, error: `${err.name}: ${err.message}` }
  }
  const settledAt = Date.now()
  clearInterval(sampler)
  const releasedAt = await waitReleased(node, baseline, command.releaseTimeoutMs ?? 10_000, peak)
  emit({ event: 'result', id, ...result, startedAt: started, abortedAt, settledAt, releasedAt, baselineSockets: baseline, peakSockets: peak.sockets, steps, ...resources(node) })
}

/**
 * Wait for the next punch with `peer` to end (punch:success or
 * punch:failure), then for its resources to be released. Start it before
 * the punch does: the baseline socket count is taken now.
 */
async function watchPunch (node: Node, peer: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const baseline = resources(node).sockets
  const peak = { sockets: baseline }
  const sampler = setInterval(() => { peak.sockets = Math.max(peak.sockets, resources(node).sockets) }, 5)
  const service = node.services.holePunch
  let onEnd: ((evt: CustomEvent<any>) => void) | undefined
  try {
    const ended = await new Promise<{ outcome: string, errorName?: string, reason?: string, side: string, endedAt: number } | undefined>(resolve => {
      const timer = setTimeout(() => { resolve(undefined) }, timeoutMs)
      onEnd = (evt) => {
        if (evt.detail.peer.toString() !== peer) {
          return
        }
        clearTimeout(timer)
        resolve({ outcome: evt.type, errorName: evt.detail.error?.name, reason: evt.detail.reason, side: evt.detail.side, endedAt: Date.now() })
      }
      service.addEventListener('punch:success', onEnd)
      service.addEventListener('punch:failure', onEnd)
    })
    clearInterval(sampler)
    if (ended == null) {
      return { outcome: 'timeout', baselineSockets: baseline, peakSockets: peak.sockets, ...resources(node) }
    }
    const releasedAt = await waitReleased(node, baseline, 10_000, peak)
    return { ...ended, releasedAt, baselineSockets: baseline, peakSockets: peak.sockets, ...resources(node) }
  } finally {
    clearInterval(sampler)
    if (onEnd != null) {
      service.removeEventListener('punch:success', onEnd)
      service.removeEventListener('punch:failure', onEnd)
    }
  }
}

interface OpenEchoStream { stream: Stream, connection: Connection, reader: AsyncIterator<any> }
const echoStreams = new Map<string, OpenEchoStream>()

/**
 * Open a long-lived echo stream to `peer`: over its relayed connection
 * (`via: 'relayed'`) or wherever node.dialProtocol puts it (`via: 'dial'`)
 */
async function openStream (node: Node, name: string, peer: string, via: 'relayed' | 'dial'): Promise<Record<string, unknown>> {
  const peerId = peerIdFromString(peer)
  let stream: Stream
  if (via === 'relayed') {
    const relayed = node.getConnections(peerId).find(c => c.limits != null && c.status === 'open')
    if (relayed == null) {
      throw new Error(`no relayed connection to ${peer}`)
    }
    stream = await relayed.newStream(ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000), runOnLimitedConnection: true })
  } else {
    stream = await node.dialProtocol(peerId, ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000), runOnLimitedConnection: true })
  }
  const connection = node.getConnections(peerId).find(c => c.streams.includes(stream))
  if (connection == null) {
    throw new Error('the new stream belongs to no connection of the peer')
  }
  echoStreams.set(name, { stream, connection, reader: stream[Symbol.asyncIterator]() })
  return { connection: describe(connection) }
}

/** send `bytes` random bytes on the named echo stream and check they come back */
async function streamCheck (node: Node, name: string, bytes: number): Promise<Record<string, unknown>> {
  const entry = echoStreams.get(name)
  if (entry == null) {
    throw new Error(`no stream named ${name}`)
  }
  const data = randomBytes(bytes)
  const started = performance.now()
  if (!entry.stream.send(data)) {
    await entry.stream.onDrain({ signal: AbortSignal.timeout(10_000) })
  }
  const received: Buffer[] = []
  const progress = { length: 0 }
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`stream ${name}: ${progress.length} of ${bytes} bytes echoed within 10 s`)) }, 10_000)
  })
  try {
    while (progress.length < bytes) {
      const next = await Promise.race([entry.reader.next(), timedOut])
      if (next.done === true) {
        throw new Error(`stream ${name} ended after ${progress.length} of ${bytes} bytes`)
      }
      const chunk = Buffer.from(next.value.subarray())
      received.push(chunk)
      progress.length += chunk.byteLength
    }
  } finally {
    clearTimeout(timer)
  }
  const length = progress.length
  return {
    echoed: Buffer.concat(received).equals(data),
    bytes: length,
    ms: Math.round(performance.now() - started),
    streamStatus: entry.stream.status,
    connection: { ...describe(entry.connection), status: entry.connection.status }
  }
}

/** close the named echo stream (both ends: the echo side closes in turn) */
async function streamClose (name: string): Promise<Record<string, unknown>> {
  const entry = echoStreams.get(name)
  if (entry == null) {
    throw new Error(`no stream named ${name}`)
  }
  await entry.stream.close({ signal: AbortSignal.timeout(10_000) })
  // drain until the echo side has closed too
  let next = await entry.reader.next()
  while (next.done !== true) {
    next = await entry.reader.next()
  }
  echoStreams.delete(name)
  return { streamStatus: entry.stream.status }
}

async function handle (node: Node, command: any): Promise<void> {
  const id = command.id
  try {
    switch (command.cmd) {
      case 'connect': {
        const timeline: Array<{ at: number, step: string, detail?: unknown }> = []
        const started = performance.now()
        try {
          const connection = await node.services.holePunch.connect(multiaddr(command.target), {
            signal: AbortSignal.timeout(command.timeoutMs ?? 30_000),
            fallbackToRelay: command.fallback === true,
            onProgress: (evt: any) => { timeline.push({ at: Math.round(performance.now() - started), step: evt.type, detail: evt.detail }) }
          })
          emit({ event: 'result', id, ok: true, durationMs: Math.round(performance.now() - started), connection: describe(connection), timeline })
        } catch (err: any) {
          emit({ event: 'result', id, ok: false, error: `${err.name}: ${err.message}`, durationMs: Math.round(performance.now() - started), timeline })
        }
        break
      }
      case 'nat':
        emit({ event: 'result', id, ok: true, nat: node.services.holePunch.getNatProfile() })
        break
      case 'ping': {
        const rtt = await node.services.ping.ping(peerIdFromString(command.peer), { signal: AbortSignal.timeout(10_000) })
        emit({ event: 'result', id, ok: true, rtt })
        break
      }
      case 'transfer':
        emit({ event: 'result', id, ok: true, ...(await transfer(node, command.peer, command.bytes)) })
        break
      case 'hangup':
        await node.hangUp(peerIdFromString(command.peer), { signal: AbortSignal.timeout(10_000) })
        emit({ event: 'result', id, ok: true })
        break
      case 'punches':
        emit({ event: 'result', id, ok: true, punches: node.services.holePunch.getActivePunches().map(p => ({ ...p, peer: p.peer.toString() })) })
        break
      case 'connections':
        emit({ event: 'result', id, ok: true, connections: node.getConnections().map(describe) })
        break
      case 'sockets': {
        const transport = (node as any).components.transportManager.getTransports().find((t: any) => t instanceof UDXTransport) as UDXTransport
        emit({ event: 'result', id, ok: true, sockets: transport.pool.socketCount })
        break
      }
      case 'connect-tracked':
        await connectTracked(node, command)
        break
      case 'watch-punch':
        emit({ event: 'result', id, ok: true, ...(await watchPunch(node, command.peer, command.timeoutMs ?? 30_000)) })
        break
      case 'resources':
        emit({ event: 'result', id, ok: true, ...resources(node) })
        break
      case 'wait-released': {
        const peak = { sockets: 0 }
        const releasedAt = await waitReleased(node, command.baseline, command.timeoutMs ?? 10_000, peak)
        emit({ event: 'result', id, ok: true, releasedAt, ...resources(node) })
        break
      }
      case 'serve-echo':
        await node.handle(ECHO_PROTOCOL, echo, { runOnLimitedConnection: true })
        emit({ event: 'result', id, ok: true })
        break
      case 'open-stream':
        emit({ event: 'result', id, ok: true, ...(await openStream(node, command.name, command.peer, command.via ?? 'dial')) })
        break
      case 'stream-check':
        emit({ event: 'result', id, ok: true, ...(await streamCheck(node, command.name, command.bytes ?? 4096)) })
        break
      case 'stream-close':
        emit({ event: 'result', id, ok: true, ...(await streamClose(command.name)) })
        break
      case 'dial': {
        const connection = await node.dial(multiaddr(command.target), { signal: AbortSignal.timeout(command.timeoutMs ?? 10_000) })
        emit({ event: 'result', id, ok: true, connection: describe(connection) })
        break
      }
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

const node = role === 'relay' ? await startRelay(args) : await startPeer(args[0], args[1])

serveCommands(async (command) => { await handle(node, command) }, async () => { await node.stop() })
