/* eslint-disable no-console */
/**
 * `npm start`: two libp2p nodes on loopback connect over udx, open a stream,
 * ping, and move 10 MiB, printing what happened with timings.
 *
 * (The NAT-lab demo, a relayed connection upgraded to a direct one behind
 * real kernel NATs, replaces this once the hole-punch service lands.)
 */
import { createHash, randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { udx } from '../src/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

const TRANSFER_BYTES = 10 * 1024 * 1024
const PROTOCOL = '/demo/transfer/1.0.0'
const started = performance.now()

function step (message: string): void {
  console.log(`[${(performance.now() - started).toFixed(1).padStart(8)} ms] ${message}`)
}

async function createNode (): Promise<Libp2p<{ ping: Ping }>> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/udp/0/udx'] },
    // both nodes run this package, so they may announce udx addresses
    transports: [udx({ announceAddresses: true })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { ping: ping() }
  })
}

const alice = await createNode()
const bob = await createNode()
step(`alice listens on ${alice.getMultiaddrs()[0].toString()}`)
step(`bob   listens on ${bob.getMultiaddrs()[0].toString()}`)

// bob receives the transfer and checks its hash
const received = Promise.withResolvers<{ bytes: number, sha256: string }>()
await bob.handle(PROTOCOL, async (stream) => {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream) {
    hash.update(chunk.subarray())
    bytes += chunk.byteLength
  }
  await stream.close()
  received.resolve({ bytes, sha256: hash.digest('hex') })
})

let t = performance.now()
const connection = await alice.dial(bob.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
step(`alice connected to bob over ${connection.remoteAddr.toString()} (udx handshake + Noise + yamux) in ${(performance.now() - t).toFixed(1)} ms`)
step(`  encryption ${connection.encryption}, muxer ${connection.multiplexer}, direct=${connection.limits == null}`)

const rtts: number[] = []
for (let i = 0; i < 5; i++) {
  rtts.push(await alice.services.ping.ping(bob.peerId))
}
step(`ping rtt (5 pings): ${rtts.join(', ')} ms`)

t = performance.now()
const stream = await connection.newStream(PROTOCOL)
step(`opened a stream for ${PROTOCOL} in ${(performance.now() - t).toFixed(1)} ms`)

t = performance.now()
const hash = createHash('sha256')
for (let sent = 0; sent < TRANSFER_BYTES;) {
  const chunk = randomBytes(Math.min(64 * 1024, TRANSFER_BYTES - sent))
  hash.update(chunk)
  sent += chunk.byteLength
  if (!stream.send(chunk)) {
    await stream.onDrain()
  }
}
await stream.close()
const result = await received.promise
const seconds = (performance.now() - t) / 1000
const ok = result.bytes === TRANSFER_BYTES && result.sha256 === hash.digest('hex')
step(`sent ${(TRANSFER_BYTES / 1024 / 1024).toFixed(0)} MiB in ${(seconds * 1000).toFixed(0)} ms (${(TRANSFER_BYTES / 1e6 / seconds).toFixed(1)} MB/s), SHA-256 ${ok ? 'matches' : 'DOES NOT MATCH'}`)

await alice.stop()
await bob.stop()
step('both nodes stopped')

if (!ok) {
  process.exitCode = 1
}
