/**
 * `nat`: what this network does to UDP, as the package sees it. Starts a
 * peer with the package defaults, connects to the relays given (it learns
 * STUN servers from those that run this package, as any node does without
 * configuration), adds the STUN servers given, runs the package's NAT
 * discovery and reports the profile, the public addresses per family, the
 * port mapping protocols, IPv6 and the round trip to each STUN source.
 */

import { AbortError } from '@libp2p/interface'
import { STUN_ENDPOINTS_PROTOCOL } from '../constants.ts'
import { natAdvice } from '../nat/advice.ts'
import { ipFamily } from '../nat/ip.ts'
import { resolveStunServers } from '../nat/stun/resolve.ts'
import { booleanValue, parseHostPort, parseSeconds, stringList, stringValue } from './args.ts'
import { CommandFailedError } from './errors.ts'
import { EXIT_OK, Progress, pollFor } from './io.ts'
import { buildNatReport, formatAddress, formatNatReport } from './nat-report.ts'
import { createPeerNode, parseMultiaddrArg } from './node.ts'
import { portMappingView, stunServersInUse, stunServersOfLastDiscovery } from './service-view.ts'
import { checkIpv6, LATENCY_SAMPLES, measureStunLatency } from './stun-probe.ts'
import type { CommandSpec, ParsedCommand } from './args.ts'
import type { CliIO } from './io.ts'
import type { PortMappingResult, RelayResult, StunSourceResult } from './nat-report.ts'
import type { CliNode } from './node.ts'
import type { NatProfile, PortMappingState, StunServerAddress } from '../index.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/** how long one relay may take to answer the dial, ms */
const RELAY_DIAL_TIMEOUT_MS = 10_000

/** how long to wait for identify and the STUN endpoints answer of a relay, ms */
const RELAY_LEARN_TIMEOUT_MS = 5_000

/** the whole command, unless --timeout says otherwise, ms */
const DEFAULT_TIMEOUT_MS = 60_000

export const spec: CommandSpec = {
  name: 'nat',
  summary: 'report what your NAT does: mapping, filtering, public addresses, STUN latency (like `tailscale netcheck`)',
  usage: '[--relay <multiaddr>]... [--stun <host:port>]... [--no-port-mapping] [--json]',
  description: [
    'Runs the NAT discovery of libp2p-udp-holepunch from this machine and reports what it found: the NAT mapping and filtering behaviour (RFC 4787), how the NAT allocates ports, the public address per address family, port mapping protocols, IPv6 reachability and the round trip to each STUN source.',
    'With no STUN servers configured (the default) the package learns them from the relays it connects to: a relay that runs this package (`relay` command) answers STUN on two udx ports. Give one with --relay. Any plain STUN server can be added with --stun.'
  ],
  positionals: [],
  options: {
    relay: { type: 'string', multiple: true, valueName: 'multiaddr', description: 'connect to this relay (its multiaddr ends in /p2p/<relay peer id>) and learn STUN servers from it' },
    stun: { type: 'string', multiple: true, valueName: 'host:port', description: 'a STUN server to use as well, by IP or DNS name ([v6 address]:port for IPv6)' },
    json: { type: 'boolean', description: 'print the report as one JSON object (progress still goes to standard error)' },
    timeout: { type: 'string', valueName: 'seconds', description: 'give up after this long', defaultText: '60' },
    'no-port-mapping': { type: 'boolean', description: 'do not ask the gateway for a port mapping (PCP, NAT-PMP, UPnP-IGD): faster where the gateway has none' }
  },
  examples: [
    '--relay /ip4/198.51.100.7/tcp/4001/p2p/12D3KooWRelay...',
    '--stun stun.example.org:3478 --json'
  ]
}

interface NatArgs {
  relays: Multiaddr[]
  stun: StunServerAddress[]
  json: boolean
  timeoutMs: number
  portMapping: boolean
}

export function natArgs (parsed: ParsedCommand): NatArgs {
  const timeout = stringValue(parsed.values, 'timeout')
  return {
    relays: stringList(parsed.values, 'relay').map(r => parseMultiaddrArg(r, '--relay', 'a relay multiaddr ending in /p2p/<relay peer id>', true)),
    stun: stringList(parsed.values, 'stun').map(s => parseHostPort(s, 'stun')),
    json: booleanValue(parsed.values, 'json'),
    timeoutMs: timeout != null ? parseSeconds(timeout, 'timeout', 600) : DEFAULT_TIMEOUT_MS,
    portMapping: !booleanValue(parsed.values, 'no-port-mapping')
  }
}

