/**
 * A libp2p node for the NAT lab, driven over stdin/stdout with JSON lines.
 * The NAT-lab demo (`npm start` as root) and the lab tests run one per lab
 * host.
 *
 * `node lab-node.ts relay <ip> [<ip>...]`: a circuit-relay-v2 server that
 * runs this package (holePunch, autoUpgrade off): TCP port 4001 and a udx
 * socket on each port of LAB_UDX_PORTS (default `4001,4002`) on each IP.
 * Two IPs × two ports are the four sockets of an RFC 5780 STUN server (the
 * configured case); one IP with LAB_UDX_PORTS=4001 is a typical VPS (the
 * zero-config case: the package adds its own second STUN port,
 * stunSecondPort, by default).
 *
 * `node lab-node.ts stock-relay <ip> [<ip>...]`: a stock js-libp2p relay:
 * tcp (port 4001), noise, yamux, identify and the circuit-relay-v2 server;
 * no udx and nothing of this package (the package is not even imported, so
 * the multiaddr registry is stock too). Relayed connections may last 10 min
 * and carry 1 GiB, unless LAB_RELAY_LIMITS=default: the server's defaults
 * (2 min, 128 KiB).
 *
 * `node lab-node.ts peer <relay tcp multiaddr> [<stun ip:port>[,...] | none]`:
 * a peer: udx on 0.0.0.0:0 and [::]:0, circuit-relay-v2 transport, tcp (to reach the
 * relay), holePunch with the package defaults except autoUpgrade, which is
 * on only with LAB_AUTO_UPGRADE=true. With STUN servers they are the
 * `stunServers` option and the node runs refreshNat() before `ready`;
 * without (`none` or nothing), `stunServers` is left out entirely and the
 * node waits up to LAB_NAT_WAIT_MS (default 10000) for the package to learn
 * a NAT profile by itself (from the relay, zero configuration) before
 * `ready`; `ready` reports what it had by then. LAB_PORT_MAPPING (JSON:
 * `false`, `true` or the `portMapping` options) sets the `portMapping`
 * option; left out, the package default. `ready` then also reports the
 * node's port mappings, where the service exposes them.
 *
 * Events (stdout): {"event":"ready",...}, {"event":"result","id":N,...},
 * {"event":"punch:success"|"punch:failure",...}
 * Commands (stdin): {"cmd":"connect","id":N,"target":"<multiaddr>",...},
 * {"cmd":"nat","id":N}, {"cmd":"ping","id":N,"peer":"<peer id>"},
 * {"cmd":"transfer","id":N,"peer":"<peer id>","bytes":N},
 * {"cmd":"punches","id":N}, {"cmd":"port-mappings","id":N}, {"cmd":"stop"},
 * {"cmd":"connect-tracked","id":N,"target":"<multiaddr>","abortOn":"<progress event>"},
 * {"cmd":"watch-punch","id":N,"peer":"<peer id>"}, {"cmd":"resources","id":N},
 * {"cmd":"wait-released","id":N,"baseline":<sockets>},
 * {"cmd":"serve-echo","id":N}, {"cmd":"open-stream","id":N,"name":"s","peer":"<peer id>","via":"relayed"|"dial"},
 * {"cmd":"stream-check","id":N,"name":"s","bytes":N}, {"cmd":"stream-close","id":N,"name":"s"},
 * {"cmd":"dial","id":N,"target":"<multiaddr>"},
 * {"cmd":"flow-start","id":N,"name":"f","peer":"<peer id>","chunkBytes":N,"intervalMs":N}, {"cmd":"flow-stop","id":N,"name":"f"},
 * {"cmd":"peer-addrs","id":N,"peer":"<peer id>"}
 * (a stock relay answers only `connections` and `stop`)
 * Events of peers also: {"event":"path:lost"|"path:restored",...,"at":<epoch ms>},
 * {"event":"flow:error","name":"f",...}
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
import { emit, serveCommands } from './json-lines.ts'
import type { HolePunch, UDXTransport } from '../src/index.ts'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

const TRANSFER_PROTOCOL = '/lab/transfer/1.0.0'
const [role, ...args] = process.argv.slice(2)

/**
 * This package, imported only by the roles that use it: importing it
 * registers `udx` with the multiaddr registry, which a stock node must not
 * have
 */
