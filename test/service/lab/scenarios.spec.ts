/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { hasDirectFlow, startPeersBehindRelay, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'

const DOUBLE_NAT_TRIALS = 3

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
      sites: [
        { name: 'dseq', nat: 'port-restricted', carrier: { nat: 'symmetric-seq' } },
        { name: 'drand', nat: 'port-restricted', carrier: { nat: 'symmetric-random' } },
        { name: 'pra', nat: 'port-restricted' },
        { name: 'prb', nat: 'port-restricted' }
      ],
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
   * Punch from the double-NATed peer to a port-restricted one with
   * fallback to the relay; whatever the outcome, an echo stream to the
   * peer must work afterwards (over the relayed connection on fallback)
   */
  async function doubleNatTrials (from: string, to: string, toSite: string, label: string): Promise<void> {
    const l = lab as Lab
    const x = nodes[from]
    const y = nodes[to]
    const outcomes: string[] = []

    for (let k = 0; k < DOUBLE_NAT_TRIALS; k++) {
      const res = await x.request({ cmd: 'connect', target: y.ready.circuit, timeoutMs: 40_000, fallback: true }, 60_000)
      const plan = res.timeline?.find((s: any) => s.step === 'hole-punch:plan')
      expect(res.ok, `connect with fallback must resolve: ${JSON.stringify(res)}`).to.equal(true)

      if (res.connection.limited === false) {
        // direct: the port-restricted side's NAT tracks a replied flow to the carrier's public address
        expect(await hasDirectFlow(l, toSite, l.site(from.replace(/\d+$/, '')).publicIp), 'conntrack shows the direct flow').to.equal(true)
        outcomes.push(`direct ${res.durationMs} ms (${plan?.detail?.strategy})`)
        const opened = await x.request({ cmd: 'open-stream', name: `t${k}`, peer: y.ready.peerId, via: 'dial' })
        expect(opened.connection.limited).to.equal(false)
      } else {
        const fallback = res.timeline?.find((s: any) => s.step === 'hole-punch:fallback')
        expect(fallback, 'a relayed result comes with a fallback event').to.not.equal(undefined)
        outcomes.push(`fallback ${res.durationMs} ms (${plan?.detail?.strategy ?? 'no plan'}: ${fallback?.detail?.reason})`)
        const opened = await x.request({ cmd: 'open-stream', name: `t${k}`, peer: y.ready.peerId, via: 'relayed' })
        expect(opened.connection.limited).to.equal(true)
      }

      const check = await x.request({ cmd: 'stream-check', name: `t${k}`, bytes: 64 * 1024 })
      expect(check.ok, JSON.stringify(check)).to.equal(true)
      expect(check.echoed, JSON.stringify(check)).to.equal(true)
      await x.request({ cmd: 'stream-close', name: `t${k}` })
      await x.request({ cmd: 'hangup', peer: y.ready.peerId }).catch(() => {})
    }

    summary.push(`      ${label}: ${outcomes.join('; ')}`)
    console.log(summary[summary.length - 1])
  }

  it('port-restricted behind a symmetric-seq carrier ~ port-restricted: direct or relayed, the connection works either way', async () => {
    await doubleNatTrials('dseq1', 'pra1', 'pra', 'port-restricted behind symmetric-seq ~ port-restricted')
  })

  it('port-restricted behind a symmetric-random carrier ~ port-restricted: direct or relayed, the connection works either way', async () => {
    await doubleNatTrials('drand1', 'prb1', 'prb', 'port-restricted behind symmetric-random ~ port-restricted')
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
