/* eslint-disable no-console */
import { startPeersBehindRelay, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab, NAT_TYPES } from '../../../src/lab/index.ts'
import { classifyNat } from '../../../src/punch/planner.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import { expectPair, trueClass } from './expectations.ts'
import { checkTrials, formatTrial, pairStrategyOf, punchTrial } from './punch-trial.ts'
import type { Expectation } from './expectations.ts'
import type { PunchTrial } from './punch-trial.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'
import type { NatType } from '../../../src/lab/index.ts'

const TRIALS = Number(process.env.PUNCH_TRIALS ?? 3)
/** the package default (true); PUNCH_AUTO_UPGRADE=false runs the control without the background upgrade */
const AUTO_UPGRADE = process.env.PUNCH_AUTO_UPGRADE !== 'false'

interface PairResult { a: NatType, b: NatType, expectation: Expectation, trials: PunchTrial[], passed: boolean }

/**
 * Every unordered pair of lab NAT types, TRIALS punches each, through real
 * kernel NATs. Peer X sits behind site x<i>, peer Y behind site y<j>; a
 * relay on the internet runs this package (so it is also the STUN server).
 *
 * The configuration is the one users run: the package defaults on both
 * peers (autoUpgrade on: Y, which receives the relayed connection, starts
 * its own punch in the background), plus the STUN server and a connection
 * gater that lets js-libp2p dial the lab's documentation-range "internet".
 * The measured action is X's explicit connect() with fallbackToRelay.
 *
 * What each pair must achieve comes from the planner on the lab's TRUE NAT
 * types (expectations.ts; expectations.spec.ts checks that the planner
 * still matches docs/PROTOCOL.md section 7).
 */
describe('hole punching across every pair of NAT types (NAT lab)', function () {
  this.timeout(30 * 60_000)
  let lab: Lab | undefined
  let relay: LabNode | undefined
  const xs: LabNode[] = []
  const ys: LabNode[] = []
  const results: PairResult[] = []
  let startedAt = 0

  before(async function () {
    requireRootOrSkip(this)
    startedAt = Date.now()
    lab = await Lab.create({
      sites: NAT_TYPES.flatMap((nat, i) => [{ name: `x${i}`, nat }, { name: `y${i}`, nat }]),
      publicHosts: ['relay']
    })
    // package defaults: lab-node.ts turns autoUpgrade (default true) on only when asked
    const started = await startPeersBehindRelay(lab, NAT_TYPES.flatMap((_, i) => [`x${i}1`, `y${i}1`]), { LAB_AUTO_UPGRADE: String(AUTO_UPGRADE) })
    relay = started.relay
    xs.push(...NAT_TYPES.map((_, i) => started.nodes[`x${i}1`]))
    ys.push(...NAT_TYPES.map((_, i) => started.nodes[`y${i}1`]))
    await Promise.all([...xs, ...ys].map(async n => n.request({ cmd: 'serve-echo' })))
  })

  after(async () => {
    await stopNodes([...xs, ...ys, relay])
    await lab?.destroy()

    if (results.length > 0) {
      printMatrix(results, xs, ys, Date.now() - startedAt)
    }
  })

  async function trial (i: number, j: number): Promise<PunchTrial> {
    return punchTrial(lab as Lab, xs[i], `x${i}1`, ys[j], `y${j}1`)
  }

  for (let i = 0; i < NAT_TYPES.length; i++) {
    for (let j = i; j < NAT_TYPES.length; j++) {
      const a = NAT_TYPES[i]
      const b = NAT_TYPES[j]
      const expectation = expectPair({ nat: a }, { nat: b }, TRIALS)
      it(`${a} with ${b}: ${promise(expectation)}`, async () => {
        const trials: PunchTrial[] = []
        const result: PairResult = { a, b, expectation, trials, passed: false }
        results.push(result)
        for (let k = 0; k < TRIALS; k++) {
          trials.push(await trial(i, j))
        }

        const discovered = `\n        discovered classes: X ${classifyNat(xs[i].ready.nat)}, Y ${classifyNat(ys[j].ready.nat)} (true: ${trueClass({ nat: a })}, ${trueClass({ nat: b })})`
        console.log(`      ${a} ~ ${b}: ${discovered.trim()}\n${trials.map((t, k) => `        ${formatTrial(t, k)}`).join('\n')}`)
        checkTrials(`${a} ~ ${b}`, expectation, trials, discovered)
        result.passed = true
      })
    }
  }
})

/** what the test title promises for a pair */
function promise (e: Expectation): string {
  switch (e.kind) {
    case 'direct-every-trial':
      return `${e.strategy}, direct in ${e.trials} of ${e.trials} trials`
    case 'birthday-minimum':
      return `birthday (model ${(e.expectedSuccess * 100).toFixed(0)}%), direct in at least ${e.minDirect} of ${e.trials} trials, the others on a usable relayed connection`
    default:
      return `none-fallback, ends on a usable relayed connection in ${e.trials} of ${e.trials} trials`
  }
}

function printMatrix (results: PairResult[], xs: LabNode[], ys: LabNode[], elapsedMs: number): void {
  const discovered = NAT_TYPES.map((nat, i) => `${nat}: ${classifyNat(xs[i].ready.nat)}/${classifyNat(ys[i].ready.nat)}`).join(', ')
  console.log(`\n      ${TRIALS} trials per pair, ${AUTO_UPGRADE ? 'package defaults (autoUpgrade on)' : 'CONTROL: autoUpgrade off'}, connect() with fallbackToRelay by X; ${(elapsedMs / 1000).toFixed(0)} s in all`)
  console.log(`      discovered classes (X/Y): ${discovered}`)
  console.log('      pair                                   expected                   direct relayed failed glare  median ms  strategy              verdict')
  for (const r of results) {
    const count = (o: PunchTrial['outcome']): number => r.trials.filter(t => t.outcome === o).length
    const times = r.trials.filter(t => t.outcome === 'direct').map(t => t.durationMs).sort((x, y) => x - y)
    const median = times.length > 0 ? String(times[Math.floor(times.length / 2)]) : '-'
    const strategies = [...new Set(r.trials.map(t => pairStrategyOf(t.strategy) ?? '-'))].join(',')
    const expected = { 'direct-every-trial': `${r.expectation.strategy} all`, 'birthday-minimum': `birthday ≥${r.expectation.minDirect}`, relayed: 'relayed all' }[r.expectation.kind]
    const n = r.trials.length
    console.log(`      ${`${r.a} ~ ${r.b}`.padEnd(38)} ${expected.padEnd(26)} ${`${count('direct')}/${n}`.padStart(6)} ${`${count('relayed')}/${n}`.padStart(7)} ${`${count('failed')}/${n}`.padStart(6)} ${`${r.trials.filter(t => t.glare).length}/${n}`.padStart(5)} ${median.padStart(10)}  ${strategies.padEnd(20)}  ${r.passed ? 'ok' : 'FAIL'}`)
  }
}