export async function run (parsed: ParsedCommand, io: CliIO): Promise<number> {
  const args = natArgs(parsed)
  const progress = new Progress(io)
  const timeout = AbortSignal.timeout(args.timeoutMs)
  const signal = AbortSignal.any([io.signal, timeout])

  progress.step('starting a libp2p node with udx on 0.0.0.0 (the package defaults)')
  const node = await createPeerNode({ stunServers: args.stun, autoUpgrade: false, portMapping: args.portMapping })

  // the protocols of each peer, from identify (which runs on every new connection)
  const identified = new Map<string, string[]>()
  node.addEventListener('peer:identify', evt => {
    identified.set(evt.detail.peerId.toString(), evt.detail.protocols)
  })

  try {
    const relays = await Promise.all(args.relays.map(async ma => learnFromRelay(node, ma, { identified, configured: args.stun }, progress, signal)))

    await discover(node, progress, signal)
    const servers = stunServersOfLastDiscovery(node.services.holePunch)

    // IPv6: configured servers of that family and any the relays gave
    const v6Servers = [
      ...await resolveStunServers(args.stun, { family: 6, signal }),
      ...stunServersInUse(node.services.holePunch).filter(s => ipFamily(s.host) === 6)
    ].filter((s, i, all) => all.findIndex(o => o.host === s.host && o.port === s.port) === i)

    const latencyTargets = [...servers, ...v6Servers]
    if (latencyTargets.length > 0) {
      progress.step(`measuring the round trip to ${latencyTargets.length} STUN source(s)`)
    }
    const latencies = await measureStunLatency(latencyTargets, { logger: node.logger, signal })

    progress.step('checking IPv6')
    const ipv6 = await checkIpv6(v6Servers, { logger: node.logger, signal })

    const portMapping = await checkPortMapping(node, args.portMapping, progress, signal)
    // read again: a port mapping verified meanwhile makes us reachable
    const profile = node.services.holePunch.getNatProfile()
    const advice = natAdvice(profile, { serversKnown: servers.length })

    const sources: StunSourceResult[] = latencies.map(l => {
      const relay = relays.find(r => r.connected && r.stunServers.includes(formatAddress(l)))
      return {
        host: l.host,
        port: l.port,
        origin: relay != null ? 'relay' : 'configured',
        ...(relay?.peerId != null ? { relay: relay.peerId } : {}),
        ...(l.rttMs != null ? { rttMs: l.rttMs } : {}),
        answered: l.answered,
        samples: LATENCY_SAMPLES
      }
    })

    const report = buildNatReport({ profile, advice, relays, sources, ipv6, portMapping, durationMs: progress.elapsed() })

    if (args.json) {
      io.out(JSON.stringify(report))
    } else {
      for (const line of formatNatReport(report)) {
        io.out(line)
      }
    }

    return EXIT_OK
  } catch (err: any) {
    if (timeout.aborted && !io.signal.aborted) {
      throw new CommandFailedError(`No report within ${args.timeoutMs / 1000} s (--timeout)`, { cause: err })
    }
    throw err
  } finally {
    await node.stop()
  }
}

interface RelayContext {
  /** the protocols of each peer identify told us about */
  identified: ReadonlyMap<string, string[]>
  /** the --stun servers (not learned from any relay) */
  configured: readonly StunServerAddress[]
}

/**
 * Dial a relay, wait for identify and, if it runs this package, for the
 * service to learn its STUN endpoints. Failures become part of the report;
 * only an abort rejects.
 */
