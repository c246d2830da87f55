/* eslint-disable no-console */
/**
 * Throughput benchmark: libp2p over udx (this package) against libp2p over
 * @libp2p/tcp, both with Noise + yamux, sender and receiver in separate
 * processes on 127.0.0.1; plus raw udx-native and raw TCP reference rows.
 *
 * node benchmarks/throughput/index.ts            # full run (a few minutes)
 * node benchmarks/throughput/index.ts --quick    # smoke run (< ~60 s)
 *
 * Options:
 * --quick           small sizes, 100 idle connections, no profile
 * --profile         also profile in quick mode
 * --no-profile      skip the profiled udx pass in a full run
 * --bytes=MiB       bytes per throughput case (default 256, quick 16)
 * --repeats=N       repeats per case (default 5, quick 3)
 * --connections=N   idle connections for the memory test (default 1000)
 * --out=FILE        result file (default benchmarks/throughput/results-<time>.json)
 * --only=a,b        run only these parts: raw, libp2p, memory, profile
 * --verbose         pass child output through
 *
 * Every wait on a child process is bounded; children are killed on exit,
 * error and signals.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MiB } from './common.ts'
import { Child, killAllChildren } from './ipc.ts'
import { formatSummary, summarizeProfile } from './profile-summary.ts'
import { percentile, round, summarize } from './stats.ts'
import type { UdxCounters } from './common.ts'
import type { SenderPlan } from './libp2p-peer.ts'
import type { ProfileSummary } from './profile-summary.ts'
import type { Summary } from './stats.ts'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '../..')
const LIBP2P_PEER = join(here, 'libp2p-peer.ts')
const RAW_PEER = join(here, 'raw-peer.ts')

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

const argv = process.argv.slice(2)
const flag = (name: string): boolean => argv.includes(`--${name}`)
const value = (name: string): string | undefined => argv.find(a => a.startsWith(`--${name}=`))?.split('=')[1]

for (const a of argv) {
  if (!/^--(quick|profile|no-profile|verbose|help|(bytes|repeats|connections|out|only)=.+)$/.test(a)) {
    console.error(`unknown option ${a}; see the header of benchmarks/throughput/index.ts`)
    process.exit(2)
  }
}
if (flag('help')) {
  console.log('usage: node benchmarks/throughput/index.ts [--quick] [--profile|--no-profile] [--bytes=MiB] [--repeats=N] [--connections=N] [--out=FILE] [--verbose]')
  process.exit(0)
}

const quick = flag('quick')
const config = {
  quick,
  bytes: Number(value('bytes') ?? (quick ? 16 : 256)) * MiB,
  repeats: Number(value('repeats') ?? (quick ? 3 : 5)),
  warmupBytes: (quick ? 4 : 32) * MiB,
  streamCounts: [1, 16],
  pings: quick ? 50 : 200,
  rttSamples: quick ? 50 : 200,
  connections: Number(value('connections') ?? (quick ? 100 : 1000)),
  profile: quick ? flag('profile') : !flag('no-profile'),
  profileBytes: (quick ? 16 : 128) * MiB,
  verbose: flag('verbose'),
  only: value('only')?.split(',') ?? ['raw', 'libp2p', 'memory', 'profile'],
  /** the whole run must finish within this */
  deadlineMs: quick ? 180_000 : 45 * 60_000,
  /** wait after the last dial before measuring idle memory */
  settleMs: 11_000
}

/** ms allowed for one transfer of `bytes` (≥ 1 MB/s plus slack) */
const transferTimeout = (bytes: number): number => 30_000 + bytes / 1_000

// ---------------------------------------------------------------------------
// process hygiene
// ---------------------------------------------------------------------------

const deadline = setTimeout(() => {
  console.error(`benchmark exceeded its ${config.deadlineMs / 1000} s deadline, killing children`)
  killAllChildren()
  process.exit(1)
}, config.deadlineMs)
deadline.unref()

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllChildren()
    process.exit(130)
  })
}
process.on('uncaughtException', (err) => {
  console.error(err)
  killAllChildren()
  process.exit(1)
})

