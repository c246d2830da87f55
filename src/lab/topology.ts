/*
 * Turns lab options into a resolved topology: namespace and interface names,
 * addresses and routes. Pure: it validates and computes, it runs nothing.
 *
 * Address plan (documentation and private ranges only):
 *
 * - internet: 203.0.113.0/24 and 198.51.100.0/24 on one bridge
 *   - public host k: 203.0.113.(10+k) and 198.51.100.(10+k)
 *   - internet-facing router r (a site router, or a carrier NAT): 203.0.113.(100+r)
 * - NAT site i: LAN 10.(i+1).0.0/24, router .1, hosts .10, .11, ...
 * - site without NAT o: LAN 192.0.2.(16o)/28 (public, routed through the
 *   site router), router .(16o+1), hosts .(16o+2), ...
 * - carrier network of site i: 172.16.(i+1).0/24, carrier .1, site router .2
 *
 * IPv6 (dual-stack labs only, `ipv6`; 2001:db8::/32, no NAT):
 *
 * - internet: 2001:db8::/64 on the same bridge
 *   - public host k: 2001:db8::(10+k) and 2001:db8::1:(10+k)
 *   - internet-facing router r: 2001:db8::(100+r) (same r as in IPv4)
 *   (the numbers are written as in IPv4, e.g. 2001:db8::10, and read as hex)
 * - site i (any NAT type): LAN 2001:db8:(i+1)::/64, router ::1, hosts ::10,
 *   ::11, ...
 * - carrier link of site i: 2001:db8:(i+1):ff::/64, carrier ::1, site
 *   router ::2; the carrier routes the site's /64 without NAT or filter
 * - every internet-facing node (public hosts, routers, carriers) routes
 *   each site's /64 via that site's internet-facing router (carrier or
 *   router); LAN hosts have a default route via their router, a router
 *   behind a carrier via the carrier
 */

import {
  IPV6_CARRIER_SUBNET_ID,
  IPV6_SUBNET_PREFIX_LENGTH,
  DEFAULT_BINDING_TIMEOUT_MS,
  DEFAULT_HOSTS_PER_SITE,
  DEFAULT_PCP_MAX_LIFETIME_S,
  DEFAULT_PCP_MIN_LIFETIME_S,
  GATEWAY_STUN_CARRIER_HOST,
  GATEWAY_STUN_INTERNET_IPS,
  GATEWAY_STUN_PORTS,
  DEFAULT_SEQUENTIAL_FIRST_PORT,
  DEFAULT_SEQUENTIAL_POOL_SIZE,
  DEFAULT_SEQUENTIAL_PORT_DELTA,
  LAB_NAME_PREFIX,
  MAX_BINDING_TIMEOUT_MS,
  MAX_DELAY_MS,
  MAX_HOSTS_PER_SITE,
  MAX_OPEN_SITES,
  MAX_PUBLIC_HOSTS,
  MAX_SEQUENTIAL_POOL_SIZE,
  MAX_SEQUENTIAL_PORT_DELTA,
  MAX_SITES,
  MIN_BINDING_TIMEOUT_MS,
  MIN_SEQUENTIAL_POOL_SIZE
} from './constants.ts'
import { LabTopologyError } from './errors.ts'
import { ipv6Truth, siteTruth } from './nat-truth.ts'
import { NAT_TYPES } from './types.ts'
import type { Ipv6Mode, Ipv6Truth, LabOptions, LinkOptions, NatOptions, NatTruth, NatType, PortMappingOptions, PublicHostOptions, SiteOptions } from './types.ts'

/** Interface names inside the namespaces (the same in every lab) */
export const IFACE = Object.freeze({
  /** the bridge in the internet namespace */
  internetBridge: 'br0',
  /** a host's only interface */
  host: 'eth0',
  /** a router's internet (or carrier) side */
  wan: 'wan',
  /** a router's LAN bridge */
  lan: 'lan'
})

