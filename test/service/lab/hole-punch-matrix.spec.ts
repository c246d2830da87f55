/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { hasDirectFlow, startPeersBehindRelay, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab, NAT_TYPES } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'
import type { NatType } from '../../../src/lab/index.ts'

const TRIALS = Number(process.env.PUNCH_TRIALS ?? 3)

interface Trial {
  direct: boolean
  /** the network agrees: the NAT router tracks a flow to the other site */
  conntrack: boolean
  durationMs: number
  strategy?: string
  error?: string
  /** ms from OFFER sent to the plan decision */
  decisionMs?: number
  rttMs?: number
}

interface PairResult { a: NatType, b: NatType, trials: Trial[] }

const isSymmetric = (t: NatType): boolean => t.startsWith('symmetric')

/**
 * Every unordered pair of lab NAT types, TRIALS punches each, through real
 * kernel NATs. Peer X sits behind site x<i>, peer Y behind site y<j>; a
 * relay on the internet runs this package (so it is also the STUN server).
 */
describe('hole punching across every pair of NAT types (NAT lab)', function () {
  this.timeout(20 * 60_000)
  let lab: Lab | undefined
  let relay: LabNode | undefined
  const xs: LabNode[] = []
  const ys: LabNode[] = []
  const results: PairResult[] = []

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: NAT_TYPES.flatMap((nat, i) => [{ name: `x${i}`, nat }, { name: `y${i}`, nat }]),
      publicHosts: ['relay']
    })
    const started = await startPeersBehindRelay(lab, NAT_TYPES.flatMap((_, i) => [`x${i}1`, `y${i}1`]))
    relay = started.relay
    xs.push(...NAT_TYPES.map((_, i) => started.nodes[`x${i}1`]))
    ys.push(...NAT_TYPES.map((_, i) => started.nodes[`y${i}1`]))
  })

  after(async () => {
    await stopNodes([...xs, ...ys, relay])
    await lab?.destroy()

    if (results.length > 0) {
      printMatrix(results)
    }
  })

  async function trial (i: number, j: number): Promise<Trial> {
    const x = xs[i]
    const y = ys[j]
    const l = lab as Lab
    const res = await x.request({ cmd: 'connect', target: y.ready.circuit, timeoutMs: 40_000 }, 60_000)
    const answer = res.timeline?.find((s: any) => s.step === 'hole-punch:answer')
    const offer = res.timeline?.find((s: any) => s.step === 'hole-punch:offer')
    const plan = res.timeline?.find((s: any) => s.step === 'hole-punch:plan')
    const t: Trial = {
      direct: res.ok === true && res.connection?.limited === false,
      conntrack: false,
      durationMs: res.durationMs ?? 0,
      strategy: plan?.detail?.strategy,
      error: res.error,
      decisionMs: plan != null && offer != null ? plan.at - offer.at : undefined,
      rttMs: answer?.detail?.rttMs
    }

    if (t.direct) {
      // judge from the network: a tracked flow between the two sites' public IPs
      // a `none` site routes its host's own address; the others show the NAT's
      const yPublic = NAT_TYPES[j] === 'none' ? l.host(`y${j}1`).ip : l.site(`y${j}`).publicIp
      const xPublic = NAT_TYPES[i] === 'none' ? l.host(`x${i}1`).ip : l.site(`x${i}`).publicIp
      t.conntrack = NAT_TYPES[i] !== 'none'
        ? await hasDirectFlow(l, `x${i}`, yPublic)
        : NAT_TYPES[j] !== 'none' ? await hasDirectFlow(l, `y${j}`, xPublic) : res.connection.remoteAddr.includes(`/ip4/${yPublic}/`)
      t.direct = t.direct && t.conntrack
      // the relayed connection was retired; hang up so the next trial starts over
      await x.request({ cmd: 'hangup', peer: y.ready.peerId })
    } else {
      await x.request({ cmd: 'hangup', peer: y.ready.peerId }).catch(() => {})
    }

    // let the relay and the other peer see the hang-up before the next
    // trial dials the circuit again (a circuit dial racing the close of the
    // previous one gets reset by the relay)
    await new Promise(resolve => setTimeout(resolve, 300))

    return t
  }

  for (let i = 0; i < NAT_TYPES.length; i++) {
    for (let j = i; j < NAT_TYPES.length; j++) {
      const a = NAT_TYPES[i]
      const b = NAT_TYPES[j]
      const bothSymmetric = isSymmetric(a) && isSymmetric(b)
      const bothRandom = a === 'symmetric-random' && b === 'symmetric-random'
      const title = bothRandom
        ? `${a} with ${b}: decides on the relay fallback without punching`
        : bothSymmetric
          ? `${a} with ${b}: attempts a predicted punch and keeps the relay otherwise`
          : `${a} with ${b}: gets a direct connection in ${TRIALS} of ${TRIALS} trials`

      it(title, async () => {
        const trials: Trial[] = []
        for (let k = 0; k < TRIALS; k++) {
          trials.push(await trial(i, j))
        }
        results.push({ a, b, trials })

        if (bothRandom) {
          // decided from the exchanged profiles, no probe sent (the time the
          // decision takes is measured in benchmarks/hole-punch)
          for (const t of trials) {
            expect(t.direct).to.be.false()
            expect(t.strategy, JSON.stringify(t)).to.equal('none-fallback')
            expect(t.error).to.match(/PunchFailedError/)
          }
        } else if (!bothSymmetric) {
          expect(trials.map(t => t.direct), JSON.stringify(trials)).to.deep.equal(trials.map(() => true))
        } else {
          // recorded in the matrix; every attempt ends cleanly either way
          for (const t of trials) {
            expect(t.direct || t.error != null).to.be.true()
          }
        }
      })
    }
  }
})

function printMatrix (results: PairResult[]): void {
  console.log('\n      pair                                   direct  median ms  strategy')
  for (const r of results) {
    const direct = r.trials.filter(t => t.direct).length
    const times = r.trials.filter(t => t.direct).map(t => t.durationMs).sort((a, b) => a - b)
    const median = times.length > 0 ? times[Math.floor(times.length / 2)] : NaN
    const strategies = [...new Set(r.trials.map(t => t.strategy ?? '-'))].join(',')
    console.log(`      ${`${r.a} ~ ${r.b}`.padEnd(38)} ${`${direct}/${r.trials.length}`.padStart(6)} ${String(Number.isNaN(median) ? '-' : median).padStart(10)}  ${strategies}`)
  }
}