function log (msg: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`)
}

// ---------------------------------------------------------------------------
// result types
// ---------------------------------------------------------------------------

interface TransferSample {
  bytes: number
  seconds: number
  mbps: number
  senderCpuPct: number
  receiverCpuPct: number
  /** kernel share of the CPU percentages above */
  senderSysPct: number
  receiverSysPct: number
  /** udx-native counters during the transfer (udx cases) */
  senderUdx?: UdxCounters
  receiverUdx?: UdxCounters
}

interface Cpu { senderCpu: number, receiverCpu: number, senderSys: number, receiverSys: number, senderUdx?: UdxCounters, receiverUdx?: UdxCounters }

interface ThroughputRow {
  name: string
  stack: 'raw' | 'libp2p'
  transport: 'udx' | 'tcp'
  streams: number
  bytes: number
  samples: TransferSample[]
  mbps: Summary
  senderCpuPct: number
  receiverCpuPct: number
  senderSysPct: number
  receiverSysPct: number
}

interface LatencyResult {
  transport: 'udx' | 'tcp'
  pingWallMs: { median: number, p95: number, min: number, max: number, n: number }
  pingReportedMs: { median: number, p95: number, n: number }
  streamRttMs: { median: number, p95: number, min: number, max: number, n: number }
  dialMs: number
}

interface MemoryResult {
  transport: 'udx' | 'tcp'
  connections: number
  listenerConnections: number
  dialerConnections: number
  failures: number
  /** connections that closed between the baseline and the measurement */
  closed: number
  firstError?: string
  dialSeconds: number
  perConnectionKiB: {
    dialer: { rss: number, heapUsed: number, external: number, arrayBuffers: number }
    listener: { rss: number, heapUsed: number, external: number, arrayBuffers: number }
  }
}

const errors: string[] = []

function sample (bytes: number, seconds: number, cpu: Cpu): TransferSample {
  return {
    bytes,
    seconds: round(seconds, 3),
    mbps: round(bytes / seconds / 1e6, 1),
    senderCpuPct: round(cpu.senderCpu / seconds * 100, 0),
    receiverCpuPct: round(cpu.receiverCpu / seconds * 100, 0),
    senderSysPct: round(cpu.senderSys / seconds * 100, 0),
    receiverSysPct: round(cpu.receiverSys / seconds * 100, 0),
    senderUdx: cpu.senderUdx,
    receiverUdx: cpu.receiverUdx
  }
}

function row (name: string, stack: 'raw' | 'libp2p', transport: 'udx' | 'tcp', streams: number, bytes: number, samples: TransferSample[]): ThroughputRow {
  return {
    name,
    stack,
    transport,
    streams,
    bytes,
    samples,
    mbps: summarize(samples.map(s => s.mbps)),
    senderCpuPct: round(percentile(samples.map(s => s.senderCpuPct), 50), 0),
    receiverCpuPct: round(percentile(samples.map(s => s.receiverCpuPct), 50), 0),
    senderSysPct: round(percentile(samples.map(s => s.senderSysPct), 50), 0),
    receiverSysPct: round(percentile(samples.map(s => s.receiverSysPct), 50), 0)
  }
}

function profileFile (dir: string | undefined, name: string): string | undefined {
  return dir == null ? undefined : join(dir, `${name}.cpuprofile`)
}

// ---------------------------------------------------------------------------
// raw udx-native / raw TCP
// ---------------------------------------------------------------------------

async function runRaw (transport: 'udx' | 'tcp', rounds: number[], profileDir?: string): Promise<Array<{ bytes: number, seconds: number } & Cpu>> {
  const receiver = new Child(RAW_PEER, [JSON.stringify({ role: 'receiver', transport, profile: profileFile(profileDir, `raw-${transport}-receiver`) })], {
    name: `raw-${transport}-receiver`, verbose: config.verbose
  })
  let sender: Child | undefined
  try {
    const { port } = await receiver.next('ready', 15_000)
    sender = new Child(RAW_PEER, [JSON.stringify({ role: 'sender', transport, port, rounds, transferTimeout: transferTimeout(Math.max(...rounds)), profile: profileFile(profileDir, `raw-${transport}-sender`) })], {
      name: `raw-${transport}-sender`, verbose: config.verbose
    })
    const ready = await sender.next('ready', 15_000)
    receiver.send({ type: 'connect', port: ready.port })
    await receiver.next('connected', 5_000)
    sender.send({ type: 'go' })

    const results = []
    for (let i = 0; i < rounds.length; i++) {
      const r = await sender.next('round', transferTimeout(rounds[i]) + 5_000)
      results.push({ bytes: r.bytes, seconds: r.seconds, senderCpu: r.senderCpu, receiverCpu: r.receiverCpu, senderSys: r.senderSys, receiverSys: r.receiverSys, senderUdx: r.senderUdx, receiverUdx: r.receiverUdx })
    }
    await sender.next('done', 10_000)
    return results
  } finally {
    await Promise.all([sender?.stop(), receiver.stop()])
  }
}

// ---------------------------------------------------------------------------
// libp2p over udx / tcp
// ---------------------------------------------------------------------------

interface Libp2pRun {
  dialMs: number
  remoteAddr: string
  ping?: { wall: number[], reported: number[] }
  rtt?: number[]
  transfers: Array<{ streams: number, bytes: number, seconds: number } & Cpu>
}

async function runLibp2p (transport: 'udx' | 'tcp', plan: SenderPlan, profileDir?: string, profileName = `libp2p-${transport}`): Promise<Libp2pRun> {
  const receiver = new Child(LIBP2P_PEER, [JSON.stringify({ role: 'receiver', transport })], {
    name: `${transport}-receiver`, verbose: config.verbose
  })
  if (profileDir != null) {
    plan = { ...plan, profile: profileFile(profileDir, `${profileName}-sender`) }
  }
  let sender: Child | undefined
  try {
    const ready = await receiver.next('ready', 20_000)
    const addr: string | undefined = ready.addrs.find((a: string) => a.includes(transport === 'udx' ? '/udx' : '/tcp/'))
    if (addr == null) {
      throw new Error(`${transport} receiver announced no ${transport} address: ${JSON.stringify(ready.addrs)}`)
    }
    sender = new Child(LIBP2P_PEER, [JSON.stringify({ role: 'sender', transport, addr, plan })], {
      name: `${transport}-sender`, verbose: config.verbose
    })

    const dialed = await sender.next('dialed', 30_000)
    const run: Libp2pRun = { dialMs: dialed.ms, remoteAddr: dialed.remoteAddr, transfers: [] }
    if (plan.pings > 0) {
      const ping = await sender.next('ping', 10_000 + plan.pings * 1_000)
      run.ping = { wall: ping.wall, reported: ping.reported }
    }
    if (plan.rttSamples > 0) {
      run.rtt = (await sender.next('rtt', 10_000 + plan.rttSamples * 1_000)).samples
    }
    if (plan.warmupBytes > 0) {
      await sender.next('warmed-up', 2 * transferTimeout(plan.warmupBytes))
    }
    if (profileDir != null) {
      await sender.next('profile-ready', 30_000)
      receiver.send({ type: 'profile-start', file: profileFile(profileDir, `${profileName}-receiver`) })
      await receiver.next('profiling', 10_000)
      sender.send({ type: 'go' })
    }
    for (const c of plan.cases) {
      for (let r = 0; r < c.repeats; r++) {
        const t = await sender.next('transfer', transferTimeout(c.bytes) + 15_000)
        run.transfers.push({ streams: t.streams, bytes: t.bytes, seconds: t.seconds, senderCpu: t.senderCpu, receiverCpu: t.receiverCpu, senderSys: t.senderSys, receiverSys: t.receiverSys, senderUdx: t.senderUdx, receiverUdx: t.receiverUdx })
        log(`  ${transport} ${t.streams} stream(s) #${r + 1}: ${(t.bytes / t.seconds / 1e6).toFixed(1)} MB/s`)
      }
    }
    await sender.next('done', 30_000)
    if (profileDir != null) {
      receiver.send({ type: 'profile-stop' })
      await receiver.next('profile-written', 30_000)
    }
    return run
  } finally {
    await Promise.all([sender?.stop(), receiver.stop()])
  }
}

