/* eslint-disable no-console */
/*
 * `nat` in the NAT lab, on every NAT type, against the lab's truth: the
 * real CLI process in each site, learning from relays that are the real
 * `relay` command, with no STUN configuration (the default), and with
 * --stun only.
 *
 * - relay `vps`: one IP, udx ports 4001 and 4002 (a typical cloud VM): the
 * mapping, allocation and port filtering are learned; endpoint-independent
 * filtering reads as address-dependent (telling them apart needs a second
 * IP, see docs/NAT-DISCOVERY.md)
 * - relay `relay`: two IPs x the same two ports, a full RFC 5780 server:
 * everything is learned
 * - --stun with the two IPs of `relay` at port 4001, no relay dialed (two
 * sites)
 *
 * The zero-config run also asks the gateway for a port mapping: the
 * port-restricted site's router runs miniupnpd and must be reported with
 * PCP and a mapped address verified from the relay; the others map nothing.
 *
 * Needs root (skips without it, fails under CI=true).
 */

import { expect } from 'aegir/chai'
import { Lab } from '../../src/lab/index.ts'
import { requireRootOrSkip } from '../lab/helpers/require-root.ts'
import { CliProcess, cliArgv, jsonLines } from './cli-process.ts'
import type { LabHost, LabSite, NatTruth, SiteOptions } from '../../src/lab/index.ts'

/** one site per lab NAT type; delta 2 so that the delta is really measured */
const SITES: SiteOptions[] = [
  { name: 'open', nat: 'none' },
  { name: 'full', nat: 'full-cone' },
  { name: 'restr', nat: 'restricted' },
  // its router also maps ports (miniupnpd: PCP, NAT-PMP, UPnP-IGD)
  { name: 'port', nat: 'port-restricted', portMapping: true },
  { name: 'seq', nat: 'symmetric-seq', portDelta: 2 },
  { name: 'rand', nat: 'symmetric-random' }
]

interface Detected {
  reachability: string
  mapping: string
  filtering: string
  allocation: string
  portDelta?: number
}

/**
 * What `nat` must report for a site. With a relay on one IP, the filtering
 * test can only change the port: EIF answers come through like ADF ones.
 */
function expected (site: LabSite, oneIp: boolean, portMapped: boolean): Detected {
  const truth: NatTruth = site.truth
  const d: Detected = {
    // a verified port mapping makes the node reachable: the package says public
    reachability: site.nat.nat === 'none' || portMapped ? 'public' : 'private',
    mapping: truth.mapping,
    filtering: oneIp && truth.filtering === 'EIF' ? 'ADF' : truth.filtering,
    allocation: truth.allocation
  }

  if (truth.portDelta != null) {
    d.portDelta = truth.portDelta
  }

  return d
}

function detected (report: any): Detected {
  const d: Detected = {
    reachability: report.reachability,
    mapping: report.mapping,
    filtering: report.filtering,
    allocation: report.allocation.kind
  }

  if (report.allocation.kind === 'sequential') {
    d.portDelta = report.allocation.delta
  }

  return d
}

function describeDetected (d: Detected): string {
  return `${d.reachability.padEnd(7)} ${d.mapping.padEnd(4)} ${d.filtering.padEnd(4)} ${d.allocation}${d.portDelta != null ? ` Δ${d.portDelta}` : ''}`
}

interface NatRun {
  name: string
  /** the STUN server has one IP: EIF reads as ADF */
  oneIp: boolean
  args: string[]
  /** the `relay` event of the relay the run learns from */
  relay?: any
  /** only in these sites (default every site) */
  sites?: string[]
  /** the port mapping check runs */
  portMapping?: boolean
}

async function natReport (host: LabHost, args: string[]): Promise<{ report: any, stderr: string, ms: number }> {
  const started = Date.now()
  const result = await host.exec(cliArgv(['nat', '--json', '--timeout', '60', ...args]), { timeoutMs: 90_000 })

  if (result.code !== 0) {
    throw new Error(`nat ${args.join(' ')} in ${host.name} exited with ${String(result.code)}: ${result.stderr.slice(-2000)}`)
  }

  const [report] = jsonLines(result.stdout.split('\n'))
  if (report == null) {
    throw new Error(`nat ${args.join(' ')} in ${host.name} printed no JSON: ${result.stdout.slice(-1000)} ${result.stderr.slice(-1000)}`)
  }

  return { report, stderr: result.stderr, ms: Date.now() - started }
}