async function learnFromRelay (node: CliNode, ma: Multiaddr, known: RelayContext, progress: Progress, signal: AbortSignal): Promise<RelayResult> {
  const { identified, configured } = known
  const result: RelayResult = { address: ma.toString(), connected: false, stunServers: [] }
  progress.step(`connecting to relay ${ma.toString()}`)

  let connection
  try {
    connection = await node.dial(ma, { signal: AbortSignal.any([signal, AbortSignal.timeout(RELAY_DIAL_TIMEOUT_MS)]) })
  } catch (err: any) {
    signal.throwIfAborted()
    result.error = String(err.message)
    progress.step(`could not reach relay ${ma.toString()}: ${result.error}`)
    return result
  }

  result.connected = true
  result.peerId = connection.remotePeer.toString()
  const reachedAt = connection.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value

  const protocols = await pollFor(() => {
    const known = identified.get(connection.remotePeer.toString())
    return known != null && known.length > 0 ? known : undefined
  }, { timeoutMs: RELAY_LEARN_TIMEOUT_MS, signal })

  if (protocols == null) {
    result.error = `identify did not answer within ${RELAY_LEARN_TIMEOUT_MS / 1000} s`
    progress.step(`relay ${shortId(result.peerId)}: ${result.error}`)
    return result
  }

  result.runsPackage = protocols.includes(STUN_ENDPOINTS_PROTOCOL)

  if (!result.runsPackage) {
    progress.step(`relay ${shortId(result.peerId)} does not run this package: no STUN servers from it`)
    return result
  }

  progress.step(`relay ${shortId(result.peerId)} runs this package: asking for its STUN endpoints`)
  const learned = await pollFor(() => {
    const servers = stunServersInUse(node.services.holePunch)
      .filter(s => s.host === reachedAt && !configured.some(c => c.host === s.host && c.port === s.port))
    return servers.length > 0 ? servers : undefined
  }, { timeoutMs: RELAY_LEARN_TIMEOUT_MS, signal })

  result.stunServers = (learned ?? []).map(formatAddress)

  if (learned == null) {
    result.error = 'its STUN endpoints were not learned in time (or none is reachable at the address we dialed)'
  }

  return result
}

/**
 * Run the package's NAT discovery with every STUN server it knows now, and
 * once more if it learned servers while the first run (perhaps one the
 * service started itself) was going
 */
async function discover (node: CliNode, progress: Progress, signal: AbortSignal): Promise<NatProfile> {
  const service = node.services.holePunch
  const inUse = stunServersInUse(service)
  progress.step(inUse.length > 0
    ? `NAT discovery against ${inUse.map(formatAddress).join(', ')}`
    : 'no STUN server known: only identify observations are left')

  let profile = await service.refreshNat({ signal })
  const used = stunServersOfLastDiscovery(service)
  const missing = stunServersInUse(service)
    .filter(s => ipFamily(s.host) === 4)
    .filter(s => !used.some(u => u.host === s.host && u.port === s.port))

  if (missing.length > 0) {
    progress.step(`NAT discovery again, now with ${missing.map(formatAddress).join(', ')} too`)
    profile = await service.refreshNat({ signal })
  }

  if (signal.aborted) {
    throw new AbortError('Cancelled')
  }

  return profile
}

/** names of the port mapping protocols as people know them */
const PROTOCOL_NAMES: Record<string, string> = { pcp: 'PCP', 'nat-pmp': 'NAT-PMP', upnp: 'UPnP-IGD' }

/**
 * The port mapping protocols of the gateway (PCP, NAT-PMP, UPnP-IGD), as
 * the package's port mapper found them: it starts with the node, maps the
 * udx port with the first protocol that answers and verifies the mapped
 * address with a STUN server. Only an abort rejects.
 */
async function checkPortMapping (node: CliNode, enabled: boolean, progress: Progress, signal: AbortSignal): Promise<PortMappingResult> {
  if (!enabled) {
    return { status: 'not-checked', protocols: [], reason: '--no-port-mapping' }
  }

  const view = portMappingView(node.services.holePunch)
  progress.step('port mapping: waiting for the gateway (PCP, then NAT-PMP, then UPnP-IGD)')
  let mappings = await view.round({ signal })

  if (mappings.some(m => m.verification === 'unknown' || m.verification === 'pending')) {
    progress.step('port mapping: verifying the mapped address with a STUN server')
    mappings = await view.verify({ signal })
  }

  return portMappingResult(mappings)
}

/** the report's view of the port mapper's mappings */
export function portMappingResult (mappings: readonly PortMappingState[]): PortMappingResult {
  const first = mappings[0]

  if (first == null) {
    return { status: 'none', protocols: [], reason: 'no gateway answered PCP, NAT-PMP or UPnP-IGD' }
  }

  return {
    status: 'found',
    protocols: [...new Set(mappings.map(m => PROTOCOL_NAMES[m.protocol] ?? m.protocol))],
    mapped: formatAddress(first.external),
    gateway: first.gateway,
    verification: first.verification,
    ...(first.doubleNat != null ? { reason: `the gateway maps to a ${first.doubleNat} address: another NAT is in front of it, the mapping is not used` } : {})
  }
}

function shortId (peerId?: string): string {
  return peerId == null ? '?' : peerId.slice(-8)
}
