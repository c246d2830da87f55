/* eslint-disable no-console */
/**
 * The anchors (issue 10): this package, js-libp2p WebRTC private-to-private
 * and hyperdht, side by side in one run, in the NAT lab (needs root), for
 * every pair of NAT types and in three link settings.
 *
 * sudo npm run bench:anchors -- [--trials=2] [--pairs=all|cone|<a>~<b>,...]
 * [--settings=0ms,20ms,20ms-loss5] [--systems=ours,ours-relay,webrtc,hyperdht]
 * [--timeout=20000] [--throughput-pair=port-restricted~port-restricted]
 * [--throughput-seconds=2] [--throughput-window=8 (MiB)] [--warm] [--charts=docs/anchors|none] [--md=<file>]
 * npm run bench:anchors -- --from=<results JSON> [--charts=...] [--md=...]
 *
 * The defaults (every pair, system and setting, 2 trials) take about
 * 35 minutes on the 2-core VM; a failed WebRTC trial waits for the whole
 * timeout, which is most of it. `--from` prints the tables and draws the
 * charts of an earlier run again, without a lab.
 *
 * Systems (each in a lab of its own, same sites, one after the other):
 * - ours: this package as users run it: package defaults on both peers
 * (zero configuration: no `stunServers`, background upgrade on) through a
 * STOCK js-libp2p circuit relay (demo/lab-node.ts `stock-relay`);
 * `holePunch.connect(<Y's circuit address>, { fallbackToRelay: true })`;
 * - ours-relay: the same peers, the relay runs this package (`holePunch()`
 * on one IP and one udx port: the zero-config case of bench:punch);
 * - webrtc: `@libp2p/webrtc` private-to-private through the same stock
 * relay, with the lab's STUN server (coturn on one IP) as its only ICE
 * server; `node.dial(<Y's /p2p-circuit/webrtc address>)`;
 * - hyperdht: a testnet of 5 bootstrap nodes on the lab's internet (one per
 * public host), the server behind Y's NAT, the client behind X's;
 * `dht.connect(<Y's public key>)`.
 * Both libp2p systems get libp2p's dial, per-address dial and inbound
 * upgrade timeouts raised above the trial's timeout.
 *
 * Settings (the sites' links; relay, STUN and DHT hosts have none):
 * 0ms (no added delay), 20ms (20 ms one-way per site link: 80 ms between
 * two peers), 20ms-loss5 (20 ms and 5% loss per direction on both NATs).
 *
 * A trial, the same for every system: X dials Y (timeout --timeout), then
 * opens an echo stream on the connection it got and times one 32-byte
 * round trip, then 10 more (the echo RTT). "Dial → first RTT" is the time
 * from the start of the dial to the answer of that first echo. Direct is
 * judged from the network: the connection's path (ours: remote address;
 * WebRTC: the selected ICE candidate pair; hyperdht: the UDX stream's
 * remote address) must be the other site's public address, and the NAT
 * router of a NATed side must track a replied UDP flow to it (conntrack).
 * Every trial is a first contact: before it the routers forget every flow
 * between the two sites (so a conntrack entry is the trial's own) and a
 * restricted cone forgets that it contacted the other site, and the peers
 * forget each other (libp2p: the peer store, which would otherwise let
 * the next dial go straight to an address learnt in the previous trial;
 * hyperdht: the relay addresses it cached for the server). After it both
 * sides hang up and wait until neither holds a connection to the other.
 *
 * Per pair of ours: the relayed RTT (round trips on an echo stream over
 * the relayed connection, after the trials). On the throughput pair, every
 * direct trial also measures throughput over 1 and 16 streams
 * (benchmarks/anchors/flow.ts; hyperdht has no multiplexer: 16 streams
 * are 16 connections).
 *
 * Writes benchmarks/anchors/anchors-<time>.json, the markdown tables
 * (printed, and to --md), and SVG charts to --charts (default docs/anchors).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LabNode, startCoturn, startRelayNode, stopNodes } from '../../demo/lab-driver.ts'
import { Lab, NAT_TYPES } from '../../src/lab/index.ts'
import { runCommand } from '../../src/lab/run-command.ts'
import { percentile } from '../throughput/stats.ts'
import { WINDOW } from './flow.ts'
import { PALETTE, groupedBars, heatmap, rangeBars } from './svg.ts'
import type { LabProcess, NatType } from '../../src/lab/index.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NODE_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning']
const LIBP2P_PEER = join(HERE, 'libp2p-peer.ts')
const HYPERDHT_NODE = join(HERE, 'hyperdht-node.ts')
const DHT_HOSTS = ['dht1', 'dht2', 'dht3', 'dht4', 'dht5']
const DHT_PORT = 49737
const ECHOES = 5
const RELAY_ECHOES = 5

// ---------------------------------------------------------------- options

const args = Object.fromEntries(process.argv.slice(2).map(a => {
  const [key, ...rest] = a.replace(/^--/, '').split('=')
  return [key, rest.join('=')]
}))

type SystemName = 'ours' | 'ours-relay' | 'webrtc' | 'hyperdht'
interface SystemSpec {
  name: SystemName
  /** for tables and charts */
  title: string
  publicHosts: string[]
}
const SYSTEMS: SystemSpec[] = [
  { name: 'ours', title: 'ours (stock relay, zero-config)', publicHosts: ['relay'] },
  { name: 'ours-relay', title: 'ours (relay runs holePunch)', publicHosts: ['relay'] },
  { name: 'webrtc', title: '@libp2p/webrtc (stock relay, STUN)', publicHosts: ['relay', 'stun'] },
  { name: 'hyperdht', title: 'hyperdht (5 bootstrap nodes)', publicHosts: DHT_HOSTS }
]

type SettingName = '0ms' | '20ms' | '20ms-loss5'
interface Setting { name: SettingName, title: string, delayMs: number, lossPercent: number }
const SETTINGS: Setting[] = [
  { name: '0ms', title: 'no added delay', delayMs: 0, lossPercent: 0 },
  { name: '20ms', title: '20 ms one-way per site link', delayMs: 20, lossPercent: 0 },
  { name: '20ms-loss5', title: '20 ms + 5% loss per direction on both NATs', delayMs: 20, lossPercent: 5 }
]

const CONE: NatType[] = ['none', 'full-cone', 'restricted', 'port-restricted']

function pick<T extends { name: string }> (all: T[], list: string | undefined, what: string): T[] {
  if (list == null || list === '') {
    return all
  }
  return list.split(',').map(name => {
    const found = all.find(x => x.name === name)
    if (found == null) {
      throw new Error(`--${what}=${name}: use ${all.map(x => x.name).join(', ')}`)
    }
    return found
  })
}

