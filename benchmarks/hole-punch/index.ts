/* eslint-disable no-console */
/**
 * Hole punching in the NAT lab (needs root): every unordered pair of lab
 * NAT types, N trials each, through real kernel NATs, in each lab
 * configuration of issue 9 side by side in one run, plus stock js-libp2p
 * DCUtR as a reference.
 *
 * npm run bench:punch -- [--trials=5] [--configs=a,b,c,d] [--reference=dcutr|none] [--delay=0]
 * [--pairs=cone] [--types=port-restricted,symmetric-seq] [--auto-upgrade=true|false] [--md=<file>]
 *
 * Configurations (demo/lab-driver.ts, LAB_CONFIGS; names or letters):
 * - a, zero-config: the relay runs this package on one IP (one TCP port, one
 * udx port, plus the STUN port the package adds by itself); the peers have
 * no `stunServers`;
 * - b, stock-relay: a stock js-libp2p relay (circuit-relay-v2 server, tcp,
 * noise, yamux, identify; no udx, nothing of this package); no
 * `stunServers`;
 * - c, coturn: coturn on one IP (no RFC 5780) is the only configured STUN
 * server; the relay runs this package on one IP;
 * - d, configured: the relay runs this package on two IPs × two udx ports
 * (an RFC 5780 STUN server) and is the configured STUN server.
 *
 * Each configuration gets its own lab (fresh NATs, same sites) and runs
 * one after the other in the same command. The peers run the package
 * defaults (autoUpgrade on; --auto-upgrade=false for the control). A trial
 * is the NAT-lab matrix test's (test/service/lab/punch-trial.ts): X calls
 * `holePunch.connect(<Y's circuit address>, { fallbackToRelay: true })`;
 * direct only when the API, the NAT router's conntrack table and a fresh
 * stream agree. Per pair: direct trials, the time from the relayed
 * connection being open to the direct one (first trial and median), the
 * relayed RTT, the strategy, and whether the issue's target for that
 * configuration is met (test/service/lab/expectations.ts, expectPairIn:
 * the same verdict as the CI matrix).
 *
 * The reference (`--reference=dcutr`, the default; `--reference=none`
 * skips it): stock js-libp2p DCUtR over TCP (benchmarks/hole-punch/dcutr-node.ts,
 * with identify and AutoNAT, its own circuit relay on TCP port 4101) in a
 * lab of its own with the same sites, pairs and trial count. X dials Y's
 * circuit address on the DCUtR nodes and waits up to 20 s for an unlimited
 * connection; it is direct only when the NAT router also tracks an
 * established TCP flow to the other site's public address and port. The
 * last DCUtR error either side logged (DEBUG=libp2p:dcutr*) is kept as the
 * trial's `why`.
 *
 * Results go to benchmarks/hole-punch/results-*.json (with the markdown
 * tables in `markdown`); the tables are also printed, and written to
 * --md=<file> when given.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { LAB_CONFIGS, LabNode, labConfigs, startLabConfig } from '../../demo/lab-driver.ts'
import { Lab, NAT_TYPES } from '../../src/lab/index.ts'
import { runCommand } from '../../src/lab/run-command.ts'
import { expectPairIn } from '../../test/service/lab/expectations.ts'
import { checkTrials, pairStrategyOf, punchTrial } from '../../test/service/lab/punch-trial.ts'
import type { LabConfig } from '../../demo/lab-driver.ts'
import type { Lab as LabType, LabHost, NatType } from '../../src/lab/index.ts'
import type { Expectation } from '../../test/service/lab/expectations.ts'
import type { PunchTrial } from '../../test/service/lab/punch-trial.ts'

const args = Object.fromEntries(process.argv.slice(2).map(a => a.replace(/^--/, '').split('=')))
const TRIALS = Number(args.trials ?? 5)
const DELAY_MS = Number(args.delay ?? 0)
const ONLY_CONE = args.pairs === 'cone'
const CONE: NatType[] = ['none', 'full-cone', 'restricted', 'port-restricted']
const CONFIGS: LabConfig[] = labConfigs(String(args.configs ?? LAB_CONFIGS.map(c => c.name).join(',')))
const AUTO_UPGRADE = String(args['auto-upgrade'] ?? 'true') !== 'false'
const MD_OUT: string | undefined = args.md
const REFERENCE = String(args.reference ?? 'dcutr')
if (REFERENCE !== 'dcutr' && REFERENCE !== 'none') {
  console.error(`--reference=${REFERENCE}: use dcutr or none`)
  process.exit(1)
}
const DCUTR_WAIT_MS = 20_000
const DCUTR_NODE = fileURLToPath(new URL('./dcutr-node.ts', import.meta.url))
const NODE_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning']
const DCUTR_ENV = { ...process.env, DEBUG: 'libp2p:dcutr*' }

/** one of our trials, as stored in the JSON */
interface Trial {
  outcome: PunchTrial['outcome']
  direct: boolean
  durationMs: number
  /** relayed connection open → connect() resolved with the direct one */
  upgradeMs?: number
  /** X's OFFER → ANSWER time */
  rttMs?: number
  strategy?: string
  /** OFFER → plan decided */
  decisionMs?: number
  glare: boolean
  fallbackReason?: string
  error?: string
  events: string[]
}
interface PairRun { a: NatType, b: NatType, expectation: Expectation, trials: Trial[], meetsTarget: boolean, verdict?: string }
interface ConfigRun { config: LabConfig, elapsedMs: number, setup: Record<string, unknown>, pairs: PairRun[], error?: string }
interface ReferenceTrial { direct: boolean, apiDirect: boolean, upgradeMs?: number, relayedMs?: number, remoteAddr?: string, why?: string, log?: string[], error?: string }
interface ReferencePair { a: NatType, b: NatType, trials: ReferenceTrial[] }

