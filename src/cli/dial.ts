/**
 * `dial <multiaddr>`: connect to a peer through its relay, show each step
 * of the upgrade to a direct connection as it happens, then measure RTT
 * and throughput over whatever connection it got (echo protocol).
 */

import { booleanValue, parseByteSize, parseCount, parsePort, parseSeconds, stringValue } from './args.ts'
import { measureRtt, measureThroughput } from './echo.ts'
import { CommandFailedError } from './errors.ts'
import { EXIT_OK, Progress } from './io.ts'
import { createPeerNode, parseMultiaddrArg } from './node.ts'
import { connectedLine, describeProgress, formatBytes, progressDetail, rttLine, rttStats, throughputLine } from './session-format.ts'
import type { CommandSpec, ParsedCommand } from './args.ts'
import type { CliIO } from './io.ts'
import type { ConnectionSummary } from './session-format.ts'
import type { Connection } from '@libp2p/interface'

const DEFAULT_BYTES = 8 * 1024 * 1024
const MAX_BYTES = 1024 * 1024 * 1024
const DEFAULT_RTT_COUNT = 10
const DEFAULT_TIMEOUT_MS = 60_000

/**
 * Share of a relayed connection's data limit the throughput test may use:
 * the data goes both ways and the RTT probes and protocol negotiation need
 * some too
 */
const RELAYED_LIMIT_SHARE = 0.25

/** progress events only a punch we started emits */
const OUR_PUNCH_STEPS = new Set(['hole-punch:offer', 'hole-punch:answer', 'hole-punch:plan', 'hole-punch:sync'])

/** progress events of any punch, ours or the peer's */
const THEIR_PUNCH_STEPS = new Set(['punch:probing', 'punch:path-found', 'hole-punch:upgrade', 'hole-punch:direct'])

export const spec: CommandSpec = {
  name: 'dial',
  summary: 'connect to a listening peer, show relayed → direct step by step, measure RTT and throughput',
  usage: '<multiaddr> [--bytes <size>] [--rtt-count <n>] [--no-fallback] [--json]',
  description: [
    'Connects to a peer through its relay (the circuit address `listen` prints), upgrades the connection to a direct UDP one by hole punching and prints the timeline: relayed, offer, plan, probes, direct (when the peer starts the punch first, it shows the peer\'s offer and no plan of ours). Then it measures the round-trip time and the throughput over the connection it got, with the echo protocol of `listen`.',
    'When no direct path can be made it says why and measures over the relayed connection (within the relay\'s data limit), unless --no-fallback is given.'
  ],
  positionals: ['multiaddr'],
  options: {
    bytes: { type: 'string', valueName: 'size', description: 'bytes to send for the throughput test, echoed back (e.g. 64k, 8M; 0 skips it)', defaultText: '8M' },
    'rtt-count': { type: 'string', valueName: 'n', description: 'round trips to time (0 skips it)', defaultText: String(DEFAULT_RTT_COUNT) },
    'no-fallback': { type: 'boolean', description: 'fail (exit 1) when no direct connection can be made instead of using the relayed one' },
    port: { type: 'string', valueName: 'n', description: 'local UDP port for udx (0: any free port)', defaultText: '0' },
    timeout: { type: 'string', valueName: 'seconds', description: 'give up connecting after this long', defaultText: '60' },
    json: { type: 'boolean', description: 'print the timeline and the results as JSON lines' }
  },
  examples: ['/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWRelay.../p2p-circuit/p2p/12D3KooWPeer...']
}