describe('cli: `nat` on every NAT type of the lab, against the lab\'s truth', function () {
  this.timeout(4 * 60_000)
  let lab: Lab | undefined
  const relays: CliProcess[] = []
  /** the `relay` events of the RFC 5780 relay and of the one-IP relay */
  let rfc5780Ready: any
  let vpsReady: any

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({ sites: SITES, publicHosts: ['relay', 'vps'] })
    const relayHost = lab.host('relay')
    const vpsHost = lab.host('vps')
    const rfc5780 = new CliProcess(relayHost, ['relay', '--json', ...relayHost.ips.flatMap(ip => ['--ip', ip])])
    const vps = new CliProcess(vpsHost, ['relay', '--json', '--ip', vpsHost.ip])
    relays.push(rfc5780, vps)
    ;[rfc5780Ready, vpsReady] = await Promise.all([rfc5780.event(e => e.event === 'relay'), vps.event(e => e.event === 'relay')])
  })

  after(async () => {
    await Promise.allSettled(relays.map(async r => r.interrupt()))
    await lab?.destroy()
  })

  it('reports the mapping, filtering, allocation (and delta) and public address the lab builds, with zero configuration and with --stun', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }

    const relayHost = lab.host('relay')
    const vpsHost = lab.host('vps')
    expect(rfc5780Ready.udx).to.have.members(relayHost.ips.flatMap(ip => [`${ip}:4001`, `${ip}:4002`]))
    expect(vpsReady.udx).to.have.members([`${vpsHost.ip}:4001`, `${vpsHost.ip}:4002`])

    const tcpAddr = (ready: any, ip: string): string => {
      const addr = (ready.addresses as string[]).find(a => a.startsWith(`/ip4/${ip}/tcp/4001/`))
      if (addr == null) {
        throw new Error(`the relay printed no TCP address on ${ip}: ${JSON.stringify(ready.addresses)}`)
      }
      return addr
    }

    // the zero-config run asks the gateway for a port mapping, as the
    // package does by default; the others leave that out (it costs the
    // protocols' timeouts where the gateway maps nothing)
    const runs: NatRun[] = [
      { name: 'one-IP relay', oneIp: true, args: ['--relay', tcpAddr(vpsReady, vpsHost.ip)], relay: vpsReady, portMapping: true },
      { name: 'RFC 5780 relay', oneIp: false, args: ['--no-port-mapping', '--relay', tcpAddr(rfc5780Ready, relayHost.ip)], relay: rfc5780Ready },
      // the option's own path; two sites are enough (EIF needs the second IP, the delta fresh sockets)
      { name: '--stun only', oneIp: false, args: ['--no-port-mapping', ...relayHost.ips.flatMap(ip => ['--stun', `${ip}:4001`])], sites: ['full', 'seq'] }
    ]

    // sites in parallel (each has its own NAT), runs one after the other (two
    // discoveries at once would interleave their new mappings)
    const rows = await Promise.all(lab.sites.map(async site => {
      const results = []
      for (const run of runs.filter(r => r.sites == null || r.sites.includes(site.name))) {
        results.push({ run, ...await natReport(site.hosts[0], run.args) })
      }
      return { site, results }
    }))

    const lines: string[] = []
    const failures: string[] = []

    for (const { site, results } of rows) {
      for (const { run, report, ms, stderr } of results) {
        const want = expected(site, run.oneIp, run.portMapping === true && site.portMapping != null)
        const got = detected(report)
        const ok = JSON.stringify(got) === JSON.stringify(want)
        lines.push(`      ${site.nat.nat.padEnd(17)} ${run.name.padEnd(15)} ${describeDetected(got).padEnd(30)} ${report.nat.padEnd(34)} ${String(report.publicAddresses.ipv4[0]).padEnd(21)} ${`${ms} ms`.padStart(8)}  ${ok ? 'ok' : `FAIL (want ${describeDetected(want)})`}`)

        if (!ok) {
          failures.push(`${site.name} ${run.name}: ${JSON.stringify(got)} want ${JSON.stringify(want)}\n${stderr}`)
        }

        try {
          checkReport(site, run, report, relayHost.ips)
        } catch (err: any) {
          failures.push(`${site.name} ${run.name}: ${String(err.message)}`)
        }
      }
    }

    console.log(`\n      NAT type          STUN from       detected (reachability mapping filtering allocation)  name  public address  time  ok\n${lines.join('\n')}\n`)
    expect(failures).to.deep.equal([])
  })

  it('prints the report as text without --json', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }

    const vpsHost = lab.host('vps')
    const relayAddr = (vpsReady.addresses as string[]).find(a => a.startsWith(`/ip4/${vpsHost.ip}/tcp/4001/`)) as string
    const site = lab.site('port')
    const result = await site.hosts[0].exec(cliArgv(['nat', '--relay', relayAddr]), { timeoutMs: 90_000 })

    expect(result.code, result.stderr).to.equal(0)
    // its router maps the port (PCP), which the package verified and uses
    expect(result.stdout).to.match(/^ {2}Reachability: +public through the port mapping \(behind a NAT\)$/m)
    expect(result.stdout).to.match(/^ {2}NAT type: +port-restricted cone, port mapped$/m)
    expect(result.stdout).to.match(/^ {2}Mapping: +EIM /m)
    expect(result.stdout).to.match(/^ {2}Filtering: +APDF /m)
    expect(result.stdout).to.match(new RegExp(`^ {2}IPv4: +${site.publicIp.replaceAll('.', '\\.')}:\\d+$`, 'm'))
    expect(result.stdout).to.match(new RegExp(`^ {2}Port mapping: +PCP at ${site.routerLanIp.replaceAll('.', '\\.')}: mapped ${site.publicIp.replaceAll('.', '\\.')}:\\d+ \\(verified\\)$`, 'm'))
    expect(result.stdout).to.match(new RegExp(`^ {4}${vpsHost.ip.replaceAll('.', '\\.')}:4001 +relay .* ms$`, 'm'))
    // progress went to standard error, as it happened
    expect(result.stderr).to.include('connecting to relay')
    expect(result.stderr).to.include('NAT discovery against')
  })
})

