import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { expect } from 'aegir/chai'
import { Lab, udpReflectorScript } from '../../src/lab/index.ts'
import { judgeObservations } from './helpers/nat-observations.ts'
import { requireRootOrSkip } from './helpers/require-root.ts'
import type { ObservedBehaviour } from './helpers/nat-observations.ts'
import type { LabSite, SiteOptions } from '../../src/lab/index.ts'

const NAT_PROBE = fileURLToPath(new URL('./fixtures/nat-probe.ts', import.meta.url))

/** short, so the expiry checks take seconds; whole seconds (conntrack) */
const BINDING_TIMEOUT_MS = 3000
const REFLECTOR_PORTS = [3478, 3479, 3480, 3481]
const THIRD_PORT = 3478

const SITES: SiteOptions[] = [
  { name: 'open', nat: 'none' },
  { name: 'full', nat: 'full-cone', hairpinning: true },
  { name: 'restr', nat: 'restricted' },
  { name: 'port', nat: 'port-restricted', hairpinning: true },
  { name: 'seq', nat: 'symmetric-seq', portDelta: 2 },
  { name: 'rand', nat: 'symmetric-random', hairpinning: true },
  { name: 'dblseq', nat: 'port-restricted', carrier: { nat: 'symmetric-seq', bindingTimeoutMs: BINDING_TIMEOUT_MS } },
  { name: 'dblrand', nat: 'port-restricted', hairpinning: true, carrier: { nat: 'symmetric-random', bindingTimeoutMs: BINDING_TIMEOUT_MS } }
].map(site => ({ ...site, bindingTimeoutMs: BINDING_TIMEOUT_MS } as SiteOptions))

/** what the probe must observe for a site */
function expected (site: LabSite): ObservedBehaviour {
  const { truth } = site
  const behaviour: ObservedBehaviour = {
    mapping: truth.mapping,
    filtering: truth.filtering,
    allocation: truth.allocation,
    // a site without NAT reaches its own public address trivially; behind
    // a carrier, hairpinning needs the carrier to do it (ours do not)
    hairpin: site.nat.nat === 'none' || (site.nat.hairpinning && site.carrier == null),
    aliveBeforeTimeout: true,
    // without NAT there is no binding to expire
    expiredAfterTimeout: site.nat.nat !== 'none'
  }
  if (truth.portDelta != null) {
    behaviour.portDelta = truth.portDelta
  }
  return behaviour
}

function describeSite (site: LabSite): string {
  const nat = (n: LabSite['nat']): string => n.nat + (n.nat === 'symmetric-seq' ? `(Δ${n.portDelta})` : '') + (n.hairpinning ? '+hp' : '')
  return site.carrier != null ? `${nat(site.nat)} behind ${nat(site.carrier)}` : nat(site.nat)
}

function table (rows: Array<{ site: LabSite, observed: ObservedBehaviour, ports: string }>): string {
  const header = ['site', 'NAT', 'mapping', 'filtering', 'allocation', 'hairpin', 'open@T-0.75s', 'closed@T+1s', 'mapped ports', 'ok']
  const yes = (b: boolean): string => b ? 'yes' : 'no'
  const cells = rows.map(({ site, observed, ports }) => {
    const want = expected(site)
    const show = (o: string, w: string): string => o === w ? o : `${o} (want ${w})`
    const alloc = (b: ObservedBehaviour): string => b.allocation + (b.portDelta != null ? ` Δ${b.portDelta}` : '')
    return [
      site.name,
      describeSite(site),
      show(observed.mapping, want.mapping),
      show(observed.filtering, want.filtering),
      show(alloc(observed), alloc(want)),
      show(yes(observed.hairpin), yes(want.hairpin)),
      show(yes(observed.aliveBeforeTimeout), yes(want.aliveBeforeTimeout)),
      show(yes(observed.expiredAfterTimeout), yes(want.expiredAfterTimeout)),
      ports,
      isDeepStrictEqual(observed, want) ? 'ok' : 'FAIL'
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map(c => c[i].length)))
  const line = (c: string[]): string => '      ' + c.map((x, i) => x.padEnd(widths[i])).join('  ')
  return [line(header), line(widths.map(w => '-'.repeat(w))), ...cells.map(line)].join('\n')
}

describe('the NAT lab\'s self-test', function () {
  this.timeout(120_000)
  let lab: Lab | undefined

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({ sites: SITES, publicHosts: ['stun', 'third'] })
  })

  after(async () => {
    await lab?.destroy()
  })

  it('shows the mapping, allocation, filtering, hairpinning and binding timeout that each NAT type claims', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }
    const stun = lab.host('stun')
    const third = lab.host('third')
    const reflectors = [
      stun.spawnNode(udpReflectorScript, stun.ips.flatMap(ip => REFLECTOR_PORTS.map(port => `${ip}:${port}`))),
      third.spawnNode(udpReflectorScript, [`${third.ip}:${THIRD_PORT}`])
    ]
    await Promise.all(reflectors.map(async r => r.waitForLine(/^ready$/)))

    const config = {
      primary: stun.ips[0],
      alternate: stun.ips[1],
      ports: REFLECTOR_PORTS,
      third: `${third.ip}:${THIRD_PORT}`,
      bindingTimeoutMs: BINDING_TIMEOUT_MS,
      localPortBase: 40000
    }

    // every site probes at once: each has its own router and counters
    const rows = await Promise.all(lab.sites.map(async site => {
      const result = await site.hosts[0].exec([process.execPath, NAT_PROBE, JSON.stringify(config)], { timeoutMs: 30_000 })
      if (result.code !== 0) {
        throw new Error(`probe in site ${site.name} failed: ${result.stderr}`)
      }
      const observations = JSON.parse(result.stdout)
      return {
        site,
        observed: judgeObservations(observations),
        ports: observations.mappings.map((m: { mapped: { port: number } }) => m.mapped.port).join(',')
      }
    }))

    // eslint-disable-next-line no-console
    console.log(`\n${table(rows)}\n`)

    for (const { site, observed } of rows) {
      expect(observed, `site ${site.name} (${describeSite(site)})`).to.deep.equal(expected(site))
    }
  })
})