export async function run (parsed: ParsedCommand, io: CliIO): Promise<number> {
  const target = parseMultiaddrArg(parsed.positionals[0], 'dial', 'the circuit address that `listen` prints (<relay multiaddr>/p2p-circuit/p2p/<peer id>)', true)
  const bytesText = stringValue(parsed.values, 'bytes')
  const bytes = bytesText != null ? parseByteSize(bytesText, 'bytes', MAX_BYTES) : DEFAULT_BYTES
  const rttText = stringValue(parsed.values, 'rtt-count')
  const rttCount = rttText != null ? parseCount(rttText, 'rtt-count', 0, 1000) : DEFAULT_RTT_COUNT
  const portText = stringValue(parsed.values, 'port')
  const udxPort = portText != null ? parsePort(portText, 'port', { allowZero: true }) : 0
  const timeoutText = stringValue(parsed.values, 'timeout')
  const timeoutMs = timeoutText != null ? parseSeconds(timeoutText, 'timeout', 600) : DEFAULT_TIMEOUT_MS
  const fallback = !booleanValue(parsed.values, 'no-fallback')
  const json = booleanValue(parsed.values, 'json')
  const progress = new Progress(io)
  const emit = (event: Record<string, unknown>, text?: string): void => {
    if (json) {
      io.out(JSON.stringify({ event: event.event, atMs: Math.round(progress.elapsed()), ...event }))
    } else if (text != null) {
      io.out(text)
    }
  }
  const line = (text: string): string => `[${(progress.elapsed() / 1000).toFixed(2).padStart(6)}s] ${text}`

  const node = await createPeerNode({ udxPort })

  try {
    let strategy: string | undefined
    let directAfterMs: number | undefined
    let fallbackReason: string | undefined
    /** an offer was seen: ours (hole-punch:offer) or the peer's */
    let offered = false
    const timeout = AbortSignal.timeout(timeoutMs)
    const connectSignal = AbortSignal.any([io.signal, timeout])

    emit({ event: 'progress', step: 'start', detail: { target: target.toString() } }, line(`dialing ${target.toString()}`))

    // steps the package's progress events do not show: the relayed
    // connection opening, and a punch the peer started (its background
    // upgrade won the race with ours: we answer, and see no plan of our own)
    const peer = target.getComponents().findLast(c => c.name === 'p2p')?.value
    node.addEventListener('connection:open', evt => {
      if (evt.detail.remotePeer.toString() === peer && evt.detail.limits != null) {
        emit({ event: 'progress', step: 'relayed-connection', detail: { remoteAddr: evt.detail.remoteAddr.toString() } }, line(describeProgress('relayed-connection')))
      }
    })
    node.services.holePunch.addEventListener('punch:start', evt => {
      if (evt.detail.peer.toString() === peer && evt.detail.side === 'responder' && !offered) {
        offered = true
        emit({ event: 'progress', step: 'peer-offer' }, line(describeProgress('peer-offer')))
      }
    })
    node.services.holePunch.addEventListener('punch:success', evt => {
      if (evt.detail.peer.toString() === peer) {
        strategy ??= evt.detail.strategy
      }
    })

    let connection: Connection
    try {
      connection = await node.services.holePunch.connect(target, {
        signal: connectSignal,
        fallbackToRelay: fallback,
        onProgress: (evt: { type: string, detail?: any }) => {
          if (OUR_PUNCH_STEPS.has(evt.type)) {
            offered = true
          } else if (THEIR_PUNCH_STEPS.has(evt.type) && !offered) {
            // probes without an offer of ours: the peer's punch went on (it
            // started first, or both started at once and its session won)
            offered = true
            emit({ event: 'progress', step: 'peer-offer' }, line(describeProgress('peer-offer')))
          }

          if (evt.type === 'hole-punch:plan') {
            strategy = evt.detail?.strategy
          } else if (evt.type === 'hole-punch:direct') {
            directAfterMs = evt.detail?.durationMs
          } else if (evt.type === 'hole-punch:fallback') {
            fallbackReason = evt.detail?.reason
          }
          emit({ event: 'progress', step: evt.type, detail: progressDetail(evt.detail) }, line(describeProgress(evt.type, evt.detail)))
        }
      })
    } catch (err: any) {
      io.signal.throwIfAborted()
      if (timeout.aborted) {
        throw new CommandFailedError(`No connection within ${timeoutMs / 1000} s (--timeout)`, { cause: err })
      }
      throw new CommandFailedError(`No ${fallback ? '' : 'direct '}connection: ${String(err.name)}: ${String(err.message)}`, { cause: err })
    }

    const direct = connection.limits == null
    const summary: ConnectionSummary = {
      peer: connection.remotePeer.toString(),
      direct,
      remoteAddr: connection.remoteAddr.toString(),
      ...(directAfterMs != null ? { durationMs: directAfterMs } : {}),
      ...(strategy != null ? { strategy } : {}),
      ...(!direct && fallbackReason != null ? { reason: fallbackReason } : {})
    }
    emit({ event: 'connected', ...summary, self: node.peerId.toString(), totalMs: Math.round(progress.elapsed()) }, connectedLine(summary))

    const streamOptions = { signal: io.signal, limited: !direct }

    if (rttCount > 0) {
      progress.step(`timing ${rttCount} round trips`)
      const stats = rttStats(await measureRtt(connection, rttCount, streamOptions))
      if (stats != null) {
        emit({ event: 'rtt', ...stats }, rttLine(stats))
      }
    }

    const { bytes: sendBytes, limitedBy } = throughputBudget(bytes, connection)
    if (sendBytes > 0) {
      progress.step(`sending ${formatBytes(sendBytes)} to be echoed back`)
      const result = await measureThroughput(connection, sendBytes, streamOptions)
      emit({ event: 'throughput', ...result, bytesPerSecond: Math.round(result.bytes / result.seconds), ...(limitedBy != null ? { limitedBy } : {}) }, throughputLine(result, limitedBy))
    }

    emit({ event: 'done', direct })
    return EXIT_OK
  } finally {
    await node.stop()
  }
}

/**
 * How much the throughput test may send over `connection`: all that was
 * asked on a direct connection, a share of the data limit on a relayed one
 */
export function throughputBudget (requested: number, connection: Pick<Connection, 'limits'>): { bytes: number, limitedBy?: string } {
  const limit = connection.limits?.bytes

  if (limit == null) {
    return { bytes: requested }
  }

  const budget = Math.floor(Number(limit) * RELAYED_LIMIT_SHARE)

  return budget < requested
    ? { bytes: budget, limitedBy: `relayed: the relay allows ${formatBytes(Number(limit))} on this connection` }
    : { bytes: requested }
}
