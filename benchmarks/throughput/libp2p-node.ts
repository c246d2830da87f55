/**
 * The libp2p nodes the benchmark compares: identical except for the
 * transport (udx from this package, or @libp2p/tcp), both with Noise, yamux
 * (default settings) and the ping service. Connection-manager limits are
 * raised so the idle-connection test can hold thousands of connections from
 * one host.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
// the transport module itself, not src/index.ts: the package entry also
// pulls in the hole-punch service, whose protons-generated code uses
// TypeScript namespaces that Node's type stripping cannot run
import { UDXTransport } from '../../src/transport/udx-transport.ts'
import type { UDXComponents, UDXInit } from '../../src/transport/types.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

export type TransportName = 'udx' | 'tcp'

export type BenchNode = Libp2p<{ ping: Ping }>

export interface BenchNodeOptions {
  transport: TransportName
  /** listen on 127.0.0.1 (the receiver / listener side) */
  listen: boolean
}

export const LIMIT = 100_000

/** what `udx()` from src/index.ts does */
function udx (init: UDXInit): (components: UDXComponents) => UDXTransport {
  return (components) => new UDXTransport(components, init)
}

export async function createBenchNode (options: BenchNodeOptions): Promise<BenchNode> {
  const listen = options.listen
    ? [options.transport === 'udx' ? '/ip4/127.0.0.1/udp/0/udx' : '/ip4/127.0.0.1/tcp/0']
    : []

  return createLibp2p({
    addresses: { listen },
    transports: options.transport === 'udx'
      ? [udx({ announceAddresses: true, maxHalfOpenConnections: 4096 })]
      : [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialMultiaddr: () => false
    },
    connectionManager: {
      maxConnections: LIMIT,
      maxIncomingPendingConnections: LIMIT,
      inboundConnectionThreshold: LIMIT,
      maxDialQueueLength: LIMIT,
      maxParallelDials: 100,
      dialTimeout: 10_000,
      inboundUpgradeTimeout: 10_000
    },
    services: {
      ping: ping({ maxInboundStreams: 256, maxOutboundStreams: 256 })
    }
  }) as Promise<BenchNode>
}
