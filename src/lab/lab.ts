/**
 * The NAT lab: builds a topology of network namespaces with real kernel
 * NATs, gives access to its hosts, and tears it all down.
 */

import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants as fsConstants, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { parseConntrack } from './conntrack.ts'
import { startDelayStage } from './delay-stage.ts'
import { LabDestroyedError, LabRequiresRootError, LabToolMissingError, LabUnknownNameError } from './errors.ts'
import { LabHost } from './lab-host.ts'
import { cleanupLabs, labRecordPath, listLabNamespaces, registerLab, removeNamespaces, unregisterLab } from './lab-registry.ts'
import { MINIUPNPD_PATH, parseMiniupnpdRedirects, startGatewayStun, startMiniupnpd } from './port-mapping-daemon.ts'
import { inNamespace, runChecked } from './run-command.ts'
import { runPhases, stepCommand } from './run-setup.ts'
import { planSetup, planTeardown } from './setup-plan.ts'
import { planTopology } from './topology.ts'
import type { LabProcess } from './lab-process.ts'
import type { CleanupOptions, CleanupReport } from './lab-registry.ts'
import type { RouterPortMapping } from './port-mapping-daemon.ts'
import type { ResolvedNat, ResolvedPortMapping, SiteSpec, Topology } from './topology.ts'
import type { ConntrackEntry, Ipv6Mode, Ipv6Truth, LabOptions, LinkOptions, NatTruth } from './types.ts'

/** The IPv6 side of a dual-stack site */
export interface LabSiteIpv6 {
  /** what the site router does with IPv6 */
  mode: Ipv6Mode
  /** the LAN's /64, e.g. `2001:db8:1::/64` */
  prefix: string
  /** the site router's LAN address (the hosts' IPv6 gateway), e.g. `2001:db8:1::1` */
  routerLanIp: string
  /** the site router's WAN address (on the carrier link behind a carrier) */
  routerWanIp: string
  /** the internet-facing IPv6 address of the site: its router's, or its carrier's */
  publicRouterIp: string
  /** what an observer on the internet sees of the site's IPv6 (no translation) */
  truth: Ipv6Truth
}

/** A site as the lab built it */
export interface LabSite {
  name: string
  /** the address internet hosts see for this site (the outermost NAT's) */
  publicIp: string
  /** the site router's NAT */
  nat: Readonly<ResolvedNat>
  /** the carrier NAT in front of the site router, if any */
  carrier?: Readonly<ResolvedNat>
  /** the site router's namespace */
  routerNamespace: string
  carrierNamespace?: string
  /** the site router's WAN address (a carrier address behind a carrier) */
  routerWanIp: string
  /** the site router's LAN address (the LAN hosts' gateway) */
  routerLanIp: string
  lanSubnet: string
  hosts: readonly LabHost[]
  /** the port-mapping daemon (miniupnpd) of the site router, if it runs one */
  portMapping?: Readonly<Omit<ResolvedPortMapping, 'stun'>>
  /** what NAT discovery from this site's hosts should find */
  truth: NatTruth
  link: Readonly<Required<LinkOptions>>
  /** the site's IPv6 (undefined for an IPv4-only site) */
  ipv6?: Readonly<LabSiteIpv6>
}

export interface ConntrackOptions {
  /**
   * List the carrier NAT's entries instead of the site router's
   *
   * @default false
   */
  carrier?: boolean

  /**
   * The address family of the flows to list: 4 (the NAT's bindings) or 6
   * (the IPv6 firewall's pinholes, `conntrack -L -f ipv6`; a carrier
   * routes IPv6 without tracking it, so it lists none)
   *
   * @default 4
   */
  family?: 4 | 6
}

const BASE_TOOLS: Array<[string, string]> = [['ip', 'iproute2'], ['nft', 'nftables'], ['sysctl', 'procps']]
const DELAY_TOOLS: Array<[string, string]> = [['iptables-restore', 'iptables'], ['gcc', 'gcc libnetfilter-queue-dev']]
const DELAY_TOOLS6: Array<[string, string]> = [['ip6tables-restore', 'iptables']]
const PORT_MAPPING_TOOLS: Array<[string, string]> = [['miniupnpd', 'miniupnpd-nftables']]

/** labs of this process, for the last-chance teardown at exit */
const liveLabs = new Set<Lab>()
let exitHookInstalled = false

