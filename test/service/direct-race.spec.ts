import { expect } from 'aegir/chai'
import { isUdxMultiaddr } from '../../src/index.ts'
import { LOOPBACK_IS_PUBLIC, createPeer, createRelay, relayStunServer, reserveOnRelay } from '../fixtures/relay-network.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

function isDirect (connection: Connection): boolean {
  return connection.status === 'open' && connection.limits == null && isUdxMultiaddr(connection.remoteAddr)
}

/**
 * Happy eyeballs for peers we have met: connect() races the peer's last
 * direct address against the relay and the punch
 */
describe('connecting again to a peer reached directly before', function () {
  this.timeout(60_000)
  let relay: RelayNode
  let alice: PeerNode
  let bob: PeerNode
  let bobCircuit: Multiaddr

  beforeEach(async () => {
    relay = await createRelay()
    const stun = relayStunServer(relay)
    alice = await createPeer({ addressScope: LOOPBACK_IS_PUBLIC, stunServers: [stun] })
    bob = await createPeer({ addressScope: LOOPBACK_IS_PUBLIC, stunServers: [stun] })
    await reserveOnRelay(alice, relay)
    bobCircuit = await reserveOnRelay(bob, relay)
    await Promise.all([alice.services.holePunch.refreshNat(), bob.services.holePunch.refreshNat()])
  })

  afterEach(async () => {
    await alice?.stop()
    await bob?.stop()
    await relay?.stop()
  })

  it('dials the last direct address at once and gets a direct connection without a new punch', async () => {
    const first = await alice.services.holePunch.connect(bobCircuit, { signal: AbortSignal.timeout(20_000) })
    expect(isDirect(first)).to.be.true()
    const firstAddress = first.remoteAddr.toString()
    await first.close()
    await waitFor(() => !alice.getConnections(bob.peerId).some(isDirect) && !bob.getConnections(alice.peerId).some(isDirect), 10_000)

    let starts = 0
    alice.services.holePunch.addEventListener('punch:start', () => { starts++ })
    const steps: Array<{ type: string, detail?: any }> = []
    const again = await alice.services.holePunch.connect(bobCircuit, {
      signal: AbortSignal.timeout(20_000),
      onProgress: (evt) => { steps.push({ type: evt.type, detail: (evt as any).detail }) }
    })

    expect(isDirect(again)).to.be.true()
    expect(again).to.not.equal(first)
    expect(steps[0]).to.deep.include({ type: 'hole-punch:direct-race', detail: { address: firstAddress } })
    expect(steps.map(s => s.type)).to.include('hole-punch:direct')
    expect(steps.map(s => s.type), 'no coordination: the direct dial won').to.not.include('hole-punch:offer')
    expect(starts).to.equal(0)
    await again.newStream('/ipfs/ping/1.0.0', { signal: AbortSignal.timeout(5_000) })
  })

  it('falls back to the relay and a punch when the known address no longer answers', async () => {
    const first = await alice.services.holePunch.connect(bobCircuit, { signal: AbortSignal.timeout(20_000) })
    await first.close()
    // bob restarts: a new udx port, so the remembered address is dead
    await bob.stop()
    await bob.start()
    bobCircuit = await reserveOnRelay(bob, relay)
    await bob.services.holePunch.refreshNat()

    const steps: string[] = []
    const again = await alice.services.holePunch.connect(bobCircuit, {
      signal: AbortSignal.timeout(20_000),
      onProgress: (evt) => { steps.push(evt.type) }
    })

    expect(isDirect(again)).to.be.true()
    expect(again.remoteAddr.toString()).to.not.equal(first.remoteAddr.toString())
    expect(steps).to.include.members(['hole-punch:direct-race', 'hole-punch:offer', 'punch:path-found'])
  })
})
