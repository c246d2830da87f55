/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { labConfigs, startLabConfig } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { blackhole } from '../../../src/lab/network-changes.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import { formatTrial, pairStrategyOf, punchTrial } from './punch-trial.ts'
import type { PunchTrial } from './punch-trial.ts'
import type { ConfiguredLab, LabConfig, LabNode } from '../../../demo/lab-driver.ts'
import type { Ipv6Mode, NatType } from '../../../src/lab/index.ts'

const TRIALS = Number(process.env.PUNCH_TRIALS ?? 3)

/**
 * The configurations to run (names or letters of LAB_CONFIGS in
 * demo/lab-driver.ts). The headline is what users run: the package
 * defaults on both peers and a stock js-libp2p relay (b), then a relay
 * that runs this package (a).
 */
const CONFIGS = labConfigs(process.env.IPV6_CONFIGS ?? 'stock-relay,zero-config')

interface SiteRow {
  name: string
  nat: NatType
  ipv6: false | Ipv6Mode
}

/** one site per behaviour: IPv4 NAT type × what the router does with IPv6 */
const SITES: SiteRow[] = [
  { name: 'f', nat: 'port-restricted', ipv6: 'firewall' },
  { name: 'g', nat: 'port-restricted', ipv6: 'firewall' },
  { name: 'r', nat: 'symmetric-random', ipv6: 'firewall' },
  { name: 's', nat: 'symmetric-random', ipv6: 'firewall' },
  { name: 'o', nat: 'port-restricted', ipv6: 'open' },
  { name: 'v', nat: 'port-restricted', ipv6: false }
]

interface PairRow {
  x: string
  y: string
  title: string
  /** the family the direct connection must use in every trial */
  family: 'ip4' | 'ip6'
  /**
   * the pair strategy both sides must agree on, per configuration (the
   * default for the others); undefined: whatever IPv4 alone decides
   */
  strategy?: Partial<Record<LabConfig['name'], string>> & { default: string }
}

const PAIRS: PairRow[] = [
  { x: 'f', y: 'g', family: 'ip6', strategy: { default: 'direct-cone' }, title: 'IPv6 firewall ↔ IPv6 firewall (port-restricted IPv4 NATs): direct over IPv6, raced ahead of IPv4' },
  // with a stock relay (no STUN) both IPv4 NATs are unknown: the IPv4
  // strategy is the short direct attempt, and the IPv6 race rides along
  { x: 'r', y: 's', family: 'ip6', strategy: { default: 'ipv6', 'stock-relay': 'direct-cone' }, title: 'symmetric-random ↔ symmetric-random with IPv6 firewalls: no IPv4 strategy (with STUN), direct over IPv6' },
  { x: 'o', y: 'f', family: 'ip6', strategy: { default: 'direct-cone' }, title: 'open IPv6 router ↔ IPv6 firewall: direct over IPv6' },
  { x: 'f', y: 'v', family: 'ip4', strategy: { default: 'direct-cone' }, title: 'dual-stack ↔ IPv4-only site: no race, direct over IPv4' },
  { x: 'r', y: 'v', family: 'ip4', title: 'dual-stack symmetric-random ↔ IPv4-only port-restricted: IPv4 alone decides, as in the IPv4 matrix (never over IPv6, every trial usable)' }
]

/** the row of the broken-IPv6 case in the printed table */
const BROKEN_IPV6: PairRow = { x: 'f', y: 'g', family: 'ip4', title: 'as f ~ g, with IPv6 between them blackholed at f\'s router: IPv4 after the delay' }

/**
 * Dual-stack punching through real kernel routers (issue 9, section 2):
 * each site has its IPv4 NAT and a router that either runs a stateful IPv6
 * firewall (accepts established/related, drops new inbound: APDF without
 * translation), routes IPv6 openly, or has no IPv6. Peers run the package
 * defaults and listen on both families (demo/lab-node.ts, as the README
 * shows); the relay is reached over IPv4. A trial is direct when the API
 * says so, the router's conntrack (IPv6 table for an IPv6 path) shows the
 * replied flow, and a fresh stream echoes 16 KiB; it must also use the
 * expected family.
 */