async function startDcutrRelay (host: LabHost): Promise<LabNode> {
  const node = new LabNode(host.spawn([process.execPath, ...NODE_FLAGS, DCUTR_NODE, 'relay', ...host.ips], { env: DCUTR_ENV }))
  node.ready = await node.event(e => e.event === 'ready', 30_000)
  return node
}

async function startDcutrPeer (host: LabHost, relay: LabNode, relayHost: LabHost): Promise<LabNode> {
  const relayAddr = (relay.ready.tcp as string[]).find(a => a.includes(`/${relayHost.ip}/`)) ?? relay.ready.tcp[0]
  const node = new LabNode(host.spawn([process.execPath, ...NODE_FLAGS, DCUTR_NODE, 'peer', relayAddr], { env: DCUTR_ENV }))
  node.ready = await node.event(e => e.event === 'ready', 45_000)
  return node
}

/**
 * Is an established TCP flow with `remoteIp` (and `remotePort`, when given)
 * in the site NAT router's conntrack table? Lab.conntrack parses UDP only.
 */
async function hasTcpFlow (lab: LabType, site: string, remoteIp: string, remotePort?: number): Promise<boolean> {
  const { stdout } = await runCommand('ip', ['netns', 'exec', lab.site(site).routerNamespace, 'conntrack', '-L', '-p', 'tcp'], { timeoutMs: 10_000 })
  return stdout.split('\n').some(line => {
    if (!/^tcp\s+6\s+\d+\s+ESTABLISHED\s/.test(line) || line.includes('[UNREPLIED]')) {
      return false
    }
    if (!line.includes(`src=${remoteIp} `) && !line.includes(`dst=${remoteIp} `)) {
      return false
    }
    return remotePort == null || line.includes(`sport=${remotePort} `) || line.includes(`dport=${remotePort} `)
  })
}

/** what DCUtR logged on either node since `since` (epoch ms), X's lines first */
function dcutrLog (since: number, x: LabNode, y: LabNode): string[] {
  const lines: Array<{ at: number, text: string }> = []
  for (const [name, node] of [['X', x], ['Y', y]] as const) {
    for (const line of node.proc.output('stderr').slice(-300)) {
      const m = line.match(/^(\S+Z) (libp2p:dcutr\S*) (.*)$/)
      const at = m != null ? Date.parse(m[1]) : NaN
      if (m != null && at >= since) {
        lines.push({ at, text: `${name} ${m[2]}: ${m[3]}`.slice(0, 400) })
      }
    }
  }
  return lines.sort((a, b) => a.at - b.at).map(l => l.text)
}