export const INTERNET_SUBNETS = Object.freeze(['203.0.113.0/24', '198.51.100.0/24'])

/** the IPv6 internet of a dual-stack lab (on the same bridge) */
export const INTERNET_SUBNET6 = '2001:db8::/64'

/** A NAT with every default filled in */
export interface ResolvedNat {
  nat: NatType
  bindingTimeoutMs: number
  hairpinning: boolean
  portDelta: number
  firstPort: number
  poolSize: number
}

/** A router's port-mapping daemon (miniupnpd), every default filled in */
export interface ResolvedPortMapping {
  upnp: boolean
  natPmp: boolean
  pcp: boolean
  igdVersion: 1 | 2
  minLifetime: number
  maxLifetime: number
  /**
   * The STUN responder the daemon asks for its external address: right
   * upstream of the router, so that it sees the router's own WAN address
   */
  stun: { ips: readonly [string, string], ports: readonly [number, number] }
}

/** A STUN responder for the miniupnpd of the routers downstream (see gateway-stun.ts) */
export interface GatewayStunSpec {
  namespace: string
  ips: readonly [string, string]
  ports: readonly [number, number]
}

export interface HostSpec {
  name: string
  namespace: string
  /** `public` hosts sit on the internet bridge; `lan` hosts behind a site router */
  kind: 'public' | 'lan'
  /** addresses, primary first */
  ips: string[]
  /** prefix length of each address */
  prefixLength: number
  /** next hop of the default route (LAN hosts) */
  gateway?: string
  /** the site of a LAN host */
  site?: string
  /** global IPv6 addresses, primary first (dual-stack hosts only), each a /64 */
  ips6?: string[]
  /** next hop of the IPv6 default route (dual-stack LAN hosts) */
  gateway6?: string
}

/** The IPv6 side of a router or carrier (dual-stack sites only) */
export interface RouterIpv6Spec {
  /** a site router's firewall, or `open` (a carrier is always `open`) */
  mode: Ipv6Mode
  wanIp: string
  /** default route of a router behind a carrier */
  wanGateway?: string
  lanIp: string
  lanSubnet: string
  /** the subnet of every IPv6 link (64) */
  prefixLength: number
}

export interface RouterSpec {
  namespace: string
  role: 'router' | 'carrier'
  site: string
  nat: ResolvedNat
  wanIp: string
  wanPrefixLength: number
  /** default route of a router behind a carrier */
  wanGateway?: string
  lanIp: string
  lanSubnet: string
  lanPrefixLength: number
  /** true when the WAN interface is a port of the internet bridge */
  onInternet: boolean
  /** the router runs miniupnpd (site routers only) */
  portMapping?: ResolvedPortMapping
  /**
   * a carrier whose site router maps ports: its second LAN address, where
   * it answers that router's STUN test
   */
  gatewayStunIp?: string
  /** the router's IPv6 side (dual-stack sites only) */
  ipv6?: RouterIpv6Spec
}

/** The IPv6 side of a dual-stack site */
export interface SiteIpv6Spec {
  mode: Ipv6Mode
  /** the LAN's /64, e.g. 2001:db8:1::/64 */
  prefix: string
  truth: Ipv6Truth
}

export interface SiteSpec {
  name: string
  router: RouterSpec
  carrier?: RouterSpec
  hosts: HostSpec[]
  /** the address that internet hosts see for this site's hosts (NAT sites) */
  publicIp: string
  truth: NatTruth
  link: Required<LinkOptions>
  /** the site's IPv6 (dual-stack sites only) */
  ipv6?: SiteIpv6Spec
}

/** One port of the internet bridge, and what its link does */
export interface InternetPort {
  /** interface name in the internet namespace */
  iface: string
  peerNamespace: string
  peerIface: string
  lossPercent: number
  delayMs: number
}

/** A route every internet-facing namespace gets */
export interface InternetRoute {
  subnet: string
  via: string
}