export class Lab {
  /** the lab's unique id; its namespaces are named `hpl-<id>-...` */
  readonly id: string
  readonly topology: Topology
  /** how long `Lab.create()` took to build the topology (ms) */
  readonly setupMs: number
  /** how long `destroy()` took (ms), once it has run */
  teardownMs: number | undefined
  readonly #hosts: Map<string, LabHost>
  readonly #sites: Map<string, LabSite>
  readonly #processes = new Set<LabProcess>()
  #delayStage: LabProcess | undefined
  /** gateway STUN responders and miniupnpd daemons */
  #daemons: LabProcess[] = []
  #destroyed = false
  #destroying: Promise<void> | undefined

  private constructor (topology: Topology, setupMs: number) {
    this.id = topology.id
    this.topology = topology
    this.setupMs = setupMs
    this.teardownMs = undefined
    const context = {
      alive: () => !this.#destroyed,
      track: (proc: LabProcess) => {
        this.#processes.add(proc)
        void proc.exited.then(() => this.#processes.delete(proc))
      }
    }
    this.#hosts = new Map()
    for (const spec of [...topology.publicHosts, ...topology.sites.flatMap(site => site.hosts)]) {
      this.#hosts.set(spec.name, new LabHost(spec, context))
    }
    this.#sites = new Map(topology.sites.map(site => [site.name, this.#labSite(site)]))
  }

  /**
   * Build a lab. First removes the leftovers of labs whose process is gone.
   *
   * @example
   * ```ts
   * const lab = await Lab.create({
   *   sites: [{ name: 'a', nat: 'port-restricted' }, { name: 'b', nat: 'symmetric-random' }],
   *   publicHosts: ['relay', 'stun']
   * })
   * const { stdout } = await lab.host('a1').exec(['ping', '-c1', lab.host('relay').ip])
   * await lab.destroy()
   * ```
   *
   * @throws {LabRequiresRootError} when not root
   * @throws {LabToolMissingError} when a program is missing
   * @throws {LabTopologyError} when the options are invalid
   */
  static async create (options: LabOptions = {}): Promise<Lab> {
    if (process.getuid?.() !== 0) {
      throw new LabRequiresRootError()
    }

    const started = performance.now()
    // 24 random bits: a clash with a lab that exists now is rare; retry a few times
    const existing = await listLabNamespaces()
    let id = randomBytes(3).toString('hex')
    for (let attempt = 0; attempt < 8 && existing.has(id); attempt++) {
      id = randomBytes(3).toString('hex')
    }
    if (existing.has(id)) {
      throw new Error('Could not pick an unused lab id; remove old labs with Lab.cleanupAll({ all: true })')
    }

    const topology = planTopology(id, options)
    const plan = planSetup(topology)
    const mapping = topology.sites.some(site => site.router.portMapping != null)
    requireTools([
      ...BASE_TOOLS,
      ...(plan.delayStage != null ? DELAY_TOOLS : []),
      ...(plan.delayStage != null && topology.ipv6 ? DELAY_TOOLS6 : []),
      ...(mapping ? PORT_MAPPING_TOOLS : [])
    ])

    await cleanupLabs()
    await registerLab(id)

    let delayStage: LabProcess | undefined
    const daemons: LabProcess[] = []
    try {
      await runPhases(plan.phases)
      if (plan.delayStage != null) {
        delayStage = await startDelayStage(plan.delayStage)
      }
      // port-mapping routers: the STUN responders first (miniupnpd tests
      // its address at start), then the daemons
      await Promise.all(topology.gatewayStun.map(async spec => { daemons.push(await startGatewayStun(spec)) }))
      await Promise.all(topology.sites.map(async (site, index) => {
        if (site.router.portMapping != null) {
          daemons.push(await startMiniupnpd(site.router, site.name, id, index))
        }
      }))
    } catch (err) {
      await Promise.all([delayStage, ...daemons].map(async proc => proc?.kill()))
      await removeNamespaces(topology.namespaces)
      rmSync(join(tmpdir(), `hpl-lab-${id}`), { recursive: true, force: true })
      await unregisterLab(id)
      throw err
    }

    const lab = new Lab(topology, performance.now() - started)
    lab.#delayStage = delayStage
    lab.#daemons = daemons
    liveLabs.add(lab)
    installExitHook()
    return lab
  }

  /**
   * Remove the namespaces and processes of labs whose creating process has
   * exited (crashed runs), or of all labs with `{ all: true }`.
   * `Lab.create()` runs the first form itself.
   */
  static async cleanupAll (options: CleanupOptions = {}): Promise<CleanupReport> {
    if (process.getuid?.() !== 0) {
      throw new LabRequiresRootError()
    }
    return cleanupLabs(options)
  }

  /** whether `destroy()` has been called */
  get destroyed (): boolean {
    return this.#destroyed
  }

  /**
   * A host by name: a public host's name, or `<site><n>` for the n-th LAN
   * host of a site (`a1`, `a2`, ...).
   *
   * @throws {LabUnknownNameError}
   */
  host (name: string): LabHost {
    const host = this.#hosts.get(name)
    if (host == null) {
      throw new LabUnknownNameError(`No host "${name}" in this lab; hosts are: ${[...this.#hosts.keys()].join(', ')}`)
    }
    return host
  }

  /** every host, public hosts first */
  get hosts (): LabHost[] {
    return [...this.#hosts.values()]
  }

  /**
   * A site by name.
   *
   * @throws {LabUnknownNameError}
   */
  site (name: string): LabSite {
    const site = this.#sites.get(name)
    if (site == null) {
      throw new LabUnknownNameError(`No site "${name}" in this lab; sites are: ${[...this.#sites.keys()].join(', ')}`)
    }
    return site
  }

  /** every site, in the order of the options */
  get sites (): LabSite[] {
    return [...this.#sites.values()]
  }

  /**
   * The UDP conntrack entries of a site's NAT router (or of its carrier
   * NAT): each one is a binding, with the inside address in `original` and
   * the mapped address as `reply.dst`. With `{ family: 6 }`, the IPv6 flows
   * through the site router (no translation: `reply.dst` is the LAN host's
   * own address); empty for an IPv4-only site.
   */
  async conntrack (site: string, options: ConntrackOptions = {}): Promise<ConntrackEntry[]> {
    this.#assertAlive()
    requireTools([['conntrack', 'conntrack']])
    const namespace = this.#natNamespace(site, options.carrier === true)
    // conntrack-tools 1.4.7 lists both families without -f
    const family = options.family ?? 4
    if (family !== 4 && family !== 6) {
      throw new TypeError(`conntrack family must be 4 or 6, got ${String(family)}`)
    }
    const [file, ...args] = inNamespace(namespace, ['conntrack', '-L', '-p', 'udp', '-f', family === 6 ? 'ipv6' : 'ipv4'])
    const { stdout } = await runChecked(file, args)
    return parseConntrack(stdout)
  }

  /**
   * The port mappings a site router's miniupnpd holds now (its DNAT rules):
   * what UPnP, NAT-PMP and PCP clients on the LAN asked for and have not
   * deleted, or let expire. Empty for a router without port mapping.
   */
  async portMappings (site: string): Promise<RouterPortMapping[]> {
    this.#assertAlive()
    const spec = this.site(site)
    if (spec.portMapping == null) {
      return []
    }
    const [file, ...args] = inNamespace(spec.routerNamespace, ['nft', 'list', 'chain', 'inet', 'miniupnpd', 'prerouting_miniupnpd'])
    const { stdout } = await runChecked(file, args)
    return parseMiniupnpdRedirects(stdout)
  }

  /**
   * Forget every binding of a site's NAT router (or of its carrier NAT):
   * conntrack entries and the cone NAT's mapping tables. Later flows get new
   * mappings as if the router had just started. A dual-stack site router
   * also forgets its IPv6 pinholes (`family` is ignored).
   */
  async resetNat (site: string, options: ConntrackOptions = {}): Promise<void> {
    this.#assertAlive()
    const spec = this.site(site)
    const nat = options.carrier === true ? spec.carrier : spec.nat
    const namespace = this.#natNamespace(site, options.carrier === true)
    if (options.carrier !== true && spec.ipv6 != null) {
      requireTools([['conntrack', 'conntrack']])
      const [file, ...args] = inNamespace(namespace, ['conntrack', '-F', '-f', 'ipv6'])
      await runChecked(file, args)
    }
    if (nat == null || nat.nat === 'none') {
      return
    }
    const tables: string[] = []
    if (nat.nat === 'full-cone' || nat.nat === 'restricted' || nat.hairpinning) {
      tables.push('flush map ip lab mappings')
    }
    if (nat.nat === 'restricted') {
      tables.push('flush set ip lab contacted')
    }
    requireTools([['conntrack', 'conntrack']])
    if (tables.length > 0) {
      const [file, ...args] = inNamespace(namespace, ['nft', '-f', '-'])
      await runChecked(file, args, { input: tables.join('\n') + '\n' })
    }
    const [file, ...args] = inNamespace(namespace, ['conntrack', '-F'])
    await runChecked(file, args)
  }

  /**
   * Kill every process the lab started and remove everything it created.
   * Safe to call more than once.
   */
  async destroy (): Promise<void> {
    this.#destroying ??= this.#teardown()
    return this.#destroying
  }

  async #teardown (): Promise<void> {
    const started = performance.now()
    this.#destroyed = true
    liveLabs.delete(this)
    const processes = [...this.#processes, ...this.#daemons]
    if (this.#delayStage != null) {
      processes.push(this.#delayStage)
    }
    await Promise.all(processes.map(async proc => proc.kill()))
    const left = await removeNamespaces(this.topology.namespaces)
    rmSync(join(tmpdir(), `hpl-lab-${this.id}`), { recursive: true, force: true })
    await unregisterLab(this.id)
    this.teardownMs = performance.now() - started
    if (left.length > 0) {
      throw new Error(`Lab ${this.id}: could not delete namespaces ${left.join(', ')}; run Lab.cleanupAll() as root`)
    }
  }

  /** teardown without waiting, for process exit */
  teardownSync (): void {
    if (this.#destroyed) {
      return
    }
    this.#destroyed = true
    liveLabs.delete(this)
    for (const proc of [...this.#processes, ...this.#daemons, ...(this.#delayStage != null ? [this.#delayStage] : [])]) {
      proc.signal('SIGKILL')
    }
    const { argv, input } = stepCommand(planTeardown(this.topology.namespaces))
    spawnSync(argv[0], ['-force', ...argv.slice(1)], { input, stdio: ['pipe', 'ignore', 'ignore'], timeout: 10_000 })
    rmSync(labRecordPath(this.id), { force: true })
    rmSync(join(tmpdir(), `hpl-lab-${this.id}`), { recursive: true, force: true })
  }

  #natNamespace (site: string, carrier: boolean): string {
    const spec = this.site(site)
    if (carrier) {
      if (spec.carrierNamespace == null) {
        throw new LabUnknownNameError(`Site "${site}" has no carrier NAT`)
      }
      return spec.carrierNamespace
    }
    return spec.routerNamespace
  }

  #labSite (site: SiteSpec): LabSite {
    return Object.freeze({
      name: site.name,
      publicIp: site.publicIp,
      nat: Object.freeze({ ...site.router.nat }),
      carrier: site.carrier != null ? Object.freeze({ ...site.carrier.nat }) : undefined,
      routerNamespace: site.router.namespace,
      carrierNamespace: site.carrier?.namespace,
      routerWanIp: site.router.wanIp,
      routerLanIp: site.router.lanIp,
      lanSubnet: site.router.lanSubnet,
      hosts: Object.freeze(site.hosts.map(host => this.host(host.name))),
      ...(site.router.portMapping != null ? { portMapping: Object.freeze(withoutStun(site.router.portMapping)) } : {}),
      truth: Object.freeze({ ...site.truth }),
      link: Object.freeze({ ...site.link }),
      ...(site.ipv6 != null && site.router.ipv6 != null ? { ipv6: Object.freeze(labSiteIpv6(site)) } : {})
    })
  }

  #assertAlive (): void {
    if (this.#destroyed) {
      throw new LabDestroyedError()
    }
  }
}

function labSiteIpv6 (site: SiteSpec): LabSiteIpv6 {
  const router = site.router.ipv6
  const outer = site.carrier?.ipv6 ?? router
  if (site.ipv6 == null || router == null || outer == null) {
    throw new TypeError(`Site "${site.name}" has no IPv6`)
  }
  return {
    mode: site.ipv6.mode,
    prefix: site.ipv6.prefix,
    routerLanIp: router.lanIp,
    routerWanIp: router.wanIp,
    publicRouterIp: outer.wanIp,
    truth: Object.freeze({ ...site.ipv6.truth })
  }
}

function withoutStun ({ stun, ...rest }: ResolvedPortMapping): Omit<ResolvedPortMapping, 'stun'> {
  return rest
}

function requireTools (tools: Array<[string, string]>): void {
  // miniupnpd lives in /usr/sbin, which a non-login PATH may lack
  const dirs = [...(process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter), dirname(MINIUPNPD_PATH)]
  for (const [tool, pkg] of tools) {
    const found = dirs.some(dir => {
      try {
        accessSync(join(dir, tool), fsConstants.X_OK)
        return true
      } catch {
        return false
      }
    })
    if (!found) {
      throw new LabToolMissingError(tool, pkg)
    }
  }
}

/**
 * Labs that are still up when the process exits (a test forgot
 * `destroy()`, or the runner called process.exit) are torn down
 * synchronously; whatever survives a crash is removed by the next
 * `Lab.create()`.
 */
function installExitHook (): void {
  if (exitHookInstalled) {
    return
  }
  exitHookInstalled = true
  process.on('exit', () => {
    for (const lab of [...liveLabs]) {
      lab.teardownSync()
    }
  })
}
