import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { udx } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

const run = promisify(execFile)
const STOCK_NODE = fileURLToPath(new URL('../fixtures/stock-node.ts', import.meta.url))

interface StockResult {
  identified: boolean
  connected?: boolean
  protocols?: string[]
  listenAddrs?: string[]
  pingRtt?: number
  peerStoreProtocols?: string[]
  error?: string
}

/**
 * Run a stock js-libp2p node in another process (its own multiaddr
 * registry, which does not know udx) against `target`
 */
async function runStockNode (target: string): Promise<StockResult> {
  const { stdout } = await run(process.execPath, [STOCK_NODE, target], { timeout: 30_000 })
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}')
}

async function createOurNode (announceAddresses: boolean): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/udp/0/udx'] },
    transports: [tcp(), udx({ announceAddresses })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() }
  })
}

describe('a stock js-libp2p peer that does not know udx', function () {
  this.timeout(60_000)
  let node: Libp2p

  afterEach(async () => {
    await node?.stop()
  })

  it('completes identify and pings over TCP with a node that listens on udx (default: udx addresses not announced)', async () => {
    node = await createOurNode(false)
    const tcpAddr = node.getMultiaddrs().find(ma => ma.toString().includes('/tcp/'))
    expect(node.getMultiaddrs().map(String).join()).to.not.include('/udx')

    const result = await runStockNode(tcpAddr?.toString() ?? '')

    expect(result.error).to.be.undefined()
    expect(result.identified).to.be.true()
    expect(result.protocols).to.include('/ipfs/ping/1.0.0')
    expect(result.pingRtt).to.be.a('number')
  })

  it('fails identify when udx addresses are announced, which is why announcing is off by default', async () => {
    // documents the upstream behaviour the default protects against: the
    // stock peer cannot decode our signed peer record and drops the whole
    // identify message. If this starts passing identify, the default can be
    // revisited.
    node = await createOurNode(true)
    expect(node.getMultiaddrs().map(String).join()).to.include('/udx')
    const tcpAddr = node.getMultiaddrs().find(ma => ma.toString().includes('/tcp/'))

    const result = await runStockNode(tcpAddr?.toString() ?? '')

    expect(result.connected).to.be.true()
    expect(result.identified).to.be.false()
    // nothing from our identify message reached it, though the connection
    // itself still works
    expect(result.protocols).to.be.undefined()
    expect(result.pingRtt).to.be.a('number')
  })
})
