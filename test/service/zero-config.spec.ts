import { expect } from 'aegir/chai'
import { LOOPBACK_IS_PUBLIC, createPeer, createRelay, reserveOnRelay } from '../fixtures/relay-network.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import type { PeerNode, RelayNode } from '../fixtures/relay-network.ts'

/**
 * No `stunServers`: the relay runs this package, so the peers find its STUN
 * endpoints by themselves (over their direct TCP connection to it)
 */
describe('holePunch() without configured STUN servers', function () {
  this.timeout(60_000)
  let relay: RelayNode
  const nodes: PeerNode[] = []

  beforeEach(async () => {
    relay = await createRelay()
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => node.stop()))
    await relay?.stop()
  })

  it('learns its public mapping from a relay that runs this package, found among its connections', async () => {
    const node = await createPeer({ addressScope: LOOPBACK_IS_PUBLIC })
    nodes.push(node)
    await reserveOnRelay(node, relay)

    await waitFor(() => node.services.holePunch.getNatProfile().publicAddresses.length > 0)
    const profile = node.services.holePunch.getNatProfile()

    expect(profile.publicAddresses[0].host).to.equal('127.0.0.1')
    expect(profile.reachability).to.equal('public')
    // two ports of one server (the relay's listen port and its second STUN
    // port) give the mapping behaviour without RFC 5780
    await waitFor(() => node.services.holePunch.getNatProfile().mapping !== 'unknown')
    expect(node.services.holePunch.getNatProfile().mapping).to.equal('EIM')
  })

  it('connects two peers directly through a relay with the package defaults and no STUN configuration', async () => {
    const a = await createPeer({ addressScope: LOOPBACK_IS_PUBLIC })
    const b = await createPeer({ addressScope: LOOPBACK_IS_PUBLIC })
    nodes.push(a, b)
    await reserveOnRelay(a, relay)
    const bCircuit = await reserveOnRelay(b, relay)

    const connection = await a.services.holePunch.connect(bCircuit, { signal: AbortSignal.timeout(20_000) })

    expect(connection.limits).to.equal(undefined)
    expect(connection.remoteAddr.toString()).to.include('/udx')
    expect(await a.services.ping.ping(b.peerId)).to.be.a('number')
  })
})
