/**
 * Public option and description types of the NAT lab.
 */

/**
 * The NAT behaviour of a site router (terms of RFC 4787).
 *
 * - `none`: no translation, no filtering; the LAN hosts have public addresses (192.0.2.0/24) routed through the site router
 * - `full-cone`: endpoint-independent mapping and filtering (EIM + EIF)
 * - `restricted`: endpoint-independent mapping, address-dependent filtering (EIM + ADF)
 * - `port-restricted`: endpoint-independent mapping, address-and-port-dependent filtering (EIM + APDF); plain Linux masquerading
 * - `symmetric-seq`: address-and-port-dependent mapping (APDM), each new mapping takes the previous port plus a delta
 * - `symmetric-random`: address-and-port-dependent mapping (APDM) with random ports
 */
export type NatType =
  | 'none'
  | 'full-cone'
  | 'restricted'
  | 'port-restricted'
  | 'symmetric-seq'
  | 'symmetric-random'

/**
 * Every {@link NatType}, in order from the most to the least open
 */
export const NAT_TYPES: readonly NatType[] = Object.freeze([
  'none',
  'full-cone',
  'restricted',
  'port-restricted',
  'symmetric-seq',
  'symmetric-random'
])

/**
 * What a NAT is: its type and the type's parameters.
 */
export interface NatOptions {
  nat: NatType

  /**
   * How long a UDP binding (mapping plus filter state) lives without
   * outbound traffic (ms). Whole seconds only (conntrack counts seconds).
   *
   * @default 30000
   */
  bindingTimeoutMs?: number

  /**
   * Whether a LAN host can reach another LAN host (or itself) through the
   * router's public address and mapped port.
   *
   * @default false
   */
  hairpinning?: boolean

  /**
   * `symmetric-seq` only: the step between two consecutive mappings (ports)
   *
   * @default 1
   */
  portDelta?: number

  /**
   * `symmetric-seq` only: the first port of the pool
   *
   * @default 20000
   */
  firstPort?: number

  /**
   * `symmetric-seq` only: the number of ports in the pool; after the last
   * one the NAT starts again at `firstPort`
   *
   * @default 2048
   */
  poolSize?: number
}

/**
 * What a site router does with IPv6 (the lab has no IPv6 NAT: LAN hosts
 * have global addresses of the site's /64, routed through the router).
 *
 * `firewall` is a stateful firewall (nftables `table ip6 lab6`): replies
 * (`ct state established,related`) and everything from the LAN pass, new
 * inbound packets from the WAN are dropped silently, except ICMPv6
 * packet-too-big and echo requests. No translation: endpoint-independent
 * mapping with preserved addresses and ports, address-and-port-dependent
 * filtering (APDF), like a port-restricted NAT without the NAT.
 *
 * `open` is routed with no filter; conntrack only watches (so that
 * `lab.conntrack(site, { family: 6 })` shows the flows).
 */
export type Ipv6Mode = 'firewall' | 'open'

/**
 * Impairments of the link between a site (or a public host) and the
 * internet. They act on the internet side of the link, after the NAT has
 * translated outgoing packets and before it sees incoming ones, in both
 * directions.
 */
export interface LinkOptions {
  /**
   * Share of IP packets dropped (IPv4, and IPv6 in a dual-stack lab; never
   * ARP or IPv6 neighbour discovery), independently in each direction
   * (percent, 0-100). A round trip therefore loses
   * `1 - (1 - loss/100)^2` of the exchanges.
   *
   * @default 0
   */
  lossPercent?: number

  /**
   * Delay added to every IP packet (IPv4, and IPv6 in a dual-stack lab;
   * not ARP or IPv6 neighbour discovery), in each direction (ms): a round trip
   * through this link grows by twice this value.
   *
   * @default 0
   */
  delayMs?: number
}

/**
 * What the port-mapping daemon of a site router (miniupnpd) offers its LAN.
 * Each protocol can be switched off on its own; miniupnpd serves NAT-PMP
 * and PCP on one socket, so switching off one of the two drops that
 * protocol's requests (version 0 or 2) before they reach it: the router
 * then stays silent to it, as routers without it do.
 */
export interface PortMappingOptions {
  /**
   * UPnP-IGD (SSDP on the LAN, HTTP control on port 5000)
   *
   * @default true
   */
  upnp?: boolean

  /**
   * NAT-PMP (RFC 6886, UDP 5351)
   *
   * @default true
   */
  natPmp?: boolean

  /**
   * PCP (RFC 6887, UDP 5351)
   *
   * @default true
   */
  pcp?: boolean

  /**
   * The InternetGatewayDevice version the router announces (miniupnpd's
   * `force_igd_desc_v1` for 1)
   *
   * @default 2
   */
  igdVersion?: 1 | 2

