import { expect } from 'aegir/chai'
import { isUdxMultiaddr } from '../../src/index.ts'
import { LOOPBACK_IS_PUBLIC, createPeer, createRelay, relayStunServer, reserveOnRelay } from '../fixtures/relay-network.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import type { PathLostEvent, PathRestoredEvent } from '../../src/index.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const HOLD_PROTOCOL = '/path-keeper-test/hold/1.0.0'

function isDirect (connection: Connection): boolean {
  return connection.status === 'open' && connection.limits == null && isUdxMultiaddr(connection.remoteAddr)
}

function isRelayed (connection: Connection): boolean {
  return connection.status === 'open' && connection.limits != null
}

async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * What happens to a punched peer's paths after the punch, over a relay on
 * loopback: the service's side of "Paths over time" (the NAT-lab scenarios
 * cover dead paths and rebinding on real NATs)
 */
describe('paths over time', function () {
  this.timeout(90_000)
  let relay: RelayNode
  let alice: PeerNode
  let bob: PeerNode
  let bobCircuit: Multiaddr
  let lost: PathLostEvent[]
  let restored: PathRestoredEvent[]
  let starts: number

  beforeEach(async () => {
    relay = await createRelay()
    const stun = relayStunServer(relay)
    alice = await createPeer({ addressScope: LOOPBACK_IS_PUBLIC, stunServers: [stun] })
    bob = await createPeer({ addressScope: LOOPBACK_IS_PUBLIC, stunServers: [stun] })
    await reserveOnRelay(alice, relay)
    bobCircuit = await reserveOnRelay(bob, relay)
    await Promise.all([alice.services.holePunch.refreshNat(), bob.services.holePunch.refreshNat()])
    // bob holds every stream open until the test ends
    await bob.handle(HOLD_PROTOCOL, (_stream: Stream) => {})
    lost = []
    restored = []
    starts = 0
    alice.services.holePunch.addEventListener('path:lost', (evt) => { lost.push(evt.detail) })
    alice.services.holePunch.addEventListener('path:restored', (evt) => { restored.push(evt.detail) })
    alice.services.holePunch.addEventListener('punch:start', () => { starts++ })
  })

  afterEach(async () => {
    await alice?.stop()
    await bob?.stop()
    await relay?.stop()
  })

  /** a direct connection to bob, with the relayed one retired */
  async function directToBob (): Promise<Connection> {
    const direct = await alice.services.holePunch.connect(bobCircuit, { signal: AbortSignal.timeout(20_000) })
    expect(isDirect(direct)).to.be.true()
    await waitFor(() => !alice.getConnections(bob.peerId).some(isRelayed), 10_000)
    return direct
  }

  it('restores a wanted peer whose direct connection dies: the relay is dialed again, then a new punch gives a direct connection', async () => {
    const direct = await directToBob()
    // an application stream makes bob a peer alice wants
    await direct.newStream(HOLD_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    await delay(1_500)
    const startsBefore = starts

    direct.abort(new Error('simulated path failure'))

    await waitFor(() => restored.some(r => r.how === 're-punch'), 30_000)
    const again = alice.getConnections(bob.peerId).find(isDirect)

    expect(lost).to.have.lengthOf(1)
    expect(lost[0]).to.include({ reason: 'simulated path failure', relayed: false })
    expect(restored.map(r => r.how)).to.deep.equal(['relay', 're-punch'])
    expect(restored[1].downtimeMs).to.be.greaterThan(0)
    expect(starts).to.be.greaterThan(startsBefore)
    expect(again).to.exist()
    expect(again).to.not.equal(direct)
    await again?.newStream(HOLD_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
  })

  it('restores a peer the application tagged keep-alive, even without streams', async () => {
    const direct = await directToBob()
    await alice.peerStore.merge(bob.peerId, { tags: { 'keep-alive-test': { value: 1 } } })
    // no stream for longer than the sampling interval
    await delay(1_500)

    direct.abort(new Error('simulated path failure'))

    await waitFor(() => restored.some(r => r.how === 're-punch'), 30_000)
    expect(lost).to.have.lengthOf(1)
    expect(alice.getConnections(bob.peerId).some(isDirect)).to.be.true()
  })

  it('leaves a direct connection the application closed closed', async () => {
    const direct = await directToBob()
    await direct.newStream(HOLD_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    await delay(1_500)
    const startsBefore = starts

    await direct.close()
    await delay(3_000)

    expect(lost).to.be.empty()
    expect(restored).to.be.empty()
    expect(starts).to.equal(startsBefore)
  })

  it('does not restore a peer nobody uses (no stream, no keep-alive tag)', async () => {
    const direct = await directToBob()
    await delay(1_500)
    const startsBefore = starts

    direct.abort(new Error('simulated path failure'))
    await delay(3_000)

    expect(lost).to.be.empty()
    expect(restored).to.be.empty()
    expect(starts).to.equal(startsBefore)
  })
})