type Package = typeof import('../src/index.ts')
let pkg: Package | undefined

async function loadPackage (): Promise<Package> {
  pkg ??= await import('../src/index.ts')
  return pkg
}

function describe (connection: Connection): Record<string, unknown> {
  return {
    id: connection.id,
    remotePeer: connection.remotePeer.toString(),
    status: connection.status,
    remoteAddr: connection.remoteAddr.toString(),
    limited: connection.limits != null,
    direction: connection.direction,
    encryption: connection.encryption,
    multiplexer: connection.multiplexer
  }
}

type Node = Libp2p<{ holePunch: HolePunch, ping: Ping }>

/** the udx ports of a relay that runs this package, from LAB_UDX_PORTS */
function relayUdxPorts (): number[] {
  const ports = (process.env.LAB_UDX_PORTS ?? '4001,4002').split(',').map(Number)
  if (ports.length === 0 || ports.some(p => !Number.isInteger(p) || p <= 0 || p > 65535)) {
    throw new Error(`LAB_UDX_PORTS=${process.env.LAB_UDX_PORTS}: give one or more ports, comma separated`)
  }
  return ports
}

/**
 * Where a node that runs this package answers STUN: its udx listen sockets
 * and the package's extra STUN ports (read from the service's internals:
 * this is a test tool, the answer is for the reports only)
 */
function stunSockets (node: Node): string[] | undefined {
  const service = node.services.holePunch as any
  const sockets: any[] = [...(udxTransport(node)?.getListenSockets() ?? []), ...(Array.isArray(service.stunPorts) ? service.stunPorts : [])]
  return sockets.map(socket => { const { host, port } = socket.address(); return `${host as string}:${port as number}` })
}

/** the STUN servers a peer uses now: configured ones and those it found (service internals, reports only) */
function stunServersInUse (node: Node): string[] | undefined {
  const service = node.services.holePunch as any
  if (typeof service.stunServerList !== 'function') {
    return undefined
  }
  try {
    return service.stunServerList().map((s: { host: string, port: number }) => `${s.host}:${s.port}`)
  } catch {
    return undefined
  }
}

async function startRelay (ips: string[]): Promise<Node> {
  const { holePunch, udx } = await loadPackage()
  const ports = relayUdxPorts()
  const node = await createLibp2p({
    addresses: {
      // LAB_UDX_PORTS on each IP; two ports on each of two IPs are the four
      // sockets of an RFC 5780 STUN server
      listen: ips.flatMap(ip => [`/ip4/${ip}/tcp/4001`, ...ports.map(port => `/ip4/${ip}/udp/${port}/udx`)])
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
    kind: 'package',
    peerId: node.peerId.toString(),
    tcp: node.getMultiaddrs().filter(ma => ma.toString().includes('/tcp/')).map(String),
    // the transport announces no udx address by default: its listen sockets
    udx: udxTransport(node).getListenSockets().map(socket => { const { host, port } = socket.address(); return `${host}:${port}` }),
    stun: stunSockets(node)
  })
  return node
}

/**
 * A stock js-libp2p circuit relay: nothing of this package (no udx, no
 * STUN), what a user gets from a public relay they do not run
 */
async function startStockRelay (ips: string[]): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ips.map(ip => `/ip4/${ip}/tcp/4001`) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // the lab's "internet" uses documentation ranges that js-libp2p calls private
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      // LAB_RELAY_LIMITS=default: the server's own defaults (2 min or
      // 128 KiB per relayed connection), what a public relay gives
      relay: circuitRelayServer(process.env.LAB_RELAY_LIMITS === 'default'
        ? {}
        : { reservations: { maxReservations: 256, defaultDataLimit: BigInt(1 << 30), defaultDurationLimit: 10 * 60_000 } })
    }
  })

  emit({ event: 'ready', role: 'relay', kind: 'stock', peerId: node.peerId.toString(), tcp: node.getMultiaddrs().map(String) })
  return node
}

