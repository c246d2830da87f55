/**
 * The libp2p nodes the commands run: a peer (nat, listen, dial) and a
 * public relay (relay). Both are configured as the README tells users to:
 * tcp to reach relays, udx for the direct path, circuit-relay-v2, Noise,
 * yamux, identify and holePunch() with its defaults.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { holePunch, udx, UDXTransport } from '../index.ts'
import { CommandFailedError, UsageError } from './errors.ts'
import type { HolePunch, StunServerAddress } from '../index.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type CliNode = Libp2p<{ holePunch: HolePunch }>

export interface PeerNodeOptions {
  /** the holePunch() stunServers option (left out when empty: zero configuration) */
  stunServers?: StunServerAddress[]
  /** more listen addresses, e.g. `<relay>/p2p-circuit` to reserve a slot */
  listen?: string[]
  /** the udx listen port (0: any free port) */
  udxPort?: number
  /** holePunch() autoUpgrade (default: the package default, on) */
  autoUpgrade?: boolean
  /** false turns the package's port mapping off (default: the package default, on) */
  portMapping?: boolean
}

/**
 * A peer: udx on 0.0.0.0 (the socket whose NAT mapping is classified and
 * punched from), tcp and circuit-relay-v2 to reach peers through relays
 */
export async function createPeerNode (options: PeerNodeOptions = {}): Promise<CliNode> {
  const stunServers = options.stunServers ?? []

  try {
    return await createLibp2p({
      // both families: IPv6 peers are punched over IPv6 first (a host without IPv6 keeps IPv4)
      addresses: { listen: [`/ip4/0.0.0.0/udp/${options.udxPort ?? 0}/udx`, `/ip6/::/udp/${options.udxPort ?? 0}/udx`, ...(options.listen ?? [])] },
      transports: [tcp(), udx(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        holePunch: holePunch({
          // none given: the option is left out, as a user who configures nothing would
          ...(stunServers.length > 0 ? { stunServers } : {}),
          ...(options.autoUpgrade != null ? { autoUpgrade: options.autoUpgrade } : {}),
          ...(options.portMapping === false ? { portMapping: { enabled: false } } : {})
        })
      }
    }) as unknown as CliNode
  } catch (err: any) {
    throw new CommandFailedError(`Could not start the libp2p node: ${String(err.message)}`, { cause: err })
  }
}

export interface RelayNodeOptions {
  /** IPs to listen on (TCP and udx on each) */
  ips: string[]
  /** TCP port and first udx port on each IP */
  port: number
  /** the second udx port on each IP (STUN with change-port, RFC 5780 with two IPs) */
  stunPort: number
  /** addresses to announce instead of the listen addresses (public IP behind a 1:1 NAT) */
  announce: string[]
  maxReservations: number
}

/**
 * A public node: circuit-relay-v2 server and this package, which answers
 * STUN on its two udx ports per IP (two IPs and two ports make a full
 * RFC 5780 server)
 */
export async function createRelayNode (options: RelayNodeOptions): Promise<CliNode> {
  const listen = options.ips.flatMap(ip => {
    const family = ip.includes(':') ? 'ip6' : 'ip4'
    return [`/${family}/${ip}/tcp/${options.port}`, `/${family}/${ip}/udp/${options.port}/udx`, `/${family}/${ip}/udp/${options.stunPort}/udx`]
  })

  try {
    return await createLibp2p({
      addresses: { listen, ...(options.announce.length > 0 ? { announce: options.announce } : {}) },
      transports: [tcp(), udx()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        relay: circuitRelayServer({ reservations: { maxReservations: options.maxReservations } }),
        // a relay makes no punches of its own; its two listen ports per IP are
        // the STUN ports, so the package's extra STUN port is not needed
        holePunch: holePunch({ autoUpgrade: false, stunSecondPort: false })
      }
    }) as unknown as CliNode
  } catch (err: any) {
    throw new CommandFailedError(`Could not start the relay on ${listen.join(' ')}: ${String(err.message)}`, { cause: err })
  }
}

/**
 * A multiaddr from the command line; `requirePeer` demands a trailing
 * /p2p/<peer id> (relays must be named by their PeerId)
 */
export function parseMultiaddrArg (text: string, option: string, what: string, requirePeer: boolean): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(text)
  } catch (err: any) {
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a multiaddr (${String(err.message)}): give ${what}`)
  }

  if (requirePeer && ma.getComponents().findLast(c => c.name === 'p2p') == null) {
    throw new UsageError(`${option} ${ma.toString()} has no /p2p/<peer id>: give ${what}`)
  }

  return ma
}

/** the udx transport of a node (for its listen sockets) */
export function udxTransportOf (node: Libp2p): UDXTransport | undefined {
  const transports: unknown[] = (node as any).components?.transportManager?.getTransports?.() ?? []
  return transports.find((t): t is UDXTransport => t instanceof UDXTransport)
}

/** `host:port` of each udx listen socket of a node */
export function udxListenSockets (node: Libp2p): BoundSocket[] {
  return udxTransportOf(node)?.getListenSockets() ?? []
}
