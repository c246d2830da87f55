/**
 * A hyperdht node of the anchors benchmark, for one NAT-lab host, driven
 * over stdin/stdout with JSON lines (demo/json-lines.ts). Imports nothing
 * of this package or of libp2p.
 *
 * node hyperdht-node.ts bootstrap <ip> [<first bootstrap ip:port>]
 * node hyperdht-node.ts peer <bootstrap ip:port>[,<ip:port>...]
 *
 * - `bootstrap`: a persistent (non-ephemeral, not firewalled) DHT node on
 * `<ip>`:49737 in a public host; without a second argument it is the first
 * node of the testnet (`HyperDHT.bootstrapper`), else it joins through it.
 * A testnet needs at least 4 of them (with 3 the first node never enters
 * routing tables and NAT sampling never completes); the benchmark runs 5.
 * - `peer`: a DHT node with hyperdht's defaults behind a NAT, bootstrapped
 * on the testnet, with a server listening on a fresh key pair. One
 * exception: hyperdht refuses a punch that involves a randomising NAT
 * within 20 s of the node's last one (`randomPunchInterval`, a rate limit
 * for production nodes; with no blind relay configured the connection
 * fails with HOLEPUNCH_ABORTED), which trials a few seconds apart would
 * trip; LAB_HYPERDHT_RANDOM_PUNCH_INTERVAL_MS (default 1) lowers it. Every
 * connection to it starts with one mode byte: `E` echoes everything after
 * it, `S` counts bytes until the end and then answers `{"bytes":N}`.
 *
 * Events (stdout): {"event":"ready",...}, {"event":"result","id":N,...}
 * Commands (stdin):
 * - {"cmd":"trial","id":N,"publicKey":"<hex>","timeoutMs":N,"echoes":N}:
 * `dht.connect(publicKey)`, wait for the secret stream to open, then time
 * one 32-byte round trip over it, then `echoes` more. Times are ms since
 * connect() was called. The socket stays open until `hangup`.
 * - {"cmd":"throughput","id":N,"publicKey":"<hex>","streams":N,"seconds":S}:
 * open N connections (hyperdht has no stream multiplexer: one connection
 * is one stream) and send on all of them for S seconds
 * - {"cmd":"forget","id":N,"publicKey":"<hex>"}: drop the relay addresses
 * hyperdht cached for that server after the last connection (an internal
 * cache, `_relayAddressesCache`), so that the next trial looks the server
 * up again: a first contact, like the other systems' trials
 * - {"cmd":"hangup","id":N}, {"cmd":"stop"}
 */
import { once } from 'node:events'
import HyperDHT from 'hyperdht'
import { emit, serveCommands } from '../../demo/json-lines.ts'
import { AckTracker, Receiver } from './flow.ts'
import type { SecretStream } from 'hyperdht'

const DHT_PORT = 49737
/** hyperdht's minimum time between punches with a randomising NAT (its default: 20000) */
const RANDOM_PUNCH_INTERVAL_MS = Number(process.env.LAB_HYPERDHT_RANDOM_PUNCH_INTERVAL_MS ?? 1)
const ECHO_BYTES = 32
const CHUNK_BYTES = 64 * 1024
const [role, ...args] = process.argv.slice(2)

/** reads exactly `n` bytes at a time from a secret stream */
class SocketReader {
  private buffered: Buffer = Buffer.alloc(0)
  private waiter: (() => void) | undefined
  private ended = false
  private error: Error | undefined

  constructor (socket: SecretStream) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk])
      this.wake()
    })
    socket.on('end', () => { this.ended = true; this.wake() })
    socket.on('close', () => { this.ended = true; this.wake() })
    socket.on('error', (err: Error) => { this.error = err; this.wake() })
  }

  private wake (): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  async read (n: number): Promise<Buffer> {
    while (this.buffered.byteLength < n) {
      if (this.error != null) {
        throw this.error
      }
      if (this.ended) {
        throw new Error(`stream ended after ${this.buffered.byteLength} of ${n} bytes`)
      }
      await new Promise<void>(resolve => { this.waiter = resolve })
    }
    const out = this.buffered.subarray(0, n)
    this.buffered = this.buffered.subarray(n)
    return out
  }
}

async function write (socket: SecretStream, data: Buffer): Promise<void> {
  if (!socket.write(data)) {
    await once(socket, 'drain')
  }
}