export interface Topology {
  id: string
  prefix: string
  internetNamespace: string
  /** every namespace, in creation order */
  namespaces: string[]
  publicHosts: HostSpec[]
  sites: SiteSpec[]
  ports: InternetPort[]
  /** routes to the public LANs of sites without NAT */
  internetRoutes: InternetRoute[]
  /** whether the lab is dual-stack */
  ipv6: boolean
  /** routes every internet-facing IPv6 node gets: each site's /64 (empty without IPv6) */
  internetRoutes6: InternetRoute[]
  /** the STUN responders the lab runs for the routers' miniupnpd (none without port mapping) */
  gatewayStun: GatewayStunSpec[]
}

const HOST_NAME = /^[a-z][a-z0-9]{0,9}$/
const SITE_NAME = /^[a-z][a-z0-9]{0,7}$/
const LAB_ID = /^[a-z0-9]{1,12}$/

/**
 * The namespace prefix of a lab, e.g. `hpl-3fa9c1-`
 */
export function labPrefix (id: string): string {
  return `${LAB_NAME_PREFIX}${id}-`
}

/**
 * Validate options and compute the topology of lab `id`.
 *
 * @throws {LabTopologyError} when an option is out of range or a name is taken twice
 */
export function planTopology (id: string, options: LabOptions): Topology {
  if (!LAB_ID.test(id)) {
    throw new LabTopologyError(`Lab id "${id}" must be 1-12 lower-case letters or digits`)
  }

  const prefix = labPrefix(id)
  const sitesIn = options.sites ?? []
  const publicIn = (options.publicHosts ?? []).map(h => typeof h === 'string' ? { name: h } : h)

  if (sitesIn.length > MAX_SITES) {
    throw new LabTopologyError(`A lab has at most ${MAX_SITES} sites, got ${sitesIn.length}`)
  }
  if (publicIn.length > MAX_PUBLIC_HOSTS) {
    throw new LabTopologyError(`A lab has at most ${MAX_PUBLIC_HOSTS} public hosts, got ${publicIn.length}`)
  }
  if (sitesIn.filter(s => s.nat === 'none').length > MAX_OPEN_SITES) {
    throw new LabTopologyError(`A lab has at most ${MAX_OPEN_SITES} sites with nat "none"`)
  }

  const ipv6 = resolveLabIpv6(options, sitesIn)

  const hostNames = new Set<string>()
  const claimHostName = (name: string): void => {
    if (hostNames.has(name)) {
      throw new LabTopologyError(`Host name "${name}" is used twice: rename a site or a public host`)
    }
    hostNames.add(name)
  }

  const internetNamespace = `${prefix}inet`
  const namespaces: string[] = [internetNamespace]
  const ports: InternetPort[] = []

  const publicHosts: HostSpec[] = publicIn.map((options: PublicHostOptions, k) => {
    if (!HOST_NAME.test(options.name)) {
      throw new LabTopologyError(`Public host name "${options.name}" must be 1-10 lower-case letters or digits, starting with a letter`)
    }
    claimHostName(options.name)
    const link = resolveLink(options, `public host "${options.name}"`)
    const namespace = `${prefix}pub-${options.name}`
    namespaces.push(namespace)
    ports.push({ iface: `p${k}`, peerNamespace: namespace, peerIface: IFACE.host, ...link })

    if (options.ipv6 != null && typeof options.ipv6 !== 'boolean') {
      throw new LabTopologyError(`public host "${options.name}": ipv6 must be true or false, got ${JSON.stringify(options.ipv6)}`)
    }

    return {
      name: options.name,
      namespace,
      kind: 'public',
      ips: [`203.0.113.${10 + k}`, `198.51.100.${10 + k}`],
      prefixLength: 24,
      ...(ipv6 && options.ipv6 !== false ? { ips6: [`2001:db8::${10 + k}`, `2001:db8::1:${10 + k}`] } : {})
    }
  })

  const siteNames = new Set<string>()
  let internetRouters = 0
  let openSites = 0

  const sites: SiteSpec[] = sitesIn.map((options: SiteOptions, i) => {
    if (!SITE_NAME.test(options.name)) {
      throw new LabTopologyError(`Site name "${options.name}" must be 1-8 lower-case letters or digits, starting with a letter`)
    }
    if (siteNames.has(options.name)) {
      throw new LabTopologyError(`Site name "${options.name}" is used twice`)
    }
    siteNames.add(options.name)

    const what = `site "${options.name}"`
    const nat = resolveNat(options, what)
    const link = resolveLink(options, what)
    const carrierNat = options.carrier != null ? resolveNat(options.carrier, `carrier of ${what}`) : undefined
    const hostCount = options.hosts ?? DEFAULT_HOSTS_PER_SITE
    const portMapping = resolvePortMapping(options.portMapping, what)

    if (portMapping != null && nat.nat === 'none') {
      throw new LabTopologyError(`${what}: portMapping needs a NAT (nat "none" has nothing to map)`)
    }

    if (!Number.isInteger(hostCount) || hostCount < 1 || hostCount > MAX_HOSTS_PER_SITE) {
      throw new LabTopologyError(`${what}: hosts must be an integer from 1 to ${MAX_HOSTS_PER_SITE}, got ${hostCount}`)
    }

    let lanSubnet: string
    let lanIp: string
    let lanPrefixLength: number
    let hostIp: (j: number) => string

    if (nat.nat === 'none') {
      const base = 16 * openSites++
      lanSubnet = `192.0.2.${base}/28`
      lanIp = `192.0.2.${base + 1}`
      lanPrefixLength = 28
      hostIp = j => `192.0.2.${base + 2 + j}`
    } else {
      lanSubnet = `10.${i + 1}.0.0/24`
      lanIp = `10.${i + 1}.0.1`
      lanPrefixLength = 24
      hostIp = j => `10.${i + 1}.0.${10 + j}`
    }

    const v6 = siteIpv6Plan(i, resolveSiteIpv6(options, ipv6, nat, what))

    const routerNamespace = `${prefix}${options.name}-nat`
    let carrier: RouterSpec | undefined
    let router: RouterSpec

    if (carrierNat != null) {
      const carrierNamespace = `${prefix}${options.name}-cgn`
      const r = internetRouters++
      const wanIp = `203.0.113.${100 + r}`
      carrier = {
        namespace: carrierNamespace,
        role: 'carrier',
        site: options.name,
        nat: carrierNat,
        wanIp,
        wanPrefixLength: 24,
        lanIp: `172.16.${i + 1}.1`,
        lanSubnet: `172.16.${i + 1}.0/24`,
        lanPrefixLength: 24,
        onInternet: true,
        ...(portMapping != null ? { gatewayStunIp: `172.16.${i + 1}.${GATEWAY_STUN_CARRIER_HOST}` } : {}),
        ...v6.carrier(r)
      }
      router = {
        namespace: routerNamespace,
        role: 'router',
        site: options.name,
        nat,
        wanIp: `172.16.${i + 1}.2`,
        wanPrefixLength: 24,
        wanGateway: carrier.lanIp,
        lanIp,
        lanSubnet,
        lanPrefixLength,
        onInternet: false,
        ...(portMapping != null ? { portMapping: { ...portMapping, stun: { ips: [carrier.lanIp, carrier.gatewayStunIp as string] as const, ports: GATEWAY_STUN_PORTS } } } : {}),
        ...v6.routerBehindCarrier()
      }
      namespaces.push(carrierNamespace, routerNamespace)
      ports.push({ iface: `s${ports.length}`, peerNamespace: carrierNamespace, peerIface: IFACE.wan, ...link })
    } else {
      const r = internetRouters++
      router = {
        namespace: routerNamespace,
        role: 'router',
        site: options.name,
        nat,
        wanIp: `203.0.113.${100 + r}`,
        wanPrefixLength: 24,
        lanIp,
        lanSubnet,
        lanPrefixLength,
        onInternet: true,
        ...(portMapping != null ? { portMapping: { ...portMapping, stun: { ips: GATEWAY_STUN_INTERNET_IPS, ports: GATEWAY_STUN_PORTS } } } : {}),
        ...v6.router(r)
      }
      namespaces.push(routerNamespace)
      ports.push({ iface: `s${ports.length}`, peerNamespace: routerNamespace, peerIface: IFACE.wan, ...link })
    }

    const hosts: HostSpec[] = []
    for (let j = 0; j < hostCount; j++) {
      const name = `${options.name}${j + 1}`
      claimHostName(name)
      const namespace = `${prefix}${name}`
      namespaces.push(namespace)
      hosts.push({
        name,
        namespace,
        kind: 'lan',
        ips: [hostIp(j)],
        prefixLength: lanPrefixLength,
        gateway: lanIp,
        site: options.name,
        ...v6.host(j)
      })
    }

    return {
      name: options.name,
      router,
      carrier,
      hosts,
      publicIp: carrier?.wanIp ?? router.wanIp,
      truth: siteTruth({ ...options, carrier: options.carrier }),
      link,
      ...v6.site()
    }
  })

  if (internetRouters > 150) {
    throw new LabTopologyError('Too many internet-facing routers: at most 150 sites and carriers together')
  }

  const internetRoutes: InternetRoute[] = sites
    .filter(site => site.router.nat.nat === 'none' && site.carrier == null)
    .map(site => ({ subnet: site.router.lanSubnet, via: site.router.wanIp }))

  // each dual-stack site's /64, via its internet-facing router (the
  // carrier for a double NAT)
  const internetRoutes6: InternetRoute[] = sites.flatMap(site => {
    const outer = site.carrier ?? site.router
    return site.ipv6 != null && outer.ipv6 != null ? [{ subnet: site.ipv6.prefix, via: outer.ipv6.wanIp }] : []
  })

  const gatewayStun: GatewayStunSpec[] = []

  if (sites.some(site => site.router.portMapping != null && site.router.onInternet)) {
    gatewayStun.push({ namespace: internetNamespace, ips: GATEWAY_STUN_INTERNET_IPS, ports: GATEWAY_STUN_PORTS })
  }

  for (const site of sites) {
    if (site.carrier?.gatewayStunIp != null) {
      gatewayStun.push({ namespace: site.carrier.namespace, ips: [site.carrier.lanIp, site.carrier.gatewayStunIp], ports: GATEWAY_STUN_PORTS })
    }
  }

  return { id, prefix, internetNamespace, namespaces, publicHosts, sites, ports, internetRoutes, ipv6, internetRoutes6, gatewayStun }
}

