/**
 * Which of our addresses a gateway sees: the source address the kernel
 * picks for the route to it (a connected UDP socket, nothing sent).
 */

import { createSocket } from 'node:dgram'
import os from 'node:os'
import { canonicalHost } from '../ip.ts'

/**
 * Our source address towards `host` (an IPv6 link-local host with its
 * zone, `fe80::1%eth0`)
 */
export async function localAddressTowards (host: string, port: number): Promise<string> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4')

  try {
    return await new Promise<string>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(port, host, () => {
        resolve(canonicalHost(socket.address().address.split('%')[0]))
      })
    })
  } finally {
    socket.close()
  }
}

/**
 * A global IPv6 address of interface `iface` (the one an IPv6 PCP pinhole
 * is for: the gateway is usually link-local, so the route's source address
 * would be link-local too), or undefined
 */
export function globalIpv6Of (iface: string | undefined): string | undefined {
  const addresses = iface != null ? os.networkInterfaces()[iface] ?? [] : Object.values(os.networkInterfaces()).flatMap(a => a ?? [])

  return addresses.find(a => a.family === 'IPv6' && !a.internal && a.scopeid === 0 && !/^f[cde]/i.test(a.address))?.address
}
