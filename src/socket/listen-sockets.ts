/**
 * Which of the transport's listen sockets does what, when it listens on
 * more than one (dual stack: `/ip4/0.0.0.0/udp/0/udx` and
 * `/ip6/::/udp/0/udx`). Pure.
 *
 * - The main socket carries the NAT profile (STUN), the NAT candidates and
 * the main punch plan: the first IPv4 listen socket, because IPv4 is where
 * the NATs are, else the first listen socket of all.
 * - The IPv6 socket carries the IPv6 race (FEATURE_IPV6_RACE): the first
 * IPv6 listen socket. On an IPv6-only node it is the main socket too.
 */

import type { BoundSocket } from './bound-socket.ts'

export function mainListenSocket (sockets: readonly BoundSocket[]): BoundSocket | undefined {
  return sockets.find(s => s.address().family === 4) ?? sockets[0]
}

export function ipv6ListenSocket (sockets: readonly BoundSocket[]): BoundSocket | undefined {
  return sockets.find(s => s.address().family === 6)
}