type Pair = [NatType, NatType]

function allPairs (types: readonly NatType[]): Pair[] {
  const pairs: Pair[] = []
  for (let i = 0; i < types.length; i++) {
    for (let j = i; j < types.length; j++) {
      pairs.push([types[i], types[j]])
    }
  }
  return pairs
}

function parsePairs (spec: string | undefined): Pair[] {
  if (spec == null || spec === '' || spec === 'all') {
    return allPairs(NAT_TYPES)
  }
  if (spec === 'cone') {
    return allPairs(CONE)
  }
  return spec.split(',').map(p => {
    const [a, b] = p.split('~') as NatType[]
    if (!NAT_TYPES.includes(a) || !NAT_TYPES.includes(b)) {
      throw new Error(`--pairs: ${p} is not <nat>~<nat> of ${NAT_TYPES.join(', ')}`)
    }
    // the order of NAT_TYPES: X has the first
    return NAT_TYPES.indexOf(a) <= NAT_TYPES.indexOf(b) ? [a, b] : [b, a]
  })
}

const pairName = (p: Pair): string => `${p[0]} ~ ${p[1]}`
const isCone = (p: Pair): boolean => CONE.includes(p[0]) && CONE.includes(p[1])

// `let`: --from=<results JSON> replaces them with the file's
let TRIALS = Number(args.trials ?? 2)
let TIMEOUT_MS = Number(args.timeout ?? 20_000)
let PAIRS = parsePairs(args.pairs)
let SELECTED_SETTINGS = pick(SETTINGS, args.settings, 'settings')
let SELECTED_SYSTEMS = pick(SYSTEMS, args.systems, 'systems')
let TP_SECONDS = Number(args['throughput-seconds'] ?? 2)
/** the senders' window over all streams (benchmarks/anchors/flow.ts), bytes */
let TP_WINDOW = Math.round(Number(args['throughput-window'] ?? WINDOW / 2 ** 20) * 2 ** 20)
const TP_PAIR_NAME = args['throughput-pair'] ?? 'port-restricted~port-restricted'
let TP_PAIR: Pair | undefined = PAIRS.find(p => `${p[0]}~${p[1]}` === TP_PAIR_NAME) ?? PAIRS.find(isCone) ?? PAIRS[0]
const CHARTS_DIR = args.charts === 'none' ? undefined : resolve(ROOT, args.charts ?? 'docs/anchors')
const MD_OUT: string | undefined = args.md
/** --warm: the peers keep what they learnt of each other in earlier trials (only the routers forget) */
let WARM = args.warm != null && args.warm !== 'false'

/** the NAT types the lab needs: site x<i> and y<i> for each */
const TYPES: NatType[] = NAT_TYPES.filter(t => PAIRS.some(p => p.includes(t)))

// ------------------------------------------------------------- results

interface Throughput { streams: number, mbps: number, bytes: number, seconds: number }

interface Trial {
  k: number
  /** judged from the network: path, conntrack and a working echo */
  direct: boolean
  /** what the API returned: a direct connection, the relayed one (ours' fallback), or nothing */
  api: 'direct' | 'relayed' | 'failed'
  /** the path's remote address (ip:port) */
  remote?: string
  /** the path's remote address is the other site's public address */
  pathMatches?: boolean
  /** the judging NAT router tracks a replied flow to the other site (undefined: no NAT on either side) */
  conntrack?: boolean
  /** start of the dial → first echo answered over the direct connection */
  dialToFirstRttMs?: number
  /** start of the dial → the API returned the connection */
  connectMs?: number
  /** start of the dial → relayed connection open (libp2p systems) */
  relayedMs?: number
  /** relayed connection open → first echo answered */
  relayedToFirstRttMs?: number
  /**
   * libp2p systems: relayed connection open → the API returned the direct
   * connection (ours: connect() resolved; WebRTC: dial() resolved)
   */
  upgradeMs?: number
  /** ours: OFFER → ANSWER over the relayed connection */
  answerRttMs?: number
  /** median of the echoes after the first */
  echoRttMs?: number
  /** libp2p systems: connection returned → echo stream open (muxer and multistream-select) */
  streamOpenMs?: number
  reason?: string
  /** ours: X's plan, or the strategy of either side's punch events */
  strategy?: string
  glare?: boolean
  events?: string[]
  throughput?: Throughput[]
  throughputError?: string
  /** what was still open after X hung up */
  leftover?: string
  /** wall clock (ms since the trial started) at the end of each phase */
  phasesMs?: Record<string, number>
  /** whatever the node reported, for the record */
  raw?: Record<string, unknown>
  wallMs: number
}

interface PairRun { a: NatType, b: NatType, trials: Trial[], relayRttsMs?: number[], relayRttError?: string }
interface SystemRun { system: SystemName, setting: SettingName, elapsedMs: number, setupMs: number, setup: Record<string, unknown>, pairs: PairRun[], error?: string }

// --------------------------------------------------------- lab helpers

function publicIpOf (lab: Lab, site: string): string {
  return lab.site(site).nat.nat === 'none' ? lab.host(`${site}1`).ip : lab.site(site).publicIp
}

async function inRouter (lab: Lab, site: string, argv: string[]): Promise<string> {
  const { stdout } = await runCommand('ip', ['netns', 'exec', lab.site(site).routerNamespace, ...argv], { timeoutMs: 10_000 })
  return stdout
}

/** both routers forget every UDP flow between the two sites' public addresses */
async function forgetFlows (lab: Lab, xSite: string, ySite: string): Promise<void> {
  const xIp = publicIpOf(lab, xSite)
  const yIp = publicIpOf(lab, ySite)
  await Promise.all([[xSite, yIp], [ySite, xIp]].flatMap(([site, ip]) => [
    inRouter(lab, site, ['conntrack', '-D', '-p', 'udp', '-s', ip]),
    inRouter(lab, site, ['conntrack', '-D', '-p', 'udp', '-d', ip])
  ]))
}

/** restricted-cone routers forget that their mappings contacted `ip` (the `contacted` set of the lab's ruleset) */
async function forgetContacted (lab: Lab, site: string, ip: string): Promise<void> {
  if (lab.site(site).nat.nat !== 'restricted') {
    return
  }
  const listing = await inRouter(lab, site, ['nft', '-j', 'list', 'set', 'ip', 'lab', 'contacted'])
  const elements: string[] = []
  const walk = (value: any): void => {
    if (Array.isArray(value)) {
      value.forEach(walk)
    } else if (value != null && typeof value === 'object') {
      if (Array.isArray(value.concat) && value.concat[0] === ip) {
        elements.push(`${ip} . ${String(value.concat[1])}`)
        return
      }
      Object.values(value).forEach(walk)
    }
  }
  walk(JSON.parse(listing === '' ? '{}' : listing))
  if (elements.length > 0) {
    await inRouter(lab, site, ['nft', 'delete', 'element', 'ip', 'lab', 'contacted', `{ ${elements.join(', ')} }`])
  }
}