/**
 * LAB_PORT_MAPPING: JSON `false`, `true` or PortMappingInit, as the
 * holePunch `portMapping` option (`false` → `{ enabled: false }`); nothing
 * when unset (the package default)
 */
function parsePortMapping (value: string | undefined): Record<string, unknown> {
  if (value == null || value === '') {
    return {}
  }
  const parsed = JSON.parse(value)
  if (typeof parsed === 'boolean') {
    return { portMapping: { enabled: parsed } }
  }
  return { portMapping: parsed }
}

/** `ip:port[,ip:port...]` → STUN servers; empty, `none` or nothing → none */
function parseStunServers (stun: string | undefined): Array<{ host: string, port: number }> {
  if (stun == null || stun === '' || stun === 'none') {
    return []
  }
  return stun.split(',').map(s => {
    const [host, port] = s.split(':')
    return { host, port: Number(port) }
  })
}

async function startPeer (relayAddr: string, stun: string | undefined): Promise<Node> {
  const { holePunch, udx } = await loadPackage()
  const stunServers = parseStunServers(stun)
  const portMapping = parsePortMapping(process.env.LAB_PORT_MAPPING)
  const node = await createLibp2p({
    // both families, as the README shows (a host without IPv6 listens on IPv4 only)
    addresses: { listen: ['/ip4/0.0.0.0/udp/0/udx', '/ip6/::/udp/0/udx', '/p2p-circuit'] },
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
        // no STUN servers: the option is left out, as a user who configures nothing would
        ...(stunServers.length > 0 ? { stunServers } : {}),
        ...portMapping,
        // LAB_REUSE_KNOWN_PATHS=false: every punch trial punches (the package default races known addresses)
        ...(process.env.LAB_REUSE_KNOWN_PATHS === 'false' ? { reuseKnownPaths: false } : {}),
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
      emit({ event: name, peer: evt.detail.peer.toString(), side: evt.detail.side, durationMs: evt.detail.durationMs, strategy: evt.detail.strategy, reason: evt.detail.reason, at: Date.now() })
    })
  }

  // paths over time: `at` is the epoch ms the event was seen
  node.services.holePunch.addEventListener('path:lost', (evt) => {
    const { peer, reason, error, relayed } = evt.detail
    emit({ event: 'path:lost', peer: peer.toString(), reason, errorName: error?.name, relayed, at: Date.now() })
  })
  node.services.holePunch.addEventListener('path:restored', (evt) => {
    const { peer, how, downtimeMs, connection } = evt.detail
    emit({ event: 'path:restored', peer: peer.toString(), how, downtimeMs, connection: describe(connection), at: Date.now() })
  })

  const startedAt = Date.now()
  await node.dial(multiaddr(relayAddr), { signal: AbortSignal.timeout(10_000) })
  let circuit: string | undefined
  for (let i = 0; i < 200 && circuit == null; i++) {
    circuit = node.getMultiaddrs().map(String).find(ma => ma.includes('/p2p-circuit'))
    await new Promise(resolve => setTimeout(resolve, 50))
  }

  const natStartedAt = Date.now()
  let profile
  if (stunServers.length > 0) {
    profile = await node.services.holePunch.refreshNat({ signal: AbortSignal.timeout(20_000) })
  } else {
    // zero configuration: whatever the package learns by itself (from the
    // relay, if it runs this package), without being asked
    const waitMs = Number(process.env.LAB_NAT_WAIT_MS ?? 10_000)
    profile = node.services.holePunch.getNatProfile()
    while (profile.observedAt === 0 && Date.now() - natStartedAt < waitMs) {
      await new Promise(resolve => setTimeout(resolve, 50))
      profile = node.services.holePunch.getNatProfile()
    }
  }
  emit({
    event: 'ready',
    role: 'peer',
    peerId: node.peerId.toString(),
    circuit,
    nat: profile,
    stunServers: stunServers.map(s => `${s.host}:${s.port}`),
    stunInUse: stunServersInUse(node),
    portMappings: portMappingsOf(node),
    natMs: Date.now() - natStartedAt,
    startupMs: Date.now() - startedAt
  })
  return node
}