// ---------------------------------------------------------------------------
// memory per idle connection
// ---------------------------------------------------------------------------

async function runMemory (transport: 'udx' | 'tcp', count: number): Promise<MemoryResult> {
  const listener = new Child(LIBP2P_PEER, [JSON.stringify({ role: 'receiver', transport })], {
    name: `${transport}-listener`, verbose: config.verbose, nodeArgs: ['--expose-gc']
  })
  let dialer: Child | undefined
  try {
    const ready = await listener.next('ready', 20_000)
    const addr: string = ready.addrs.find((a: string) => a.includes(transport === 'udx' ? '/udx' : '/tcp/'))
    dialer = new Child(LIBP2P_PEER, [JSON.stringify({ role: 'dialer', transport, addr })], {
      name: `${transport}-dialer`, verbose: config.verbose, nodeArgs: ['--expose-gc']
    })
    await dialer.next('warm', 30_000)

    // baseline: both processes with one warm connection
    listener.send({ type: 'measure' })
    dialer.send({ type: 'measure' })
    const [l0, d0] = await Promise.all([listener.next('memory', 15_000), dialer.next('memory', 15_000)])

    dialer.send({ type: 'dial', count })
    const dialed = await dialer.next('dialed', 60_000 + count * 200)

    // let the connections settle into idle before measuring: handshake
    // buffers released, and every dial- and upgrade-time timer (libp2p's
    // dialTimeout/inboundUpgradeTimeout, 10 s here) fired, so what is left
    // is what an idle connection holds
    await new Promise(resolve => setTimeout(resolve, config.settleMs))
    listener.send({ type: 'measure' })
    dialer.send({ type: 'measure' })
    const [l1, d1] = await Promise.all([listener.next('memory', 15_000), dialer.next('memory', 15_000)])

    const opened = d1.connections - d0.connections
    const per = (after: any, before: any, key: string): number => opened > 0 ? round((after.memory[key] - before.memory[key]) / opened / 1024, 2) : NaN

    return {
      transport,
      connections: opened,
      listenerConnections: l1.connections - l0.connections,
      dialerConnections: d1.connections - d0.connections,
      failures: dialed.failures,
      closed: d1.closed - d0.closed,
      firstError: dialed.firstError,
      dialSeconds: round(dialed.ms / 1000, 2),
      perConnectionKiB: {
        dialer: { rss: per(d1, d0, 'rss'), heapUsed: per(d1, d0, 'heapUsed'), external: per(d1, d0, 'external'), arrayBuffers: per(d1, d0, 'arrayBuffers') },
        listener: { rss: per(l1, l0, 'rss'), heapUsed: per(l1, l0, 'heapUsed'), external: per(l1, l0, 'external'), arrayBuffers: per(l1, l0, 'arrayBuffers') }
      }
    }
  } finally {
    await Promise.all([dialer?.stop(20_000), listener.stop(20_000)])
  }
}

