/**
 * The report of `nat`: built from what the command measured, printed as
 * text for people or as one JSON object for scripts. Pure.
 */

import type { Ipv6Result } from './stun-probe.ts'
import type { NatProfile } from '../index.ts'
import type { NatAdvice } from '../nat/advice.ts'

/** what the command found out about the port mapping protocols of the gateway */
export interface PortMappingResult {
  /**
   * - `found`: a protocol answered and mapped a port (`mapped`)
   * - `none`: the protocols were tried and none answered
   * - `not-checked`: this version cannot check (or the check was turned off)
   */
  status: 'found' | 'none' | 'not-checked'
  /** the protocols that answered, e.g. `UPnP-IGD`, `NAT-PMP`, `PCP` */
  protocols: string[]
  /** the public address the gateway mapped for us */
  mapped?: string
  /** the gateway that mapped it */
  gateway?: string
  /** whether a STUN server reached us through it: `verified`, `failed`, `unknown`, ... */
  verification?: string
  reason?: string
}

export interface RelayResult {
  /** the multiaddr as given */
  address: string
  peerId?: string
  connected: boolean
  /** identify lists the STUN endpoints protocol: it runs this package and answers STUN */
  runsPackage?: boolean
  /** STUN servers learned from it */
  stunServers: string[]
  error?: string
}

export interface StunSourceResult {
  host: string
  port: number
  /** `configured` (--stun) or learned from a relay (`relay`, with its PeerId) */
  origin: 'configured' | 'relay'
  relay?: string
  /** fastest round trip, ms (undefined: no answer) */
  rttMs?: number
  answered: number
  samples: number
}

export interface NatReportInput {
  profile: NatProfile
  advice: NatAdvice
  relays: RelayResult[]
  sources: StunSourceResult[]
  ipv6: Ipv6Result
  portMapping: PortMappingResult
  durationMs: number
}

/** the JSON object of `nat --json` */
export interface NatReport {
  /** as the package sees it: `public` also through a port mapping (`portMapped`) */
  reachability: NatProfile['reachability']
  /** the gateway maps our port and the mapping works: reachable although behind a NAT */
  portMapped: boolean
  /** a name for the NAT, e.g. `port-restricted cone` */
  nat: string
  mapping: NatProfile['mapping']
  filtering: NatProfile['filtering']
  allocation: NatProfile['allocation']
  publicAddresses: { ipv4: string[], ipv6: string[] }
  ipv6: { status: Ipv6Result['status'], reason: string, address?: string, translated?: boolean }
  portMapping: PortMappingResult
  relays: RelayResult[]
  stunSources: Array<{ address: string, origin: StunSourceResult['origin'], relay?: string, rttMs?: number, answered: number, samples: number }>
  confidence: number
  advice: NatAdvice
  /** what the NAT means for direct connections, one sentence */
  outlook: string
  durationMs: number
}