/**
 * Every trial is a first contact: the routers forget the flows between the
 * two sites (and a restricted cone that the other site was contacted), and
 * the peers forget each other (libp2p: the peer store; hyperdht: its cached
 * relay addresses for the server)
 */
async function forgetEachOther (lab: Lab, system: SystemName, x: LabNode, y: LabNode, xSite: string, ySite: string): Promise<void> {
  await forgetFlows(lab, xSite, ySite)
  await Promise.all([
    forgetContacted(lab, xSite, publicIpOf(lab, ySite)),
    forgetContacted(lab, ySite, publicIpOf(lab, xSite))
  ])
  if (WARM) {
    return
  }
  if (system === 'hyperdht') {
    await safeRequest(x, { cmd: 'forget', publicKey: y.ready.publicKey }, 10_000)
  } else {
    await Promise.all([
      safeRequest(x, { cmd: 'forget', peer: y.ready.peerId }, 10_000),
      safeRequest(y, { cmd: 'forget', peer: x.ready.peerId }, 10_000)
    ])
  }
}

/**
 * Does a NAT router of the pair track a replied UDP flow to the other
 * site's public address? (X's router when X is behind a NAT, else Y's;
 * undefined without NAT on either side.)
 */
async function flowSeen (lab: Lab, xSite: string, ySite: string): Promise<boolean | undefined> {
  const judge = [[xSite, ySite], [ySite, xSite]].find(([site]) => lab.site(site).nat.nat !== 'none')
  if (judge == null) {
    return undefined
  }
  const [site, other] = judge
  const ip = publicIpOf(lab, other)
  const entries = await lab.conntrack(site)
  return entries.some(e => !e.unreplied && [e.original.src, e.original.dst, e.reply.src, e.reply.dst].includes(ip))
}

async function safeRequest (node: LabNode, command: Record<string, unknown>, timeoutMs: number): Promise<any> {
  try {
    return await node.request(command, timeoutMs)
  } catch (err: any) {
    return { ok: false, error: `driver: ${String(err.message).split('\n')[0]}` }
  }
}

function spawnNode (lab: Lab, host: string, script: string, argv: string[], env: Record<string, string> = {}): LabNode {
  const proc: LabProcess = lab.host(host).spawn([process.execPath, ...NODE_FLAGS, script, ...argv], { env: { ...process.env, ...env } })
  return new LabNode(proc)
}

async function ready (node: LabNode, timeoutMs = 120_000): Promise<LabNode> {
  node.ready = await node.event(e => e.event === 'ready', timeoutMs)
  return node
}

// ----------------------------------------------------------- one system

interface Running {
  x: LabNode[]
  y: LabNode[]
  infra: LabNode[]
  coturn?: LabProcess
  setup: Record<string, unknown>
}

async function startSystem (lab: Lab, system: SystemSpec): Promise<Running> {
  const xHosts = TYPES.map((_, i) => `x${i}1`)
  const yHosts = TYPES.map((_, i) => `y${i}1`)
  const infra: LabNode[] = []
  let coturn: LabProcess | undefined
  const env = { LAB_LIBP2P_TIMEOUT_MS: String(TIMEOUT_MS * 3) }

  if (system.name === 'hyperdht') {
    const first = await ready(spawnNode(lab, DHT_HOSTS[0], HYPERDHT_NODE, ['bootstrap', lab.host(DHT_HOSTS[0]).ip]))
    infra.push(first)
    const firstAddr = `${lab.host(DHT_HOSTS[0]).ip}:${DHT_PORT}`
    infra.push(...await Promise.all(DHT_HOSTS.slice(1).map(async h => ready(spawnNode(lab, h, HYPERDHT_NODE, ['bootstrap', lab.host(h).ip, firstAddr])))))
    const bootstrap = DHT_HOSTS.map(h => `${lab.host(h).ip}:${DHT_PORT}`).join(',')
    const peers = await Promise.all([...xHosts, ...yHosts].map(async h => ready(spawnNode(lab, h, HYPERDHT_NODE, ['peer', bootstrap]))))
    return {
      x: peers.slice(0, xHosts.length),
      y: peers.slice(xHosts.length),
      infra,
      setup: {
        bootstrap: infra.map(n => n.ready),
        peers: Object.fromEntries(peers.map(p => [p.proc.host, { host: p.ready.host, port: p.ready.port, firewalled: p.ready.firewalled, randomized: p.ready.randomized }]))
      }
    }
  }

  const relayHost = lab.host('relay')
  const relay = await startRelayNode(relayHost, system.name === 'ours-relay' ? { ips: [relayHost.ip], udxPorts: [4001] } : { kind: 'stock', ips: [relayHost.ip] })
  infra.push(relay)
  const relayAddr = (relay.ready.tcp as string[]).find(a => a.includes(`/${relayHost.ip}/`)) ?? relay.ready.tcp[0]
  let argv: string[]
  if (system.name === 'webrtc') {
    const stunHost = lab.host('stun')
    coturn = await startCoturn(stunHost, [stunHost.ip])
    argv = ['webrtc', relayAddr, `${stunHost.ip}:3478`]
  } else {
    argv = ['ours', relayAddr]
  }
  const peers = await Promise.all([...xHosts, ...yHosts].map(async h => ready(spawnNode(lab, h, LIBP2P_PEER, argv, env))))
  return {
    x: peers.slice(0, xHosts.length),
    y: peers.slice(xHosts.length),
    infra,
    coturn,
    setup: {
      relay: { kind: relay.ready.kind, peerId: relay.ready.peerId, tcp: relay.ready.tcp },
      stun: system.name === 'webrtc' ? `${lab.host('stun').ip}:3478` : undefined,
      peers: Object.fromEntries(peers.map(p => [p.proc.host, { peerId: p.ready.peerId, nat: p.ready.nat, startupMs: p.ready.startupMs }]))
    }
  }
}

