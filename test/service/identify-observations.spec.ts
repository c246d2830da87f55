import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { holePunch, udx } from '../../src/index.ts'
import { udxTransportOf } from '../fixtures/relay-network.ts'
import type { HolePunch } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

async function createNode (): Promise<Libp2p<{ holePunch: HolePunch }>> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/udp/0/udx'] },
    transports: [udx({ announceAddresses: true })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), holePunch: holePunch() }
  }) as Promise<Libp2p<{ holePunch: HolePunch }>>
}

describe('NAT observations from identify', function () {
  this.timeout(30_000)
  let a: Libp2p<{ holePunch: HolePunch }>
  let b: Libp2p<{ holePunch: HolePunch }>

  beforeEach(async () => {
    a = await createNode()
    b = await createNode()
  })

  afterEach(async () => {
    await a?.stop()
    await b?.stop()
  })

  it('learns our public address from the address a peer on a direct udx connection observes, with no STUN server configured', async () => {
    const identified = new Promise<void>((resolve) => {
      a.addEventListener('peer:identify', () => { resolve() }, { once: true })
    })
    await a.dial(b.getMultiaddrs()[0])
    await identified

    const profile = await a.services.holePunch.refreshNat()
    const local = udxTransportOf(a).getListenSockets()[0].address()

    expect(profile.publicAddresses).to.deep.include({ host: '127.0.0.1', port: local.port, family: 4 })
  })
})
