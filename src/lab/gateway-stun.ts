/*
 * The STUN responder that a lab router's miniupnpd asks for its external
 * address, run by the lab itself right upstream of the router (in the
 * internet namespace, or in the carrier NAT's namespace for a router behind
 * one):
 *
 *   node gateway-stun.ts <ip1> <ip2> <port1> <port2>
 *
 * Why: miniupnpd refuses to map ports while its WAN address is in a
 * reserved range (it treats the documentation ranges of the lab's internet
 * as such), unless `ext_perform_stun` finds that the address is reachable
 * without filtering: four Binding requests (RFC 3489 style, 28 bytes, the
 * last three with CHANGE-REQUEST) whose answers must all arrive, from the
 * changed addresses, and show the request's own port. This responder answers
 * from the four sockets (two IPs × two ports) as asked, with MAPPED-ADDRESS
 * and XOR-MAPPED-ADDRESS. Placed right upstream of the router, it sees the
 * router's own WAN address, so miniupnpd reports that address, a private
 * one behind a carrier NAT, as routers without STUN do.
 *
 * It prints `ready` once the four sockets are bound. Built-ins only.
 */

import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'

const MAGIC_COOKIE = 0x2112A442
const BINDING_REQUEST = 0x0001
const BINDING_SUCCESS = 0x0101
const ATTR_MAPPED_ADDRESS = 0x0001
const ATTR_CHANGE_REQUEST = 0x0003
const ATTR_XOR_MAPPED_ADDRESS = 0x0020
const CHANGE_IP = 0x04
const CHANGE_PORT = 0x02
/** requests longer than this are not Binding requests of miniupnpd (bytes) */
const MAX_REQUEST_BYTES = 512

function changeFlags (request: Buffer): number {
  let offset = 20
  const end = Math.min(request.length, 20 + request.readUInt16BE(2))
  while (offset + 4 <= end) {
    const type = request.readUInt16BE(offset)
    const length = request.readUInt16BE(offset + 2)
    if (type === ATTR_CHANGE_REQUEST && length === 4 && offset + 8 <= end) {
      return request.readUInt32BE(offset + 4)
    }
    offset += 4 + Math.ceil(length / 4) * 4
  }
  return 0
}

function answer (request: Buffer, host: string, port: number): Buffer {
  const response = Buffer.alloc(20 + 12 + 12)
  response.writeUInt16BE(BINDING_SUCCESS, 0)
  response.writeUInt16BE(24, 2)
  request.copy(response, 4, 4, 20) // magic cookie (or RFC 3489 id) and transaction id
  const ip = host.split('.').map(Number)
  // MAPPED-ADDRESS
  response.writeUInt16BE(ATTR_MAPPED_ADDRESS, 20)
  response.writeUInt16BE(8, 22)
  response.writeUInt16BE(0x0001, 24)
  response.writeUInt16BE(port, 26)
  ip.forEach((byte, i) => { response[28 + i] = byte })
  // XOR-MAPPED-ADDRESS
  response.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, 32)
  response.writeUInt16BE(8, 34)
  response.writeUInt16BE(0x0001, 36)
  response.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 38)
  const cookie = [0x21, 0x12, 0xA4, 0x42]
  ip.forEach((byte, i) => { response[40 + i] = byte ^ cookie[i] })
  return response
}

async function bind (host: string, port: number): Promise<Socket> {
  const socket = createSocket('udp4')
  socket.on('error', (err) => { process.stderr.write(`socket ${host}:${port}: ${err.message}\n`) })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(port, host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  return socket
}

async function main (): Promise<void> {
  const [ip1, ip2, p1, p2] = process.argv.slice(2)
  if (ip2 == null || p2 == null) {
    process.stderr.write('usage: gateway-stun <ip1> <ip2> <port1> <port2>\n')
    process.exit(2)
  }
  const ips = [ip1, ip2]
  const ports = [Number(p1), Number(p2)]
  // sockets[i][j]: IP i, port j
  const sockets: Socket[][] = []
  for (const ip of ips) {
    const row: Socket[] = []
    for (const port of ports) {
      row.push(await bind(ip, port))
    }
    sockets.push(row)
  }

  sockets.forEach((row, i) => {
    row.forEach((socket, j) => {
      socket.on('message', (data, rinfo) => {
        if (data.length < 20 || data.length > MAX_REQUEST_BYTES || data.readUInt16BE(0) !== BINDING_REQUEST || rinfo.family !== 'IPv4') {
          return
        }
        const flags = changeFlags(data)
        const from = sockets[(flags & CHANGE_IP) !== 0 ? 1 - i : i][(flags & CHANGE_PORT) !== 0 ? 1 - j : j]
        from.send(answer(data, rinfo.address, rinfo.port), rinfo.port, rinfo.address)
      })
    })
  })

  process.stdout.write('ready\n')
  const stop = (): void => {
    for (const socket of sockets.flat()) {
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
