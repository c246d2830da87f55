/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { startPeersBehindRelay, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import { expectPair } from './expectations.ts'
import { checkTrials, punchTrial } from './punch-trial.ts'
import type { SiteSpec } from './expectations.ts'
import type { PunchTrial } from './punch-trial.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'

const DOUBLE_NAT_TRIALS = 3

/** the double-NAT lab's sites, also fed to the planner for the expected outcome */
const DOUBLE_NAT_SITES = {
  dseq: { nat: 'port-restricted', carrier: { nat: 'symmetric-seq' } },
  drand: { nat: 'port-restricted', carrier: { nat: 'symmetric-random' } },
  pra: { nat: 'port-restricted' },
  prb: { nat: 'port-restricted' }
} satisfies Record<string, SiteSpec>
type DoubleNatSite = keyof typeof DOUBLE_NAT_SITES

/**
 * Hole-punch scenarios from the issue, through real kernel NATs. More of
 * them: scenarios-cancel.spec.ts (cancellation), scenarios-impaired.spec.ts
 * (loss, the relay dying), scenarios-data.spec.ts (transfer, streams across
 * the upgrade, auto-upgrade).
 */
describe('hole-punch scenario: double NAT (NAT lab)', function () {
  this.timeout(4 * 60_000)
  let lab: Lab | undefined
  let relay: LabNode | undefined
  const nodes: Record<string, LabNode> = {}
  const summary: string[] = []

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: Object.entries(DOUBLE_NAT_SITES).map(([name, site]) => ({ name, ...site })),
      publicHosts: ['relay']
    })
    const started = await startPeersBehindRelay(lab, ['dseq1', 'drand1', 'pra1', 'prb1'])
    relay = started.relay
    Object.assign(nodes, started.nodes)
    await Promise.all(Object.values(nodes).map(async n => n.request({ cmd: 'serve-echo' })))
  })

  after(async () => {
    await stopNodes([...Object.values(nodes), relay])
    await lab?.destroy()
    for (const line of summary) {
      console.log(line)
    }
  })

  /**
   * Punch from the double-NATed peer to a port-restricted one
   * (connect() with fallbackToRelay). The outcome must be what the planner
   * promises for the two sites' true NATs (expectations.ts): a double NAT
   * maps and filters like its stricter NAT and allocates like the carrier,
   * so behind a symmetric-seq carrier it is `seq` (predict-sequential with
   * a port-restricted cone: direct in every trial), behind a
   * symmetric-random carrier `random` (a birthday punch: the stated
   * minimum, the other trials on a usable relayed connection). Every
   * direct trial is judged from the API, conntrack and a fresh stream.
   */
  async function doubleNatTrials (from: DoubleNatSite, to: DoubleNatSite, label: string): Promise<void> {
    const l = lab as Lab
    const expectation = expectPair(DOUBLE_NAT_SITES[from], DOUBLE_NAT_SITES[to], DOUBLE_NAT_TRIALS)
    const trials: PunchTrial[] = []

    for (let k = 0; k < DOUBLE_NAT_TRIALS; k++) {
      trials.push(await punchTrial(l, nodes[`${from}1`], `${from}1`, nodes[`${to}1`], `${to}1`))
    }

    summary.push(`      ${label} (${expectation.strategy}, ${expectation.kind === 'direct-every-trial' ? 'direct in every trial' : `direct in at least ${expectation.minDirect} of ${DOUBLE_NAT_TRIALS}`}): ` +
      trials.map(t => `${t.outcome} ${t.durationMs} ms (${t.strategy ?? 'no plan'}${t.fallbackReason != null ? `: ${t.fallbackReason}` : ''})`).join('; '))
    console.log(summary[summary.length - 1])
    checkTrials(label, expectation, trials)
  }

  it(`port-restricted behind a symmetric-seq carrier ~ port-restricted: predict-sequential, direct in ${DOUBLE_NAT_TRIALS} of ${DOUBLE_NAT_TRIALS} trials`, async () => {
    await doubleNatTrials('dseq', 'pra', 'port-restricted behind symmetric-seq ~ port-restricted')
  })

  it(`port-restricted behind a symmetric-random carrier ~ port-restricted: birthday, direct in at least ${expectPair(DOUBLE_NAT_SITES.drand, DOUBLE_NAT_SITES.prb, DOUBLE_NAT_TRIALS).minDirect} of ${DOUBLE_NAT_TRIALS} trials, the others on a usable relayed connection`, async () => {
    await doubleNatTrials('drand', 'prb', 'port-restricted behind symmetric-random ~ port-restricted')
  })
})