/** The IPv6 parts of site i's specs: each empty for an IPv4-only site */
interface SiteIpv6Plan {
  /** the site router on the internet, as internet-facing router number r */
  router(r: number): { ipv6?: RouterIpv6Spec }
  /** the site router behind its carrier */
  routerBehindCarrier(): { ipv6?: RouterIpv6Spec }
  /** the carrier, as internet-facing router number r */
  carrier(r: number): { ipv6?: RouterIpv6Spec }
  /** LAN host j */
  host(j: number): Pick<HostSpec, 'ips6' | 'gateway6'>
  site(): { ipv6?: SiteIpv6Spec }
}

/**
 * The IPv6 addresses of site i (see the address plan at the top), or none
 * when `mode` is false.
 */
function siteIpv6Plan (i: number, mode: Ipv6Mode | false): SiteIpv6Plan {
  if (mode === false) {
    return { router: () => ({}), routerBehindCarrier: () => ({}), carrier: () => ({}), host: () => ({}), site: () => ({}) }
  }
  const length = IPV6_SUBNET_PREFIX_LENGTH
  const lan = `2001:db8:${i + 1}::`
  const link = `2001:db8:${i + 1}:${IPV6_CARRIER_SUBNET_ID}::`
  const wan = (r: number): string => `2001:db8::${100 + r}`
  const lanSide = { lanIp: `${lan}1`, lanSubnet: `${lan}/${length}`, prefixLength: length }

  return {
    router: r => ({ ipv6: { mode, wanIp: wan(r), ...lanSide } }),
    routerBehindCarrier: () => ({ ipv6: { mode, wanIp: `${link}2`, wanGateway: `${link}1`, ...lanSide } }),
    // a carrier routes IPv6 without a filter
    carrier: r => ({ ipv6: { mode: 'open', wanIp: wan(r), lanIp: `${link}1`, lanSubnet: `${link}/${length}`, prefixLength: length } }),
    host: j => ({ ips6: [`${lan}${10 + j}`], gateway6: `${lan}1` }),
    site: () => ({ ipv6: { mode, prefix: `${lan}/${length}`, truth: ipv6Truth(mode) } })
  }
}