// ---------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------

function pad (s: string, n: number, right = false): string {
  return right ? s.padEnd(n) : s.padStart(n)
}

function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => pad(c, widths[i], i === 0)).join(' | ') + ' |'
  return [line(headers), '|' + widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|').replace(/^\|:/, '|:') + '|', ...rows.map(line)].join('\n')
}

function fmt (n: number | undefined, digits = 1): string {
  return n == null || Number.isNaN(n) ? 'n/a' : n.toFixed(digits)
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

const started = Date.now()
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const throughput: ThroughputRow[] = []
const latency: LatencyResult[] = []
const memory: MemoryResult[] = []
const profiles: Array<{ label: string, summary: ProfileSummary }> = []
const command = `node benchmarks/throughput/index.ts${argv.length > 0 ? ' ' + argv.join(' ') : ''}`

log(`throughput benchmark (${quick ? 'quick' : 'full'}): ${config.bytes / MiB} MiB per case x ${config.repeats}, ${config.connections} idle connections`)

async function attempt (what: string, fn: () => Promise<void>): Promise<void> {
  log(what)
  try {
    await fn()
  } catch (err: any) {
    const msg = `${what} failed: ${err?.message ?? err}`
    errors.push(msg)
    log(msg)
    killAllChildren()
  }
}

const rawRounds = [config.warmupBytes, ...Array.from({ length: config.repeats }, () => config.bytes)]
for (const transport of config.only.includes('raw') ? ['udx', 'tcp'] as const : []) {
  await attempt(`raw ${transport === 'udx' ? 'udx-native' : 'TCP'}, 1 stream`, async () => {
    const rounds = await runRaw(transport, rawRounds)
    const samples = rounds.slice(1).map(r => sample(r.bytes, r.seconds, r))
    throughput.push(row(`raw ${transport === 'udx' ? 'udx-native' : 'TCP (node:net)'}`, 'raw', transport, 1, config.bytes, samples))
    log(`  ${samples.map(s => s.mbps).join(', ')} MB/s`)
  })
}

for (const transport of config.only.includes('libp2p') ? ['udx', 'tcp'] as const : []) {
  await attempt(`libp2p over ${transport} + Noise + yamux: ping, RTT, throughput`, async () => {
    const plan: SenderPlan = {
      warmupBytes: config.warmupBytes,
      pings: config.pings,
      rttSamples: config.rttSamples,
      cases: config.streamCounts.map(streams => ({ streams, bytes: config.bytes, repeats: config.repeats })),
      transferTimeout: transferTimeout(config.bytes)
    }
    const run = await runLibp2p(transport, plan)
    for (const streams of config.streamCounts) {
      const samples = run.transfers.filter(t => t.streams === streams).map(t => sample(t.bytes, t.seconds, t))
      throughput.push(row(`libp2p ${transport} + Noise + yamux`, 'libp2p', transport, streams, config.bytes, samples))
    }
    const wall = run.ping!.wall
    const rtt = run.rtt!
    latency.push({
      transport,
      dialMs: round(run.dialMs, 1),
      pingWallMs: { median: round(percentile(wall, 50), 3), p95: round(percentile(wall, 95), 3), min: round(Math.min(...wall), 3), max: round(Math.max(...wall), 3), n: wall.length },
      pingReportedMs: { median: round(percentile(run.ping!.reported, 50), 1), p95: round(percentile(run.ping!.reported, 95), 1), n: run.ping!.reported.length },
      streamRttMs: { median: round(percentile(rtt, 50), 3), p95: round(percentile(rtt, 95), 3), min: round(Math.min(...rtt), 3), max: round(Math.max(...rtt), 3), n: rtt.length }
    })
  })
}

for (const transport of config.only.includes('memory') ? ['udx', 'tcp'] as const : []) {
  await attempt(`memory: ${config.connections} idle libp2p ${transport} connections`, async () => {
    const m = await runMemory(transport, config.connections)
    memory.push(m)
    log(`  ${m.connections} connections in ${m.dialSeconds} s; dialer ${m.perConnectionKiB.dialer.rss} KiB RSS/conn, listener ${m.perConnectionKiB.listener.rss} KiB RSS/conn`)
    if (m.closed > 0) {
      errors.push(`memory ${transport}: ${m.closed} connection(s) closed before the measurement`)
    }
    if (m.failures > 0) {
      errors.push(`memory ${transport}: ${m.failures} dial(s) failed, first: ${m.firstError}`)
    }
  })
}

let profileDir: string | undefined
if (config.profile && config.only.includes('profile')) {
  profileDir = join(here, 'profiles', stamp)
  mkdirSync(profileDir, { recursive: true })
  const dir = profileDir
  const plan = (streams: number): SenderPlan => ({
    warmupBytes: 0,
    pings: 0,
    rttSamples: 0,
    cases: [{ streams, bytes: config.profileBytes, repeats: 1 }],
    transferTimeout: transferTimeout(config.profileBytes)
  })
  await attempt('profile: libp2p udx, 1 stream', async () => { await runLibp2p('udx', plan(1), dir, 'libp2p-udx-1') })
  await attempt('profile: libp2p udx, 16 streams', async () => { await runLibp2p('udx', plan(16), dir, 'libp2p-udx-16') })
  await attempt('profile: libp2p tcp, 1 stream', async () => { await runLibp2p('tcp', plan(1), dir, 'libp2p-tcp-1') })
  await attempt('profile: raw udx-native', async () => { await runRaw('udx', [config.profileBytes], dir) })

  for (const file of readdirSync(dir).filter(f => f.endsWith('.cpuprofile')).sort()) {
    try {
      profiles.push({ label: file.replace('.cpuprofile', ''), summary: summarizeProfile(join(dir, file)) })
    } catch (err: any) {
      errors.push(`profile ${file}: ${err.message}`)
    }
  }
}

// ---------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------

const find = (stack: string, transport: string, streams: number): ThroughputRow | undefined =>
  throughput.find(r => r.stack === stack && r.transport === transport && r.streams === streams)

const ratios: Record<string, number | null> = {}
for (const streams of config.streamCounts) {
  const u = find('libp2p', 'udx', streams)
  const t = find('libp2p', 'tcp', streams)
  ratios[`libp2p-${streams}`] = u != null && t != null ? round(u.mbps.median / t.mbps.median, 2) : null
}
{
  const u = find('raw', 'udx', 1)
  const t = find('raw', 'tcp', 1)
  ratios['raw-1'] = u != null && t != null ? round(u.mbps.median / t.mbps.median, 2) : null
}
{
  const u = find('libp2p', 'udx', 1)
  const r = find('raw', 'udx', 1)
  ratios['libp2p-udx-1 / raw-udx'] = u != null && r != null ? round(u.mbps.median / r.mbps.median, 2) : null
}

const ratioFor = (r: ThroughputRow): string => {
  if (r.transport !== 'udx') { return '' }
  const v = ratios[r.stack === 'raw' ? 'raw-1' : `libp2p-${r.streams}`]
  return v == null ? 'n/a' : `${v.toFixed(2)}x`
}

/** retransmits by the sender and kernel drops at the receiver, per repeat */
function udxHealth (r: ThroughputRow): string {
  if (r.transport !== 'udx') { return '' }
  return r.samples.map(s => s.senderUdx == null ? '?' : `${s.senderUdx.retransmits}/${s.receiverUdx?.packetsDroppedByKernel ?? '?'}`).join(', ')
}

const throughputTable = table(
  ['case', 'streams', 'MB/s median', 'min', 'max', 'n', 'sender CPU (sys)', 'receiver CPU (sys)', 'udx/tcp', 'udx retransmits / rcv kernel drops'],
  throughput.map(r => [r.name, String(r.streams), fmt(r.mbps.median), fmt(r.mbps.min), fmt(r.mbps.max), String(r.mbps.n), `${r.senderCpuPct}% (${r.senderSysPct}%)`, `${r.receiverCpuPct}% (${r.receiverSysPct}%)`, ratioFor(r), udxHealth(r)])
)

const latencyTable = table(
  ['transport', 'ping() median ms', 'ping() p95 ms', 'ping svc median/p95 ms', 'stream RTT median ms', 'stream RTT p95 ms', 'first dial ms'],
  latency.map(l => [`libp2p ${l.transport}`, fmt(l.pingWallMs.median, 3), fmt(l.pingWallMs.p95, 3), `${l.pingReportedMs.median} / ${l.pingReportedMs.p95}`, fmt(l.streamRttMs.median, 3), fmt(l.streamRttMs.p95, 3), fmt(l.dialMs, 1)])
)

const memoryTable = table(
  ['transport', 'connections', 'dialer RSS', 'dialer heap', 'dialer ArrayBuffers', 'listener RSS', 'listener heap', 'listener ArrayBuffers', 'dial time s'],
  memory.map(m => [`libp2p ${m.transport}`, String(m.connections), fmt(m.perConnectionKiB.dialer.rss), fmt(m.perConnectionKiB.dialer.heapUsed), fmt(m.perConnectionKiB.dialer.arrayBuffers), fmt(m.perConnectionKiB.listener.rss), fmt(m.perConnectionKiB.listener.heapUsed), fmt(m.perConnectionKiB.listener.arrayBuffers), fmt(m.dialSeconds, 2)])
)

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  node: process.version
}