/** X and Y hold no connection to each other and no punch (libp2p systems) */
async function waitQuiet (x: LabNode, y: LabNode, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs
  const open = async (node: LabNode, peer: string): Promise<string[]> => {
    const [c, p] = await Promise.all([safeRequest(node, { cmd: 'connections' }, 10_000), safeRequest(node, { cmd: 'punches' }, 10_000)])
    const conns = ((c.connections ?? []) as any[]).filter(conn => String(conn.remoteAddr).endsWith(`/p2p/${peer}`)).map(conn => `${node.proc.host}: ${String(conn.remoteAddr).replace(/^.*\/p2p-circuit/, '…/p2p-circuit')} (${String(conn.status)}${conn.limited === true ? ', limited' : ''})`)
    return [...conns, ...((p.punches ?? []) as any[]).map(() => 'punch')]
  }
  let left: string[] = []
  do {
    left = [...await open(x, y.ready.peerId), ...await open(y, x.ready.peerId)]
    if (left.length === 0) {
      return undefined
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  } while (Date.now() < deadline)
  return left.join(', ')
}

/**
 * Both sides hang up on each other, again every second while either still
 * holds a connection to the other (a failed WebRTC dial leaves an "open"
 * inbound connection on Y, which can appear after the first hang-up; under
 * loss a close can go unnoticed), for up to 10 s; what was left after the
 * first hang-up, if anything
 */
async function hangUp (system: SystemName, x: LabNode, y: LabNode): Promise<string | undefined> {
  if (system === 'hyperdht') {
    await safeRequest(x, { cmd: 'hangup' }, 15_000)
    await new Promise(resolve => setTimeout(resolve, 300))
    return undefined
  }
  let first: string | undefined
  let left: string | undefined
  for (let round = 0; round < 10; round++) {
    await Promise.all([
      safeRequest(x, { cmd: 'hangup', peer: y.ready.peerId }, 15_000),
      safeRequest(y, { cmd: 'hangup', peer: x.ready.peerId }, 15_000)
    ])
    left = await waitQuiet(x, y, 1_000)
    if (left == null) {
      break
    }
    first ??= left
  }
  // a circuit dial racing the relay's close of the previous circuit gets reset
  await new Promise(resolve => setTimeout(resolve, 200))
  return first == null ? undefined : `${first}${left != null ? ` (still after 10 hang-ups: ${left})` : ''}`
}

function linesSince (node: LabNode, from: number): any[] {
  return node.proc.output('stdout').slice(from)
    .map(line => { try { return JSON.parse(line) } catch { return undefined } })
    .filter(e => e != null)
}

/** ours: the punch events of both sides about each other since the trial started */
function punchEvents (x: LabNode, xFrom: number, y: LabNode, yFrom: number): { glare: boolean, lines: string[], strategy?: string } {
  const xe = linesSince(x, xFrom).filter(e => String(e.event).startsWith('punch:') && e.peer === y.ready.peerId)
  const ye = linesSince(y, yFrom).filter(e => String(e.event).startsWith('punch:') && e.peer === x.ready.peerId)
  const initiated = (events: any[]): boolean => events.some(e => e.event === 'punch:start' && e.side === 'initiator')
  const line = (who: string, e: any): string => `${who} ${String(e.event).slice(6)} ${e.side as string}${e.strategy != null ? ` ${e.strategy as string}` : ''}${e.reason != null ? ` (${String(e.reason).slice(0, 160)})` : ''}`
  return {
    glare: initiated(xe) && initiated(ye),
    lines: [...xe.map(e => line('X', e)), ...ye.map(e => line('Y', e))],
    strategy: [...xe, ...ye].find(e => e.strategy != null)?.strategy
  }
}

function medianOf (values: number[]): number | undefined {
  return values.length === 0 ? undefined : percentile(values, 50)
}

const round1 = (n: number | undefined): number | undefined => n == null ? undefined : Math.round(n * 10) / 10

/** the path of the connection the node reported: `remote` for the record, `ip` to judge */
function pathOf (system: SystemName, r: any): { remote?: string, ip?: string } {
  if (system === 'hyperdht') {
    return r.remote == null ? {} : { remote: `${r.remote.host as string}:${r.remote.port as number}`, ip: r.remote.host }
  }
  if (system === 'webrtc') {
    const remote = r.icePair?.remote
    return remote == null ? {} : { remote: `${remote.address as string}:${remote.port as number} (${remote.type as string})`, ip: remote.address }
  }
  if (r.connection == null || r.connection.limited !== false) {
    return {}
  }
  const m = String(r.connection.remoteAddr).match(/^\/ip4\/([^/]+)\/udp\/(\d+)\/udx/)
  return m == null ? { remote: String(r.connection.remoteAddr) } : { remote: `${m[1]}:${m[2]}`, ip: m[1] }
}

/** the API's answer, the path and the network's word: fill in the trial's verdict and times */
async function judge (t: Trial, r: any, system: SystemName, lab: Lab, xSite: string, ySite: string): Promise<void> {
  const yPublic = publicIpOf(lab, ySite)
  const path = pathOf(system, r)
  t.remote = path.remote
  if (r.ok === true) {
    t.api = r.connection?.limited === true ? 'relayed' : 'direct'
  }
  t.connectMs = r.connectMs
  t.relayedMs = r.relayedMs
  if (system !== 'hyperdht' && t.api === 'direct' && r.relayedMs != null) {
    t.upgradeMs = round1(r.connectMs - r.relayedMs)
  }
  if (t.api === 'direct') {
    t.pathMatches = path.ip === yPublic
    t.conntrack = await flowSeen(lab, xSite, ySite)
  }
  // node-datachannel's selected ICE pair sometimes names the peer's host
  // (LAN) candidate, which the other site cannot reach: for WebRTC the
  // network's word (conntrack) decides wherever a NAT can judge
  const pathOk = t.pathMatches === true || (system === 'webrtc' && t.conntrack === true)
  t.direct = t.api === 'direct' && r.direct === true && pathOk && t.conntrack !== false
  if (t.direct) {
    t.dialToFirstRttMs = r.firstRttMs
    t.relayedToFirstRttMs = r.relayedMs != null ? round1(r.firstRttMs - r.relayedMs) : undefined
    t.echoRttMs = round1(medianOf(r.echoRttsMs ?? []))
    t.streamOpenMs = r.streamOpenMs != null ? round1(r.streamOpenMs - r.connectMs) : undefined
    return
  }
  let why: string | undefined
  if (t.api === 'direct' && !pathOk) {
    why = `the path goes to ${t.remote ?? '?'}, not to ${yPublic}`
  } else if (t.api === 'direct' && t.conntrack === false) {
    why = 'no replied flow between the two sites in conntrack'
  }
  t.reason = r.fallbackReason ?? r.echoError ?? r.error ?? why ?? 'not direct'
}

/** throughput over 1 and 16 streams of the trial's direct connection */
async function measureThroughput (t: Trial, system: SystemName, x: LabNode, y: LabNode): Promise<void> {
  t.throughput = []
  for (const streams of [1, 16]) {
    const tp = await safeRequest(x, system === 'hyperdht'
      ? { cmd: 'throughput', publicKey: y.ready.publicKey, streams, seconds: TP_SECONDS, windowBytes: TP_WINDOW }
      : { cmd: 'throughput', peer: y.ready.peerId, streams, seconds: TP_SECONDS, windowBytes: TP_WINDOW }, (TP_SECONDS + 60) * 1000)
    if (tp.ok === true) {
      t.throughput.push({ streams, mbps: Math.round(tp.mbps * 10) / 10, bytes: tp.bytes, seconds: Math.round(tp.seconds * 100) / 100 })
    } else {
      t.throughputError = `${t.throughputError != null ? `${t.throughputError}; ` : ''}${streams} streams: ${tp.error as string}`
    }
  }
}

async function runTrial (lab: Lab, system: SystemName, x: LabNode, y: LabNode, xSite: string, ySite: string, k: number): Promise<Trial> {
  const started = Date.now()
  await forgetEachOther(lab, system, x, y, xSite, ySite)
  const xFrom = x.proc.output('stdout').length
  const yFrom = y.proc.output('stdout').length
  const command = system === 'hyperdht'
    ? { cmd: 'trial', publicKey: y.ready.publicKey, timeoutMs: TIMEOUT_MS, echoes: ECHOES }
    : { cmd: 'trial', target: y.ready.circuit, peer: y.ready.peerId, timeoutMs: TIMEOUT_MS, echoes: ECHOES }
  const r = await safeRequest(x, command, TIMEOUT_MS * 2 + 30_000)

  const t: Trial = { k, direct: false, api: 'failed', wallMs: 0 }
  const ours = system === 'ours' || system === 'ours-relay'
  if (ours) {
    const timeline: any[] = r.timeline ?? []
    t.answerRttMs = round1(timeline.find(s => s.step === 'hole-punch:answer')?.detail?.rttMs)
    t.strategy = timeline.find(s => s.step === 'hole-punch:plan')?.detail?.strategy
  }
  const phase = { trial: Date.now() - started, judge: 0, throughput: 0, hangUp: 0 }
  await judge(t, r, system, lab, xSite, ySite)
  phase.judge = Date.now() - started
  if (t.direct && TP_PAIR != null && lab.site(xSite).nat.nat === TP_PAIR[0] && lab.site(ySite).nat.nat === TP_PAIR[1]) {
    await measureThroughput(t, system, x, y)
  }
  phase.throughput = Date.now() - started

  t.leftover = await hangUp(system, x, y)
  phase.hangUp = Date.now() - started
  t.phasesMs = phase
  if (ours) {
    const events = punchEvents(x, xFrom, y, yFrom)
    t.glare = events.glare
    t.events = events.lines
    t.strategy ??= events.strategy
  }
  const { timeline, connection, icePair, ...rest } = r
  t.raw = { ...rest, connection, icePair, timeline: timeline?.map((s: any) => `${s.at as number} ${s.step as string}`) }
  t.wallMs = Date.now() - started
  return t
}

/** the lab of the system being measured, torn down on SIGINT and SIGTERM */
let currentLab: Lab | undefined

async function runSystem (system: SystemSpec, setting: Setting): Promise<SystemRun> {
  const started = Date.now()
  const run: SystemRun = { system: system.name, setting: setting.name, elapsedMs: 0, setupMs: 0, setup: {}, pairs: [] }
  const lab = await Lab.create({
    sites: TYPES.flatMap((nat, i) => [
      { name: `x${i}`, nat, delayMs: setting.delayMs, lossPercent: setting.lossPercent },
      { name: `y${i}`, nat, delayMs: setting.delayMs, lossPercent: setting.lossPercent }
    ]),
    publicHosts: system.publicHosts
  })
  currentLab = lab
  let running: Running | undefined
  console.log(`\n[${setting.name}] ${system.title}`)
  try {
    running = await startSystem(lab, system)
    run.setup = running.setup
    run.setupMs = Date.now() - started
    const { x, y } = running
    for (const pair of PAIRS) {
      const i = TYPES.indexOf(pair[0])
      const j = TYPES.indexOf(pair[1])
      const pr: PairRun = { a: pair[0], b: pair[1], trials: [] }
      for (let k = 0; k < TRIALS; k++) {
        pr.trials.push(await runTrial(lab, system.name, x[i], y[j], `x${i}`, `y${j}`, k))
      }
      if (system.name === 'ours' || system.name === 'ours-relay') {
        await forgetEachOther(lab, system.name, x[i], y[j], `x${i}`, `y${j}`)
        const rtt = await safeRequest(x[i], { cmd: 'relay-rtt', target: y[j].ready.circuit, peer: y[j].ready.peerId, echoes: RELAY_ECHOES }, 60_000)
        if (rtt.ok === true) {
          pr.relayRttsMs = rtt.rttsMs
        } else {
          pr.relayRttError = rtt.error
        }
        await hangUp(system.name, x[i], y[j])
      }
      run.pairs.push(pr)
      console.log(`  ${pairName(pair).padEnd(38)} ${pairLine(system.name, pr)}`)
    }
  } catch (err: any) {
    run.error = `${err.name as string}: ${String(err.message).split('\n').slice(0, 3).join(' / ')}`
    console.error(`  stopped: ${run.error}`)
  } finally {
    await stopNodes([...(running?.x ?? []), ...(running?.y ?? []), ...(running?.infra ?? [])])
    await running?.coturn?.kill()
    await lab.destroy()
    currentLab = undefined
    run.elapsedMs = Date.now() - started
  }
  console.log(`  (${(run.elapsedMs / 1000).toFixed(0)} s, setup ${(run.setupMs / 1000).toFixed(0)} s)`)
  return run
}

// ------------------------------------------------------------ reporting

function fmt (n: number | undefined, digits = 0): string {
  return n == null || !Number.isFinite(n) ? '-' : n.toFixed(digits)
}

function directOf (p: PairRun): Trial[] {
  return p.trials.filter(t => t.direct)
}

function values (trials: Trial[], key: keyof Trial): number[] {
  return trials.map(t => t[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
}

/** `median (min–max)` */
function spread (xs: number[], digits = 0): string {
  if (xs.length === 0) {
    return '-'
  }
  const med = percentile(xs, 50)
  return xs.length === 1 ? fmt(med, digits) : `${fmt(med, digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`
}

/** `median [p25–p75]` */
function quartiles (xs: number[], digits = 0): string {
  if (xs.length === 0) {
    return '-'
  }
  return `${fmt(percentile(xs, 50), digits)} [${fmt(percentile(xs, 25), digits)}–${fmt(percentile(xs, 75), digits)}]`
}

function reasons (p: PairRun): string {
  const counts = new Map<string, number>()
  for (const t of p.trials.filter(t => !t.direct)) {
    const r = (t.reason ?? 'not direct').replace(/\s+/g, ' ').slice(0, 120)
    counts.set(r, (counts.get(r) ?? 0) + 1)
  }
  return [...counts].map(([r, n]) => `${n}× ${r}`).join('; ')
}

function pairLine (system: SystemName, p: PairRun): string {
  const d = directOf(p)
  const parts = [`direct ${d.length}/${p.trials.length}`, `dial→1st RTT ${spread(values(d, 'dialToFirstRttMs'))} ms`]
  if (system === 'ours' || system === 'ours-relay') {
    parts.push(`upgrade ${spread(values(d, 'upgradeMs'))} ms`, `relayed RTT ${fmt(medianOf(p.relayRttsMs ?? []), 1)} ms`, [...new Set(p.trials.map(t => t.strategy ?? '-'))].join(','))
  } else if (system === 'webrtc') {
    parts.push(`relayed open→1st RTT ${spread(values(d, 'relayedToFirstRttMs'))} ms`)
  }
  const why = reasons(p)
  return parts.join(', ') + (why !== '' ? `\n${''.padEnd(42)}not direct: ${why}` : '')
}

function find (runs: SystemRun[], system: SystemName, setting: SettingName): SystemRun | undefined {
  return runs.find(r => r.system === system && r.setting === setting)
}

function conePairs (run: SystemRun | undefined): PairRun[] {
  return (run?.pairs ?? []).filter(p => isCone([p.a, p.b]))
}

function coneTrials (run: SystemRun | undefined): Trial[] {
  return conePairs(run).flatMap(p => directOf(p))
}

interface Targets {
  setting: SettingName
  /** ours: median upgrade over cone pairs, and the median relayed RTT */
  upgradeMs?: number
  relayedRttMs?: number
  upgradeInRtts?: number
  oursDialToFirstRttMs?: number
  webrtcDialToFirstRttMs?: number
  hyperdhtDialToFirstRttMs?: number
  vsWebrtc?: number
  vsHyperdht?: number
  /** dial start → relayed connection open (libp2p's circuit dial), ours and WebRTC */
  circuitDialMs?: number
  circuitDialInRtts?: number
  met: { upgrade?: boolean, vsWebrtc?: boolean, vsHyperdht?: boolean }
}

function targets (runs: SystemRun[], setting: SettingName): Targets {
  const ours = find(runs, 'ours', setting)
  const t: Targets = { setting, met: {} }
  t.upgradeMs = medianOf(values(coneTrials(ours), 'upgradeMs'))
  t.relayedRttMs = medianOf(conePairs(ours).flatMap(p => p.relayRttsMs ?? []))
  if (t.upgradeMs != null && t.relayedRttMs != null) {
    t.upgradeInRtts = t.upgradeMs / t.relayedRttMs
    t.met.upgrade = t.upgradeInRtts <= 3
  }
  t.oursDialToFirstRttMs = medianOf(values(coneTrials(ours), 'dialToFirstRttMs'))
  t.webrtcDialToFirstRttMs = medianOf(values(coneTrials(find(runs, 'webrtc', setting)), 'dialToFirstRttMs'))
  t.hyperdhtDialToFirstRttMs = medianOf(values(coneTrials(find(runs, 'hyperdht', setting)), 'dialToFirstRttMs'))
  if (t.oursDialToFirstRttMs != null && t.webrtcDialToFirstRttMs != null) {
    t.vsWebrtc = t.oursDialToFirstRttMs / t.webrtcDialToFirstRttMs
    t.met.vsWebrtc = t.vsWebrtc <= 0.65
  }
  if (t.oursDialToFirstRttMs != null && t.hyperdhtDialToFirstRttMs != null) {
    t.vsHyperdht = t.oursDialToFirstRttMs / t.hyperdhtDialToFirstRttMs
    t.met.vsHyperdht = t.vsHyperdht <= 3
  }
  t.circuitDialMs = medianOf(values(coneTrials(ours), 'relayedMs'))
  if (t.circuitDialMs != null && t.relayedRttMs != null) {
    t.circuitDialInRtts = t.circuitDialMs / t.relayedRttMs
  }
  return t
}

const titleOf = (name: SystemName): string => SYSTEMS.find(s => s.name === name)?.title ?? name
const settingOf = (name: SettingName): Setting => SETTINGS.find(s => s.name === name) as Setting

function markdown (runs: SystemRun[], meta: { date: string, commit: string, command: string, minutes: number }): string {
  const out: string[] = []
  const systems = SELECTED_SYSTEMS.map(s => s.name)
  const settings = SELECTED_SETTINGS.map(s => s.name)
  out.push(`\`${meta.command}\` on ${meta.commit}, ${meta.date}, ${TRIALS} trials per pair, system and setting, ${WARM ? 'warm (the peers remember each other between trials)' : 'every trial a first contact'}, trial timeout ${TIMEOUT_MS / 1000} s, ${meta.minutes.toFixed(1)} min in all.`)

  // targets
  for (const setting of settings.filter(s => s === '20ms')) {
    const t = targets(runs, setting)
    const mark = (ok: boolean | undefined): string => {
      if (ok == null) {
        return ''
      }
      return ok ? ' (met)' : ' (**missed**)'
    }
    out.push('')
    out.push(`Targets (${settingOf(setting).title}, medians over the direct trials of the cone pairs):`)
    out.push('')
    out.push('| target | measured |')
    out.push('|---|---|')
    out.push(`| upgrade (relayed connection open → connect() resolves direct) ≤ 3 relayed RTTs | ${fmt(t.upgradeMs)} ms = ${fmt(t.upgradeInRtts, 2)} × the relayed RTT of ${fmt(t.relayedRttMs, 1)} ms${mark(t.met.upgrade)} |`)
    out.push(`| dial → first RTT over the direct connection ≤ 0.65 × WebRTC's | ours ${fmt(t.oursDialToFirstRttMs)} ms, WebRTC ${fmt(t.webrtcDialToFirstRttMs)} ms: ${fmt(t.vsWebrtc, 2)}×${mark(t.met.vsWebrtc)} |`)
    out.push(`| dial → first RTT over the direct connection ≤ 3 × hyperdht's | ours ${fmt(t.oursDialToFirstRttMs)} ms, hyperdht ${fmt(t.hyperdhtDialToFirstRttMs)} ms: ${fmt(t.vsHyperdht, 2)}×${mark(t.met.vsHyperdht)} |`)
    out.push(`| floor: libp2p's circuit dial (dial → relayed connection open) | ${fmt(t.circuitDialMs)} ms = ${fmt(t.circuitDialInRtts, 1)} relayed RTTs |`)
  }

  // success
  out.push('')
  out.push('Direct trials per pair (judged from conntrack and the path):')
  out.push('')
  const cols = settings.flatMap(s => systems.map(sys => `${sys} ${s}`))
  out.push(`| pair | ${cols.join(' | ')} |`)
  out.push(`|---|${cols.map(() => '---').join('|')}|`)
  for (const pair of PAIRS) {
    const cells = settings.flatMap(s => systems.map(sys => {
      const p = find(runs, sys, s)?.pairs.find(x => x.a === pair[0] && x.b === pair[1])
      return p == null ? '·' : `${directOf(p).length}/${p.trials.length}`
    }))
    out.push(`| ${pairName(pair)} | ${cells.join(' | ')} |`)
  }
  const totals = settings.flatMap(s => systems.map(sys => {
    const run = find(runs, sys, s)
    const all = run?.pairs ?? []
    return `${all.filter(p => p.trials.length > 0 && directOf(p).length === p.trials.length).length}/${all.length}`
  }))
  out.push(`| **pairs direct in every trial** | ${totals.join(' | ')} |`)

  // times per setting
  for (const setting of settings) {
    out.push('')
    out.push(`Dial → first RTT over the direct connection, ms, median (min–max) of the direct trials, ${settingOf(setting).title}:`)
    out.push('')
    out.push(`| pair | ${systems.join(' | ')} | ours: upgrade | ours: relayed RTT |`)
    out.push(`|---|${systems.map(() => '---').join('|')}|---|---|`)
    for (const pair of PAIRS) {
      const cell = (sys: SystemName): PairRun | undefined => find(runs, sys, setting)?.pairs.find(x => x.a === pair[0] && x.b === pair[1])
      const ours = cell('ours')
      out.push(`| ${pairName(pair)} | ${systems.map(sys => { const p = cell(sys); return p == null ? '·' : spread(values(directOf(p), 'dialToFirstRttMs')) }).join(' | ')} | ${ours == null ? '·' : spread(values(directOf(ours), 'upgradeMs'))} | ${ours == null ? '·' : fmt(medianOf(ours.relayRttsMs ?? []), 1)} |`)
    }
  }

  // cone summary per setting
  out.push('')
  out.push('Cone pairs (the 10 pairs of none, full-cone, restricted, port-restricted), all direct trials together, ms, median [p25–p75]:')
  out.push('')
  out.push('| setting | system | direct | dial → first RTT | first trials only | dial → relayed open | relayed open → direct connection | relayed open → first RTT | relayed RTT | echo RTT, direct |')
  out.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const setting of settings) {
    for (const sys of systems) {
      const run = find(runs, sys, setting)
      if (run == null) {
        continue
      }
      const pairs = conePairs(run)
      const d = pairs.flatMap(p => directOf(p))
      const n = pairs.reduce((sum, p) => sum + p.trials.length, 0)
      const rtts = pairs.flatMap(p => p.relayRttsMs ?? [])
      out.push(`| ${setting} | ${titleOf(sys)} | ${d.length}/${n} | ${quartiles(values(d, 'dialToFirstRttMs'))} | ${quartiles(values(d.filter(t => t.k === 0), 'dialToFirstRttMs'))} | ${quartiles(values(d, 'relayedMs'))} | ${quartiles(values(d, 'upgradeMs'))} | ${quartiles(values(d, 'relayedToFirstRttMs'))} | ${rtts.length > 0 ? quartiles(rtts, 1) : '-'} | ${quartiles(values(d, 'echoRttMs'), 1)} |`)
    }
  }

  // throughput
  out.push('')
  out.push(`Over the direct connection of ${TP_PAIR != null ? pairName(TP_PAIR) : '-'} (every direct trial), Mbit/s, median (min–max), and the echo RTT of all direct trials (32 bytes on an open stream), ms:`)
  out.push('')
  out.push('| setting | system | 1 stream | 16 streams | echo RTT |')
  out.push('|---|---|---|---|---|')
  for (const setting of settings) {
    for (const sys of systems) {
      const run = find(runs, sys, setting)
      if (run == null) {
        continue
      }
      const tp = run.pairs.flatMap(p => p.trials).flatMap(t => t.throughput ?? [])
      const of = (streams: number): number[] => tp.filter(x => x.streams === streams).map(x => x.mbps).filter(Number.isFinite)
      const echo = values(run.pairs.flatMap(p => directOf(p)), 'echoRttMs')
      out.push(`| ${setting} | ${titleOf(sys)} | ${spread(of(1), 1)} | ${spread(of(16), 1)}${sys === 'hyperdht' ? ' (16 connections)' : ''} | ${quartiles(echo, 2)} |`)
    }
  }

  // why not direct
  out.push('')
  out.push('Why trials were not direct (first 120 characters of the reason):')
  out.push('')
  out.push('| setting | system | pair | not direct | reasons |')
  out.push('|---|---|---|---|---|')
  for (const setting of settings) {
    for (const sys of systems) {
      for (const p of find(runs, sys, setting)?.pairs ?? []) {
        const failed = p.trials.filter(t => !t.direct).length
        if (failed > 0) {
          out.push(`| ${setting} | ${sys} | ${p.a} ~ ${p.b} | ${failed}/${p.trials.length} | ${reasons(p).replace(/\|/g, '\\|')} |`)
        }
      }
    }
  }
  const stopped = runs.filter(r => r.error != null)
  if (stopped.length > 0) {
    out.push('')
    for (const r of stopped) {
      out.push(`- ${r.system} ${r.setting} stopped early: ${r.error as string}`)
    }
  }
  return out.join('\n')
}

function charts (runs: SystemRun[], dir: string, note: string): string[] {
  mkdirSync(dir, { recursive: true })
  const written: string[] = []
  const systems = SELECTED_SYSTEMS.map(s => s.name)
  const settings = SELECTED_SETTINGS.map(s => s.name)
  const write = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text)
    written.push(join(dir, name))
  }
  const pairs = [...PAIRS]
  const cols = settings.flatMap(s => systems.map(sys => ({ s, sys })))
  write('success.svg', heatmap(
    'Direct connections per NAT pair (trials judged direct from conntrack / all trials)',
    pairs.map(pairName),
    cols.map(c => `${c.sys}\n${c.s}`),
    (r, c) => {
      const p = find(runs, cols[c].sys, cols[c].s)?.pairs.find(x => x.a === pairs[r][0] && x.b === pairs[r][1])
      return p == null || p.trials.length === 0 ? { text: '·' } : { text: `${directOf(p).length}/${p.trials.length}`, fraction: directOf(p).length / p.trials.length }
    },
    note
  ))
  for (const setting of settings) {
    write(`time-to-direct-${setting}.svg`, rangeBars(
      `Dial → first round trip over the direct connection, ${settingOf(setting).title}`,
      pairs.map(pairName),
      systems.map(titleOf),
      (r, s) => {
        const p = find(runs, systems[s], setting)?.pairs.find(x => x.a === pairs[r][0] && x.b === pairs[r][1])
        const xs = p == null ? [] : values(directOf(p), 'dialToFirstRttMs')
        return xs.length === 0 || p == null ? undefined : { median: percentile(xs, 50), min: Math.min(...xs), max: Math.max(...xs), label: `${xs.length}/${p.trials.length}` }
      },
      { unit: 'ms', ticks: [10, 30, 100, 300, 1000, 3000, 10000, 30000], note }
    ))
  }
  const series = systems.flatMap((sys, i) => [1, 16].map(streams => ({ sys, streams, name: `${titleOf(sys)}, ${streams}`, colour: PALETTE[i % PALETTE.length], opacity: streams === 1 ? 1 : 0.35 })))
  write('throughput.svg', groupedBars(
    `Throughput over the direct connection (${TP_PAIR != null ? pairName(TP_PAIR) : '-'}), 1 stream (solid) and 16 streams (light)`,
    settings.map(s => settingOf(s).title.replace(' per direction on both NATs', '').replace(' one-way per site link', ' per link')),
    series,
    (g, s) => {
      const run = find(runs, series[s].sys, settings[g])
      const xs = (run?.pairs ?? []).flatMap(p => p.trials).flatMap(t => t.throughput ?? []).filter(x => x.streams === series[s].streams).map(x => x.mbps).filter(Number.isFinite)
      return xs.length === 0 ? undefined : { median: percentile(xs, 50), min: Math.min(...xs), max: Math.max(...xs) }
    },
    {
      unit: 'Mbit/s',
      note: `${note}; hyperdht's 16 streams are 16 connections (no multiplexer); –: the transfer failed (the JSON has why)`,
      legend: systems.map((sys, i) => ({ name: titleOf(sys), colour: PALETTE[i % PALETTE.length] }))
    }
  ))
  return written
}