/** the rest of a report: public address, advice, STUN sources, relays (throws the first mismatch) */
function checkReport (site: LabSite, run: NatRun, report: any, stunIps: readonly string[]): void {
  // the public address is the site's, at a real port
  const publicIp = site.nat.nat === 'none' ? site.hosts[0].ip : site.publicIp
  expect(report.publicAddresses.ipv4, `${site.name} ${run.name}`).to.have.length.greaterThan(0)
  expect(report.publicAddresses.ipv4[0], `${site.name} ${run.name}`).to.match(new RegExp(`^${publicIp.replaceAll('.', '\\.')}:\\d+$`))
  expect(report.advice.code, `${site.name} ${run.name}: ${report.advice.message}`).to.equal('ok')
  expect(report.ipv6.status, `${site.name} ${run.name}`).to.equal('no')

  // the port mapping the site's router offers, verified from the relay; none elsewhere
  if (run.portMapping !== true) {
    expect(report.portMapping).to.deep.equal({ status: 'not-checked', protocols: [], reason: '--no-port-mapping' })
  } else if (site.portMapping != null) {
    expect(report.portMapping).to.deep.include({ status: 'found', protocols: ['PCP'], gateway: site.routerLanIp, verification: 'verified' })
    expect(report.portMapped).to.be.true()
    expect(report.portMapping.mapped).to.match(new RegExp(`^${publicIp.replaceAll('.', '\\.')}:\\d+$`))
  } else {
    expect(report.portMapping.status).to.equal('none')
  }

  if (run.portMapping !== true || site.portMapping == null) {
    expect(report.portMapped).to.be.false()
  }

  // every STUN source answered, with a round-trip time
  expect(report.stunSources, `${site.name} ${run.name}`).to.not.be.empty()
  for (const source of report.stunSources) {
    expect(source.rttMs, `${site.name} ${run.name} ${source.address as string}`).to.be.a('number').and.be.at.least(0)
    expect(source.origin).to.equal(run.relay != null ? 'relay' : 'configured')
  }

  if (run.relay != null) {
    expect(report.relays, `${site.name} ${run.name}`).to.have.length(1)
    expect(report.relays[0]).to.include({ connected: true, runsPackage: true, peerId: run.relay.peerId })
    expect(report.relays[0].stunServers, `${site.name} ${run.name}`).to.not.be.empty()
    expect(report.stunSources.every((s: any) => s.relay === run.relay.peerId)).to.be.true()
  } else {
    expect(report.relays).to.deep.equal([])
    expect(report.stunSources.map((s: any) => s.address)).to.have.members(stunIps.map(ip => `${ip}:4001`))
  }
}
