/*
 * A UDP reflector for lab tests, run inside a public host:
 *
 *   node udp-reflector.ts <ip:port> [<ip:port> ...]
 *
 * It binds one socket per address (replies must leave from the address the
 * request went to, or the NAT would not match them), prints
 * `listening <ip:port>` per socket and then `ready`.
 *
 * Requests and answers are JSON datagrams:
 *
 * - `{ op: 'observe', id }` → `{ op: 'observed', id, address, port, via }`
 *   from the same socket: the sender's address as seen here (what a STUN
 *   binding request gives), and the socket that answered.
 * - `{ op: 'emit', id, to: 'ip:port', from: ['ip:port', ...], delayMs? }` →
 *   after `delayMs`, `{ op: 'unsolicited', id, via }` to `to` from each
 *   `from` address. A `from` address of another reflector is forwarded to
 *   that reflector (once), so a test can make a third host send to its
 *   mapping.
 */

import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'

/** at most this many `from` addresses per emit request */
const MAX_EMIT_SOURCES = 8
/** longest emit delay accepted (ms) */
const MAX_EMIT_DELAY_MS = 60_000

interface Request {
  op?: unknown
  id?: unknown
  to?: unknown
  from?: unknown
  delayMs?: unknown
  hops?: unknown
}

function parseEndpoint (value: unknown): { host: string, port: number } | undefined {
  if (typeof value !== 'string') {
    return undefined
  }
  const match = value.match(/^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/)
  if (match == null || Number(match[2]) > 65535) {
    return undefined
  }
  return { host: match[1], port: Number(match[2]) }
}

async function main (): Promise<void> {
  const addresses = process.argv.slice(2)
  if (addresses.length === 0) {
    process.stderr.write('usage: udp-reflector <ip:port> [<ip:port> ...]\n')
    process.exit(2)
  }

  const sockets = new Map<string, Socket>()

  const send = (socket: Socket, message: object, host: string, port: number): void => {
    socket.send(JSON.stringify(message), port, host, () => {})
  }

  for (const address of addresses) {
    const endpoint = parseEndpoint(address)
    if (endpoint == null) {
      throw new Error(`not an ip:port: ${address}`)
    }
    const socket = createSocket('udp4')
    socket.on('error', (err) => { process.stderr.write(`socket ${address}: ${err.message}\n`) })
    socket.on('message', (data, rinfo) => {
      let request: Request
      try {
        request = JSON.parse(data.toString())
      } catch {
        return
      }
      if (request.op === 'observe') {
        send(socket, { op: 'observed', id: request.id, address: rinfo.address, port: rinfo.port, via: address }, rinfo.address, rinfo.port)
        return
      }
      if (request.op === 'emit') {
        const to = parseEndpoint(request.to)
        const from = Array.isArray(request.from) ? request.from.slice(0, MAX_EMIT_SOURCES) : []
        const delayMs = typeof request.delayMs === 'number' ? Math.min(Math.max(request.delayMs, 0), MAX_EMIT_DELAY_MS) : 0
        const hops = typeof request.hops === 'number' ? request.hops : 0
        if (to == null) {
          return
        }
        for (const source of from) {
          const local = typeof source === 'string' ? sockets.get(source) : undefined
          if (local != null) {
            setTimeout(() => { send(local, { op: 'unsolicited', id: request.id, via: source }, to.host, to.port) }, delayMs)
            continue
          }
          const remote = parseEndpoint(source)
          if (remote != null && hops < 1) {
            send(socket, { op: 'emit', id: request.id, to: request.to, from: [source], delayMs, hops: hops + 1 }, remote.host, remote.port)
          }
        }
      }
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(endpoint.port, endpoint.host, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    sockets.set(address, socket)
    process.stdout.write(`listening ${address}\n`)
  }

  process.stdout.write('ready\n')
  const stop = (): void => {
    for (const socket of sockets.values()) {
      socket.close()
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch(err => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