/**
 * Whether the lab is dual-stack: `LabOptions.ipv6`, or by default whether
 * some site asks for an IPv6 mode.
 */
function resolveLabIpv6 (options: LabOptions, sites: readonly SiteOptions[]): boolean {
  if (options.ipv6 != null && typeof options.ipv6 !== 'boolean') {
    throw new LabTopologyError(`ipv6 must be true or false, got ${JSON.stringify(options.ipv6)}`)
  }
  const asked = sites.filter(site => site.ipv6 != null && site.ipv6 !== false)
  if (options.ipv6 === false && asked.length > 0) {
    throw new LabTopologyError(`The lab has ipv6: false, but site "${asked[0].name}" asks for IPv6 (ipv6: ${JSON.stringify(asked[0].ipv6)}); drop one of the two`)
  }
  return options.ipv6 ?? asked.length > 0
}

/**
 * A site's IPv6 mode, or false for an IPv4-only site: by default a
 * firewall in front of a NAT's LAN, and open for a site without NAT (whose
 * IPv4 LAN is not filtered either).
 */
function resolveSiteIpv6 (options: SiteOptions, labIpv6: boolean, nat: ResolvedNat, what: string): Ipv6Mode | false {
  const value = options.ipv6
  if (value != null && value !== true && value !== false && value !== 'firewall' && value !== 'open') {
    throw new LabTopologyError(`${what}: ipv6 must be true, false, "firewall" or "open", got ${JSON.stringify(value)}`)
  }
  if (!labIpv6 || value === false) {
    return false
  }
  if (value == null || value === true) {
    return nat.nat === 'none' ? 'open' : 'firewall'
  }
  return value
}

