/*
 * NAT discovery against every lab NAT type: the detected profile must equal
 * the lab's truth, against our own RFC 5780 server (installStunServers on two
 * IPs x two ports) and against coturn in RFC 5780 mode. Each discovery runs
 * twice in a row on the same socket (the second is a refresh right after the
 * first: it must not see filters the first opened). Prints the detection
 * matrix with the time of every run.
 *
 * Needs root (skips without it, fails under CI=true). Only this file's lab
 * is created and destroyed; other labs are left alone.
 */

import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { Lab } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import type { LabHost, LabProcess, LabSite, NatTruth, SiteOptions } from '../../../src/lab/index.ts'
import type { NatProfile } from '../../../src/nat/nat-profile.ts'

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const NODE = [process.execPath, '--experimental-transform-types', '--disable-warning=ExperimentalWarning']

/** ports of our server and of coturn (its default port and alternate port) */
const OUR_PORTS = [4001, 4002]
const COTURN_PORT = 3478

/** discoveries per server and site: the second is an immediate refresh */
const RUNS = 2

/** one site per lab NAT type; delta 2 so that the delta is really measured */
const SITES: SiteOptions[] = [
  { name: 'open', nat: 'none' },
  { name: 'full', nat: 'full-cone' },
  { name: 'restr', nat: 'restricted' },
  { name: 'port', nat: 'port-restricted' },
  { name: 'seq', nat: 'symmetric-seq', portDelta: 2 },
  { name: 'rand', nat: 'symmetric-random' }
]

interface Run {
  run: number
  durationMs: number
  profile: NatProfile
  steps: string[]
  allocationPorts: number[]
  socketsLeft: number
}

interface Detected {
  reachability: NatProfile['reachability']
  mapping: string
  filtering: string
  allocation: string
  portDelta?: number
}

function detected (profile: NatProfile): Detected {
  const d: Detected = {
    reachability: profile.reachability,
    mapping: profile.mapping,
    filtering: profile.filtering,
    allocation: profile.allocation.kind
  }

  if (profile.allocation.kind === 'sequential') {
    d.portDelta = profile.allocation.delta
  }

  return d
}

function expected (site: LabSite): Detected {
  const truth: NatTruth = site.truth
  const d: Detected = {
    reachability: site.nat.nat === 'none' ? 'public' : 'private',
    mapping: truth.mapping,
    filtering: truth.filtering,
    allocation: truth.allocation
  }

  if (truth.portDelta != null) {
    d.portDelta = truth.portDelta
  }

  return d
}

function describeProfile (d: Detected): string {
  return `${d.reachability.padEnd(7)} ${d.mapping.padEnd(4)} ${d.filtering.padEnd(4)} ${d.allocation}${d.portDelta != null ? ` Δ${d.portDelta}` : ''}`
}

async function discover (host: LabHost, servers: Array<{ host: string, port: number }>): Promise<Run[]> {
  const result = await host.exec([...NODE, join(FIXTURES, 'discover.ts'), JSON.stringify({ servers, runs: RUNS })], { timeoutMs: 30_000 })

  if (result.code !== 0) {
    throw new Error(`discovery in ${host.name} exited with ${String(result.code)}: ${result.stderr.slice(-2000)}`)
  }

  return result.stdout.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line))
}

describe('NAT discovery in the NAT lab: every NAT type, our RFC 5780 server and coturn', function () {
  this.timeout(60_000)
  let lab: Lab | undefined
  let pidFile: string | undefined
  const processes: LabProcess[] = []

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({ sites: SITES, publicHosts: ['stun'] })
    pidFile = join(tmpdir(), `hpl-turnserver-${lab.id}.pid`)
  })

  after(async () => {
    for (const p of processes) {
      await p.kill()
    }
    await lab?.destroy()
    if (pidFile != null) {
      await rm(pidFile, { force: true })
    }
  })

  it('detects the mapping, filtering, allocation (and delta) the lab builds, for every NAT type', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }

    const stun = lab.host('stun')
    const [ip1, ip2] = stun.ips

    const ours = stun.spawn([...NODE, join(FIXTURES, 'stun-server.ts'), JSON.stringify({ hosts: [ip1, ip2], ports: OUR_PORTS })])
    processes.push(ours)
    const serving = await ours.waitForLine(/^(\{"serving".*)$/, { timeoutMs: 15_000 })
    const modes = JSON.parse(serving[1])
    expect(modes.serving.map((s: { mode: string }) => s.mode)).to.deep.equal(['rfc5780', 'rfc5780', 'rfc5780', 'rfc5780'])

    // `-c /dev/null`: Debian's /etc/turnserver.conf sets no-rfc5780
    const coturn = stun.spawn([
      'turnserver', '-c', '/dev/null', '-L', ip1, '-L', ip2, '-p', String(COTURN_PORT),
      '--stun-only', '--no-cli', '--no-tls', '--no-dtls', '--no-tcp',
      '--pidfile', pidFile ?? join(tmpdir(), 'hpl-turnserver.pid'), '--log-file', 'stdout', '--simple-log'
    ])
    processes.push(coturn)
    await coturn.waitForLine(/Total General servers/, { timeoutMs: 10_000 })

    // what the service asks: the two IPs of one server, at its primary port
    const ourServers = [{ host: ip1, port: OUR_PORTS[0] }, { host: ip2, port: OUR_PORTS[0] }]
    const coturnServers = [{ host: ip1, port: COTURN_PORT }, { host: ip2, port: COTURN_PORT }]

    // sites in parallel (each has its own NAT), servers one after the other
    // (two discoveries at once would interleave their new mappings)
    const rows = await Promise.all(lab.sites.map(async site => {
      const host = site.hosts[0]
      const withOurs = await discover(host, ourServers)
      const withCoturn = await discover(host, coturnServers)
      return { site, withOurs, withCoturn }
    }))

    const lines: string[] = []
    const failures: string[] = []

    for (const { site, withOurs, withCoturn } of rows) {
      const want = expected(site)

      for (const [server, runs] of [['ours', withOurs], ['coturn', withCoturn]] as const) {
        expect(runs, `${site.name} ${server}`).to.have.length(RUNS)
        const got = runs.map(r => detected(r.profile))
        const ok = got.every(g => JSON.stringify(g) === JSON.stringify(want))
        const reliability = runs.map(r => r.profile.allocation.kind === 'sequential' ? ` r=${r.profile.allocation.reliability}` : '').join('')
        lines.push(`      ${site.nat.nat.padEnd(17)} ${server.padEnd(7)} ${(describeProfile(got[0]) + reliability).padEnd(38)} ${runs.map(r => `${r.durationMs} ms`.padStart(8)).join(' ')}  ${runs[0].allocationPorts.join(',').padEnd(34)} ${ok ? 'ok' : `FAIL (want ${describeProfile(want)})`}`)

        if (process.env.NAT_LAB_VERBOSE === '1') {
          lines.push(...runs.map(r => `        steps: ${r.steps.join(' ')}`))
        }

        if (!ok) {
          failures.push(`${site.name} ${server}: ${JSON.stringify(got)} want ${JSON.stringify(want)}; steps ${runs.map(r => r.steps.join(' ')).join(' | ')}`)
        }

        for (const r of runs) {
          expect(r.socketsLeft, `${site.name} ${server}: fresh sockets left open`).to.equal(1)
        }
      }
    }

    // eslint-disable-next-line no-console
    console.log(`\n      NAT type          server  detected (reachability mapping filtering allocation)  run 1  refresh  allocation sample ports          ok\n${lines.join('\n')}\n`)

    expect(failures).to.deep.equal([])
  })
})
