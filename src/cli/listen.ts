/**
 * `listen --relay <multiaddr>`: reserve a slot on a relay, accept
 * connections through it, print each one (relayed, then direct and how),
 * and echo whatever peers send. Runs until Ctrl-C.
 */

import { booleanValue, parsePort, PROGRAM, stringList, stringValue } from './args.ts'
import { ECHO_PROTOCOL, MAX_ECHO_STREAMS, echoStream } from './echo.ts'
import { UsageError } from './errors.ts'
import { EXIT_OK, Progress, pollFor, untilAborted } from './io.ts'
import { shortPeerId } from './nat-report.ts'
import { createPeerNode, parseMultiaddrArg } from './node.ts'
import { circuitAddresses, formatBytes, listenBanner } from './session-format.ts'
import type { CommandSpec, ParsedCommand } from './args.ts'
import type { CliIO } from './io.ts'
import type { Connection } from '@libp2p/interface'

export const spec: CommandSpec = {
  name: 'listen',
  summary: 'reserve a slot on a relay, accept connections (relayed, then direct), echo data back',
  usage: '--relay <multiaddr> [--port <n>] [--json]',
  description: [
    'Reserves a slot on the relay and prints the circuit address other peers dial this one at. Each peer that connects comes in through the relay; the package then upgrades the connection to a direct UDP one by hole punching. Every connection is printed, relayed or direct, with how it got direct; data that peers send on the echo protocol is sent back (`dial` measures RTT and throughput with it).',
    'Runs until Ctrl-C.'
  ],
  positionals: [],
  options: {
    relay: { type: 'string', multiple: true, valueName: 'multiaddr', description: 'the relay to reserve a slot on, ending in /p2p/<relay peer id> (the `relay` command prints it)' },
    port: { type: 'string', valueName: 'n', description: 'local UDP port for udx (0: any free port)', defaultText: '0' },
    json: { type: 'boolean', description: 'print events as JSON lines' }
  },
  examples: ['--relay /ip4/198.51.100.7/tcp/4001/p2p/12D3KooWRelay...']
}

/** how long the relay reservation may take, ms */
const RESERVATION_TIMEOUT_MS = 30_000