function resolvePortMapping (options: boolean | PortMappingOptions | undefined, what: string): Omit<ResolvedPortMapping, 'stun'> | undefined {
  if (options == null || options === false) {
    return undefined
  }

  const o = options === true ? {} : options
  const resolved = {
    upnp: o.upnp ?? true,
    natPmp: o.natPmp ?? true,
    pcp: o.pcp ?? true,
    igdVersion: o.igdVersion ?? 2,
    minLifetime: o.minLifetime ?? DEFAULT_PCP_MIN_LIFETIME_S,
    maxLifetime: o.maxLifetime ?? DEFAULT_PCP_MAX_LIFETIME_S
  }

  if (!resolved.upnp && !resolved.natPmp && !resolved.pcp) {
    throw new LabTopologyError(`${what}: portMapping switches every protocol off; leave portMapping out instead`)
  }
  if (resolved.igdVersion !== 1 && resolved.igdVersion !== 2) {
    throw new LabTopologyError(`${what}: portMapping.igdVersion must be 1 or 2, got ${String(resolved.igdVersion)}`)
  }
  const { minLifetime, maxLifetime } = resolved
  if (!Number.isInteger(minLifetime) || !Number.isInteger(maxLifetime) || minLifetime < 1 || maxLifetime < minLifetime) {
    throw new LabTopologyError(`${what}: portMapping lifetimes must be whole seconds with 1 <= minLifetime <= maxLifetime, got ${minLifetime} and ${maxLifetime}`)
  }

  return resolved
}

