import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { Lab } from '../../src/lab/index.ts'
import { parseHairpinning, parseMappingLifetime, parseNatDiscovery } from './helpers/natdiscovery-output.ts'
import { requireRootOrSkip } from './helpers/require-root.ts'
import type { LabSite, SiteOptions } from '../../src/lab/index.ts'

/** whole seconds; natdiscovery's lifetime test waits in whole seconds too */
const BINDING_TIMEOUT_S = 3

const SITES: SiteOptions[] = [
  { name: 'open', nat: 'none' },
  { name: 'full', nat: 'full-cone', hairpinning: true },
  { name: 'restr', nat: 'restricted' },
  { name: 'port', nat: 'port-restricted', hairpinning: true },
  { name: 'seq', nat: 'symmetric-seq', portDelta: 2 },
  { name: 'rand', nat: 'symmetric-random', hairpinning: true },
  { name: 'dblseq', nat: 'port-restricted', carrier: { nat: 'symmetric-seq', bindingTimeoutMs: BINDING_TIMEOUT_S * 1000 } },
  { name: 'dblrand', nat: 'port-restricted', carrier: { nat: 'symmetric-random', bindingTimeoutMs: BINDING_TIMEOUT_S * 1000 } }
].map(site => ({ ...site, bindingTimeoutMs: BINDING_TIMEOUT_S * 1000 } as SiteOptions))

interface Verdicts {
  mapping: string
  filtering: string
  hairpin: boolean
  /** natdiscovery -t with a wait 1 s shorter than the binding timeout */
  lifetimeBefore: string
  /** natdiscovery -t with a wait 2 s longer than the binding timeout */
  lifetimeAfter: string
}

function expected (site: LabSite): Verdicts {
  return {
    mapping: site.truth.mapping,
    filtering: site.truth.filtering,
    hairpin: site.nat.nat === 'none' || (site.nat.hairpinning && site.carrier == null),
    lifetimeBefore: 'alive',
    lifetimeAfter: site.nat.nat === 'none' ? 'alive' : 'expired'
  }
}

describe('coturn\'s NAT discovery in the NAT lab', function () {
  this.timeout(120_000)
  let lab: Lab | undefined
  let pidFile: string | undefined

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({ sites: SITES, publicHosts: ['stun'] })
    pidFile = join(tmpdir(), `hpl-turnserver-${lab.id}.pid`)
  })

  after(async () => {
    await lab?.destroy()
    if (pidFile != null) {
      await rm(pidFile, { force: true })
    }
  })

  it('reports the mapping, filtering, hairpinning and binding lifetime that the lab claims, for every NAT type', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }
    const stun = lab.host('stun')
    // an RFC 5780 server on two addresses (and ports 3478 and 3479);
    // `-c /dev/null`: Debian's /etc/turnserver.conf sets no-rfc5780
    const turnserver = stun.spawn([
      'turnserver', '-c', '/dev/null', '-L', stun.ips[0], '-L', stun.ips[1],
      '--stun-only', '--no-cli', '--no-tls', '--no-dtls', '--no-tcp',
      '--pidfile', pidFile ?? join(tmpdir(), 'hpl-turnserver.pid'), '--log-file', 'stdout', '--simple-log'
    ])
    await turnserver.waitForLine(/Total General servers/, { timeoutMs: 10_000 })

    const natdiscovery = async (site: LabSite, args: string[]): Promise<string> => {
      const result = await site.hosts[0].exec(['turnutils_natdiscovery', ...args, stun.ip], { timeoutMs: 60_000 })
      return result.stdout + result.stderr
    }

    const rows = await Promise.all(lab.sites.map(async site => {
      const [mappingAndFiltering, hairpinning, before, after] = await Promise.all([
        natdiscovery(site, ['-m', '-f']),
        natdiscovery(site, ['-H']),
        natdiscovery(site, ['-t', '-T', String(BINDING_TIMEOUT_S - 1)]),
        natdiscovery(site, ['-t', '-T', String(BINDING_TIMEOUT_S + 2)])
      ])
      const observed: Verdicts = {
        ...parseNatDiscovery(mappingAndFiltering),
        hairpin: parseHairpinning(hairpinning),
        lifetimeBefore: parseMappingLifetime(before),
        lifetimeAfter: parseMappingLifetime(after)
      }
      return { site, observed }
    }))

    const lines = rows.map(({ site, observed }) => {
      const want = expected(site)
      const cell = (key: keyof Verdicts): string => observed[key] === want[key] ? String(observed[key]) : `${String(observed[key])} (want ${String(want[key])})`
      return `      ${site.name.padEnd(8)} ${site.nat.nat.padEnd(17)} ${(site.carrier?.nat ?? '').padEnd(17)} mapping ${cell('mapping').padEnd(5)} filtering ${cell('filtering').padEnd(5)} hairpin ${cell('hairpin').padEnd(6)} binding@${BINDING_TIMEOUT_S - 1}s ${cell('lifetimeBefore').padEnd(8)} binding@${BINDING_TIMEOUT_S + 2}s ${cell('lifetimeAfter')}`
    })
    // eslint-disable-next-line no-console
    console.log(`\n      turnutils_natdiscovery verdicts (site, NAT, carrier NAT):\n${lines.join('\n')}\n`)

    for (const { site, observed } of rows) {
      expect(observed, `site ${site.name}`).to.deep.equal(expected(site))
    }
  })
})
