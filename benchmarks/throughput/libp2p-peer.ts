/**
 * Child process for the libp2p cases. Usage:
 *
 * node libp2p-peer.ts '{"role":"receiver","transport":"udx"}'
 * node libp2p-peer.ts '{"role":"sender","transport":"udx","addr":"...","plan":{...}}'
 * node libp2p-peer.ts '{"role":"dialer","transport":"udx","addr":"..."}'
 *
 * It talks to the orchestrator with the line protocol in ipc.ts.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { CHUNK_SIZE, ECHO_PROTOCOL, SINK_PROTOCOL, STATS_PROTOCOL, cpuNow, diffCounters, memoryAfterGc, parseArgs, payloadChunk, sysNow, udxCounters, withTimeout } from './common.ts'
import { emit, fail, onParentMessage } from './ipc.ts'
import { createBenchNode } from './libp2p-node.ts'
import { startProfile } from './profiler.ts'
import type { UdxCounters } from './common.ts'
import type { BenchNode, TransportName } from './libp2p-node.ts'
import type { RunningProfile } from './profiler.ts'
import type { Connection, Stream } from '@libp2p/interface'

export interface SenderPlan {
  warmupBytes: number
  pings: number
  rttSamples: number
  cases: Array<{ streams: number, bytes: number, repeats: number }>
  /** ms allowed for one transfer */
  transferTimeout: number
  /**
   * Write a CPU profile of the measured transfers (not setup or warm-up) to
   * this file; the parent starts the receiver's profile when we report
   * 'profile-ready' and answers 'go'
   */
  profile?: string
}

interface Args {
  role: 'receiver' | 'sender' | 'dialer'
  transport: TransportName
  addr?: string
  plan?: SenderPlan
}

const args: Args = parseArgs(process.argv.slice(2))

let node: BenchNode | undefined

async function shutdown (): Promise<void> {
  await node?.stop()
}

process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)

// ---------------------------------------------------------------------------
// stream helpers
// ---------------------------------------------------------------------------

/**
 * Read from a stream until `n` bytes have arrived, using one async iterator
 * across calls
 */
class Reader {
  private readonly it: AsyncIterator<Uint8Array | { subarray(): Uint8Array, byteLength: number }>
  private pending: Uint8Array[] = []
  private pendingBytes = 0

  constructor (stream: Stream) {
    this.it = stream[Symbol.asyncIterator]() as any
  }

  async readExactly (n: number): Promise<Uint8Array> {
    while (this.pendingBytes < n) {
      const { done, value } = await this.it.next()
      if (done === true) {
        throw new Error(`stream ended after ${this.pendingBytes} of ${n} bytes`)
      }
      const buf = value instanceof Uint8Array ? value : value.subarray()
      this.pending.push(buf)
      this.pendingBytes += buf.byteLength
    }
    const all = concat(this.pending, this.pendingBytes)
    this.pending = all.byteLength > n ? [all.subarray(n)] : []
    this.pendingBytes = all.byteLength - n
    return all.subarray(0, n)
  }

  async readToEnd (): Promise<Uint8Array> {
    while (true) {
      const { done, value } = await this.it.next()
      if (done === true) {
        break
      }
      const buf = value instanceof Uint8Array ? value : value.subarray()
      this.pending.push(buf)
      this.pendingBytes += buf.byteLength
    }
    return concat(this.pending, this.pendingBytes)
  }
}

function concat (bufs: Uint8Array[], length: number): Uint8Array {
  if (bufs.length === 1) {
    return bufs[0]
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const b of bufs) {
    out.set(b, offset)
    offset += b.byteLength
  }
  return out
}

/**
 * udx-native counters of this node's udx transport (undefined over TCP)
 */
function localUdxCounters (): UdxCounters | undefined {
  const transport = (node as any)?.components?.transportManager?.getTransports()
    .find((t: any) => t.pool?.udx != null)
  if (transport == null) {
    return undefined
  }
  const streams = transport.pool.allSockets().flatMap((s: any) => [...s.socket.streams])
  return udxCounters(transport.pool.udx, streams)
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

// ---------------------------------------------------------------------------
// receiver / listener
// ---------------------------------------------------------------------------

async function runReceiver (): Promise<void> {
  node = await createBenchNode({ transport: args.transport, listen: true })

  // sink: count everything until the remote closes its write side, then
  // answer with the byte count and close
  await node.handle(SINK_PROTOCOL, async (stream) => {
    let bytes = 0
    try {
      for await (const chunk of stream) {
        bytes += chunk.byteLength
      }
      stream.send(encoder.encode(JSON.stringify({ bytes })))
      await stream.close({ signal: AbortSignal.timeout(30_000) })
    } catch (err: any) {
      stream.abort(err)
    }
  }, { maxInboundStreams: 1024, maxOutboundStreams: 1024 })

  // echo every message back (persistent-stream RTT)
  await node.handle(ECHO_PROTOCOL, async (stream) => {
    try {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) {
          await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
        }
      }
      await stream.close({ signal: AbortSignal.timeout(30_000) })
    } catch (err: any) {
      stream.abort(err)
    }
  })

  // our cumulative CPU time, so the sender can compute our CPU share
  await node.handle(STATS_PROTOCOL, async (stream) => {
    try {
      stream.send(encoder.encode(JSON.stringify({ cpuMicros: cpuNow(), sysMicros: sysNow(), udx: localUdxCounters() })))
      await stream.close({ signal: AbortSignal.timeout(10_000) })
    } catch (err: any) {
      stream.abort(err)
    }
  })

  const addrs = node.getMultiaddrs().map(ma => ma.toString())
  emit({ type: 'ready', addrs, peerId: node.peerId.toString(), pid: process.pid })

  let profile: RunningProfile | undefined
  onParentMessage(async (msg) => {
    if (msg.type === 'measure') {
      const memory = await memoryAfterGc()
      emit({ type: 'memory', memory, connections: node?.getConnections().length ?? 0 })
    } else if (msg.type === 'profile-start') {
      profile = await startProfile(msg.file)
      emit({ type: 'profiling' })
    } else if (msg.type === 'profile-stop') {
      await profile?.stop()
      profile = undefined
      emit({ type: 'profile-written' })
    }
  }, shutdown)
}

