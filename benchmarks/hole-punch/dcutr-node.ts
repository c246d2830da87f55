/**
 * The reference of the hole-punch benchmark: a stock js-libp2p node (TCP,
 * circuit-relay-v2, identify, AutoNAT v1, DCUtR) for a NAT-lab host, driven
 * over stdin/stdout with JSON lines like demo/lab-node.ts. It does not import
 * this package, so its multiaddr registry and transports are stock.
 *
 * node dcutr-node.ts relay <ip> [<second ip>]
 * node dcutr-node.ts peer <relay tcp multiaddr>
 *
 * Events (stdout): {"event":"ready",...}, {"event":"result","id":N,...},
 * {"event":"progress","id":N,"step":"relayed","relayedMs":N} (connect: relayed connection open)
 * Commands (stdin): {"cmd":"connect","id":N,"target":"<circuit multiaddr>","timeoutMs":N},
 * {"cmd":"hangup","id":N,"peer":"<peer id>"}, {"cmd":"connections","id":N}, {"cmd":"stop"}
 *
 * `connect` dials the target's circuit address, then waits (up to timeoutMs)
 * for DCUtR to open an unlimited connection to that peer: the result has
 * `relayedMs` (dial → relayed connection open) and, when it happened,
 * `upgradeMs` (relayed connection open → unlimited connection open).
 *
 * Set DEBUG=libp2p:dcutr* to see why DCUtR gives up (on stderr).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { emit, serveCommands } from '../../demo/json-lines.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

const RELAY_PORT = 4101
const [role, ...args] = process.argv.slice(2)

function describe (connection: Connection): Record<string, unknown> {
  return {
    remoteAddr: connection.remoteAddr.toString(),
    limited: connection.limits != null,
    direction: connection.direction,
    status: connection.status
  }
}

// The lab's "internet" (203.0.113.0/24, 198.51.100.0/24) is in ranges that
// js-libp2p calls private: the default connection gater would refuse to dial
// them, so, like any user testing on a private network, allow every dial.
const connectionGater = { denyDialMultiaddr: () => false }

async function startRelay (ips: string[]): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ips.map(ip => `/ip4/${ip}/tcp/${RELAY_PORT}`) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater,
    services: {
      identify: identify(),
      // serves AutoNAT dial-back requests of the peers
      autoNAT: autoNAT(),
      relay: circuitRelayServer({
        reservations: { maxReservations: 256, defaultDataLimit: BigInt(1 << 30), defaultDurationLimit: 10 * 60_000 }
      })
    }
  })
  emit({ event: 'ready', role: 'relay', peerId: node.peerId.toString(), tcp: node.getMultiaddrs().map(String) })
  return node
}

async function startPeer (relayAddr: string): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/0.0.0.0/tcp/0', '/p2p-circuit'] },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater,
    connectionManager: { inboundUpgradeTimeout: 30_000 },
    services: {
      // identify: observed addresses; AutoNAT: confirms them (DCUtR only
      // sends the address manager's addresses); DCUtR: the upgrade
      identify: identify(),
      autoNAT: autoNAT(),
      dcutr: dcutr()
    }
  })

  const startedAt = Date.now()
  await node.dial(multiaddr(relayAddr), { signal: AbortSignal.timeout(10_000) })
  let circuit: string | undefined
  for (let i = 0; i < 200 && circuit == null; i++) {
    circuit = node.getMultiaddrs().map(String).find(ma => ma.includes('/p2p-circuit'))
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  emit({ event: 'ready', role: 'peer', peerId: node.peerId.toString(), circuit, addresses: node.getMultiaddrs().map(String), startupMs: Date.now() - startedAt })
  return node
}

/**
 * Dial the circuit address, then wait for an unlimited connection to the
 * same peer (the one DCUtR opens)
 */
async function connect (node: Libp2p, id: number, target: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const ma = multiaddr(target)
  const peer = ma.getComponents().findLast(c => c.name === 'p2p')?.value
  if (peer == null) {
    throw new Error(`no peer id in ${target}`)
  }
  const started = performance.now()
  let onOpen: ((evt: CustomEvent<Connection>) => void) | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  // listen before dialing: DCUtR may finish before dial() returns
  const direct = new Promise<{ connection: Connection, at: number } | undefined>(resolve => {
    onOpen = (evt) => {
      if (evt.detail.remotePeer.toString() === peer && evt.detail.limits == null) {
        resolve({ connection: evt.detail, at: performance.now() })
      }
    }
    node.addEventListener('connection:open', onOpen)
  })
  try {
    const relayed = await node.dial(ma, { signal: AbortSignal.timeout(Math.min(timeoutMs, 15_000)) })
    const relayedAt = performance.now()
    emit({ event: 'progress', id, step: 'relayed', relayedMs: Math.round(relayedAt - started), relayed: describe(relayed) })
    const timedOut = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, timeoutMs) })
    const existing = relayed.limits == null ? { connection: relayed, at: relayedAt } : undefined
    const upgraded = existing ?? await Promise.race([direct, timedOut])
    return {
      ok: upgraded != null,
      relayed: describe(relayed),
      relayedMs: Math.round(relayedAt - started),
      upgradeMs: upgraded != null ? Math.max(0, Math.round(upgraded.at - relayedAt)) : undefined,
      connection: upgraded != null ? describe(upgraded.connection) : undefined,
      connections: node.getConnections(peerIdFromString(peer)).map(describe)
    }
  } finally {
    clearTimeout(timer)
    if (onOpen != null) {
      node.removeEventListener('connection:open', onOpen)
    }
  }
}

async function handle (node: Libp2p, command: any): Promise<void> {
  const id = command.id
  try {
    switch (command.cmd) {
      case 'connect': {
        const started = performance.now()
        try {
          emit({ event: 'result', id, ...(await connect(node, id, command.target, command.timeoutMs ?? 20_000)) })
        } catch (err: any) {
          emit({ event: 'result', id, ok: false, error: `${err.name}: ${err.message}`, durationMs: Math.round(performance.now() - started) })
        }
        break
      }
      case 'hangup':
        await node.hangUp(peerIdFromString(command.peer), { signal: AbortSignal.timeout(10_000) })
        emit({ event: 'result', id, ok: true })
        break
      case 'connections':
        emit({ event: 'result', id, ok: true, connections: node.getConnections().map(describe), addresses: node.getMultiaddrs().map(String) })
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

const node = role === 'relay' ? await startRelay(args) : await startPeer(args[0])

serveCommands(async (command) => { await handle(node, command) }, async () => { await node.stop() })
