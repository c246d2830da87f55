/**
 * Text of `relay`, `listen` and `dial`: banners, the punch timeline,
 * connection lines and measurements. Pure: data in, lines out.
 */

import { addressScope } from '../punch/address-policy.ts'
import { shortPeerId } from './nat-report.ts'

export interface RelayBannerInput {
  program: string
  peerId: string
  /** the node's multiaddrs (announced, with /p2p/<id>) */
  addresses: string[]
  /** `host:port` of the udx sockets (they answer STUN) */
  udx: string[]
}

/** the IP of a multiaddr string, if it has one */
function ipOf (ma: string): string | undefined {
  return ma.match(/^\/ip[46]\/([^/]+)\//)?.[1]
}

/** multiaddrs with /p2p/<peer id> at the end (added when missing) */
export function withPeerId (addresses: readonly string[], peerId: string): string[] {
  return addresses.map(a => a.includes(`/p2p/${peerId}`) ? a : `${a}/p2p/${peerId}`)
}

/**
 * The address to show in examples: a TCP address on a public IP if there
 * is one, else any TCP address, else the first
 */
export function preferredAddress (addresses: readonly string[]): string | undefined {
  const tcp = addresses.filter(a => a.includes('/tcp/'))
  const publicTcp = tcp.filter(a => { const ip = ipOf(a); return ip != null && addressScope(ip) === 'public' })
  return publicTcp[0] ?? tcp[0] ?? addresses[0]
}

export function relayBanner (input: RelayBannerInput): string[] {
  const addresses = withPeerId(input.addresses, input.peerId)
  const example = preferredAddress(addresses) ?? `/ip4/<this machine's IP>/tcp/4001/p2p/${input.peerId}`
  const anyPublic = addresses.some(a => { const ip = ipOf(a); return ip != null && addressScope(ip) === 'public' })
  const lines = [
    `Relay ${input.peerId} is running (Ctrl-C stops it)`,
    '',
    'Multiaddrs (give one to --relay):',
    ...addresses.map(a => `  ${a}`),
    '',
    `STUN on udx: ${input.udx.join(', ')}`
  ]

  if (!anyPublic) {
    lines.push('', 'None of these addresses is public: peers behind other NATs cannot reach them. Behind a 1:1 NAT (a cloud VM) pass --announce /ip4/<public IP>/tcp/<port>.')
  }

  lines.push(
    '',
    'Try it:',
    `  ${input.program} nat --relay ${example}`,
    `  ${input.program} listen --relay ${example}      (on one machine: prints its address)`,
    `  ${input.program} dial <the address listen printed>      (on another machine)`,
    '',
    'In a libp2p app with holePunch(): dial this address, or listen on it plus /p2p-circuit to reserve a slot;',
    'the app then learns its NAT from this relay without any STUN configuration.'
  )

  return lines
}

export interface ListenBannerInput {
  program: string
  peerId: string
  /** circuit addresses to dial us at, best first */
  circuits: string[]
}

export function listenBanner (input: ListenBannerInput): string[] {
  return [
    `Listening as ${input.peerId} (Ctrl-C stops)`,
    '',
    'Dial this peer at:',
    ...input.circuits.map(c => `  ${c}`),
    '',
    'From another machine:',
    `  ${input.program} dial ${input.circuits[0] ?? '<circuit address>'}`,
    ''
  ]
}

/**
 * The circuit address through the relay multiaddr the user gave (the one
 * we know reaches the relay) first, then those the relay reported
 */
export function circuitAddresses (relay: string, peerId: string, reported: readonly string[]): string[] {
  const own = `${relay}/p2p-circuit/p2p/${peerId}`
  const others = withPeerId(reported.filter(a => a.includes('/p2p-circuit')), peerId)
  return [own, ...others.filter(a => a !== own)]
}

/**
 * One line for a progress event of connect() (`hole-punch:*`, `punch:*`)
 */
export function describeProgress (type: string, detail?: any): string {
  return PROGRESS_TEXT[type]?.(detail) ?? type
}

const PROGRESS_TEXT: Record<string, (detail?: any) => string> = {
  'hole-punch:dial-relay': () => 'dialing the peer through the relay',
  'relayed-connection': () => 'relayed connection open',
  'hole-punch:relayed': () => 'we start the punch over the relayed connection',
  'peer-offer': () => 'offer from the peer: it started the punch, we answer',
  'hole-punch:offer': () => 'offer: NAT profiles and candidates exchanged',
  'hole-punch:answer': (d) => `answer: relayed round trip ${formatMs(d?.rttMs)}`,
  'hole-punch:plan': (d) => `plan: ${String(d?.strategy ?? '?')}${d?.reason != null ? ` (${String(d.reason)})` : ''}`,
  'hole-punch:sync': () => 'sync: both sides start punching now',
  'punch:probing': () => 'probing: sending UDP probes to the peer\'s candidates',
  'punch:path-found': (d) => `path found: ${formatHostPort(d?.host, d?.port)} answered`,
  'hole-punch:upgrade': () => 'upgrading the path: Noise handshake, yamux',
  'hole-punch:direct': (d) => `direct connection after ${formatMs(d?.durationMs)}`,
  'hole-punch:fallback': (d) => `no direct path: staying on the relayed connection${d?.reason != null ? ` (${String(d.reason)})` : ''}`
}

/** progress detail as JSON (bigints and errors made printable) */
export function progressDetail (detail: unknown): unknown {
  if (detail == null || typeof detail !== 'object') {
    return detail
  }
  return Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, printable(v)]))
}

