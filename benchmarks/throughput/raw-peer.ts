/**
 * Child process for the reference rows without libp2p: one raw udx-native
 * stream, or one plain TCP socket, between two processes on 127.0.0.1.
 *
 * node raw-peer.ts '{"role":"receiver","transport":"udx"}'
 * node raw-peer.ts '{"role":"sender","transport":"udx","port":1234,"rounds":[...]}'
 *
 * Each round is an 8-byte big-endian length followed by that many bytes; the
 * receiver answers each round with one JSON line (byte count and the CPU time
 * it spent on the round).
 */
import net from 'node:net'
import UDX from 'udx-native'
import { CHUNK_SIZE, cpuNow, diffCounters, parseArgs, payloadChunk, sysNow, udxCounters, withTimeout } from './common.ts'
import { emit, fail, onParentMessage } from './ipc.ts'
import { startProfile } from './profiler.ts'
import type { UdxCounters } from './common.ts'
import type { Message } from './ipc.ts'
import type { RunningProfile } from './profiler.ts'
import type { Duplex } from 'node:stream'

interface Args {
  role: 'receiver' | 'sender'
  transport: 'udx' | 'tcp'
  port?: number
  rounds?: number[]
  transferTimeout?: number
  /** write a CPU profile of the transfer (receiver: from connect to exit) */
  profile?: string
}

const args: Args = parseArgs(process.argv.slice(2))

/** udx stream ids: fixed, each side has its own UDX instance */
const RECEIVER_ID = 1
const SENDER_ID = 2

process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)

/**
 * The minimal duplex surface both udx-native streams (streamx) and net
 * sockets offer
 */
type ByteStream = Pick<Duplex, 'on' | 'once' | 'write' | 'end' | 'destroy' | 'removeListener'>

/** counters of the udx instance of this process, when it runs udx */
let counters: (() => UdxCounters) | undefined

function receive (stream: ByteStream): void {
  let header = new Uint8Array(0)
  let remaining = -1
  let received = 0
  let cpuStart = 0
  let sysStart = 0
  let udxStart: UdxCounters | undefined

  stream.on('data', (data: Uint8Array) => {
    let buf = data
    while (buf.byteLength > 0) {
      if (remaining < 0) {
        const need = 8 - header.byteLength
        const take = buf.subarray(0, need)
        const merged = new Uint8Array(header.byteLength + take.byteLength)
        merged.set(header)
        merged.set(take, header.byteLength)
        header = merged
        buf = buf.subarray(take.byteLength)
        if (header.byteLength === 8) {
          remaining = Number(new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0))
          received = 0
          header = new Uint8Array(0)
          cpuStart = cpuNow()
          sysStart = sysNow()
          udxStart = counters?.()
        }
        continue
      }

      const n = Math.min(remaining, buf.byteLength)
      remaining -= n
      received += n
      buf = buf.subarray(n)

      if (remaining === 0) {
        remaining = -1
        stream.write(Buffer.from(JSON.stringify({ bytes: received, cpuMicros: cpuNow() - cpuStart, sysMicros: sysNow() - sysStart, udx: udxStart != null ? diffCounters(counters!(), udxStart) : undefined }) + '\n'))
      }
    }
  })
}

