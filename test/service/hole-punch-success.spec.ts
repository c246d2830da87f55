import { expect } from 'aegir/chai'
import { isUdxMultiaddr } from '../../src/index.ts'
import { createPeer, createRelay, relayStunServer, reserveOnRelay } from '../fixtures/relay-network.ts'
import type { PunchFailureEvent, PunchStartEvent, PunchSuccessEvent } from '../../src/index.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The success path without root: a circuit relay and two peers on loopback.
 * With the test override of the address rules 127.0.0.0/8 counts as public,
 * so each peer's mapping (127.0.0.1 and its udx port, learnt from the
 * relay, which answers STUN on its udx socket) is a candidate the other
 * probes. Everything else is the package defaults (background upgrade on),
 * so a broken executor, planner or upgrade fails `npm test` on any machine.
 */

const ECHO_PROTOCOL = '/hole-punch-success-test/echo/1.0.0'

function loopbackIsPublic (host: string): 'public' | undefined {
  return host.startsWith('127.') ? 'public' : undefined
}

function isDirect (connection: Connection | undefined): boolean {
  return connection != null && connection.status === 'open' && connection.limits == null && isUdxMultiaddr(connection.remoteAddr)
}

interface Events {
  starts: PunchStartEvent[]
  successes: PunchSuccessEvent[]
  failures: PunchFailureEvent[]
}

function recordEvents (node: PeerNode): Events {
  const events: Events = { starts: [], successes: [], failures: [] }
  node.services.holePunch.addEventListener('punch:start', (evt) => { events.starts.push(evt.detail) })
  node.services.holePunch.addEventListener('punch:success', (evt) => { events.successes.push(evt.detail) })
  node.services.holePunch.addEventListener('punch:failure', (evt) => { events.failures.push(evt.detail) })
  return events
}

/**
 * Exactly one session ran for the pair: each node reported one punch
 * (punch:start) and one success, one as the initiator of the session and
 * one as its responder, and no failure
 */
function expectOneSession (alice: Events, bob: Events): void {
  const describe = `alice started ${alice.starts.map(s => s.side).join('+') || 'none'}, bob started ${bob.starts.map(s => s.side).join('+') || 'none'}; ` +
    `alice succeeded ${alice.successes.map(s => s.side).join('+') || 'none'}, bob succeeded ${bob.successes.map(s => s.side).join('+') || 'none'}; ` +
    `failures: ${[...alice.failures, ...bob.failures].map(f => f.reason).join(' | ') || 'none'}`

  expect(alice.starts, describe).to.have.lengthOf(1)
  expect(bob.starts, describe).to.have.lengthOf(1)
  expect(alice.successes, describe).to.have.lengthOf(1)
  expect(bob.successes, describe).to.have.lengthOf(1)
  expect([alice.successes[0].side, bob.successes[0].side], describe).to.have.members(['initiator', 'responder'])
  expect([...alice.failures, ...bob.failures], describe).to.be.empty()
}

async function waitFor (condition: () => boolean, timeout = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeout

  while (!condition()) {
    if (Date.now() > deadline) {
      return false
    }
    await new Promise(resolve => setTimeout(resolve, 20))
  }

  return true
}

async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** write `data` on a fresh stream and read back as many bytes */
async function echoOver (connection: Connection, data: Uint8Array): Promise<Uint8Array> {
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
  const received: Uint8Array[] = []
  let length = 0
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`echo: got ${length} of ${data.byteLength} bytes in time`)) }, 5_000)
    stream.addEventListener('message', (evt) => {
      const chunk = evt.data.subarray()
      received.push(chunk)
      length += chunk.byteLength

      if (length >= data.byteLength) {
        clearTimeout(timer)
        resolve()
      }
    })
  })

  if (!stream.send(data)) {
    await stream.onDrain({ signal: AbortSignal.timeout(5_000) })
  }

  await done
  await stream.close()

  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of received) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }

  return out
}

async function serveEcho (node: PeerNode): Promise<void> {
  await node.handle(ECHO_PROTOCOL, (stream: Stream) => {
    stream.addEventListener('message', (evt) => {
      stream.send(evt.data)
    })
    stream.addEventListener('remoteCloseWrite', () => {
      void stream.close().catch(() => {})
    })
  })
}