function printable (value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value.toString()
  }
  return value instanceof Error ? value.message : value
}

export interface ConnectionSummary {
  peer: string
  direct: boolean
  remoteAddr: string
  /** ms from the start of the command */
  durationMs?: number
  strategy?: string
  /** why it stayed relayed */
  reason?: string
}

export function connectedLine (c: ConnectionSummary): string {
  if (c.direct) {
    return `Connected directly to ${shortPeerId(c.peer)} at ${c.remoteAddr}${c.durationMs != null ? ` after ${formatMs(c.durationMs)}` : ''}${c.strategy != null ? ` (strategy ${c.strategy})` : ''}`
  }
  return `Connected to ${shortPeerId(c.peer)} through the relay (${c.remoteAddr})${c.reason != null ? `: ${c.reason}` : ''}`
}

export interface RttStats {
  samples: number
  minMs: number
  medianMs: number
  maxMs: number
}

/** min, median and max of round-trip samples (undefined without samples) */
export function rttStats (samplesMs: readonly number[]): RttStats | undefined {
  if (samplesMs.length === 0) {
    return undefined
  }
  const sorted = [...samplesMs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  return { samples: sorted.length, minMs: sorted[0], medianMs: median, maxMs: sorted[sorted.length - 1] }
}

export function rttLine (stats: RttStats): string {
  return `RTT:        min ${formatMs(stats.minMs)}, median ${formatMs(stats.medianMs)}, max ${formatMs(stats.maxMs)} (${stats.samples} round trips)`
}

export interface ThroughputResult {
  /** bytes sent (and echoed back) */
  bytes: number
  seconds: number
}

export function throughputLine (t: ThroughputResult, limitedBy?: string): string {
  const rate = t.seconds > 0 ? t.bytes / t.seconds : 0
  return `Throughput: ${formatBytes(t.bytes)} sent and echoed back in ${t.seconds.toFixed(2)} s: ${formatBytes(rate)}/s each way${limitedBy != null ? ` (${limitedBy})` : ''}`
}

/** `1.2 ms`, `812 ms`, `3.4 s` */
export function formatMs (ms?: number): string {
  if (ms == null || !Number.isFinite(ms)) {
    return '?'
  }
  if (ms < 10) {
    return `${ms.toFixed(1)} ms`
  }
  if (ms < 10_000) {
    return `${Math.round(ms)} ms`
  }
  return `${(ms / 1000).toFixed(1)} s`
}

/** `512 B`, `64.0 KiB`, `8.0 MiB` */
export function formatBytes (bytes: number): string {
  if (bytes < 1024) {
    return `${Math.round(bytes)} B`
  }
  const units = ['KiB', 'MiB', 'GiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

function formatHostPort (host?: string, port?: number): string {
  if (host == null) {
    return '?'
  }
  return host.includes(':') ? `[${host}]:${String(port)}` : `${host}:${String(port)}`
}