export async function run (parsed: ParsedCommand, io: CliIO): Promise<number> {
  const relays = stringList(parsed.values, 'relay').map(r => parseMultiaddrArg(r, '--relay', 'a relay multiaddr ending in /p2p/<relay peer id>', true))
  if (relays.length === 0) {
    throw new UsageError(`listen needs --relay <multiaddr> (a relay that runs \`${PROGRAM} relay\`, or any circuit-relay-v2 server)\nusage: ${PROGRAM} listen ${spec.usage}`)
  }
  const portText = stringValue(parsed.values, 'port')
  const udxPort = portText != null ? parsePort(portText, 'port', { allowZero: true }) : 0
  const json = booleanValue(parsed.values, 'json')
  const progress = new Progress(io)
  const emit = (event: Record<string, unknown>, text: string): void => {
    if (json) {
      io.out(JSON.stringify({ event: event.event, atMs: Math.round(progress.elapsed()), ...event }))
    } else {
      io.out(`[${(progress.elapsed() / 1000).toFixed(2).padStart(6)}s] ${text}`)
    }
  }

  progress.step(`reserving a slot on ${relays.map(String).join(', ')}`)
  const node = await createPeerNode({
    udxPort,
    listen: relays.map(r => `${r.toString()}/p2p-circuit`)
  })
  const relayPeers = new Set(relays.map(r => r.getComponents().findLast(c => c.name === 'p2p')?.value))

  try {
    const controller = new AbortController()
    const signal = AbortSignal.any([io.signal, controller.signal])

    await node.handle(ECHO_PROTOCOL, async (stream, connection) => {
      const relayed = connection.limits != null
      try {
        const bytes = await echoStream(stream, signal)
        emit({ event: 'echo', peer: connection.remotePeer.toString(), bytes, relayed }, `${shortPeerId(connection.remotePeer.toString())}: echoed ${formatBytes(bytes)} ${relayed ? 'through the relay' : 'over the direct connection'}`)
      } catch (err: any) {
        stream.abort(err)
      }
    }, { runOnLimitedConnection: true, maxInboundStreams: MAX_ECHO_STREAMS })

    const describe = (c: Connection): Record<string, unknown> => ({ peer: c.remotePeer.toString(), relayed: c.limits != null, remoteAddr: c.remoteAddr.toString(), direction: c.direction })

    node.addEventListener('connection:open', evt => {
      const c = evt.detail
      if (relayPeers.has(c.remotePeer.toString())) {
        return
      }
      emit({ event: 'connection', ...describe(c) }, `${shortPeerId(c.remotePeer.toString())} connected ${c.limits != null ? 'through the relay' : `directly from ${c.remoteAddr.toString()}`} (${c.direction})`)
    })
    node.addEventListener('connection:close', evt => {
      const c = evt.detail
      if (relayPeers.has(c.remotePeer.toString())) {
        emit({ event: 'relay-closed', peer: c.remotePeer.toString() }, `the connection to relay ${shortPeerId(c.remotePeer.toString())} closed (the reservation is renewed when it comes back)`)
        return
      }
      emit({ event: 'closed', ...describe(c) }, `${shortPeerId(c.remotePeer.toString())}: ${c.limits != null ? 'relayed' : 'direct'} connection closed`)
    })
    node.services.holePunch.addEventListener('punch:start', evt => {
      emit({ event: 'punch-start', peer: evt.detail.peer.toString(), side: evt.detail.side }, `${shortPeerId(evt.detail.peer.toString())}: hole punch started (${evt.detail.side === 'initiator' ? 'we upgrade the relayed connection' : 'the peer asked'})`)
    })
    node.services.holePunch.addEventListener('punch:success', evt => {
      const d = evt.detail
      emit({ event: 'direct', peer: d.peer.toString(), side: d.side, strategy: d.strategy, durationMs: Math.round(d.durationMs), remoteAddr: d.connection.remoteAddr.toString() },
        `${shortPeerId(d.peer.toString())}: direct at ${d.connection.remoteAddr.toString()}: strategy ${d.strategy}, ${Math.round(d.durationMs)} ms, ${d.side === 'initiator' ? 'we started the punch' : 'the peer started the punch'}`)
    })
    node.services.holePunch.addEventListener('punch:failure', evt => {
      const d = evt.detail
      emit({ event: 'punch-failed', peer: d.peer.toString(), side: d.side, reason: d.reason, strategy: d.strategy, error: d.error.message },
        `${shortPeerId(d.peer.toString())}: no direct path (${d.reason}${d.strategy != null ? `, strategy ${d.strategy}` : ''}): the relayed connection stays`)
    })

    // the circuit listener reserved the slot while the node started; its
    // addresses come with the reservation
    const reported = await waitForCircuit(node.getMultiaddrs.bind(node), signal)
    const circuits = relays.flatMap(r => circuitAddresses(r.toString(), node.peerId.toString(), reported))
      .filter((c, i, all) => all.indexOf(c) === i)

    if (json) {
      emit({ event: 'listening', peerId: node.peerId.toString(), circuits }, '')
    } else {
      for (const line of listenBanner({ program: PROGRAM, peerId: node.peerId.toString(), circuits })) {
        io.out(line)
      }
    }

    await untilAborted(io.signal)
    controller.abort()
    progress.step('stopping')
    return EXIT_OK
  } finally {
    await node.stop()
  }
}

async function waitForCircuit (getMultiaddrs: () => Array<{ toString(): string }>, signal: AbortSignal): Promise<string[]> {
  const circuits = await pollFor(() => {
    const found = getMultiaddrs().map(String).filter(a => a.includes('/p2p-circuit'))
    return found.length > 0 ? found : undefined
  }, { timeoutMs: RESERVATION_TIMEOUT_MS, signal })

  return circuits ?? []
}