// ---------------------------------------------------------------------------
// sender
// ---------------------------------------------------------------------------

async function remoteCpu (connection: Connection): Promise<{ cpuMicros: number, sysMicros: number, udx?: UdxCounters }> {
  const stream = await connection.newStream(STATS_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  // the protocol is selected optimistically, with our first write: write a
  // request byte so the remote handler runs
  // start reading before anything can arrive: the iterator only ends on a
  // remote close that happens after it was attached
  const reading = new Reader(stream).readToEnd()
  stream.send(new Uint8Array([1]))
  await stream.close({ signal: AbortSignal.timeout(10_000) })
  const body = await withTimeout(reading, 10_000, 'stats read', (err) => { stream.abort(err) })
  return JSON.parse(decoder.decode(body))
}

const chunk = payloadChunk(CHUNK_SIZE)

async function sendOnStream (stream: Stream, bytes: number, signal: AbortSignal): Promise<void> {
  // attach the reader first, so the ack and the remote close cannot be missed
  const ackRead = new Reader(stream).readToEnd()
  ackRead.catch(() => {})
  let sent = 0
  while (sent < bytes) {
    const n = Math.min(CHUNK_SIZE, bytes - sent)
    const buf = n === CHUNK_SIZE ? chunk : chunk.subarray(0, n)
    sent += n
    if (!stream.send(buf)) {
      await stream.onDrain({ signal })
    }
  }
  await stream.close({ signal })
  const ack = JSON.parse(decoder.decode(await ackRead))
  if (ack.bytes !== bytes) {
    throw new Error(`receiver counted ${ack.bytes} bytes, ${bytes} were sent`)
  }
}

/**
 * Send `bytes` in total over `streams` parallel streams on one connection;
 * time from before the streams are opened until every receiver ack is in
 */
async function transfer (connection: Connection, streams: number, bytes: number, timeoutMs: number): Promise<{ seconds: number, senderCpu: number, receiverCpu: number, senderSys: number, receiverSys: number, senderUdx?: UdxCounters, receiverUdx?: UdxCounters }> {
  const controller = new AbortController()
  const perStream = Math.floor(bytes / streams)
  const remoteBefore = await remoteCpu(connection)
  const cpuBefore = cpuNow()
  const sysBefore = sysNow()
  const udxBefore = localUdxCounters()
  const started = performance.now()

  const opened: Stream[] = []
  const work = Promise.all(Array.from({ length: streams }, async (_, i) => {
    const size = i === streams - 1 ? bytes - perStream * (streams - 1) : perStream
    const stream = await connection.newStream(SINK_PROTOCOL, { signal: controller.signal })
    opened.push(stream)
    await sendOnStream(stream, size, controller.signal)
  }))

  await withTimeout(work, timeoutMs, `transfer of ${bytes} bytes on ${streams} stream(s)`, (err) => {
    controller.abort(err)
    opened.forEach(s => { s.abort(err) })
  })

  const seconds = (performance.now() - started) / 1000
  const senderCpu = (cpuNow() - cpuBefore) / 1e6
  const senderSys = (sysNow() - sysBefore) / 1e6
  const udxAfter = localUdxCounters()
  const remoteAfter = await remoteCpu(connection)
  const receiverCpu = (remoteAfter.cpuMicros - remoteBefore.cpuMicros) / 1e6
  const receiverSys = (remoteAfter.sysMicros - remoteBefore.sysMicros) / 1e6
  return {
    seconds,
    senderCpu,
    receiverCpu,
    senderSys,
    receiverSys,
    senderUdx: udxAfter != null && udxBefore != null ? diffCounters(udxAfter, udxBefore) : undefined,
    receiverUdx: remoteAfter.udx != null && remoteBefore.udx != null ? diffCounters(remoteAfter.udx, remoteBefore.udx) : undefined
  }
}

async function echoRtt (connection: Connection, samples: number): Promise<number[]> {
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const reader = new Reader(stream)
  const payload = chunk.subarray(0, 32)
  const rtts: number[] = []
  // first exchange negotiates the protocol: not counted
  for (let i = 0; i < samples + 1; i++) {
    const t0 = performance.now()
    stream.send(payload)
    await withTimeout(reader.readExactly(32), 10_000, 'echo', (err) => { stream.abort(err) })
    if (i > 0) {
      rtts.push(performance.now() - t0)
    }
  }
  await stream.close({ signal: AbortSignal.timeout(10_000) })
  return rtts
}

const parentWaiters = new Map<string, () => void>()

async function waitForParent (type: string): Promise<void> {
  return new Promise(resolve => { parentWaiters.set(type, resolve) })
}

async function runSender (): Promise<void> {
  const plan = args.plan!
  onParentMessage((msg) => {
    parentWaiters.get(msg.type)?.()
    parentWaiters.delete(msg.type)
  }, shutdown)
  node = await createBenchNode({ transport: args.transport, listen: false })
  const target = multiaddr(args.addr!)

  const dialStart = performance.now()
  const connection = await node.dial(target, { signal: AbortSignal.timeout(15_000) })
  emit({ type: 'dialed', ms: performance.now() - dialStart, remoteAddr: connection.remoteAddr.toString(), encryption: connection.encryption, multiplexer: connection.multiplexer })

  // ping service: wall time of each ping() call (stream open + 32-byte
  // exchange, high resolution) and the RTT the service itself reports (ms,
  // Date.now() resolution)
  if (plan.pings > 0) {
    const wall: number[] = []
    const reported: number[] = []
    for (let i = 0; i < plan.pings + 5; i++) {
      const t0 = performance.now()
      const rtt = await node.services.ping.ping(connection.remotePeer, { signal: AbortSignal.timeout(10_000) })
      if (i >= 5) { // 5 warm-up pings
        wall.push(performance.now() - t0)
        reported.push(rtt)
      }
    }
    emit({ type: 'ping', wall, reported })
  }

  if (plan.rttSamples > 0) {
    emit({ type: 'rtt', samples: await echoRtt(connection, plan.rttSamples) })
  }

  if (plan.warmupBytes > 0) {
    await transfer(connection, 1, plan.warmupBytes, plan.transferTimeout)
    await transfer(connection, 16, plan.warmupBytes, plan.transferTimeout)
    emit({ type: 'warmed-up' })
  }

  let profile: RunningProfile | undefined
  if (plan.profile != null) {
    const go = waitForParent('go')
    emit({ type: 'profile-ready' })
    await withTimeout(go, 30_000, 'parent go')
    profile = await startProfile(plan.profile)
  }

  for (const c of plan.cases) {
    for (let r = 0; r < c.repeats; r++) {
      const result = await transfer(connection, c.streams, c.bytes, plan.transferTimeout)
      emit({ type: 'transfer', streams: c.streams, bytes: c.bytes, repeat: r, ...result })
    }
  }

  await profile?.stop()
  emit({ type: 'done' })
}

// ---------------------------------------------------------------------------
// dialer of many idle connections
// ---------------------------------------------------------------------------

async function runDialer (): Promise<void> {
  node = await createBenchNode({ transport: args.transport, listen: false })
  let closed = 0
  node.addEventListener('connection:close', () => { closed++ })
  const target = multiaddr(args.addr!)

  // one connection first, so lazily initialised code (Noise, yamux, JIT) is
  // not counted as per-connection memory
  await node.dial(target, { signal: AbortSignal.timeout(15_000) })
  emit({ type: 'warm', connections: node.getConnections().length })

  onParentMessage(async (msg) => {
    if (msg.type === 'measure') {
      const memory = await memoryAfterGc()
      emit({ type: 'memory', memory, connections: node?.getConnections().length ?? 0, closed })
    } else if (msg.type === 'dial') {
      // libp2p joins concurrent dials to the same peer into one, so the
      // forced dials (a new connection each) run one after the other
      const count: number = msg.count
      const started = performance.now()
      let failures = 0
      let firstError: string | undefined
      for (let i = 0; i < count; i++) {
        // a cleared timer rather than AbortSignal.timeout(), which would keep
        // each dial's signal (and what listens to it) alive after the dial
        const controller = new AbortController()
        const timer = setTimeout(() => { controller.abort(new Error('dial timed out')) }, 15_000)
        try {
          await node!.dial(target, { force: true, signal: controller.signal })
        } catch (err: any) {
          failures++
          firstError = firstError ?? `${err.name}: ${err.message}`
          if (failures > 20) {
            break
          }
        } finally {
          clearTimeout(timer)
        }
      }
      emit({ type: 'dialed', ms: performance.now() - started, failures, firstError, connections: node!.getConnections().length })
    }
  }, shutdown)
}

try {
  if (args.role === 'receiver') {
    await runReceiver()
  } else if (args.role === 'sender') {
    await runSender()
  } else if (args.role === 'dialer') {
    await runDialer()
  } else {
    throw new Error(`unknown role ${String(args.role)}`)
  }
} catch (err: any) {
  fail(err)
}
