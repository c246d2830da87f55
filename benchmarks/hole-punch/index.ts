/* eslint-disable no-console, max-depth */
/**
 * Hole punching in the NAT lab (needs root): every unordered pair of lab
 * NAT types, N trials each, through real kernel NATs.
 *
 * npm run bench:punch -- [--trials=5] [--delay=0] [--pairs=cone] [--types=port-restricted,symmetric-seq]
 *
 * For each pair: how many trials ended on a direct connection (judged from
 * the NAT routers' conntrack tables), the time from the relayed connection
 * being open to the direct connection being upgraded, the relayed RTT the
 * initiator measured, and the strategy. For symmetric-random pairs, the time
 * to the fallback decision. Results go to benchmarks/hole-punch/results-*.json.
 */
import { writeFileSync } from 'node:fs'
import { hasDirectFlow, startPeerNode, startRelayNode } from '../../demo/lab-driver.ts'
import { Lab, NAT_TYPES } from '../../src/lab/index.ts'
import type { LabNode } from '../../demo/lab-driver.ts'
import type { NatType } from '../../src/lab/index.ts'

const args = Object.fromEntries(process.argv.slice(2).map(a => a.replace(/^--/, '').split('=')))
const TRIALS = Number(args.trials ?? 5)
const DELAY_MS = Number(args.delay ?? 0)
const ONLY_CONE = args.pairs === 'cone'
const CONE: NatType[] = ['none', 'full-cone', 'restricted', 'port-restricted']

interface Trial { direct: boolean, upgradeMs?: number, rttMs?: number, strategy?: string, decisionMs?: number, error?: string }

function median (values: number[]): number | undefined {
  if (values.length === 0) { return undefined }
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
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
  const results: Array<{ a: NatType, b: NatType, trials: Trial[] }> = []

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
      results.push({ a: types[i], b: types[j], trials })
      const ok = trials.filter(t => t.direct)
      const up = median(ok.map(t => t.upgradeMs ?? NaN).filter(Number.isFinite))
      const rtt = median(trials.map(t => t.rttMs ?? NaN).filter(Number.isFinite))
      const target = rtt != null ? 3 * rtt + 300 : undefined
      console.log(`${`${types[i]} ~ ${types[j]}`.padEnd(38)} direct ${ok.length}/${trials.length}  upgrade median ${up?.toFixed(0) ?? '-'} ms  rtt ${rtt?.toFixed(1) ?? '-'} ms  (3·rtt+300 = ${target?.toFixed(0) ?? '-'})  ${[...new Set(trials.map(t => t.strategy ?? '-'))].join(',')}  decision ${median(trials.map(t => t.decisionMs ?? NaN).filter(Number.isFinite)) ?? '-'} ms`)
    }
  }

  const pairs = results.length
  const allDirect = results.filter(r => r.trials.every(t => t.direct)).length
  const someDirect = results.filter(r => r.trials.some(t => t.direct)).length
  console.log(`\n${allDirect}/${pairs} pairs direct in every trial, ${someDirect}/${pairs} direct in at least one (trials ${TRIALS}, one-way delay per site ${DELAY_MS} ms)`)
  const out = new URL(`./results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url)
  writeFileSync(out, JSON.stringify({ trials: TRIALS, delayMs: DELAY_MS, results }, null, 2))
  console.log(`results: ${out.pathname}`)
} finally {
  await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  await lab.destroy()
}
