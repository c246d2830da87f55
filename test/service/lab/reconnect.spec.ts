/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { startLabConfig } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import { formatTrial, punchTrial } from './punch-trial.ts'
import type { PunchTrial } from './punch-trial.ts'
import type { ConfiguredLab } from '../../../demo/lab-driver.ts'
import type { NatType } from '../../../src/lab/index.ts'

const TRIALS = 5

const PAIRS: Array<{ x: string, y: string, nat: NatType }> = [
  { x: 'a', y: 'b', nat: 'symmetric-seq' },
  { x: 'c', y: 'd', nat: 'port-restricted' }
]

/**
 * Reconnecting right after a hang-up, with the package defaults on both
 * sides: X's connect() and Y's background upgrade (of the new relayed
 * connection) both race the direct address of the previous connection
 * against the relay and the punch (`reuseKnownPath`, on by default). The
 * two may meet in every order: X's punch, Y's punch after glare, Y's race
 * winning while X waits in Y's punch. Whatever happens, connect() must
 * resolve with a direct connection that the NAT router tracks and that
 * carries a stream, never fall back to the relay while a direct
 * connection to the peer exists.
 */
describe('reconnecting after a hang-up with the package defaults (NAT lab)', function () {
  this.timeout(5 * 60_000)
  const ctx: { lab?: Lab, setup?: ConfiguredLab } = {}

  before(async function () {
    requireRootOrSkip(this)
    const lab = ctx.lab = await Lab.create({
      sites: PAIRS.flatMap(p => [{ name: p.x, nat: p.nat }, { name: p.y, nat: p.nat }]),
      publicHosts: ['relay']
    })
    const setup = ctx.setup = await startLabConfig(lab, 'zero-config', PAIRS.flatMap(p => [`${p.x}1`, `${p.y}1`]), { LAB_AUTO_UPGRADE: 'true' })
    await Promise.all(Object.values(setup.nodes).map(async n => n.request({ cmd: 'serve-echo' })))
  })

  after(async () => {
    await ctx.setup?.stop()
    await ctx.lab?.destroy()
  })

  for (const pair of PAIRS) {
    for (const xRaces of [true, false]) {
      const how = xRaces
        ? 'both race the known path'
        : 'X punches (reuseKnownPath: false) while Y\'s background upgrade races the known path'
      it(`${pair.nat} ~ ${pair.nat}, ${how}: direct in ${TRIALS} of ${TRIALS} back-to-back connections`, async () => {
        await reconnect(ctx, pair, xRaces)
      })
    }
  }
})

async function reconnect (ctx: { lab?: Lab, setup?: ConfiguredLab }, pair: { x: string, y: string, nat: NatType }, xRaces: boolean): Promise<void> {
  const trials: PunchTrial[] = []
  const x = ctx.setup!.nodes[`${pair.x}1`]
  const y = ctx.setup!.nodes[`${pair.y}1`]

  for (let k = 0; k < TRIALS; k++) {
    trials.push(await punchTrial(ctx.lab!, x, `${pair.x}1`, y, `${pair.y}1`, { reuseKnownPath: xRaces }))
  }

  const listing = trials.map((t, k) => `        ${formatTrial(t, k)}`).join('\n')
  console.log(`      ${pair.nat} ~ ${pair.nat}, reconnecting (X races: ${String(xRaces)}):\n${listing}`)
  expect(trials.map(t => t.outcome), listing).to.deep.equal(trials.map(() => 'direct'))
}