/** resolve when the secret stream is open, reject on error, close or timeout */
async function opened (socket: SecretStream, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(Object.assign(new Error(`not open within ${timeoutMs} ms`), { code: 'TIMEOUT' })) }, timeoutMs)
    const done = (err?: Error): void => {
      clearTimeout(timer)
      socket.removeListener('open', onOpen)
      socket.removeListener('error', onError)
      socket.removeListener('close', onClose)
      if (err != null) {
        reject(err)
      } else {
        resolve()
      }
    }
    const onOpen = (): void => { done() }
    const onError = (err: Error): void => { done(err) }
    const onClose = (): void => { done(new Error('closed before it opened')) }
    socket.once('open', onOpen)
    socket.once('error', onError)
    socket.once('close', onClose)
  })
}

async function startBootstrap (ip: string, first: string | undefined): Promise<HyperDHT> {
  const dht = first == null
    ? HyperDHT.bootstrapper(DHT_PORT, ip, { host: ip })
    : new HyperDHT({ bootstrap: [first], ephemeral: false, firewalled: false, host: ip, port: DHT_PORT })
  await dht.fullyBootstrapped()
  emit({ event: 'ready', role: 'bootstrap', address: dht.address(), host: dht.host, port: dht.port, ephemeral: dht.ephemeral })
  return dht
}

/** one connection to the peer's server: `E` echo, `S` sink (benchmarks/anchors/flow.ts) */
function serve (socket: SecretStream): void {
  let mode: string | undefined
  const receiver = new Receiver(ack => { socket.write(ack) })
  socket.on('error', () => {})
  socket.on('close', () => { receiver.stop() })
  socket.on('data', (chunk: Buffer) => {
    if (mode == null) {
      mode = String.fromCharCode(chunk[0])
      chunk = chunk.subarray(1)
    }
    if (mode === 'E') {
      if (chunk.byteLength > 0) {
        socket.write(chunk)
      }
    } else {
      receiver.add(chunk.byteLength)
    }
  })
  socket.on('end', () => {
    receiver.flush()
    receiver.stop()
    socket.end()
  })
}

async function startPeer (bootstrap: string[]): Promise<HyperDHT> {
  const started = Date.now()
  const dht = new HyperDHT({ bootstrap, randomPunchInterval: RANDOM_PUNCH_INTERVAL_MS })
  await dht.fullyBootstrapped()
  const server = dht.createServer(serve)
  const keyPair = HyperDHT.keyPair()
  await server.listen(keyPair)
  emit({
    event: 'ready',
    role: 'peer',
    publicKey: keyPair.publicKey.toString('hex'),
    host: dht.host,
    port: dht.port,
    firewalled: dht.firewalled,
    randomized: dht.randomized,
    startupMs: Date.now() - started
  })
  return dht
}

let trialSocket: SecretStream | undefined

function errorText (err: any): string {
  return err.code != null ? `${err.code as string}: ${err.message as string}` : `${err.name as string}: ${err.message as string}`
}

async function trial (dht: HyperDHT, command: any): Promise<Record<string, unknown>> {
  const timeoutMs = Number(command.timeoutMs ?? 30_000)
  const punchesBefore = { ...dht.stats.punches }
  const started = performance.now()
  const since = (): number => Math.round((performance.now() - started) * 10) / 10
  const socket = dht.connect(Buffer.from(command.publicKey, 'hex'))
  trialSocket = socket
  const reader = new SocketReader(socket)
  const punches = (): Record<string, number> => Object.fromEntries(Object.entries(dht.stats.punches as Record<string, number>).map(([k, v]) => [k, v - (punchesBefore[k] ?? 0)]).filter(([, v]) => v !== 0))
  try {
    await opened(socket, timeoutMs)
  } catch (err: any) {
    return { ok: false, error: errorText(err), errorCode: err.code, failedMs: since(), punches: punches() }
  }
  const connectMs = since()
  const remote = socket.rawStream != null ? { host: socket.rawStream.remoteHost, port: socket.rawStream.remotePort } : undefined
  try {
    const deadline = setTimeout(() => { socket.destroy(new Error(`echo not answered within ${timeoutMs} ms`)) }, timeoutMs)
    const rtts: number[] = []
    let firstRttMs = 0
    try {
      for (let i = 0; i <= Number(command.echoes ?? 10); i++) {
        const data = Buffer.alloc(ECHO_BYTES, i & 0xff)
        const t = performance.now()
        await write(socket, i === 0 ? Buffer.concat([Buffer.from('E'), data]) : data)
        const back = await reader.read(ECHO_BYTES)
        if (!back.equals(data)) {
          throw new Error('the echo differs from what was sent')
        }
        if (i === 0) {
          firstRttMs = since()
        } else {
          rtts.push(Math.round((performance.now() - t) * 100) / 100)
        }
      }
    } finally {
      clearTimeout(deadline)
    }
    return { ok: true, direct: true, connectMs, firstRttMs, echoRttsMs: rtts, remote, punches: punches() }
  } catch (err: any) {
    return { ok: true, direct: false, connectMs, remote, echoError: errorText(err), punches: punches() }
  }
}