/** the node's port mappings, where the service exposes them (`getPortMappings()`) */
function portMappingsOf (node: Node): unknown {
  const service = node.services.holePunch as unknown as { getPortMappings?(): unknown }
  return typeof service.getPortMappings === 'function' ? service.getPortMappings() : undefined
}

async function transfer (node: Node, peer: string, bytes: number): Promise<Record<string, unknown>> {
  const stream = await node.dialProtocol(peerIdFromString(peer), TRANSFER_PROTOCOL, { signal: AbortSignal.timeout(60_000), runOnLimitedConnection: true })
  // the connection that carries the stream, as it was when the stream opened
  const carrier = node.getConnections(peerIdFromString(peer)).find(c => c.streams.includes(stream))
  const via = carrier != null ? describe(carrier) : undefined
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
    over: connection != null ? describe(connection) : undefined,
    via
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
  const { UDXTransport } = pkg as Package
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

interface Flow {
  stream: Stream
  connection: Connection
  sent: ReturnType<typeof createHash>
  received: ReturnType<typeof createHash>
  sentBytes: number
  receivedBytes: number
  startedAt: number
  lastEchoAt: number
  /** the longest wait for echoed data, ms */
  maxGapMs: number
  /** every error of the stream, the first one first */
  errors: Array<{ name: string, message: string, at: number }>
  stopping: boolean
  writer: Promise<void>
  reader: Promise<void>
}
const flows = new Map<string, Flow>()

/**
 * A steady flow on a new echo stream to `peer` (opened with
 * node.dialProtocol, as an application would): `chunkBytes` random bytes
 * every `intervalMs`, echoed back, until flow-stop. The stream's first
 * error is reported at once ({"event":"flow:error","name",...,"at"}).
 */
async function flowStart (node: Node, name: string, peer: string, chunkBytes: number, intervalMs: number): Promise<Record<string, unknown>> {
  if (flows.has(name)) {
    throw new Error(`a flow named ${name} exists`)
  }
  const peerId = peerIdFromString(peer)
  const stream = await node.dialProtocol(peerId, ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000), runOnLimitedConnection: true })
  const connection = node.getConnections(peerId).find(c => c.streams.includes(stream))
  if (connection == null) {
    throw new Error('the new stream belongs to no connection of the peer')
  }
  const startedAt = Date.now()
  const flow: Flow = {
    stream,
    connection,
    sent: createHash('sha256'),
    received: createHash('sha256'),
    sentBytes: 0,
    receivedBytes: 0,
    startedAt,
    lastEchoAt: startedAt,
    maxGapMs: 0,
    errors: [],
    stopping: false,
    writer: Promise.resolve(),
    reader: Promise.resolve()
  }
  const fail = (err: any): void => {
    flow.errors.push({ name: err?.name ?? 'Error', message: err?.message ?? String(err), at: Date.now() })
    if (flow.errors.length === 1) {
      emit({ event: 'flow:error', name, errorName: err?.name, error: err?.message, at: Date.now(), sentBytes: flow.sentBytes, receivedBytes: flow.receivedBytes, connection: describe(connection) })
    }
  }
  flow.writer = (async () => {
    while (!flow.stopping && flow.errors.length === 0) {
      const chunk = randomBytes(chunkBytes)
      flow.sent.update(chunk)
      flow.sentBytes += chunk.byteLength
      if (!stream.send(chunk)) {
        await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
      }
      await new Promise(resolve => setTimeout(resolve, intervalMs))
    }
  })().catch(fail)
  flow.reader = (async () => {
    for await (const chunk of stream) {
      const now = Date.now()
      flow.maxGapMs = Math.max(flow.maxGapMs, now - flow.lastEchoAt)
      flow.lastEchoAt = now
      flow.received.update(chunk.subarray())
      flow.receivedBytes += chunk.byteLength
    }
    if (!flow.stopping) {
      throw new Error('the echo side ended the stream')
    }
  })().catch(fail)
  flows.set(name, flow)
  return { connection: describe(connection), startedAt }
}