/** the first DCUtR error of a trial: the reason, later ones are its retries */
function dcutrWhy (log: string[]): string | undefined {
  return (log.find(l => /no dialable|not have any dialable/i.test(l)) ?? log.find(l => /:error/.test(l)))?.replace(/ in \[.*$/, '')
}

/**
 * Resolves (after a grace second) once Y's DCUtR has logged the failure of
 * its last attempt since `since`: then it will not try again, so the trial
 * need not wait for the whole timeout. Never resolves otherwise.
 */
async function dcutrGaveUp (y: LabNode, since: number, signal: AbortSignal): Promise<{ ok: false, error: string }> {
  for await (const line of y.proc.lines('stderr', { signal })) {
    const m = line.match(/^(\S+Z) libp2p:dcutr:error error while attempting DCUtR on attempt (\d+) of \2/)
    if (m != null && Date.parse(m[1]) >= since) {
      await new Promise(resolve => setTimeout(resolve, 1_000))
      return { ok: false, error: `DCUtR gave up: attempt ${m[2]} of ${m[2]} failed` }
    }
  }
  return new Promise(() => {})
}

function median (values: number[]): number | undefined {
  if (values.length === 0) { return undefined }
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function fmt (n: number | undefined): string {
  return n == null ? '-' : n.toFixed(0)
}

function pairsOf (types: NatType[]): Array<[number, number]> {
  const pairs: Array<[number, number]> = []
  for (let i = 0; i < types.length; i++) {
    for (let j = i; j < types.length; j++) {
      pairs.push([i, j])
    }
  }
  return pairs
}

function sitesOf (types: NatType[]): Array<{ name: string, nat: NatType, delayMs: number }> {
  return types.flatMap((nat, i) => [{ name: `x${i}`, nat, delayMs: DELAY_MS }, { name: `y${i}`, nat, delayMs: DELAY_MS }])
}

function toTrial (t: PunchTrial): Trial {
  const at = (step: string): any => t.timeline.find(s => s.step === step)
  const relayed = at('hole-punch:relayed')
  const offer = at('hole-punch:offer')
  const plan = at('hole-punch:plan')
  const direct = t.outcome === 'direct'
  return {
    outcome: t.outcome,
    direct,
    durationMs: t.durationMs,
    upgradeMs: direct && relayed != null ? t.durationMs - relayed.at : undefined,
    rttMs: at('hole-punch:answer')?.detail?.rttMs,
    strategy: t.strategy,
    decisionMs: plan != null && offer != null ? plan.at - offer.at : undefined,
    glare: t.glare,
    fallbackReason: t.fallbackReason,
    error: t.error,
    events: t.events
  }
}

/** our matrix in one configuration, in a lab of its own */
async function runConfig (config: LabConfig, types: NatType[]): Promise<ConfigRun> {
  const started = Date.now()
  const run: ConfigRun = { config, elapsedMs: 0, setup: {}, pairs: [] }
  const lab = await Lab.create({ sites: sitesOf(types), publicHosts: config.publicHosts })
  let stop: (() => Promise<void>) | undefined

  try {
    const hosts = types.flatMap((_, i) => [`x${i}1`, `y${i}1`])
    const setup = await startLabConfig(lab, config, hosts, { LAB_AUTO_UPGRADE: String(AUTO_UPGRADE), LAB_REUSE_KNOWN_PATHS: 'false' })
    stop = setup.stop
    const xs = types.map((_, i) => setup.nodes[`x${i}1`])
    const ys = types.map((_, i) => setup.nodes[`y${i}1`])
    await Promise.all([...xs, ...ys].map(async n => n.request({ cmd: 'serve-echo' })))
    run.setup = {
      relay: setup.relay.ready,
      stunServers: setup.stunServers,
      peers: Object.fromEntries(hosts.map(h => [h, { nat: setup.nodes[h].ready.nat, stunInUse: setup.nodes[h].ready.stunInUse, natMs: setup.nodes[h].ready.natMs }]))
    }
    console.log(`\n(${config.letter}) ${config.name}: ${config.title}`)

    for (const [i, j] of pairsOf(types)) {
      const expectation = expectPairIn(config.name, { nat: types[i] }, { nat: types[j] }, TRIALS)
      const trials: PunchTrial[] = []
      for (let k = 0; k < TRIALS; k++) {
        trials.push(await punchTrial(lab, xs[i], `x${i}1`, ys[j], `y${j}1`))
      }
      let verdict: string | undefined
      try {
        checkTrials(`(${config.letter}) ${types[i]} ~ ${types[j]}`, expectation, trials)
      } catch (err: any) {
        verdict = String(err.message).split('\n')[0]
      }
      const pair: PairRun = { a: types[i], b: types[j], expectation, trials: trials.map(toTrial), meetsTarget: verdict == null, verdict }
      run.pairs.push(pair)
      const ok = pair.trials.filter(t => t.direct)
      const rtt = median(pair.trials.map(t => t.rttMs ?? NaN).filter(Number.isFinite))
      console.log(`  ${`${types[i]} ~ ${types[j]}`.padEnd(38)} direct ${ok.length}/${TRIALS}, median upgrade ${fmt(median(ok.map(t => t.upgradeMs ?? NaN).filter(Number.isFinite)))} ms, rtt ${rtt?.toFixed(1) ?? '-'} ms, ${strategies(pair)}; target ${targetText(expectation)}: ${verdict == null ? 'met' : `MISSED (${verdict})`}`)
    }
  } catch (err: any) {
    run.error = `${err.name}: ${err.message}`
    console.error(`(${config.letter}) ${config.name} stopped: ${run.error}`)
  } finally {
    await stop?.()
    await lab.destroy()
    run.elapsedMs = Date.now() - started
  }
  return run
}

function strategies (pair: PairRun): string {
  return [...new Set(pair.trials.map(t => pairStrategyOf(t.strategy) ?? '-'))].join(',')
}

function targetText (e: Expectation): string {
  switch (e.kind) {
    case 'direct-every-trial':
      return `direct ${e.trials}/${e.trials}`
    case 'birthday-minimum':
      return e.minDirect > 0 ? `direct ≥${e.minDirect}/${e.trials} (birthday)` : 'usable (birthday, no minimum)'
    case 'relayed':
      return 'relayed, no punch'
    default:
      return 'usable (no target)'
  }
}

/** the public address of a site's first host: its own without NAT, else the NAT's */
function publicIpOf (lab: LabType, site: string, nat: NatType): string {
  return nat === 'none' ? lab.host(`${site}1`).ip : lab.site(site).publicIp
}

/**
 * One DCUtR trial: X dials Y's circuit address and waits for an unlimited
 * connection; direct only when a NAT router also tracks the TCP flow
 */
async function dcutrTrial (lab: LabType, dx: LabNode, dy: LabNode, pair: { x: NatType, y: NatType, i: number, j: number }): Promise<ReferenceTrial> {
  const yPublic = publicIpOf(lab, `y${pair.j}`, pair.y)
  const xPublic = publicIpOf(lab, `x${pair.i}`, pair.x)
  const since = Date.now()
  const stopWatching = new AbortController()
  const relayedBefore = dx.events('progress').length
  const res: any = await Promise.race([
    dx.request({ cmd: 'connect', target: dy.ready.circuit, timeoutMs: DCUTR_WAIT_MS }, DCUTR_WAIT_MS + 30_000),
    dcutrGaveUp(dy, since, stopWatching.signal)
  ]).finally(() => { stopWatching.abort() })
  const log = dcutrLog(since, dx, dy)
  // when DCUtR gave up first, the relayed time is in X's progress line
  const progress = dx.events('progress')
  res.relayedMs ??= progress.length > relayedBefore ? progress.at(-1)?.relayedMs : undefined
  const apiDirect = res.ok === true && res.connection?.limited === false
  let direct = apiDirect
  if (direct) {
    const remote = String(res.connection.remoteAddr)
    const port = Number(remote.match(/\/tcp\/(\d+)/)?.[1] ?? NaN)
    // judged at X's router; at Y's when X has no NAT (X's port is not known there)
    if (pair.x !== 'none') {
      direct = await hasTcpFlow(lab, `x${pair.i}`, yPublic, Number.isFinite(port) ? port : undefined)
    } else if (pair.y !== 'none') {
      direct = await hasTcpFlow(lab, `y${pair.j}`, xPublic)
    } else {
      direct = remote.includes(`/ip4/${yPublic}/`)
    }
  }
  return {
    direct,
    apiDirect,
    upgradeMs: direct ? res.upgradeMs : undefined,
    relayedMs: res.relayedMs,
    remoteAddr: res.connection?.remoteAddr,
    log,
    why: direct ? undefined : dcutrWhy(log) ?? (res.ok === true ? undefined : res.error) ?? `no unlimited connection within ${DCUTR_WAIT_MS} ms, no DCUtR error logged`,
    error: res.error
  }
}

/** the stock DCUtR reference, in a lab of its own */
async function runReference (types: NatType[]): Promise<{ elapsedMs: number, pairs: ReferencePair[], addresses: unknown[], error?: string }> {
  const started = Date.now()
  const lab = await Lab.create({ sites: sitesOf(types), publicHosts: ['relay'] })
  const nodes: LabNode[] = []
  const pairs: ReferencePair[] = []
  let addresses: unknown[] = []
  let error: string | undefined
  console.log('\nreference: stock js-libp2p DCUtR over TCP')

  try {
    const dRelay = await startDcutrRelay(lab.host('relay'))
    nodes.push(dRelay)
    const dxs = await Promise.all(types.map(async (_, i) => startDcutrPeer(lab.host(`x${i}1`), dRelay, lab.host('relay'))))
    const dys = await Promise.all(types.map(async (_, i) => startDcutrPeer(lab.host(`y${i}1`), dRelay, lab.host('relay'))))
    nodes.push(...dxs, ...dys)
    addresses = dxs.concat(dys).map(n => ({ host: n.proc.host, addresses: n.ready.addresses }))

    for (const [i, j] of pairsOf(types)) {
      const dcutrTrials: ReferenceTrial[] = []
      for (let k = 0; k < TRIALS; k++) {
        dcutrTrials.push(await dcutrTrial(lab, dxs[i], dys[j], { x: types[i], y: types[j], i, j }))
        await dxs[i].request({ cmd: 'hangup', peer: dys[j].ready.peerId }).catch(() => {})
        await new Promise(resolve => setTimeout(resolve, 300))
      }
      pairs.push({ a: types[i], b: types[j], trials: dcutrTrials })
      const dOk = dcutrTrials.filter(t => t.direct)
      console.log(`  ${`${types[i]} ~ ${types[j]}`.padEnd(38)} dcutr direct ${dOk.length}/${dcutrTrials.length}, median ${fmt(median(dOk.map(t => t.upgradeMs ?? NaN).filter(Number.isFinite)))} ms`)
      for (const why of new Set(dcutrTrials.map(t => t.why).filter(w => w != null))) {
        console.log(`${''.padEnd(40)}dcutr: ${why}`)
      }
    }
  } catch (err: any) {
    error = `${err.name}: ${err.message}`
    console.error(`reference stopped: ${error}`)
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await lab.destroy()
  }
  return { elapsedMs: Date.now() - started, pairs, addresses, error }
}

/** the markdown tables: side by side, then one per configuration */
function markdown (runs: ConfigRun[], reference: ReferencePair[] | undefined, types: NatType[], date: string): string {
  const lines: string[] = []
  const cols = runs.map(r => `(${r.config.letter}) ${r.config.name}`)
  if (reference != null) {
    cols.push('stock DCUtR')
  }
  lines.push(`Side by side: direct trials of ${TRIALS} per pair (✗: the configuration's target is missed), ${date}, one-way delay per site ${DELAY_MS} ms, autoUpgrade ${AUTO_UPGRADE ? 'on' : 'off'}`)
  lines.push('')
  lines.push(`| pair | ${cols.join(' | ')} |`)
  lines.push(`|---|${cols.map(() => '---').join('|')}|`)
  for (const [i, j] of pairsOf(types)) {
    const cells = runs.map(r => {
      const p = r.pairs.find(x => x.a === types[i] && x.b === types[j])
      return p == null ? '·' : `${p.trials.filter(t => t.direct).length}/${p.trials.length}${p.meetsTarget ? '' : ' ✗'}`
    })
    if (reference != null) {
      const p = reference.find(x => x.a === types[i] && x.b === types[j])
      cells.push(p == null ? '·' : `${p.trials.filter(t => t.direct).length}/${p.trials.length}`)
    }
    lines.push(`| ${types[i]} ~ ${types[j]} | ${cells.join(' | ')} |`)
  }
  const n = pairsOf(types).length
  const allDirect = (trials: Array<{ direct: boolean }>): boolean => trials.length > 0 && trials.every(t => t.direct)
  const someDirect = (trials: Array<{ direct: boolean }>): boolean => trials.some(t => t.direct)
  lines.push(`| **pairs meeting the target** | ${runs.map(r => `${r.pairs.filter(p => p.meetsTarget).length}/${n}`).join(' | ')}${reference != null ? ' | - |' : ' |'}`)
  lines.push(`| **pairs direct in every trial** | ${runs.map(r => `${r.pairs.filter(p => allDirect(p.trials)).length}/${n}`).join(' | ')}${reference != null ? ` | ${reference.filter(p => allDirect(p.trials)).length}/${n} |` : ' |'}`)
  lines.push(`| **pairs direct at least once** | ${runs.map(r => `${r.pairs.filter(p => someDirect(p.trials)).length}/${n}`).join(' | ')}${reference != null ? ` | ${reference.filter(p => someDirect(p.trials)).length}/${n} |` : ' |'}`)
  lines.push(`| time | ${runs.map(r => `${(r.elapsedMs / 1000).toFixed(0)} s`).join(' | ')}${reference != null ? ' | |' : ' |'}`)

  for (const r of runs) {
    lines.push('')
    lines.push(`(${r.config.letter}) ${r.config.name}: ${r.config.title}${r.error != null ? ` (stopped: ${r.error})` : ''}`)
    lines.push('')
    lines.push('| pair | target | direct | first trial ms | median upgrade ms | relayed RTT ms | strategy | verdict |')
    lines.push('|---|---|---|---|---|---|---|---|')
    for (const p of r.pairs) {
      const ok = p.trials.filter(t => t.direct)
      const first = p.trials[0]
      lines.push(`| ${p.a} ~ ${p.b} | ${targetText(p.expectation)} | ${ok.length}/${p.trials.length} | ${first?.direct === true ? fmt(first.upgradeMs) : 'no'} | ${fmt(median(ok.map(t => t.upgradeMs ?? NaN).filter(Number.isFinite)))} | ${fmt(median(p.trials.map(t => t.rttMs ?? NaN).filter(Number.isFinite)))} | ${strategies(p)} | ${p.meetsTarget ? 'met' : '**missed**'} |`)
    }
  }
  return lines.join('\n')
}

if (process.getuid?.() !== 0) {
  console.error('benchmarks/hole-punch needs root (it builds a NAT lab with network namespaces)')
  process.exit(1)
}

let types: NatType[] = ONLY_CONE ? CONE : [...NAT_TYPES]
if (args.types != null) {
  types = String(args.types).split(',') as NatType[]
}
if (TRIALS > 6) {
  // DEFAULT_MAX_SESSIONS_PER_PEER_PER_MINUTE: a peer refuses a 7th OFFER from the same peer within a minute
  console.warn(`--trials=${TRIALS}: the package refuses more than 6 punches per minute from one peer (maxSessionsPerPeerPerMinute), so trials after the 6th of a pair may end relayed with resource-limit`)
}
const startedAt = new Date()
const runs: ConfigRun[] = []
for (const config of CONFIGS) {
  runs.push(await runConfig(config, types))
}
const reference = REFERENCE === 'dcutr' ? await runReference(types) : undefined

const date = startedAt.toISOString().slice(0, 10)
const tables = markdown(runs, reference?.pairs, types, date)
console.log(`\n${tables}\n`)
const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
const out = new URL(`./results-${stamp}.json`, import.meta.url)
writeFileSync(out, JSON.stringify({
  date: startedAt.toISOString(),
  command: `npm run bench:punch -- ${process.argv.slice(2).join(' ')}`.trim(),
  trials: TRIALS,
  delayMs: DELAY_MS,
  autoUpgrade: AUTO_UPGRADE,
  types,
  configs: runs,
  reference: reference != null
    ? { name: 'dcutr', node: 'benchmarks/hole-punch/dcutr-node.ts', waitMs: DCUTR_WAIT_MS, ...reference }
    : undefined,
  markdown: tables
}, null, 2))
if (MD_OUT != null) {
  writeFileSync(MD_OUT, tables + '\n')
  console.log(`tables: ${MD_OUT}`)
}
console.log(`results: ${out.pathname}`)
console.log(`total ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`)