console.log()
console.log(`Throughput (${config.bytes / MiB} MiB per case, MB = 10^6 bytes; CPU: user+sys of each process during the transfer, 100% = one core, kernel share in parentheses)`)
console.log(throughputTable)
console.log()
console.log(`Latency (${config.pings} ping() calls, ${config.rttSamples} 32-byte round trips on one open stream)`)
console.log(latencyTable)
console.log()
console.log(`Memory per idle connection, KiB per connection (${config.connections} connections, after GC; ArrayBuffers are part of RSS once touched, not of heap)`)
console.log(memoryTable)
for (const p of profiles) {
  console.log()
  console.log(formatSummary(p.summary, p.label, 12))
}
if (errors.length > 0) {
  console.log()
  console.log('Errors:')
  errors.forEach(e => { console.log(`  - ${e}`) })
}

const out = value('out') ?? join(here, `results-${stamp}.json`)
writeFileSync(out, JSON.stringify({
  date: new Date().toISOString(),
  command,
  config,
  machine,
  durationSeconds: round((Date.now() - started) / 1000, 1),
  throughput,
  ratios,
  latency,
  memory,
  profileDir: profileDir != null ? relative(repoRoot, profileDir) : undefined,
  profiles,
  errors
}, null, 2) + '\n')
console.log()
console.log(`results: ${relative(process.cwd(), out)}${profileDir != null ? `, profiles: ${relative(process.cwd(), profileDir)}` : ''} (${round((Date.now() - started) / 1000, 1)} s)`)

killAllChildren()
process.exit(errors.length > 0 ? 1 : 0)
