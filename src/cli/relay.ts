/**
 * `relay`: a public node for the other commands and for any app that uses
 * this package: a circuit-relay-v2 server that runs holePunch(), so that it
 * answers STUN on two udx ports per IP. Runs until Ctrl-C.
 */

import { isIP } from 'node:net'
import { booleanValue, parseCount, parsePort, PROGRAM, stringList, stringValue } from './args.ts'
import { UsageError } from './errors.ts'
import { EXIT_OK, Progress, untilAborted } from './io.ts'
import { createRelayNode, parseMultiaddrArg, udxListenSockets } from './node.ts'
import { relayBanner } from './session-format.ts'
import type { CommandSpec, ParsedCommand } from './args.ts'
import type { CliIO } from './io.ts'

export const DEFAULT_RELAY_PORT = 4001

export const spec: CommandSpec = {
  name: 'relay',
  summary: 'run a public node: circuit relay, STUN on two udx ports, hole punching',
  usage: '[--ip <address>]... [--port <n>] [--stun-port <n>] [--announce <multiaddr>]... [--json]',
  description: [
    'Runs a node for peers behind NATs to meet at: a circuit-relay-v2 server that runs libp2p-udp-holepunch. Peers reserve a slot on it (`listen --relay`), reach each other through it (`dial`), and learn their public address and NAT behaviour from it: it answers STUN on two udx ports per IP (one IP is enough; two IPs make a full RFC 5780 server).',
    'Run it on a machine with a public address and open TCP <port> and UDP <port> and <stun-port> in its firewall. It prints its multiaddrs and the commands that use them, then runs until Ctrl-C.'
  ],
  positionals: [],
  options: {
    ip: { type: 'string', multiple: true, valueName: 'address', description: 'listen on this IP address (IPv4 or IPv6); two IPs of one family give an RFC 5780 STUN server', defaultText: '0.0.0.0' },
    port: { type: 'string', valueName: 'n', description: 'TCP port and first udx port (0: any free port)', defaultText: String(DEFAULT_RELAY_PORT) },
    'stun-port': { type: 'string', valueName: 'n', description: 'second udx port (STUN answers from it for the filtering tests)', defaultText: '<port> + 1' },
    announce: { type: 'string', multiple: true, valueName: 'multiaddr', description: 'announce this address instead of the listen addresses (e.g. the public IP of a cloud VM: /ip4/198.51.100.7/tcp/4001)' },
    'max-reservations': { type: 'string', valueName: 'n', description: 'peers that may hold a slot at once', defaultText: '128' },
    json: { type: 'boolean', description: 'print the addresses as one JSON object' }
  },
  examples: [
    '',
    '--ip 198.51.100.7 --ip 203.0.113.7 --port 4001',
    '--announce /ip4/198.51.100.7/tcp/4001'
  ]
}

export async function run (parsed: ParsedCommand, io: CliIO): Promise<number> {
  const ips = stringList(parsed.values, 'ip')
  for (const ip of ips) {
    if (isIP(ip) === 0) {
      throw new UsageError(`--ip ${JSON.stringify(ip)}: give an IP address such as 0.0.0.0, 198.51.100.7 or ::`)
    }
  }
  const portText = stringValue(parsed.values, 'port')
  const port = portText != null ? parsePort(portText, 'port', { allowZero: true }) : DEFAULT_RELAY_PORT
  const stunPortText = stringValue(parsed.values, 'stun-port')
  const defaultStunPort = port === 0 ? 0 : port + 1
  const stunPort = stunPortText != null ? parsePort(stunPortText, 'stun-port', { allowZero: true }) : defaultStunPort
  if (stunPort !== 0 && stunPort === port) {
    throw new UsageError(`--stun-port ${stunPort}: must differ from --port`)
  }
  if (stunPort > 65535) {
    throw new UsageError(`--port ${port}: leaves no room for the second udx port, give --stun-port`)
  }
  const announce = stringList(parsed.values, 'announce').map(a => parseMultiaddrArg(a, '--announce', 'a multiaddr such as /ip4/198.51.100.7/tcp/4001', false).toString())
  const maxText = stringValue(parsed.values, 'max-reservations')
  const maxReservations = maxText != null ? parseCount(maxText, 'max-reservations', 1, 10_000) : 128
  const json = booleanValue(parsed.values, 'json')
  const progress = new Progress(io)

  progress.step('starting the relay')
  const node = await createRelayNode({ ips: ips.length > 0 ? ips : ['0.0.0.0'], port, stunPort, announce, maxReservations })

  try {
    const peerId = node.peerId.toString()
    const addresses = node.getMultiaddrs().map(String)
    const udx = udxListenSockets(node).map(s => {
      const { host, port } = s.address()
      return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    })

    if (json) {
      io.out(JSON.stringify({ event: 'relay', peerId, addresses, udx }))
    } else {
      for (const line of relayBanner({ program: PROGRAM, peerId, addresses, udx })) {
        io.out(line)
      }
    }

    node.addEventListener('connection:open', evt => {
      progress.step(`peer ${evt.detail.remotePeer.toString()} connected from ${evt.detail.remoteAddr.toString()}`)
    })

    await untilAborted(io.signal)
    progress.step('stopping')
    return EXIT_OK
  } finally {
    await node.stop()
  }
}