function gitCommit (): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], { cwd: ROOT }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT }).toString().trim() !== ''
    return `${head}${dirty ? ' with uncommitted changes' : ''}`
  } catch {
    return 'unknown commit'
  }
}

// ------------------------------------------------------------------ main

interface Results {
  date: string
  commit: string
  command: string
  node: string
  trials: number
  timeoutMs: number
  warm?: boolean
  throughput: { pair?: Pair, seconds: number, windowBytes?: number }
  pairs: Pair[]
  settings: Setting[]
  systems: SystemSpec[]
  minutes: number
  targets: Targets[]
  runs: SystemRun[]
  charts: string[]
  markdown: string
}

/** the tables and charts of a run (or of a results file, with --from) */
function report (results: Omit<Results, 'markdown' | 'charts' | 'targets'>): Results {
  const date = results.date.slice(0, 10)
  const markdownText = markdown(results.runs, { date, commit: results.commit, command: results.command, minutes: results.minutes })
  console.log(`\n${markdownText}\n`)
  const written = CHARTS_DIR != null ? charts(results.runs, CHARTS_DIR, `${date}, ${results.commit}, ${results.trials} trials per pair`) : []
  if (MD_OUT != null) {
    writeFileSync(MD_OUT, markdownText + '\n')
    console.log(`tables: ${MD_OUT}`)
  }
  for (const f of written) {
    console.log(`chart: ${f}`)
  }
  return { ...results, targets: SELECTED_SETTINGS.map(s => targets(results.runs, s.name)), charts: written.map(f => f.slice(ROOT.length)), markdown: markdownText }
}

