import { expect } from 'aegir/chai'
import { LOOPBACK_IS_PUBLIC, createPeer, createRelay, relayStunServer, reserveOnRelay } from '../fixtures/relay-network.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import type { PunchFailureEvent, PunchSuccessEvent } from '../../src/index.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * One punch per pair of peers: simultaneous starts (glare) and callers that
 * join a running punch, over a relay on loopback
 */
describe('one punch per pair of peers', function () {
  this.timeout(60_000)
  let relay: RelayNode
  const nodes: PeerNode[] = []

  async function peer (init: Parameters<typeof createPeer>[0] = {}): Promise<{ node: PeerNode, circuit: Multiaddr }> {
    const node = await createPeer({ stunServers: [relayStunServer(relay)], addressScope: LOOPBACK_IS_PUBLIC, ...init })
    nodes.push(node)
    const circuit = await reserveOnRelay(node, relay)
    await node.services.holePunch.refreshNat()
    return { node, circuit }
  }

  function events (node: PeerNode): { successes: PunchSuccessEvent[], failures: PunchFailureEvent[] } {
    const out = { successes: [] as PunchSuccessEvent[], failures: [] as PunchFailureEvent[] }
    node.services.holePunch.addEventListener('punch:success', (evt) => { out.successes.push(evt.detail) })
    node.services.holePunch.addEventListener('punch:failure', (evt) => { out.failures.push(evt.detail) })
    return out
  }

  beforeEach(async () => {
    relay = await createRelay()
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => node.stop()))
    await relay?.stop()
  })

  it('runs exactly one session when both peers connect() to each other at once, and both callers get the direct connection', async () => {
    const a = await peer({ autoUpgrade: false })
    const b = await peer({ autoUpgrade: false })
    // one relayed connection that both see, then both start in the same tick
    await a.node.dial(b.circuit)
    await waitFor(() => b.node.getConnections(a.node.peerId).some(c => c.limits != null && c.status === 'open'))
    const aEvents = events(a.node)
    const bEvents = events(b.node)

    const [fromA, fromB] = await Promise.all([
      a.node.services.holePunch.connect(b.node.peerId, { signal: AbortSignal.timeout(20_000) }),
      b.node.services.holePunch.connect(a.node.peerId, { signal: AbortSignal.timeout(20_000) })
    ])

    expect(fromA.limits).to.equal(undefined)
    expect(fromB.limits).to.equal(undefined)
    expect(fromA.status).to.equal('open')
    expect(fromB.status).to.equal('open')
    // one session: one success on each side, no failure, one direct connection each way
    expect(aEvents.successes).to.have.lengthOf(1)
    expect(bEvents.successes).to.have.lengthOf(1)
    expect(aEvents.failures).to.be.empty()
    expect(bEvents.failures).to.be.empty()
    expect(a.node.getConnections(b.node.peerId).filter(c => c.limits == null)).to.have.lengthOf(1)
    expect(b.node.getConnections(a.node.peerId).filter(c => c.limits == null)).to.have.lengthOf(1)
    // the side with the smaller PeerId initiated the surviving session
    const smaller = a.node.peerId.toString() < b.node.peerId.toString() ? aEvents : bEvents
    expect(smaller.successes[0].side).to.equal('initiator')

    // the first stream over the direct connection works
    const rtt = await a.node.services.ping.ping(b.node.peerId)
    expect(rtt).to.be.a('number')
  })

  it('gives a dialer connect() and the receiver\'s background upgrade one session with the default configuration', async () => {
    const a = await peer()
    const b = await peer()
    const aEvents = events(a.node)
    const bEvents = events(b.node)

    // a dials b through the relay: b's background upgrade starts as soon as
    // identify runs, while a's connect() starts its own
    const connection = await a.node.services.holePunch.connect(b.circuit, { signal: AbortSignal.timeout(20_000) })

    expect(connection.limits).to.equal(undefined)
    expect(aEvents.failures).to.be.empty()
    await waitFor(() => bEvents.successes.length === 1)
    expect(bEvents.failures).to.be.empty()
    expect(aEvents.successes).to.have.lengthOf(1)
    expect(await a.node.services.ping.ping(b.node.peerId)).to.be.a('number')
  })

  it('lets a caller that joins a running punch leave with its own signal while the first caller waits on', async () => {
    // no datagram may leave either side: the punch runs its whole budget
    const a = await peer({ autoUpgrade: false, maxSessionDatagrams: 0 })
    const b = await peer({ autoUpgrade: false, maxSessionDatagrams: 0 })
    await a.node.dial(b.circuit)

    const first = a.node.services.holePunch.connect(b.node.peerId, { signal: AbortSignal.timeout(20_000) }).then(() => undefined, (err: Error) => err)
    await waitFor(() => a.node.services.holePunch.getActivePunches().length === 1)
    const steps: string[] = []
    const joinedAt = performance.now()
    const second = await a.node.services.holePunch.connect(b.node.peerId, {
      signal: AbortSignal.timeout(300),
      onProgress: (evt) => { steps.push(evt.type) }
    }).then(() => undefined, (err: Error) => err)
    const secondAfterMs = performance.now() - joinedAt

    expect(second).to.have.property('name', 'AbortError')
    expect(secondAfterMs).to.be.below(1_000)
    // the punch goes on for the first caller, which gets the real outcome
    expect(a.node.services.holePunch.getActivePunches()).to.have.lengthOf(1)
    expect(await first).to.have.property('name', 'PunchFailedError')
  })

  it('gives a joined caller the progress events of the running punch', async () => {
    const a = await peer({ autoUpgrade: false })
    const b = await peer({ autoUpgrade: false })
    await a.node.dial(b.circuit)
    const joinedSteps: string[] = []

    const first = a.node.services.holePunch.connect(b.node.peerId, { signal: AbortSignal.timeout(20_000) })
    const second = a.node.services.holePunch.connect(b.node.peerId, { signal: AbortSignal.timeout(20_000), onProgress: (evt) => { joinedSteps.push(evt.type) } })
    const [c1, c2] = await Promise.all([first, second])

    expect(c1).to.equal(c2)
    expect(joinedSteps).to.include.members(['hole-punch:offer', 'punch:path-found', 'hole-punch:direct'])
  })
})