/** `host:port`, IPv6 in brackets */
export function formatAddress (a: { host: string, port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

/**
 * A port mapping the package uses: verified from outside (or trusted with
 * verification off), and not behind another NAT. It makes the node
 * reachable although it sits behind a NAT.
 */
export function isUsedMapping (pm: PortMappingResult): boolean {
  return pm.status === 'found' && (pm.verification === 'verified' || pm.verification === 'skipped') && pm.reason == null
}

export function buildNatReport (input: NatReportInput): NatReport {
  const { profile } = input
  const portMapped = isUsedMapping(input.portMapping)
  const ofFamily = (family: 4 | 6): string[] => profile.publicAddresses.filter(a => a.family === family).map(formatAddress)
  const ipv6Addresses = ofFamily(6)

  if (input.ipv6.address != null && !ipv6Addresses.includes(formatAddress(input.ipv6.address))) {
    ipv6Addresses.push(formatAddress(input.ipv6.address))
  }

  return {
    reachability: profile.reachability,
    portMapped,
    nat: natTypeName(profile, portMapped),
    mapping: profile.mapping,
    filtering: profile.filtering,
    allocation: profile.allocation,
    publicAddresses: { ipv4: ofFamily(4), ipv6: ipv6Addresses },
    ipv6: {
      status: input.ipv6.status,
      reason: input.ipv6.reason,
      ...(input.ipv6.address != null ? { address: formatAddress(input.ipv6.address), translated: input.ipv6.translated } : {})
    },
    portMapping: input.portMapping,
    relays: input.relays,
    stunSources: input.sources.map(s => ({
      address: formatAddress(s),
      origin: s.origin,
      ...(s.relay != null ? { relay: s.relay } : {}),
      ...(s.rttMs != null ? { rttMs: round3(s.rttMs) } : {}),
      answered: s.answered,
      samples: s.samples
    })),
    confidence: profile.confidence,
    advice: input.advice,
    outlook: punchOutlook(profile, input.advice, portMapped),
    durationMs: Math.round(input.durationMs)
  }
}

/**
 * A name for the NAT as people call them (RFC 3489 names for the RFC 4787
 * behaviours). With a port mapping in use the profile says `public`, but
 * the NAT is still there: its behaviour is named, with the mapping.
 */
export function natTypeName (profile: Pick<NatProfile, 'reachability' | 'mapping' | 'filtering' | 'allocation'>, portMapped = false): string {
  if (profile.reachability === 'public' && !portMapped) {
    return 'none (a public address)'
  }

  return `${behaviourName(profile)}${portMapped ? ', port mapped' : ''}`
}

function behaviourName (profile: Pick<NatProfile, 'mapping' | 'filtering' | 'allocation'>): string {
  switch (profile.mapping) {
    case 'EIM':
      switch (profile.filtering) {
        case 'EIF': return 'full cone'
        case 'ADF': return 'restricted cone'
        case 'APDF': return 'port-restricted cone'
        default: return 'cone (filtering unknown)'
      }
    case 'ADM':
    case 'APDM':
      return `${profile.mapping === 'ADM' ? 'address-dependent mapping' : 'symmetric'}${allocationSuffix(profile.allocation)}`
    default:
      return 'unknown'
  }
}

function allocationSuffix (allocation: NatProfile['allocation']): string {
  switch (allocation.kind) {
    case 'sequential': return `, sequential ports (delta ${allocation.delta})`
    case 'random': return ', random ports'
    case 'preserving': return ', ports preserved'
    default: return ', port allocation unknown'
  }
}

const REACHABILITY_TEXT: Record<NatProfile['reachability'], string> = {
  public: 'public (no NAT)',
  private: 'behind a NAT',
  unknown: 'unknown'
}

const MAPPING_TEXT: Record<NatProfile['mapping'], string> = {
  EIM: 'endpoint-independent: one public port for every destination',
  ADM: 'address-dependent: a new public port for each destination IP',
  APDM: 'address-and-port-dependent: a new public port for each destination',
  unknown: 'unknown'
}

const FILTERING_TEXT: Record<NatProfile['filtering'], string> = {
  EIF: 'endpoint-independent: anyone may send to our public port',
  ADF: 'address-dependent: answers from any port of an IP we sent to',
  APDF: 'address-and-port-dependent: only answers from where we sent',
  unknown: 'unknown'
}

export function allocationText (allocation: NatProfile['allocation']): string {
  switch (allocation.kind) {
    case 'sequential': return `sequential, delta ${allocation.delta} (${Math.round(allocation.reliability * 100)}% of samples)`
    case 'random': return 'random'
    case 'preserving': return 'preserving (the public port is the local port)'
    default: return 'unknown'
  }
}

/**
 * What the NAT means for direct connections, one sentence
 */
export function punchOutlook (profile: Pick<NatProfile, 'reachability' | 'mapping' | 'allocation'>, advice: Pick<NatAdvice, 'usable'>, portMapped = false): string {
  if (portMapped) {
    return 'peers reach you directly at the mapped port: the gateway forwards it'
  }

  if (profile.reachability === 'public') {
    return 'peers reach you directly: there is no NAT in the way'
  }

  if (!advice.usable) {
    return 'direct connections fall back to the relay: the public address is unknown (see the advice)'
  }

  switch (profile.mapping) {
    case 'EIM':
      return 'direct connections with nearly every peer (one public port for all destinations)'
    case 'ADM':
    case 'APDM':
      if (profile.allocation.kind === 'sequential' || profile.allocation.kind === 'preserving') {
        return 'direct connections with most peers: the next public port can be predicted'
      }
      if (profile.allocation.kind === 'random') {
        return 'direct connections with peers behind cone NATs (birthday punching); with another random symmetric NAT the connection stays relayed'
      }
      return 'direct connections only where the peer\'s NAT is open enough: the next public port cannot be predicted'
    default:
      return 'direct connections may work: the NAT behaviour is not known well enough to tell'
  }
}

/**
 * The report as text, one line per entry
 */
export function formatNatReport (report: NatReport): string[] {
  const lines: string[] = []
  const row = (label: string, value: string): void => { lines.push(`  ${(label + ':').padEnd(15)}${value}`) }

  lines.push(`NAT report (${(report.durationMs / 1000).toFixed(1)} s)`)
  row('Reachability', report.portMapped && report.reachability === 'public' ? 'public through the port mapping (behind a NAT)' : REACHABILITY_TEXT[report.reachability])
  row('NAT type', report.nat)
  row('Mapping', report.mapping === 'unknown' ? 'unknown' : `${report.mapping.padEnd(5)} ${MAPPING_TEXT[report.mapping]}`)
  row('Filtering', report.filtering === 'unknown' ? 'unknown' : `${report.filtering.padEnd(5)} ${FILTERING_TEXT[report.filtering]}`)
  row('Allocation', allocationText(report.allocation))
  row('IPv4', addressesText(report.publicAddresses.ipv4, report.mapping))
  row('IPv6', ipv6Text(report.ipv6))
  row('Port mapping', portMappingText(report.portMapping))
  row('Confidence', `${Math.round(report.confidence * 100)}%`)

  if (report.relays.length > 0) {
    lines.push('  Relays:')
    for (const relay of report.relays) {
      lines.push(`    ${relay.address}`)
      lines.push(`      ${relayText(relay)}`)
    }
  }

  lines.push(report.stunSources.length > 0 ? '  STUN sources (round trip):' : '  STUN sources:  none')
  const width = Math.max(0, ...report.stunSources.map(s => s.address.length))
  for (const source of report.stunSources) {
    const origin = source.origin === 'relay' ? `relay ${shortPeerId(source.relay)}` : 'configured'
    const rtt = source.rttMs != null ? formatRtt(source.rttMs) : 'no answer'
    const lost = source.answered < source.samples && source.rttMs != null ? ` (${source.samples - source.answered} of ${source.samples} lost)` : ''
    lines.push(`    ${source.address.padEnd(width)}  ${origin.padEnd(22)} ${rtt}${lost}`)
  }

  row('Direct', report.outlook)

  if (report.advice.code !== 'ok') {
    row('Advice', report.advice.message)
  }

  return lines
}

/**
 * The public addresses of a family: all of them, or, where the NAT gives a
 * new port per destination, the latest and how many were seen
 */
function addressesText (addresses: readonly string[], mapping: NatReport['mapping']): string {
  if (addresses.length === 0) {
    return 'no public address learned'
  }

  if ((mapping === 'APDM' || mapping === 'ADM') && addresses.length > 1) {
    return `${addresses[0]} (the latest of ${addresses.length}: a new port per destination)`
  }

  return addresses.join(', ')
}

function ipv6Text (ipv6: NatReport['ipv6']): string {
  if (ipv6.status === 'yes') {
    return `yes, ${ipv6.address ?? '?'}${ipv6.translated === true ? ' (translated: NAT66)' : ''}`
  }

  return `${ipv6.status} (${ipv6.reason})`
}

function portMappingText (pm: PortMappingResult): string {
  switch (pm.status) {
    case 'found':
      return `${pm.protocols.join(', ')}${pm.gateway != null ? ` at ${pm.gateway}` : ''}${pm.mapped != null ? `: mapped ${pm.mapped}` : ''}` +
        `${pm.verification != null ? ` (${pm.verification})` : ''}${pm.reason != null ? `; ${pm.reason}` : ''}`
    case 'none':
      return `none found${pm.reason != null ? ` (${pm.reason})` : ''}`
    default:
      return `not checked${pm.reason != null ? ` (${pm.reason})` : ''}`
  }
}

function relayText (relay: RelayResult): string {
  if (!relay.connected) {
    return `not reached: ${relay.error ?? 'unknown error'}`
  }

  if (relay.runsPackage == null) {
    return `connected; ${relay.error ?? 'identify did not answer'}`
  }

  if (!relay.runsPackage) {
    return 'connected; a relay without this package: no STUN from it'
  }

  return relay.stunServers.length > 0
    ? `connected; answers STUN on ${relay.stunServers.join(', ')}`
    : `connected; runs this package but gave no usable STUN endpoint${relay.error != null ? ` (${relay.error})` : ''}`
}

/** `0.04 ms`, `1.3 ms`, `85 ms` */
export function formatRtt (ms: number): string {
  if (ms < 1) {
    return `${ms.toFixed(2)} ms`
  }
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

/** `12D3KooW…abcdef` */
export function shortPeerId (peerId?: string): string {
  if (peerId == null) {
    return '?'
  }
  return peerId.length > 16 ? `${peerId.slice(0, 8)}…${peerId.slice(-6)}` : peerId
}

function round3 (n: number): number {
  return Math.round(n * 1000) / 1000
}