describe('hole punching through a relay on loopback (127.0.0.0/8 counted as public)', function () {
  this.timeout(60_000)
  let relay: RelayNode
  let alice: PeerNode
  let bob: PeerNode
  let bobCircuit: Multiaddr
  let aliceEvents: Events
  let bobEvents: Events

  beforeEach(async () => {
    relay = await createRelay()
    const stun = relayStunServer(relay)
    alice = await createPeer({ addressScope: loopbackIsPublic, stunServers: [stun] })
    bob = await createPeer({ addressScope: loopbackIsPublic, stunServers: [stun] })
    await reserveOnRelay(alice, relay)
    bobCircuit = await reserveOnRelay(bob, relay)
    // let the start-up NAT discovery finish
    await Promise.all([alice.services.holePunch.refreshNat(), bob.services.holePunch.refreshNat()])
    aliceEvents = recordEvents(alice)
    bobEvents = recordEvents(bob)
    await serveEcho(bob)
  })

  afterEach(async () => {
    await alice?.stop()
    await bob?.stop()
    await relay?.stop()
  })

  it('connect() through the relay resolves with a direct udx connection that carries a stream, after exactly one session', async () => {
    const steps: string[] = []
    const connection = await alice.services.holePunch.connect(bobCircuit, {
      signal: AbortSignal.timeout(20_000),
      onProgress: (evt) => { steps.push(evt.type) }
    })

    expect(connection.remotePeer.equals(bob.peerId)).to.be.true()
    expect(connection.limits, 'not a limited (relayed) connection').to.be.undefined()
    expect(isUdxMultiaddr(connection.remoteAddr), `a udx address, got ${connection.remoteAddr.toString()}`).to.be.true()
    expect(connection.status).to.equal('open')
    expect(steps).to.include('punch:path-found')
    // pre-negotiated: libp2p's own Noise and yamux, without multistream-select
    expect(connection.encryption).to.equal('/noise')
    expect(connection.multiplexer).to.equal('/yamux/1.0.0')

    const data = Uint8Array.from({ length: 10_000 }, (_, i) => i % 251)
    expect(await echoOver(connection, data)).to.deep.equal(data)

    // bob received the relayed connection and upgrades in the background
    // too (autoUpgrade): whoever starts, one session runs for the pair
    await delay(1_500)
    expectOneSession(aliceEvents, bobEvents)
    expect(alice.getConnections(bob.peerId).filter(isDirect), 'direct connections alice holds to bob').to.have.lengthOf(1)
  })

  it('runs one session when both peers call connect() at once, and both get a direct connection', async () => {
    // both hold a relayed connection first, so both connect() calls start at once
    await alice.dial(bobCircuit, { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => bob.getConnections(alice.peerId).length > 0)

    const [a, b] = await Promise.all([
      alice.services.holePunch.connect(bob.peerId, { signal: AbortSignal.timeout(20_000) }),
      bob.services.holePunch.connect(alice.peerId, { signal: AbortSignal.timeout(20_000) })
    ])

    expect(isDirect(a), 'alice got a direct connection').to.be.true()
    expect(isDirect(b), 'bob got a direct connection').to.be.true()
    expect(await echoOver(a, Uint8Array.from([1, 2, 3]))).to.deep.equal(Uint8Array.from([1, 2, 3]))

    await delay(1_500)
    expectOneSession(aliceEvents, bobEvents)
  })

  it('upgrades a relayed connection to a direct one in the background, without connect()', async () => {
    // alice dials bob's circuit address: bob receives the relayed
    // connection and starts the upgrade once identify lists the protocol
    await alice.dial(bobCircuit, { signal: AbortSignal.timeout(10_000) })

    const upgraded = await waitFor(() => alice.getConnections(bob.peerId).some(isDirect) && bob.getConnections(alice.peerId).some(isDirect), 20_000)
    expect(upgraded, 'a direct udx connection between alice and bob').to.be.true()

    const direct = alice.getConnections(bob.peerId).find(isDirect) as Connection
    expect(await echoOver(direct, Uint8Array.from([4, 5, 6]))).to.deep.equal(Uint8Array.from([4, 5, 6]))

    await delay(1_500)
    expectOneSession(aliceEvents, bobEvents)
  })
})