function resolveNat (options: NatOptions, what: string): ResolvedNat {
  if (!NAT_TYPES.includes(options.nat)) {
    throw new LabTopologyError(`${what}: nat must be one of ${NAT_TYPES.join(', ')}, got "${String(options.nat)}"`)
  }

  const resolved: ResolvedNat = {
    nat: options.nat,
    bindingTimeoutMs: options.bindingTimeoutMs ?? DEFAULT_BINDING_TIMEOUT_MS,
    hairpinning: options.hairpinning ?? false,
    portDelta: options.portDelta ?? DEFAULT_SEQUENTIAL_PORT_DELTA,
    firstPort: options.firstPort ?? DEFAULT_SEQUENTIAL_FIRST_PORT,
    poolSize: options.poolSize ?? DEFAULT_SEQUENTIAL_POOL_SIZE
  }

  const t = resolved.bindingTimeoutMs
  if (!Number.isInteger(t) || t % 1000 !== 0 || t < MIN_BINDING_TIMEOUT_MS || t > MAX_BINDING_TIMEOUT_MS) {
    throw new LabTopologyError(`${what}: bindingTimeoutMs must be whole seconds from ${MIN_BINDING_TIMEOUT_MS} to ${MAX_BINDING_TIMEOUT_MS} ms, got ${t}`)
  }

  if (options.nat !== 'symmetric-seq' && (options.portDelta != null || options.firstPort != null || options.poolSize != null)) {
    throw new LabTopologyError(`${what}: portDelta, firstPort and poolSize apply to nat "symmetric-seq" only`)
  }

  checkSequentialPool(resolved, what)
  return resolved
}

function checkSequentialPool ({ portDelta, firstPort, poolSize }: ResolvedNat, what: string): void {
  if (!Number.isInteger(portDelta) || portDelta < 1 || portDelta > MAX_SEQUENTIAL_PORT_DELTA) {
    throw new LabTopologyError(`${what}: portDelta must be an integer from 1 to ${MAX_SEQUENTIAL_PORT_DELTA}, got ${portDelta}`)
  }
  if (!Number.isInteger(poolSize) || poolSize < MIN_SEQUENTIAL_POOL_SIZE || poolSize > MAX_SEQUENTIAL_POOL_SIZE) {
    throw new LabTopologyError(`${what}: poolSize must be an integer from ${MIN_SEQUENTIAL_POOL_SIZE} to ${MAX_SEQUENTIAL_POOL_SIZE}, got ${poolSize}`)
  }
  const lastPort = firstPort + (poolSize - 1) * portDelta
  if (!Number.isInteger(firstPort) || firstPort < 1024 || lastPort > 65535) {
    throw new LabTopologyError(`${what}: the sequential pool runs from firstPort ${firstPort} to ${lastPort}; it must lie within 1024-65535 (lower firstPort, poolSize or portDelta)`)
  }
}

function resolveLink (options: LinkOptions, what: string): Required<LinkOptions> {
  const lossPercent = options.lossPercent ?? 0
  const delayMs = options.delayMs ?? 0

  if (!Number.isFinite(lossPercent) || lossPercent < 0 || lossPercent > 100) {
    throw new LabTopologyError(`${what}: lossPercent must be from 0 to 100, got ${lossPercent}`)
  }
  if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
    throw new LabTopologyError(`${what}: delayMs must be from 0 to ${MAX_DELAY_MS}, got ${delayMs}`)
  }

  return { lossPercent, delayMs }
}
