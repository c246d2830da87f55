/**
 * @packageDocumentation
 *
 * Direct, Noise-encrypted, yamux-multiplexed libp2p connections over UDP
 * between peers that both sit behind NATs.
 *
 * - `udx()` is a libp2p transport whose connections run over [udx-native](https://github.com/holepunchto/udx-native) streams (reliable, congestion-controlled streams over UDP) on sockets that this package owns, so the NAT mapping that peers observe is the one it punches with. Addresses look like `/ip4/1.2.3.4/udp/1234/udx`.
 * - `holePunch()` coordinates over a circuit-relay-v2 connection and upgrades it to a direct udx connection, keeps it alive (dead-path detection, migration after NAT rebinding, re-punching) and asks the gateway for a port mapping.
 *
 * @example
 *
 * ```TypeScript
 * import { createLibp2p } from 'libp2p'
 * import { noise } from '@chainsafe/libp2p-noise'
 * import { yamux } from '@chainsafe/libp2p-yamux'
 * import { udx } from 'libp2p-udp-holepunch'
 * import { multiaddr } from '@multiformats/multiaddr'
 *
 * const node = await createLibp2p({ addresses: { listen: ['/ip4/0.0.0.0/udp/0/udx'] }, transports: [udx()], connectionEncrypters: [noise()], streamMuxers: [yamux()]
 * })
 *
 * const connection = await node.dial(multiaddr('/ip4/198.51.100.7/udp/4001/udx/p2p/12D3Koo...'), { signal: AbortSignal.timeout(10_000)
 * })
 * ```
 */

import { HolePunchService } from './service/hole-punch-service.ts'
import { UDXTransport } from './transport/udx-transport.ts'
import type { HolePunch, HolePunchComponents, HolePunchInit } from './service/types.ts'
import type { UDXComponents, UDXInit, UDXDialEvents } from './transport/types.ts'
import type { Transport } from '@libp2p/interface'

export { UDXTransport, UDX_TRANSPORT_TAG } from './transport/udx-transport.ts'
export { isUdxMultiaddr, udxMultiaddrToAddress, addressToUdxMultiaddr, registerUdxProtocol, CODE_UDX } from './transport/multiaddr.ts'
export type { UDXInit, UDXComponents, UDXDialEvents, UDXDialOptions, DirectConnectionOptions, PathMigratedEvent } from './transport/types.ts'
export type { DatagramSocket, DatagramHandler, RemoteInfo } from './socket/datagram-socket.ts'
export type { BoundSocket } from './socket/bound-socket.ts'
export type { NatProfile, MappingBehaviour, FilteringBehaviour, PortAllocation, Reachability, TransportAddress } from './nat/nat-profile.ts'
export * from './errors.ts'
export { HolePunchService } from './service/hole-punch-service.ts'
export type { HolePunch, HolePunchInit, HolePunchComponents, HolePunchEvents, HolePunchProgressEvents, ConnectOptions, PunchInfo, PunchPhase, StunServerAddress, PunchStartEvent, PunchSuccessEvent, PunchFailureEvent, PathAbandonedEvent, PathLostEvent, PathRestoredEvent, RestoredHow } from './service/types.ts'
export type { PortMappingInit, PortMappingState, PortMappingProtocol, MappingVerification } from './nat/port-mapping/index.ts'
export { COORDINATION_PROTOCOL } from './constants.ts'

/**
 * Create the udx transport
 */
export function udx (init: UDXInit = {}): (components: UDXComponents) => Transport<UDXDialEvents> {
  return (components: UDXComponents) => {
    return new UDXTransport(components, init)
  }
}

/**
 * Create the hole-punch service
 */
export function holePunch (init: HolePunchInit = {}): (components: HolePunchComponents) => HolePunch {
  return (components: HolePunchComponents) => {
    return new HolePunchService(components, init)
  }
}
