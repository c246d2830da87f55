/* eslint-disable no-console, max-depth */
/**
 * Hole punching in the NAT lab (needs root): every unordered pair of lab
 * NAT types, N trials each, through real kernel NATs.
 *
 * npm run bench:punch -- [--trials=5] [--delay=0] [--pairs=cone] [--types=port-restricted,symmetric-seq] [--reference=dcutr|none]
 *
 * For each pair: how many trials ended on a direct connection (judged from
 * the NAT routers' conntrack tables), the time from the relayed connection
 * being open to the direct connection being upgraded, the relayed RTT the
 * initiator measured, and the strategy. For symmetric-random pairs, the time
 * to the fallback decision. Results go to benchmarks/hole-punch/results-*.json.
 *
 * The reference (`--reference=dcutr`, the default; `--reference=none` skips
 * it): stock js-libp2p DCUtR over TCP (benchmarks/hole-punch/dcutr-node.ts,
 * with identify and AutoNAT, its own circuit relay on TCP port 4101), one
 * more node process in the same lab hosts (same NATs, same pairs, same
 * trial count). After our trials of a pair, X dials Y's circuit address on
 * the DCUtR nodes and waits up to 20 s for an unlimited connection; it is
 * direct only when the NAT router also tracks an established TCP flow to the
 * other site's public address and port. The last DCUtR error either side
 * logged (DEBUG=libp2p:dcutr*) is kept as the trial's `why`.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { hasDirectFlow, LabNode, startPeerNode, startRelayNode } from '../../demo/lab-driver.ts'
import { Lab, NAT_TYPES } from '../../src/lab/index.ts'
import { runCommand } from '../../src/lab/run-command.ts'
import type { Lab as LabType, LabHost, NatType } from '../../src/lab/index.ts'

const args = Object.fromEntries(process.argv.slice(2).map(a => a.replace(/^--/, '').split('=')))
const TRIALS = Number(args.trials ?? 5)
const DELAY_MS = Number(args.delay ?? 0)
const ONLY_CONE = args.pairs === 'cone'
const CONE: NatType[] = ['none', 'full-cone', 'restricted', 'port-restricted']
const REFERENCE = String(args.reference ?? 'dcutr')
if (REFERENCE !== 'dcutr' && REFERENCE !== 'none') {
  console.error(`--reference=${REFERENCE}: use dcutr or none`)
  process.exit(1)
}
const DCUTR_WAIT_MS = 20_000
const DCUTR_NODE = fileURLToPath(new URL('./dcutr-node.ts', import.meta.url))
const NODE_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning']
const DCUTR_ENV = { ...process.env, DEBUG: 'libp2p:dcutr*' }

interface Trial { direct: boolean, upgradeMs?: number, rttMs?: number, strategy?: string, decisionMs?: number, error?: string }
interface ReferenceTrial { direct: boolean, apiDirect: boolean, upgradeMs?: number, relayedMs?: number, remoteAddr?: string, why?: string, log?: string[], error?: string }

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

function median (values: number[]): number | undefined {
  if (values.length === 0) { return undefined }
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
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

if (process.getuid?.() !== 0) {
  console.error('benchmarks/hole-punch needs root (it builds a NAT lab with network namespaces)')
  process.exit(1)
}

const types: NatType[] = args.types != null ? String(args.types).split(',') as NatType[] : ONLY_CONE ? CONE : [...NAT_TYPES]
const lab = await Lab.create({
  sites: types.flatMap((nat, i) => [{ name: `x${i}`, nat, delayMs: DELAY_MS }, { name: `y${i}`, nat, delayMs: DELAY_MS }]),
  publicHosts: ['relay']
})
const nodes: LabNode[] = []

try {
  const relay = await startRelayNode(lab.host('relay'))
  nodes.push(relay)
  const xs = await Promise.all(types.map(async (_, i) => startPeerNode(lab.host(`x${i}1`), relay, lab.host('relay'))))
  const ys = await Promise.all(types.map(async (_, i) => startPeerNode(lab.host(`y${i}1`), relay, lab.host('relay'))))
  nodes.push(...xs, ...ys)
  let dRelay: LabNode | undefined
  let dxs: LabNode[] = []
  let dys: LabNode[] = []
  if (REFERENCE === 'dcutr') {
    dRelay = await startDcutrRelay(lab.host('relay'))
    nodes.push(dRelay)
    dxs = await Promise.all(types.map(async (_, i) => startDcutrPeer(lab.host(`x${i}1`), dRelay as LabNode, lab.host('relay'))))
    dys = await Promise.all(types.map(async (_, i) => startDcutrPeer(lab.host(`y${i}1`), dRelay as LabNode, lab.host('relay'))))
    nodes.push(...dxs, ...dys)
  }
  const results: Array<{ a: NatType, b: NatType, trials: Trial[], dcutr?: ReferenceTrial[] }> = []

  for (let i = 0; i < types.length; i++) {
    for (let j = i; j < types.length; j++) {
      const trials: Trial[] = []
      for (let k = 0; k < TRIALS; k++) {
        const res = await xs[i].request({ cmd: 'connect', target: ys[j].ready.circuit, timeoutMs: 40_000 }, 60_000)
        const at = (step: string): any => res.timeline?.find((s: any) => s.step === step)
        const relayed = at('hole-punch:relayed')
        const offer = at('hole-punch:offer')
        const plan = at('hole-punch:plan')
        const yPublic = types[j] === 'none' ? lab.host(`y${j}1`).ip : lab.site(`y${j}`).publicIp
        const xPublic = types[i] === 'none' ? lab.host(`x${i}1`).ip : lab.site(`x${i}`).publicIp
        let direct = res.ok === true && res.connection?.limited === false
        if (direct) {
          direct = types[i] !== 'none'
            ? await hasDirectFlow(lab, `x${i}`, yPublic)
            : types[j] !== 'none' ? await hasDirectFlow(lab, `y${j}`, xPublic) : res.connection.remoteAddr.includes(`/ip4/${yPublic}/`)
        }
        trials.push({
          direct,
          upgradeMs: direct && relayed != null ? res.durationMs - relayed.at : undefined,
          rttMs: at('hole-punch:answer')?.detail?.rttMs,
          strategy: plan?.detail?.strategy,
          decisionMs: plan != null && offer != null ? plan.at - offer.at : undefined,
          error: res.error
        })
        await xs[i].request({ cmd: 'hangup', peer: ys[j].ready.peerId }).catch(() => {})
        // a circuit dial racing the close of the previous one gets reset by the relay
        await new Promise(resolve => setTimeout(resolve, 300))
      }
      let dcutrTrials: ReferenceTrial[] | undefined
      if (REFERENCE === 'dcutr') {
        dcutrTrials = []
        const yPublic = types[j] === 'none' ? lab.host(`y${j}1`).ip : lab.site(`y${j}`).publicIp
        const xPublic = types[i] === 'none' ? lab.host(`x${i}1`).ip : lab.site(`x${i}`).publicIp
        for (let k = 0; k < TRIALS; k++) {
          const since = Date.now()
          const stopWatching = new AbortController()
          const relayedBefore = dxs[i].events('progress').length
          const res: any = await Promise.race([
            dxs[i].request({ cmd: 'connect', target: dys[j].ready.circuit, timeoutMs: DCUTR_WAIT_MS }, DCUTR_WAIT_MS + 30_000),
            dcutrGaveUp(dys[j], since, stopWatching.signal)
          ]).finally(() => { stopWatching.abort() })
          const log = dcutrLog(since, dxs[i], dys[j])
          // when DCUtR gave up first, the relayed time is in X's progress line
          const progress = dxs[i].events('progress')
          res.relayedMs ??= progress.length > relayedBefore ? progress.at(-1)?.relayedMs : undefined
          const apiDirect = res.ok === true && res.connection?.limited === false
          let direct = apiDirect
          if (direct) {
            const remote = String(res.connection.remoteAddr)
            const port = Number(remote.match(/\/tcp\/(\d+)/)?.[1] ?? NaN)
            // judged at X's router; at Y's when X has no NAT (X's port is not known there)
            direct = types[i] !== 'none'
              ? await hasTcpFlow(lab, `x${i}`, yPublic, Number.isFinite(port) ? port : undefined)
              : types[j] !== 'none' ? await hasTcpFlow(lab, `y${j}`, xPublic) : remote.includes(`/ip4/${yPublic}/`)
          }
          dcutrTrials.push({
            direct,
            apiDirect,
            upgradeMs: direct ? res.upgradeMs : undefined,
            relayedMs: res.relayedMs,
            remoteAddr: res.connection?.remoteAddr,
            log,
            why: direct ? undefined : dcutrWhy(log) ?? (res.ok === true ? undefined : res.error) ?? `no unlimited connection within ${DCUTR_WAIT_MS} ms, no DCUtR error logged`,
            error: res.error
          })
          await dxs[i].request({ cmd: 'hangup', peer: dys[j].ready.peerId }).catch(() => {})
          await new Promise(resolve => setTimeout(resolve, 300))
        }
      }
      results.push({ a: types[i], b: types[j], trials, dcutr: dcutrTrials })
      const ok = trials.filter(t => t.direct)
      const up = median(ok.map(t => t.upgradeMs ?? NaN).filter(Number.isFinite))
      const rtt = median(trials.map(t => t.rttMs ?? NaN).filter(Number.isFinite))
      const target = rtt != null ? 3 * rtt + 300 : undefined
      let row = `${`${types[i]} ~ ${types[j]}`.padEnd(38)} ours direct ${ok.length}/${trials.length}, median ${up?.toFixed(0) ?? '-'} ms`
      if (dcutrTrials != null) {
        const dOk = dcutrTrials.filter(t => t.direct)
        const dUp = median(dOk.map(t => t.upgradeMs ?? NaN).filter(Number.isFinite))
        row += ` | dcutr direct ${dOk.length}/${dcutrTrials.length}, median ${dUp?.toFixed(0) ?? '-'} ms`
      }
      row += `  (rtt ${rtt?.toFixed(1) ?? '-'} ms, 3·rtt+300 = ${target?.toFixed(0) ?? '-'}, ${[...new Set(trials.map(t => t.strategy ?? '-'))].join(',')}, decision ${median(trials.map(t => t.decisionMs ?? NaN).filter(Number.isFinite)) ?? '-'} ms)`
      console.log(row)
      const whys = [...new Set((dcutrTrials ?? []).map(t => t.why).filter(w => w != null))]
      for (const why of whys) {
        console.log(`${''.padEnd(40)}dcutr: ${why}`)
      }
    }
  }

  const pairs = results.length
  const allDirect = results.filter(r => r.trials.every(t => t.direct)).length
  const someDirect = results.filter(r => r.trials.some(t => t.direct)).length
  console.log(`\nours:  ${allDirect}/${pairs} pairs direct in every trial, ${someDirect}/${pairs} direct in at least one (trials ${TRIALS}, one-way delay per site ${DELAY_MS} ms)`)
  if (REFERENCE === 'dcutr') {
    const dAll = results.filter(r => r.dcutr?.every(t => t.direct) === true).length
    const dSome = results.filter(r => r.dcutr?.some(t => t.direct) === true).length
    console.log(`dcutr: ${dAll}/${pairs} pairs direct in every trial, ${dSome}/${pairs} direct in at least one (same lab, pairs and trials)`)
  }
  const out = new URL(`./results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url)
  writeFileSync(out, JSON.stringify({
    trials: TRIALS,
    delayMs: DELAY_MS,
    reference: REFERENCE === 'dcutr'
      ? { name: 'dcutr', node: 'benchmarks/hole-punch/dcutr-node.ts', waitMs: DCUTR_WAIT_MS, addresses: dxs.concat(dys).map(n => ({ host: n.proc.host, addresses: n.ready.addresses })) }
      : undefined,
    results
  }, null, 2))
  console.log(`results: ${out.pathname}`)
} finally {
  await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  await lab.destroy()
}