/**
 * Two peers behind one NAT share its public IP: the plan races their LAN
 * candidates. Without hairpinning only the LAN path can work; with it the
 * hairpinned public path may win too.
 */
describe('hole-punch scenario: two peers behind the same NAT (NAT lab)', function () {
  this.timeout(3 * 60_000)
  let lab: Lab | undefined
  let relay: LabNode | undefined
  const nodes: Record<string, LabNode> = {}

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: [
        { name: 'hp', nat: 'port-restricted', hosts: 2, hairpinning: true },
        { name: 'nohp', nat: 'port-restricted', hosts: 2 }
      ],
      publicHosts: ['relay']
    })
    const started = await startPeersBehindRelay(lab, ['hp1', 'hp2', 'nohp1', 'nohp2'])
    relay = started.relay
    Object.assign(nodes, started.nodes)
  })

  after(async () => {
    await stopNodes([...Object.values(nodes), relay])
    await lab?.destroy()
  })

  function inSubnet (ip: string, cidr: string): boolean {
    const [base, bits] = cidr.split('/')
    const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0)
    const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0
    return ((toInt(ip) & mask) >>> 0) === ((toInt(base) & mask) >>> 0)
  }

  async function sameNat (site: string): Promise<{ remoteIp: string, res: any }> {
    const l = lab as Lab
    const x = nodes[`${site}1`]
    const y = nodes[`${site}2`]
    // both see the same public IP for themselves
    expect(x.ready.nat.publicAddresses?.[0]?.host, JSON.stringify(x.ready.nat)).to.equal(l.site(site).publicIp)
    expect(y.ready.nat.publicAddresses?.[0]?.host, JSON.stringify(y.ready.nat)).to.equal(l.site(site).publicIp)

    const res = await x.request({ cmd: 'connect', target: y.ready.circuit, timeoutMs: 30_000 }, 45_000)
    const plan = res.timeline?.find((s: any) => s.step === 'hole-punch:plan')
    const remoteIp = /\/ip4\/([^/]+)\//.exec(res.connection?.remoteAddr ?? '')?.[1] ?? ''
    console.log(`      ${site}: ${res.ok === true ? `connected to ${res.connection.remoteAddr} in ${res.durationMs} ms` : res.error} (strategy ${plan?.detail?.strategy}: ${plan?.detail?.reason})`)
    expect(res.ok, JSON.stringify(res)).to.equal(true)
    expect(res.connection.limited, JSON.stringify(res)).to.equal(false)
    expect(res.connection.remoteAddr).to.include('/udx')
    return { remoteIp, res }
  }

  it('with hairpinning: a direct connection over the LAN or the hairpinned public address', async () => {
    const l = lab as Lab
    const { remoteIp } = await sameNat('hp')
    expect(inSubnet(remoteIp, l.site('hp').lanSubnet) || remoteIp === l.site('hp').publicIp, `${remoteIp} is neither in ${l.site('hp').lanSubnet} nor ${l.site('hp').publicIp}`).to.equal(true)
  })

  it('without hairpinning: a direct connection over the LAN', async () => {
    const l = lab as Lab
    const { remoteIp } = await sameNat('nohp')
    expect(inSubnet(remoteIp, l.site('nohp').lanSubnet), `${remoteIp} is not in ${l.site('nohp').lanSubnet}`).to.equal(true)
    expect(remoteIp).to.equal(l.host('nohp2').ip)
  })
})
