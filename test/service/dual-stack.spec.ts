import { expect } from 'aegir/chai'
import { isUdxMultiaddr } from '../../src/index.ts'
import { requireBindable } from '../fixtures/loopback.ts'
import { createPeer, createRelay, relayStunServer, reserveOnRelay } from '../fixtures/relay-network.ts'
import type { PunchSuccessEvent } from '../../src/index.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Dual-stack peers on loopback: each listens on 127.0.0.1 and ::1, with the
 * test override that counts both loopbacks as public. Both announce
 * FEATURE_IPV6_RACE, so the main plan aims at IPv4 and the IPv6 candidates
 * are raced ahead of it (happy eyeballs). The NAT lab runs the same through
 * real IPv6 firewalls (test/service/lab).
 */

function loopbackIsPublic (host: string): 'public' | undefined {
  return host.startsWith('127.') || host === '::1' ? 'public' : undefined
}

function ipOf (connection: Connection): string {
  return connection.remoteAddr.getComponents()[0].name
}

describe('hole punching between dual-stack peers on loopback', function () {
  this.timeout(60_000)
  let relay: RelayNode | undefined
  let alice: PeerNode | undefined
  let bob: PeerNode | undefined

  async function start (bobListensOnIpv6: boolean): Promise<{ alice: PeerNode, bob: PeerNode, bobCircuit: Multiaddr }> {
    relay = await createRelay()
    const stun = relayStunServer(relay)
    alice = await createPeer({ addressScope: loopbackIsPublic, stunServers: [stun], autoUpgrade: false }, '127.0.0.1', ['/ip6/::1/udp/0/udx'])
    bob = await createPeer({ addressScope: loopbackIsPublic, stunServers: [stun], autoUpgrade: false }, '127.0.0.1', bobListensOnIpv6 ? ['/ip6/::1/udp/0/udx'] : [])
    await reserveOnRelay(alice, relay)
    const bobCircuit = await reserveOnRelay(bob, relay)
    await Promise.all([alice.services.holePunch.refreshNat(), bob.services.holePunch.refreshNat()])

    return { alice, bob, bobCircuit }
  }

  beforeEach(async function () {
    await requireBindable(this, '::1')
  })

  afterEach(async () => {
    await alice?.stop()
    await bob?.stop()
    await relay?.stop()
    alice = bob = relay = undefined
  })

  it('connects over IPv6 when both peers have it: the IPv6 race starts first', async () => {
    const { alice, bob, bobCircuit } = await start(true)
    const successes: PunchSuccessEvent[] = []
    alice.services.holePunch.addEventListener('punch:success', (evt) => { successes.push(evt.detail) })

    const connection = await alice.services.holePunch.connect(bobCircuit, { signal: AbortSignal.timeout(20_000) })

    expect(connection.limits, 'a direct connection').to.be.undefined()
    expect(isUdxMultiaddr(connection.remoteAddr)).to.be.true()
    expect(ipOf(connection), connection.remoteAddr.toString()).to.equal('ip6')
    expect(successes.map(s => s.strategy)).to.deep.equal(['direct-cone'])
    const rtt = await alice.services.ping.ping(bob.peerId, { signal: AbortSignal.timeout(5_000) })
    expect(rtt).to.be.a('number')
    expect(alice.getConnections(bob.peerId).filter(c => c.limits == null).map(ipOf)).to.deep.equal(['ip6'])
  })

  it('connects over IPv4 when the peer has no IPv6 socket', async () => {
    const { alice, bobCircuit } = await start(false)

    const connection = await alice.services.holePunch.connect(bobCircuit, { signal: AbortSignal.timeout(20_000) })

    expect(connection.limits, 'a direct connection').to.be.undefined()
    expect(ipOf(connection), connection.remoteAddr.toString()).to.equal('ip4')
  })
})