/**
 * Stop the named flow: no more writes, close the stream, wait (up to 15 s)
 * for the echo of everything sent. `intact`: every byte came back, in
 * order, and the stream saw no error.
 */
async function flowStop (name: string): Promise<Record<string, unknown>> {
  const flow = flows.get(name)
  if (flow == null) {
    throw new Error(`no flow named ${name}`)
  }
  flows.delete(name)
  flow.stopping = true
  await flow.writer
  if (flow.errors.length === 0) {
    try {
      await flow.stream.close({ signal: AbortSignal.timeout(15_000) })
    } catch (err: any) {
      flow.errors.push({ name: err.name, message: err.message, at: Date.now() })
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([flow.reader, new Promise(resolve => { timer = setTimeout(resolve, 15_000) })])
    clearTimeout(timer)
  } else {
    flow.stream.abort(new Error('flow stopped after an error'))
  }
  const sha256 = flow.sent.digest('hex')
  const echoed = flow.received.digest('hex')
  return {
    sentBytes: flow.sentBytes,
    receivedBytes: flow.receivedBytes,
    sha256,
    echoedSha256: echoed,
    intact: flow.errors.length === 0 && flow.sentBytes === flow.receivedBytes && sha256 === echoed,
    maxGapMs: flow.maxGapMs,
    errors: flow.errors,
    durationMs: Date.now() - flow.startedAt,
    streamStatus: flow.stream.status,
    connection: describe(flow.connection)
  }
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
            // the package default unless the command says (a trial that measures a fresh punch)
            ...(typeof command.reuseKnownPath === 'boolean' ? { reuseKnownPath: command.reuseKnownPath } : {}),
            onProgress: (evt: any) => { timeline.push({ at: Math.round(performance.now() - started), step: evt.type, detail: evt.detail }) }
          })
          emit({ event: 'result', id, ok: true, durationMs: Math.round(performance.now() - started), connection: describe(connection), timeline })
        } catch (err: any) {
          emit({ event: 'result', id, ok: false, error: `${err.name}: ${err.message}`, durationMs: Math.round(performance.now() - started), timeline })
        }
        break
      }
      case 'nat':
        emit({ event: 'result', id, ok: true, nat: node.services.holePunch.getNatProfile(), stunInUse: stunServersInUse(node) })
        break
      case 'port-mappings':
        emit({ event: 'result', id, ok: true, portMappings: portMappingsOf(node), nat: node.services.holePunch.getNatProfile() })
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
      case 'sockets':
        emit({ event: 'result', id, ok: true, sockets: udxTransport(node).pool.socketCount })
        break
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
      case 'flow-start':
        emit({ event: 'result', id, ok: true, ...(await flowStart(node, command.name, command.peer, command.chunkBytes ?? 4096, command.intervalMs ?? 50)) })
        break
      case 'flow-stop':
        emit({ event: 'result', id, ok: true, ...(await flowStop(command.name)) })
        break
      case 'peer-addrs': {
        // what the peer store offers a dial to the peer
        const peer = await node.peerStore.get(peerIdFromString(command.peer))
        emit({ event: 'result', id, ok: true, addresses: peer.addresses.map(a => ({ multiaddr: a.multiaddr.toString(), isCertified: a.isCertified })) })
        break
      }
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

async function start (): Promise<Node> {
  switch (role) {
    case 'relay':
      return startRelay(args)
    case 'stock-relay':
      return await startStockRelay(args) as unknown as Node
    case 'peer':
      return startPeer(args[0], args[1])
    default:
      throw new Error(`unknown role ${role}: use relay, stock-relay or peer`)
  }
}

const node = await start()

serveCommands(async (command) => { await handle(node, command) }, async () => { await node.stop() })