async function sendRounds (stream: ByteStream, rounds: number[], timeoutMs: number): Promise<void> {
  const chunk = Buffer.from(payloadChunk(CHUNK_SIZE))
  let acks = ''
  let onAck: (() => void) | undefined
  stream.on('data', (data: Uint8Array) => {
    acks += Buffer.from(data).toString()
    onAck?.()
  })

  const nextAck = async (): Promise<any> => {
    while (!acks.includes('\n')) {
      // eslint-disable-next-line no-loop-func -- the resolver is replaced on each wait by design
      await new Promise<void>(resolve => { onAck = resolve })
    }
    const i = acks.indexOf('\n')
    const line = acks.slice(0, i)
    acks = acks.slice(i + 1)
    return JSON.parse(line)
  }

  const write = async (buf: Uint8Array): Promise<void> => {
    if (!stream.write(buf)) {
      await new Promise<void>(resolve => { stream.once('drain', () => { resolve() }) })
    }
  }

  for (let r = 0; r < rounds.length; r++) {
    const bytes = rounds[r]
    const cpuBefore = cpuNow()
    const sysBefore = sysNow()
    const udxBefore = counters?.()
    const started = performance.now()
    const header = Buffer.alloc(8)
    header.writeBigUInt64BE(BigInt(bytes))

    const work = (async () => {
      await write(header)
      let sent = 0
      while (sent < bytes) {
        const n = Math.min(CHUNK_SIZE, bytes - sent)
        await write(n === CHUNK_SIZE ? chunk : chunk.subarray(0, n))
        sent += n
      }
      return nextAck()
    })()

    const ack = await withTimeout(work, timeoutMs, `raw ${args.transport} round of ${bytes} bytes`, () => { stream.destroy() })
    if (ack.bytes !== bytes) {
      throw new Error(`receiver counted ${ack.bytes} bytes, ${bytes} were sent`)
    }
    emit({
      type: 'round',
      round: r,
      bytes,
      seconds: (performance.now() - started) / 1000,
      senderCpu: (cpuNow() - cpuBefore) / 1e6,
      receiverCpu: ack.cpuMicros / 1e6,
      senderSys: (sysNow() - sysBefore) / 1e6,
      receiverSys: ack.sysMicros / 1e6,
      senderUdx: udxBefore != null ? diffCounters(counters!(), udxBefore) : undefined,
      receiverUdx: ack.udx
    })
  }
}

async function runUdx (): Promise<void> {
  const udx = new UDX()
  const socket = udx.createSocket()
  socket.bind(0, '127.0.0.1')
  // same kernel buffers as the transport uses (src/constants.ts)
  socket.setRecvBufferSize(2 * 1024 * 1024)
  socket.setSendBufferSize(2 * 1024 * 1024)
  const port = socket.address()!.port
  const isReceiver = args.role === 'receiver'
  const stream = udx.createStream(isReceiver ? RECEIVER_ID : SENDER_ID)
  stream.on('error', fail)
  counters = () => udxCounters(udx, [stream])

  let profile: RunningProfile | undefined

  const cleanup = async (): Promise<void> => {
    await profile?.stop()
    stream.destroy()
    await withTimeout(socket.close(), 3_000, 'socket close').catch(() => {})
  }

  if (isReceiver) {
    receive(stream)
  }

  emit({ type: 'ready', port, pid: process.pid })

  onParentMessage(async (msg: Message) => {
    if (msg.type === 'connect' && isReceiver) {
      if (args.profile != null) {
        profile = await startProfile(args.profile)
      }
      stream.connect(socket, SENDER_ID, msg.port, '127.0.0.1')
      emit({ type: 'connected' })
    } else if (msg.type === 'go' && !isReceiver) {
      if (args.profile != null) {
        profile = await startProfile(args.profile)
      }
      stream.connect(socket, RECEIVER_ID, args.port!, '127.0.0.1')
      await sendRounds(stream, args.rounds!, args.transferTimeout ?? 120_000)
      await profile?.stop()
      profile = undefined
      emit({ type: 'done', retransmits: (stream as any).retransmits, packetsDroppedByKernel: socket.packetsDroppedByKernel })
    }
  }, cleanup)
}

async function runTcp (): Promise<void> {
  if (args.role === 'receiver') {
    const server = net.createServer((socket) => {
      socket.on('error', () => {})
      receive(socket)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    const port = (server.address() as net.AddressInfo).port
    emit({ type: 'ready', port, pid: process.pid })
    onParentMessage(async (msg) => {
      if (msg.type === 'connect') {
        emit({ type: 'connected' })
      }
    }, async () => { server.close() })
    return
  }

  emit({ type: 'ready', port: 0, pid: process.pid })
  onParentMessage(async (msg) => {
    if (msg.type === 'go') {
      const socket = net.connect(args.port!, '127.0.0.1')
      socket.setNoDelay(true)
      socket.on('error', fail)
      await withTimeout(new Promise<void>(resolve => socket.once('connect', () => { resolve() })), 10_000, 'tcp connect')
      await sendRounds(socket, args.rounds!, args.transferTimeout ?? 120_000)
      emit({ type: 'done' })
      socket.destroy()
    }
  })
}

try {
  if (args.transport === 'udx') {
    await runUdx()
  } else {
    await runTcp()
  }
} catch (err: any) {
  fail(err)
}