if (args.from != null) {
  // tables and charts again from a results file, no lab
  const saved: Results = JSON.parse(readFileSync(resolve(args.from), 'utf8'))
  TRIALS = saved.trials
  TIMEOUT_MS = saved.timeoutMs
  WARM = saved.warm === true
  PAIRS = saved.pairs
  SELECTED_SETTINGS = saved.settings
  SELECTED_SYSTEMS = saved.systems
  TP_SECONDS = saved.throughput.seconds
  TP_PAIR = saved.throughput.pair
  TP_WINDOW = saved.throughput.windowBytes ?? WINDOW
  report(saved)
  process.exit(0)
}

if (process.getuid?.() !== 0) {
  console.error('benchmarks/anchors needs root (it builds a NAT lab with network namespaces)')
  process.exit(1)
}

function onSignal (signal: NodeJS.Signals): void {
  console.error(`\n${signal}: tearing the lab down`)
  void Promise.resolve(currentLab?.destroy()).finally(() => process.exit(130))
}
process.once('SIGINT', onSignal)
process.once('SIGTERM', onSignal)

const startedAt = new Date()
const commit = gitCommit()
const command = `sudo npm run bench:anchors -- ${process.argv.slice(2).join(' ')}`.trim()
console.log(`anchors: ${PAIRS.length} pairs × ${SELECTED_SYSTEMS.length} systems × ${SELECTED_SETTINGS.length} settings × ${TRIALS} trials, on ${commit}`)
const runs: SystemRun[] = []
for (const setting of SELECTED_SETTINGS) {
  for (const system of SELECTED_SYSTEMS) {
    runs.push(await runSystem(system, setting))
  }
}
const results = report({
  date: startedAt.toISOString(),
  commit,
  command,
  node: process.version,
  trials: TRIALS,
  timeoutMs: TIMEOUT_MS,
  warm: WARM,
  throughput: { pair: TP_PAIR, seconds: TP_SECONDS, windowBytes: TP_WINDOW },
  pairs: PAIRS,
  settings: SELECTED_SETTINGS,
  systems: SELECTED_SYSTEMS,
  minutes: (Date.now() - startedAt.getTime()) / 60_000,
  runs
})
const out = join(HERE, `anchors-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
writeFileSync(out, JSON.stringify(results, null, 2))
console.log(`results: ${out}`)
console.log(`total ${results.minutes.toFixed(1)} min`)