describe('hole punching between dual-stack peers (NAT lab, IPv6 firewalls)', function () {
  const table: Array<{ config: LabConfig, pair: PairRow, trials: PunchTrial[] }> = []

  after(() => {
    if (table.length === 0) {
      return
    }
    console.log('\n      IPv6 rows: direct trials (family) per configuration')
    for (const pair of [...PAIRS, BROKEN_IPV6]) {
      const cells = CONFIGS.map(config => {
        const row = table.find(r => r.config === config && r.pair === pair)
        if (row == null) {
          return '·'.padEnd(26)
        }
        const direct = row.trials.filter(t => t.outcome === 'direct')
        const families = [...new Set(direct.map(t => familyOf(t)))].join('+') || '-'
        const ms = direct.map(t => t.durationMs).sort((a, b) => a - b)
        return `${direct.length}/${row.trials.length} ${families} ${ms.length > 0 ? `${ms[Math.floor(ms.length / 2)]} ms` : ''}`.padEnd(26)
      })
      console.log(`      ${`${pair.x} ~ ${pair.y}`.padEnd(8)} ${cells.join(' ')} ${pair.title}`)
    }
  })

  for (const config of CONFIGS) {
    describe(`(${config.letter}) ${config.name}: ${config.title}`, function () {
      this.timeout(15 * 60_000)
      const ctx: { lab?: Lab, setup?: ConfiguredLab, nodes: Record<string, LabNode> } = { nodes: {} }

      before(async function () {
        requireRootOrSkip(this)
        const lab = ctx.lab = await Lab.create({
          sites: SITES.map(s => ({ name: s.name, nat: s.nat, ipv6: s.ipv6 })),
          publicHosts: config.publicHosts,
          ipv6: true
        })
        // package defaults (autoUpgrade on); known paths are not raced, so every trial punches
        const setup = ctx.setup = await startLabConfig(lab, config, SITES.map(s => `${s.name}1`), { LAB_AUTO_UPGRADE: 'true', LAB_REUSE_KNOWN_PATHS: 'false' })
        ctx.nodes = Object.fromEntries(SITES.map(s => [s.name, setup.nodes[`${s.name}1`]]))
        await Promise.all(Object.values(ctx.nodes).map(async n => n.request({ cmd: 'serve-echo' })))
      })

      after(async () => {
        await ctx.setup?.stop()
        await ctx.lab?.destroy()
      })

      it('gives each dual-stack host a global IPv6 address and none to the IPv4-only site', () => {
        for (const site of SITES) {
          const ip6 = ctx.lab!.host(`${site.name}1`).ip6
          if (site.ipv6 === false) {
            expect(ip6, site.name).to.equal(undefined)
          } else {
            expect(ip6, site.name).to.match(/^2001:db8:/)
          }
        }
      })

      for (const pair of PAIRS) {
        it(`${pair.x} ~ ${pair.y}: ${pair.title}`, async () => {
          const trials: PunchTrial[] = []
          table.push({ config, pair, trials })

          for (let k = 0; k < TRIALS; k++) {
            trials.push(await punchTrial(ctx.lab!, ctx.nodes[pair.x], `${pair.x}1`, ctx.nodes[pair.y], `${pair.y}1`))
          }

          const listing = trials.map((t, k) => `        ${formatTrial(t, k)}`).join('\n')
          console.log(`      (${config.letter}) ${pair.x} ~ ${pair.y}:\n${listing}`)

          if (pair.strategy == null) {
            // IPv4 alone (a birthday with RFC 5780 STUN, a failing direct
            // attempt without): every trial usable, none of them over IPv6
            expect(trials.filter(t => t.outcome === 'failed'), listing).to.deep.equal([])
            expect(trials.filter(t => t.outcome === 'direct' && familyOf(t) !== 'ip4'), listing).to.deep.equal([])
            return
          }

          expect(trials.map(t => t.outcome), listing).to.deep.equal(trials.map(() => 'direct'))
          expect(trials.map(familyOf), listing).to.deep.equal(trials.map(() => pair.family))
          const strategy = pair.strategy[config.name] ?? pair.strategy.default
          expect(trials.map(t => pairStrategyOf(t.strategy)), listing).to.deep.equal(trials.map(() => strategy))
        })
      }

      it('f ~ g with IPv6 between them broken (blackholed at f\'s router): direct over IPv4, after the happy-eyeballs delay', async () => {
        const lab = ctx.lab!
        const unblock = await blackhole(lab, 'f', [lab.host('g1').ip6 as string])
        const trials: PunchTrial[] = []
        table.push({ config, pair: BROKEN_IPV6, trials })

        try {
          for (let k = 0; k < TRIALS; k++) {
            trials.push(await punchTrial(lab, ctx.nodes.f, 'f1', ctx.nodes.g, 'g1'))
          }
        } finally {
          await unblock()
        }

        const listing = trials.map((t, k) => `        ${formatTrial(t, k)}`).join('\n')
        console.log(`      (${config.letter}) f ~ g, IPv6 blackholed:\n${listing}`)
        expect(trials.map(t => t.outcome), listing).to.deep.equal(trials.map(() => 'direct'))
        expect(trials.map(familyOf), listing).to.deep.equal(trials.map(() => 'ip4'))
      })
    })
  }
})

function familyOf (t: PunchTrial): string | undefined {
  return t.remoteAddr?.split('/')[1]
}
