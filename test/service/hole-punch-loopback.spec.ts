import { expect } from 'aegir/chai'
import { LOOPBACK_IS_PUBLIC, createPeer, createRelay, relayStunServer, reserveOnRelay, udxTransportOf } from '../fixtures/relay-network.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import type { PunchFailureEvent } from '../../src/index.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Loopback addresses are never probed by default, so this file treats
 * 127.0.0.0/8 as public (the test-only `addressScope` override) and makes
 * the punch find no path by capping each session at 0 datagrams on both
 * sides: the coordination runs for real over a circuit-relay-v2 connection,
 * the punch runs and finds nothing. hole-punch-success.spec.ts covers the
 * punches that succeed on loopback, the NAT-lab tests (test/lab) the ones
 * through real NATs.
 */

describe('hole-punch service over a relay on loopback', function () {
  this.timeout(60_000)
  let relay: RelayNode
  let alice: PeerNode
  let bob: PeerNode
  let bobCircuit: Multiaddr

  beforeEach(async () => {
    relay = await createRelay()
    const stun = relayStunServer(relay)
    alice = await createPeer({ stunServers: [stun], autoUpgrade: false, addressScope: LOOPBACK_IS_PUBLIC, maxSessionDatagrams: 0 })
    bob = await createPeer({ stunServers: [stun], autoUpgrade: false, addressScope: LOOPBACK_IS_PUBLIC, maxSessionDatagrams: 0 })
    await reserveOnRelay(alice, relay)
    bobCircuit = await reserveOnRelay(bob, relay)
    // let the start-up NAT discovery (which opens fresh sockets) finish
    await Promise.all([alice.services.holePunch.refreshNat(), bob.services.holePunch.refreshNat()])
  })

  afterEach(async () => {
    await alice?.stop()
    await bob?.stop()
    await relay?.stop()
  })

  it('learns its mapping from the relay, which answers STUN on its udx socket', async () => {
    const profile = await alice.services.holePunch.refreshNat()
    const local = udxTransportOf(alice).getListenSockets()[0].address()

    expect(profile.publicAddresses).to.deep.include({ host: '127.0.0.1', port: local.port, family: 4 })
    expect(profile.reachability).to.equal('public')
  })

  it('falls back at once, with the reason, when no candidate may be probed (loopback under the default address rules)', async () => {
    const carol = await createPeer({ stunServers: [relayStunServer(relay)], autoUpgrade: false })
    const dave = await createPeer({ stunServers: [relayStunServer(relay)], autoUpgrade: false })

    try {
      await reserveOnRelay(carol, relay)
      const daveCircuit = await reserveOnRelay(dave, relay)
      const steps: Array<{ type: string, detail?: any }> = []
      const started = performance.now()

      const err = await carol.services.holePunch.connect(daveCircuit, {
        signal: AbortSignal.timeout(20_000),
        onProgress: (evt) => { steps.push({ type: evt.type, detail: (evt as any).detail }) }
      }).then(() => undefined, (err: Error) => err)

      expect(err).to.have.property('name', 'PunchFailedError')
      expect(err).to.have.property('reason', 'no-strategy')
      expect(steps.map(s => s.type)).to.not.include('punch:probing')
      expect(steps.find(s => s.type === 'hole-punch:plan')?.detail?.reason).to.match(/candidate/)
      // no budget was waited out: one coordination round trip on loopback
      expect(performance.now() - started).to.be.below(2_000)
    } finally {
      await carol.stop()
      await dave.stop()
    }
  })

  it('coordinates over the relayed connection, fails to punch with a named error, and leaves the relayed connection usable', async () => {
    const failures: PunchFailureEvent[] = []
    bob.services.holePunch.addEventListener('punch:failure', (evt) => { failures.push(evt.detail) })
    const steps: string[] = []

    const err = await alice.services.holePunch.connect(bobCircuit, {
      signal: AbortSignal.timeout(20_000),
      onProgress: (evt) => { steps.push(evt.type) }
    }).then(() => undefined, (err: Error) => err)

    expect(err).to.have.property('name', 'PunchFailedError')
    expect(steps).to.include.members(['hole-punch:dial-relay', 'hole-punch:offer', 'hole-punch:answer', 'hole-punch:plan', 'hole-punch:sync', 'punch:probing'])
    await waitFor(() => failures.length === 1)
    expect(failures[0].side).to.equal('responder')

    // the relayed connection still carries streams
    const relayed = alice.getConnections(bob.peerId).find(c => c.limits != null)
    expect(relayed).to.exist()
    expect(alice.services.holePunch.getActivePunches()).to.be.empty()
    expect(bob.services.holePunch.getActivePunches()).to.be.empty()
  })

  it('resolves with the relayed connection when asked to fall back', async () => {
    const steps: string[] = []
    const connection = await alice.services.holePunch.connect(bobCircuit, {
      fallbackToRelay: true,
      signal: AbortSignal.timeout(20_000),
      onProgress: (evt) => { steps.push(evt.type) }
    })

    expect(connection.limits).to.not.be.undefined()
    expect(connection.remoteAddr.toString()).to.include('/p2p-circuit')
    expect(steps).to.include('hole-punch:fallback')
  })

  it('stops punching at once when aborted, releases its sockets and timers, tells the peer, and rejects with AbortError', async () => {
    const bobFailures: PunchFailureEvent[] = []
    bob.services.holePunch.addEventListener('punch:failure', (evt) => { bobFailures.push(evt.detail) })
    const controller = new AbortController()
    const socketsBefore = udxTransportOf(alice).pool.socketCount
    let abortedAt = 0

    const connecting = alice.services.holePunch.connect(bobCircuit, {
      signal: controller.signal,
      onProgress: (evt) => {
        if (evt.type === 'punch:probing') {
          abortedAt = performance.now()
          controller.abort()
        }
      }
    })

    const err = await connecting.then(() => undefined, (err: Error) => err)
    const releasedAfterMs = performance.now() - abortedAt

    expect(err).to.have.property('name', 'AbortError')
    expect(alice.services.holePunch.getActivePunches()).to.be.empty()
    expect(udxTransportOf(alice).pool.socketCount).to.equal(socketsBefore)
    expect(releasedAfterMs).to.be.below(1_000)

    // the peer heard about it over the relayed stream and stopped too
    await waitFor(() => bobFailures.length === 1)
    expect(bobFailures[0].error.name).to.equal('PunchAbortedByPeerError')
    expect(bob.services.holePunch.getActivePunches()).to.be.empty()
  })

  it('retries a failed background punch from the former responder, so the roles swap', async () => {
    const carol = await createPeer({ stunServers: [relayStunServer(relay)], autoUpgrade: true, addressScope: LOOPBACK_IS_PUBLIC, maxSessionDatagrams: 0 })

    try {
      await reserveOnRelay(carol, relay)
      await carol.services.holePunch.refreshNat()
      const aliceSides: string[] = []
      alice.services.holePunch.addEventListener('punch:start', (evt) => { aliceSides.push(evt.detail.side) })

      // carol dials alice through the relay, so carol (autoUpgrade on) does
      // not start a background upgrade of its own: alice's connect() is the
      // only start, no glare
      const aliceCircuit = alice.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit'))
      expect(aliceCircuit).to.exist()
      await carol.dial(aliceCircuit as Multiaddr)
      await waitFor(() => alice.getConnections(carol.peerId).some(c => c.limits != null && c.status === 'open'))

      // alice starts and fails (no datagram may leave either side); carol answered
      const err = await alice.services.holePunch.connect(carol.peerId, { signal: AbortSignal.timeout(20_000) }).then(() => undefined, (err: Error) => err)
      expect(err).to.have.property('name', 'PunchFailedError')

      // carol, the former responder, starts the next attempt after its backoff
      await waitFor(() => aliceSides.includes('responder'), 15_000)
      expect(aliceSides[0]).to.equal('initiator')
    } finally {
      await carol.stop()
    }
  })

  it('rejects connect() to a peer without a relayed connection with a named error that says what to do', async () => {
    const stranger = await createPeer({ autoUpgrade: false })

    try {
      const err = await alice.services.holePunch.connect(stranger.peerId).then(() => undefined, (err: Error) => err)
      expect(err).to.have.property('name', 'NoRelayedConnectionError')
      expect(err?.message).to.match(/dial it through a relay first/)
    } finally {
      await stranger.stop()
    }
  })
})
