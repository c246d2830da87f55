/**
 * STUN servers for a set of sockets, wired as RFC 5780 servers where the
 * sockets allow it.
 *
 * An RFC 5780 server is four sockets: two IPs (A, B) of one family times two
 * ports (p, q). The socket A:p answers "change port" from A:q, "change IP"
 * from B:p, "change IP and port" from B:q, and announces OTHER-ADDRESS B:q;
 * each of the four is wired the same way relative to itself.
 *
 * One IP with two ports (A:p, A:q) is the server a node on one address can
 * be: A:p answers "change port" from A:q and announces OTHER-ADDRESS A:q
 * (same IP, other port), so a client can compare its mappings towards two
 * ports (EIM vs APDM) and run the port-filtering test (APDF vs the rest).
 * "Change IP" gets 420, as RFC 5780 section 6.1 prescribes when the server
 * has no alternate address for it. This is a deviation from RFC 5780, which
 * wants a server without a second IP to announce no OTHER-ADDRESS at all;
 * coturn's second listening address does the same (an OTHER-ADDRESS on its
 * own IP).
 *
 * Sockets bound to a wildcard address (0.0.0.0, ::) are never part of an
 * RFC 5780 square: the server must tell clients the concrete address it
 * answered from (RESPONSE-ORIGIN) and the one it would answer from
 * (OTHER-ADDRESS), and a wildcard socket neither knows which of the host's
 * addresses a request came to, nor controls which one its answer leaves from
 * (the kernel picks the source by route). Two wildcard sockets of one family
 * still answer "change port" for each other, without OTHER-ADDRESS: on a
 * host with one address per family the answer leaves from the address the
 * request came to, and clients that know both ports (docs/PROTOCOL.md, STUN
 * endpoints) run the port-filtering test against them. On a host with
 * several addresses the kernel may pick another source; the client then
 * drops the answer and assumes the more restrictive filtering (APDF).
 *
 * Every server of a set honours RESPONSE-PORT (RFC 5780 section 7.5) from
 * the socket its CHANGE-REQUEST picks: a relay that runs this package (one
 * IP, its udx port and the second STUN port beside it) answers "change
 * port, to my port P" from its other port, which is the test a port-mapping
 * verifier needs (src/nat/port-mapping/stun-mapping-verifier.ts). The
 * servers of a set share one budget for such redirected answers.
 */

import { addressKey, canonicalHost, isUnspecified } from '../ip.ts'
import { createRedirectLimiter, StunServer } from './server.ts'
import type { StunAlternateSockets, StunServerComponents, StunServerInit } from './server.ts'
import type { DatagramSocket } from '../../socket/datagram-socket.ts'
import type { TransportAddress } from '../nat-profile.ts'

export interface InstallStunServersOptions extends Pick<StunServerInit, 'software' | 'perSourceRate' | 'globalRate' | 'maxTrackedSources' | 'now' | 'responsePort' | 'redirectPerSourceRate' | 'redirectGlobalRate'> {
  /**
   * wire the sockets as each other's CHANGE-REQUEST partners where they
   * allow it (RFC 5780 squares, change-port pairs, partial sets); false
   * makes every server plain (default true)
   */
  rfc5780?: boolean
}

/**
 * - `rfc5780`: the socket has its whole square (other port, other IP, both);
 * it announces OTHER-ADDRESS and honours every CHANGE-REQUEST
 * - `change-port`: no square, but a socket on the same IP with another port
 * (for wildcard-bound sockets: another wildcard socket of the family); it
 * honours "change port" (and whatever else its partners allow) and, when
 * bound to a concrete IP, announces that socket as OTHER-ADDRESS (same IP,
 * other port); a wildcard-bound one announces nothing
 * - `partial`: some alternates exist but none on the same IP (e.g. two IPs,
 * one port); it honours the CHANGE-REQUESTs they allow, announces no
 * OTHER-ADDRESS (RFC 5780 clients would then send to addresses nobody
 * serves), so clients treat it as a plain server
 * - `plain`: a plain Binding server (no partner sockets)
 */
export type StunServerMode = 'rfc5780' | 'change-port' | 'partial' | 'plain'

export interface InstalledStunServer {
  socket: DatagramSocket
  /** the socket's bound address */
  address: TransportAddress
  mode: StunServerMode
  /** what it announces in OTHER-ADDRESS (`rfc5780`, and `change-port` on a concrete IP) */
  otherAddress?: TransportAddress
}

export interface StunServerSet {
  /** one entry per distinct open socket, in the order given */
  readonly servers: readonly InstalledStunServer[]
  /** stop every server of the set (plain servers installed elsewhere take over again) */
  stop(): void
}

/**
 * Install a StunServer on each socket, wired as RFC 5780 servers where two
 * IPs and two ports form a square, and as change-port servers where one IP
 * has two ports (see the file comment). The servers are
 * exclusive on their sockets: a plain StunServer that another part of the
 * stack put on the same socket stands aside while this set runs. Closed
 * sockets and repeated ones are left out.
 */
