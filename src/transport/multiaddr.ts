/**
 * The `udx` multiaddr protocol: `/ip4/<ip>/udp/<port>/udx` and
 * `/ip6/<ip>/udp/<port>/udx`, optionally followed by `/p2p/<peer-id>`.
 *
 * The protocol is registered with the `@multiformats/multiaddr` registry when
 * this module is first imported. The registry belongs to one copy of that
 * module, so this package declares it as a peer dependency: the application
 * and libp2p must share one copy (see docs/ARCHITECTURE.md).
 */

import { CODE_IP4, CODE_IP6, CODE_P2P, CODE_UDP, multiaddr, registry } from '@multiformats/multiaddr'
import { UDX_PROTOCOL_CODE, UDX_PROTOCOL_NAME } from '../constants.ts'
import { InvalidUdxAddressError } from '../errors.ts'
import type { RemoteInfo } from '../socket/datagram-socket.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

export const CODE_UDX = UDX_PROTOCOL_CODE

/**
 * Register `udx` with the multiaddr registry (idempotent). Throws if another
 * protocol already uses our name or code.
 */
export function registerUdxProtocol (): void {
  let existing
  try {
    existing = registry.getProtocol(UDX_PROTOCOL_NAME)
  } catch {
    // not registered yet
  }

  if (existing != null) {
    if (existing.code !== UDX_PROTOCOL_CODE) {
      throw new Error(`The multiaddr protocol name "${UDX_PROTOCOL_NAME}" is already registered with code 0x${existing.code.toString(16)}, expected 0x${UDX_PROTOCOL_CODE.toString(16)}`)
    }
    return
  }

  registry.addProtocol({
    code: UDX_PROTOCOL_CODE,
    name: UDX_PROTOCOL_NAME,
    size: 0
  })
}

registerUdxProtocol()

/**
 * True for `/ip{4,6}/<ip>/udp/<port>/udx` with an optional trailing
 * `/p2p/<peer-id>` and nothing else
 */
export function isUdxMultiaddr (ma: Multiaddr): boolean {
  const components = ma.getComponents()

  if (components.length !== 3 && components.length !== 4) {
    return false
  }

  const [ip, udp, udx, p2p] = components

  return (ip.code === CODE_IP4 || ip.code === CODE_IP6) &&
    udp.code === CODE_UDP &&
    udx.code === CODE_UDX &&
    (p2p == null || p2p.code === CODE_P2P)
}

/**
 * The ip:port a udx multiaddr points at
 */
export function udxMultiaddrToAddress (ma: Multiaddr): RemoteInfo {
  if (!isUdxMultiaddr(ma)) {
    throw new InvalidUdxAddressError(`${ma.toString()} is not a udx multiaddr, expected /ip4/<ip>/udp/<port>/udx`)
  }

  const [ip, udp] = ma.getComponents()
  const port = parseInt(udp.value ?? '', 10)

  if (!Number.isInteger(port) || port < 0 || port > 65535 || ip.value == null) {
    throw new InvalidUdxAddressError(`${ma.toString()} has an invalid host or port`)
  }

  return {
    host: ip.value,
    port,
    family: ip.code === CODE_IP4 ? 4 : 6
  }
}

/**
 * The udx multiaddr for an ip:port
 */
export function addressToUdxMultiaddr (address: { host: string, port: number }): Multiaddr {
  const family = address.host.includes(':') ? 'ip6' : 'ip4'
  return multiaddr(`/${family}/${address.host}/udp/${address.port}/${UDX_PROTOCOL_NAME}`)
}
