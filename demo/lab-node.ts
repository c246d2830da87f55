/* eslint-disable no-console */
/**
 * A libp2p node for the NAT lab, driven over stdin/stdout with JSON lines.
 * The NAT-lab demo (`npm start` as root) and the lab tests run one per lab
 * host.
 *
 *   node lab-node.ts relay <ip> [<second ip>]
 *   node lab-node.ts peer <relay tcp multiaddr> <stun ip:port>
 *
 * Events (stdout): {"event":"ready",...}, {"event":"result","id":N,...},
 * {"event":"punch:success"|"punch:failure",...}
 * Commands (stdin): {"cmd":"connect","id":N,"target":"<multiaddr>",...},
 * {"cmd":"nat","id":N}, {"cmd":"ping","id":N,"peer":"<peer id>"},
 * {"cmd":"transfer","id":N,"peer":"<peer id>","bytes":N},
 * {"cmd":"punches","id":N}, {"cmd":"stop"}
 */
import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
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
import type { HolePunch } from '../src/index.ts'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

const TRANSFER_PROTOCOL = '/lab/transfer/1.0.0'
const [role, ...args] = process.argv.slice(2)

function emit (event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n')
}

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

createInterface({ input: process.stdin }).on('line', (line) => {
  let command
  try {
    command = JSON.parse(line)
  } catch {
    emit({ event: 'error', error: `not JSON: ${line}` })
    return
  }
  void handle(node, command)
})

process.on('SIGTERM', () => {
  void Promise.resolve(node.stop()).finally(() => process.exit(0))
})