export function installStunServers (sockets: readonly DatagramSocket[], components: StunServerComponents, options: InstallStunServersOptions = {}): StunServerSet {
  const log = components.logger.forComponent('libp2p:udx:stun:server-set')
  const rfc5780 = options.rfc5780 ?? true
  const unique = new Map<string, DatagramSocket>()

  for (const socket of sockets) {
    if (socket.closed) {
      continue
    }

    const key = addressKey(socket.address())

    if (!unique.has(key)) {
      unique.set(key, socket)
    }
  }

  const list = [...unique.values()]
  const byAddress = new Map<string, DatagramSocket>()

  for (const socket of list) {
    if (!isUnspecified(socket.address().host)) {
      byAddress.set(addressKey(socket.address()), socket)
    }
  }

  const servers: StunServer[] = []
  const installed: InstalledStunServer[] = []
  // one RESPONSE-PORT budget for the whole set: a client that asks every
  // socket of the set gets no more redirected answers than one that asks one
  const redirectLimiter = createRedirectLimiter(options)

  for (const socket of list) {
    const address = socket.address()
    const wiring = rfc5780 ? wire(address, list, byAddress) : undefined
    const common = {
      software: options.software,
      perSourceRate: options.perSourceRate,
      globalRate: options.globalRate,
      maxTrackedSources: options.maxTrackedSources,
      now: options.now,
      responsePort: options.responsePort,
      redirectLimiter,
      socket,
      exclusive: true
    }
    let server: StunServer
    let entry: InstalledStunServer

    if (wiring == null) {
      server = new StunServer(components, common)
      entry = { socket, address, mode: 'plain' }
    } else {
      // rfc5780: the default OTHER-ADDRESS (the change-IP-and-port corner)
      server = new StunServer(components, {
        ...common,
        alternates: wiring.alternates,
        ...(wiring.mode === 'rfc5780' ? {} : { otherAddress: wiring.otherAddress ?? null })
      })
      entry = { socket, address, mode: wiring.mode }
      const other = server.announcedOtherAddress

      if (other != null) {
        entry.otherAddress = other
      }
    }

    server.start()
    servers.push(server)
    installed.push(entry)
    log('STUN server on %s:%d: %s%s', address.host, address.port, entry.mode,
      entry.otherAddress != null ? ` (OTHER-ADDRESS ${entry.otherAddress.host}:${entry.otherAddress.port})` : '')
  }

  return {
    servers: installed,
    stop: () => {
      for (const server of servers) {
        server.stop()
      }
    }
  }
}

interface Wiring {
  mode: Exclude<StunServerMode, 'plain'>
  alternates: StunAlternateSockets
  /** OTHER-ADDRESS for `change-port` on a concrete IP */
  otherAddress?: TransportAddress
}

/**
 * The alternates of the socket at `address`: the first other IP (of the same
 * family, in the order given) and the first other port that complete a
 * square; else whatever partners exist. A wildcard-bound socket's only
 * possible partner is another wildcard socket of its family, for "change
 * port".
 */
function wire (address: TransportAddress, list: readonly DatagramSocket[], byAddress: ReadonlyMap<string, DatagramSocket>): Wiring | undefined {
  if (isUnspecified(address.host)) {
    const self = canonicalHost(address.host)
    const changePort = list.find(s => {
      const a = s.address()
      return a.family === address.family && isUnspecified(a.host) && canonicalHost(a.host) === self && a.port !== address.port
    })

    return changePort == null ? undefined : { mode: 'change-port', alternates: { changePort } }
  }

  const at = (host: string, port: number): DatagramSocket | undefined => byAddress.get(addressKey({ host, port }))
  const self = canonicalHost(address.host)
  const concrete = list.map(s => s.address())
    .filter(a => a.family === address.family && !isUnspecified(a.host))
    .map(a => ({ host: canonicalHost(a.host), port: a.port }))
  const otherHosts = unique(concrete.map(a => a.host)).filter(host => host !== self)
  const otherPorts = unique(concrete.filter(a => a.host === self && a.port !== address.port).map(a => a.port))

  for (const host of otherHosts) {
    for (const port of otherPorts) {
      const changePort = at(self, port)
      const changeIp = at(host, address.port)
      const changeIpAndPort = at(host, port)

      if (changePort != null && changeIp != null && changeIpAndPort != null) {
        return { mode: 'rfc5780', alternates: { changePort, changeIp, changeIpAndPort } }
      }
    }
  }

  // no square: whatever partners exist
  const alternates: StunAlternateSockets = {}
  const changePort = otherPorts.length > 0 ? at(self, otherPorts[0]) : undefined
  const changeIp = otherHosts.map(host => at(host, address.port)).find(s => s != null)
  const changeIpAndPort = concrete
    .filter(a => a.host !== self && a.port !== address.port)
    .map(a => at(a.host, a.port))
    .find(s => s != null)

  if (changePort != null) {
    alternates.changePort = changePort
  }

  if (changeIp != null) {
    alternates.changeIp = changeIp
  }

  if (changeIpAndPort != null) {
    alternates.changeIpAndPort = changeIpAndPort
  }

  if (changePort != null) {
    // one IP, two ports: OTHER-ADDRESS is the other port on our IP
    return { mode: 'change-port', alternates, otherAddress: changePort.address() }
  }

  if (changeIp == null && changeIpAndPort == null) {
    return undefined
  }

  return { mode: 'partial', alternates }
}

function unique<T> (values: readonly T[]): T[] {
  return [...new Set(values)]
}