  /**
   * The shortest and longest PCP lifetimes the router grants, in seconds
   *
   * @default 120 and 86400
   */
  minLifetime?: number
  maxLifetime?: number
}

/**
 * A site: a NAT router (optionally behind a carrier NAT) and LAN hosts
 * behind it.
 */
export interface SiteOptions extends NatOptions, LinkOptions {
  /**
   * Run a port-mapping daemon (miniupnpd, Debian package
   * `miniupnpd-nftables`) on the site router: UPnP-IGD, NAT-PMP and PCP on
   * the LAN side, mapping the router's WAN address. `true` for every
   * protocol. Behind a carrier NAT the router maps its own WAN address, a
   * private one, as real routers do (double NAT).
   *
   * @default false
   */
  portMapping?: boolean | PortMappingOptions

  /**
   * Lower-case letters and digits, starting with a letter, at most 8
   * characters. The LAN hosts are named `<name>1`, `<name>2`, ...
   */
  name: string

  /**
   * Number of LAN hosts
   *
   * @default 1
   */
  hosts?: number

  /**
   * A carrier-grade NAT between this site's router and the internet (double
   * NAT). The site router's WAN side is then a private carrier network.
   * With IPv6, the carrier routes the site's /64 without NAT or filter (as
   * carriers with CGNAT and native IPv6 do); the site router's own IPv6
   * mode applies.
   */
  carrier?: NatOptions

  /**
   * IPv6 for this site (see {@link Ipv6Mode}): `false` keeps the site
   * IPv4-only inside a dual-stack lab; `true` is the default mode. A mode
   * (or `true`) turns IPv6 on for the whole lab unless `LabOptions.ipv6` is
   * `false`, which is an error.
   *
   * @default 'firewall' for sites with a NAT and 'open' for sites with
   * nat 'none' when the lab has IPv6; false otherwise
   */
  ipv6?: boolean | Ipv6Mode
}

/**
 * A host placed directly on the internet.
 */
export interface PublicHostOptions extends LinkOptions {
  /**
   * Lower-case letters and digits, starting with a letter, at most 10
   * characters
   */
  name: string

  /**
   * Give the host global IPv6 addresses when the lab has IPv6; `false` keeps
   * it IPv4-only.
   *
   * @default true
   */
  ipv6?: boolean
}

export interface LabOptions {
  /**
   * @default []
   */
  sites?: SiteOptions[]

  /**
   * Hosts on the internet, by name or with options. Each one has two public
   * addresses: one in 203.0.113.0/24 and one in 198.51.100.0/24 (for RFC
   * 5780 servers).
   *
   * @default []
   */
  publicHosts?: Array<string | PublicHostOptions>

  /**
   * Make the lab dual-stack: public hosts, site routers and LAN hosts also
   * get global IPv6 addresses of 2001:db8::/32 (no IPv6 NAT; site routers
   * run a stateful IPv6 firewall by default, see {@link Ipv6Mode}). The IPv4
   * side is unchanged.
   *
   * @default true when a site asks for an IPv6 mode, else false
   */
  ipv6?: boolean
}

/**
 * What a NAT type does, in the terms of RFC 4787; the NAT discovery tests
 * compare their detection to it.
 */
export interface NatTruth {
  mapping: 'EIM' | 'ADM' | 'APDM'
  filtering: 'EIF' | 'ADF' | 'APDF'
  allocation: 'preserving' | 'sequential' | 'random'
  /**
   * For `sequential` allocation: the step between consecutive mappings
   */
  portDelta?: number
}

/**
 * What a site's IPv6 router does, for tests to compare against: no
 * translation (the host's own address and port are seen outside: EIM,
 * preserving) and the firewall's filtering (APDF), or none (EIF) for an
 * open router.
 */
export interface Ipv6Truth extends NatTruth {
  mode: Ipv6Mode
  /** IPv6 is never translated in the lab */
  translation: 'none'
  mapping: 'EIM'
  allocation: 'preserving'
  filtering: 'APDF' | 'EIF'
}

/**
 * One UDP conntrack entry of a NAT router
 */
export interface ConntrackEntry {
  /**
   * As sent by the initiator (inside address for outbound flows)
   */
  original: FlowTuple
  /**
   * As expected back (its destination is the mapped address for outbound
   * flows)
   */
  reply: FlowTuple
  /**
   * Seconds left before the entry expires
   */
  timeoutSeconds: number
  /**
   * No packet has been seen in the reply direction yet
   */
  unreplied: boolean
  assured: boolean
}

export interface FlowTuple {
  src: string
  dst: string
  sport: number
  dport: number
}