async function hangup (): Promise<void> {
  const socket = trialSocket
  trialSocket = undefined
  if (socket == null || socket.destroyed) {
    return
  }
  const closed = once(socket, 'close').catch(() => {})
  socket.destroy()
  await Promise.race([closed, new Promise(resolve => setTimeout(resolve, 5_000))])
}

async function throughput (dht: HyperDHT, command: any): Promise<Record<string, unknown>> {
  const seconds = Number(command.seconds ?? 2)
  const count = Number(command.streams ?? 1)
  const key = Buffer.from(command.publicKey, 'hex')
  const sockets = Array.from({ length: count }, () => dht.connect(key))
  try {
    await Promise.all(sockets.map(async s => { await opened(s, 30_000) }))
    const trackers = sockets.map(socket => {
      const tracker = new AckTracker(count, command.windowBytes)
      socket.on('data', (data: Buffer) => { tracker.onData(data) })
      socket.on('end', () => { tracker.onEnd() })
      socket.on('close', () => { tracker.onEnd() })
      socket.on('error', () => { tracker.onEnd() })
      return tracker
    })
    const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a)
    const started = performance.now()
    const deadline = started + seconds * 1000
    const perStream = await Promise.all(sockets.map(async (socket, i) => {
      let sent = 0
      await write(socket, Buffer.from('S'))
      while (performance.now() < deadline && !trackers[i].ended) {
        await trackers[i].room(sent, deadline)
        if (performance.now() >= deadline) {
          break
        }
        await write(socket, chunk)
        sent += chunk.byteLength
      }
      // every byte acknowledged by the receiving application (30 s at most)
      await trackers[i].all(sent, performance.now() + 30_000)
      return { sent, received: trackers[i].acked, at: trackers[i].ackedAt }
    }))
    const elapsed = (Math.max(...perStream.map(s => s.at)) - started) / 1000
    const received = perStream.reduce((sum, s) => sum + s.received, 0)
    const sent = perStream.reduce((sum, s) => sum + s.sent, 0)
    if (received < sent) {
      throw new Error(`${received} of ${sent} bytes acknowledged`)
    }
    const remote = sockets[0].rawStream != null ? { host: sockets[0].rawStream.remoteHost, port: sockets[0].rawStream.remotePort } : undefined
    return { streams: count, seconds: elapsed, bytes: received, mbps: received * 8 / elapsed / 1e6, perStreamBytes: perStream.map(s => s.received), remote }
  } finally {
    for (const s of sockets) {
      s.destroy()
    }
  }
}

async function handle (dht: HyperDHT, command: any): Promise<void> {
  const id = command.id
  try {
    switch (command.cmd) {
      case 'trial':
        emit({ event: 'result', id, ...(await trial(dht, command)) })
        break
      case 'throughput':
        emit({ event: 'result', id, ok: true, ...(await throughput(dht, command)) })
        break
      case 'hangup':
        await hangup()
        emit({ event: 'result', id, ok: true })
        break
      case 'forget': {
        const cache = (dht as any)._relayAddressesCache
        emit({ event: 'result', id, ok: true, forgot: cache?.delete?.(command.publicKey) ?? false })
        break
      }
      case 'stop':
        await dht.destroy()
        emit({ event: 'stopped' })
        process.exit(0)
        break
      default:
        emit({ event: 'result', id, ok: false, error: `unknown command ${command.cmd}` })
    }
  } catch (err: any) {
    emit({ event: 'result', id, ok: false, error: errorText(err) })
  }
}

let dht: HyperDHT
if (role === 'bootstrap') {
  dht = await startBootstrap(args[0], args[1])
} else if (role === 'peer') {
  dht = await startPeer(args[0].split(','))
} else {
  throw new Error(`unknown role ${role}: use bootstrap or peer`)
}

serveCommands(async (command) => { await handle(dht, command) }, async () => { await dht.destroy() })
