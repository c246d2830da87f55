/*
 * Turns a topology into the commands that build it and the commands that
 * tear it down. Pure: run-setup.ts runs them.
 *
 * Building takes three phases; the steps of one phase are independent of
 * each other and run concurrently:
 *
 * 1. create every namespace (one `ip -batch` in the root namespace: that
 *    only adds entries under /run/netns, no interface there)
 * 2. create the links: the internet namespace makes its bridge and one veth
 *    pair per port, with the other end created directly in the peer's
 *    namespace; each router and carrier does the same for its LAN. No
 *    interface ever exists in the root namespace.
 * 3. in every namespace at once: addresses and routes (`ip -batch`), the
 *    nftables ruleset (`nft -f`), the delay queue rules (`iptables-restore`,
 *    and `ip6tables-restore` in a dual-stack lab)
 * 4. sysctls: after the rulesets, because where conntrack is a module its
 *    sysctls only exist once a ruleset has loaded it
 *
 * IPv6 addresses are added with `nodad` (usable at once, no duplicate
 * address detection); dual-stack namespaces get `accept_ra=0` and
 * `autoconf=0` on their interfaces (nothing in the lab sends router
 * advertisements, and nothing may add addresses), routers
 * `net.ipv6.conf.all.forwarding=1`.
 */

import { delayQueueRules, internetRuleset, routerRuleset } from './nft-ruleset.ts'
import { IFACE, INTERNET_SUBNETS } from './topology.ts'
import type { HostSpec, RouterSpec, Topology } from './topology.ts'

export type SetupStep =
  /** `ip [-n namespace] -batch -` with these lines on stdin */
  | { kind: 'ip-batch', namespace?: string, lines: string[] }
  /**
   * `ip netns exec namespace sysctl -q -w key=value ...`; with `ifPresent`,
   * keys that this kernel does not have are skipped (`sysctl -e`)
   */
  | { kind: 'sysctl', namespace: string, values: Record<string, string>, ifPresent?: boolean }
  /** `ip netns exec namespace nft -f -` with the ruleset on stdin */
  | { kind: 'nft', namespace: string, ruleset: string }
  /** `ip netns exec namespace iptables-restore` with the rules on stdin */
  | { kind: 'iptables-restore', namespace: string, rules: string }
  /** `ip netns exec namespace ip6tables-restore` with the rules on stdin */
  | { kind: 'ip6tables-restore', namespace: string, rules: string }

export interface DelayStagePlan {
  namespace: string
  queues: Array<{ queue: number, delayMs: number }>
}

export interface SetupPlan {
  /** phases in order; the steps of one phase may run concurrently */
  phases: SetupStep[][]
  /** the delay stage to start once the phases are done, if any link has a delay */
  delayStage?: DelayStagePlan
}

/**
 * The commands that build `topology`.
 */
export function planSetup (topology: Topology): SetupPlan {
  const create: SetupStep = {
    kind: 'ip-batch',
    lines: topology.namespaces.map(ns => `netns add ${ns}`)
  }

  const links: SetupStep[] = [internetLinks(topology)]
  const config: SetupStep[] = []
  const sysctls: SetupStep[] = []

  for (const host of topology.publicHosts) {
    config.push(hostConfig(host, topology))
    sysctls.push(...hostSysctls6(host))
  }

  for (const site of topology.sites) {
    if (site.carrier != null) {
      links.push(lanLinks(site.carrier, [{ iface: 'r0', namespace: site.router.namespace, peerIface: IFACE.wan }]))
      const lanRoutes = [{ subnet: site.router.lanSubnet, via: site.router.wanIp }]
      if (site.router.ipv6 != null) {
        lanRoutes.push({ subnet: site.router.ipv6.lanSubnet, via: site.router.ipv6.wanIp })
      }
      const carrier = routerConfig(site.carrier, topology, lanRoutes)
      config.push(...carrier.config)
      sysctls.push(...carrier.sysctls)
    }
    links.push(lanLinks(site.router, site.hosts.map((host, j) => ({ iface: `h${j}`, namespace: host.namespace, peerIface: IFACE.host }))))
    const router = routerConfig(site.router, topology, [])
    config.push(...router.config)
    sysctls.push(...router.sysctls)
    for (const host of site.hosts) {
      config.push(hostConfig(host, topology))
      sysctls.push(...hostSysctls6(host))
    }
  }

  const loss = internetRuleset(topology.ports, { ipv6: topology.ipv6 })
  const delay = delayQueueRules(topology.ports, { ipv6: topology.ipv6 })

  if (loss != null) {
    config.push({ kind: 'nft', namespace: topology.internetNamespace, ruleset: loss })
  }

  let delayStage: DelayStagePlan | undefined
  if (delay != null) {
    config.push({ kind: 'iptables-restore', namespace: topology.internetNamespace, rules: delay.rules })
    // bridged IPv4 packets must pass the IP hooks to reach NFQUEUE: this
    // needs br_netfilter (built in, or loaded by the administrator)
    const values: Record<string, string> = { 'net.bridge.bridge-nf-call-iptables': '1' }
    if (delay.rules6 != null) {
      // bridged IPv6 packets take the same path through ip6tables
      config.push({ kind: 'ip6tables-restore', namespace: topology.internetNamespace, rules: delay.rules6 })
      values['net.bridge.bridge-nf-call-ip6tables'] = '1'
    }
    sysctls.push({ kind: 'sysctl', namespace: topology.internetNamespace, values })
    delayStage = { namespace: topology.internetNamespace, queues: delay.queues }
  }

  return { phases: [[create], links, config, sysctls], delayStage }
}

/**
 * The command that removes every namespace of the topology (and with them
 * every interface, rule and conntrack entry of the lab).
 */
export function planTeardown (namespaces: readonly string[]): SetupStep {
  return { kind: 'ip-batch', lines: namespaces.map(ns => `netns delete ${ns}`) }
}

function internetLinks (topology: Topology): SetupStep {
  const br = IFACE.internetBridge
  const lines = [
    'link set lo up',
    `link add ${br} type bridge`,
    `link set ${br} up`
  ]
  for (const port of topology.ports) {
    lines.push(
      `link add ${port.iface} type veth peer name ${port.peerIface} netns ${port.peerNamespace}`,
      `link set ${port.iface} master ${br}`,
      `link set ${port.iface} up`
    )
  }
  // the gateway STUN responder of routers that map ports
  for (const stun of topology.gatewayStun.filter(s => s.namespace === topology.internetNamespace)) {
    for (const ip of stun.ips) {
      lines.push(`addr add ${ip}/24 dev ${br}`)
    }
  }
  return { kind: 'ip-batch', namespace: topology.internetNamespace, lines }
}

function lanLinks (router: RouterSpec, members: Array<{ iface: string, namespace: string, peerIface: string }>): SetupStep {
  const lines = [
    `link add ${IFACE.lan} type bridge`,
    `link set ${IFACE.lan} up`
  ]
  for (const member of members) {
    lines.push(
      `link add ${member.iface} type veth peer name ${member.peerIface} netns ${member.namespace}`,
      `link set ${member.iface} master ${IFACE.lan}`,
      `link set ${member.iface} up`
    )
  }
  return { kind: 'ip-batch', namespace: router.namespace, lines }
}

function internetRouteLines (topology: Topology, dev: string, own?: string): string[] {
  const lines: string[] = []
  // the second internet subnet is on the same bridge: on-link
  lines.push(`route add ${INTERNET_SUBNETS[1]} dev ${dev}`)
  for (const route of topology.internetRoutes) {
    if (route.via !== own) {
      lines.push(`route add ${route.subnet} via ${route.via} dev ${dev}`)
    }
  }
  return lines
}

function hostConfig (host: HostSpec, topology: Topology): SetupStep {
  const dev = IFACE.host
  const lines = ['link set lo up']
  for (const ip of host.ips) {
    lines.push(`addr add ${ip}/${host.prefixLength} dev ${dev}`)
  }
  lines.push(`link set ${dev} up`)
  for (const ip of host.ips6 ?? []) {
    lines.push(`addr add ${ip}/64 dev ${dev} nodad`)
  }
  if (host.kind === 'public') {
    // 198.51.100.x is the host's own second subnet; other public LANs are routed
    for (const route of topology.internetRoutes) {
      lines.push(`route add ${route.subnet} via ${route.via} dev ${dev}`)
    }
    if (host.ips6 != null) {
      for (const route of topology.internetRoutes6) {
        lines.push(`route add ${route.subnet} via ${route.via} dev ${dev}`)
      }
    }
  } else if (host.gateway != null) {
    lines.push(`route add default via ${host.gateway} dev ${dev}`)
  }
  if (host.kind === 'lan' && host.gateway6 != null) {
    lines.push(`route add ::/0 via ${host.gateway6} dev ${dev}`)
  }
  return { kind: 'ip-batch', namespace: host.namespace, lines }
}

/**
 * The IPv6 sysctls of a dual-stack host (none for an IPv4-only one): no
 * router advertisements, no autoconfigured addresses, no duplicate address
 * detection.
 */
function hostSysctls6 (host: HostSpec): SetupStep[] {
  if (host.ips6 == null) {
    return []
  }
  return [{ kind: 'sysctl', namespace: host.namespace, values: noAutoconf6([IFACE.host]) }]
}

/** sysctls that keep the kernel from configuring IPv6 by itself on these interfaces */
function noAutoconf6 (ifaces: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {}
  for (const iface of ['all', 'default', ...ifaces]) {
    values[`net.ipv6.conf.${iface}.accept_ra`] = '0'
    values[`net.ipv6.conf.${iface}.autoconf`] = '0'
    values[`net.ipv6.conf.${iface}.accept_dad`] = '0'
  }
  return values
}

function routerConfig (router: RouterSpec, topology: Topology, lanRoutes: Array<{ subnet: string, via: string }>): { config: SetupStep[], sysctls: SetupStep[] } {
  const { wan, lan } = IFACE
  const lines = [
    'link set lo up',
    `addr add ${router.wanIp}/${router.wanPrefixLength} dev ${wan}`,
    `link set ${wan} up`,
    `addr add ${router.lanIp}/${router.lanPrefixLength} dev ${lan}`
  ]

  if (router.gatewayStunIp != null) {
    lines.push(`addr add ${router.gatewayStunIp}/${router.lanPrefixLength} dev ${lan}`)
  }

  if (router.onInternet) {
    lines.push(...internetRouteLines(topology, wan, router.wanIp))
  } else if (router.wanGateway != null) {
    lines.push(`route add default via ${router.wanGateway} dev ${wan}`)
  }

  const v6 = router.ipv6
  if (v6 != null) {
    lines.push(
      `addr add ${v6.wanIp}/${v6.prefixLength} dev ${wan} nodad`,
      `addr add ${v6.lanIp}/${v6.prefixLength} dev ${lan} nodad`
    )
    if (router.onInternet) {
      for (const route of topology.internetRoutes6) {
        if (route.via !== v6.wanIp) {
          lines.push(`route add ${route.subnet} via ${route.via} dev ${wan}`)
        }
      }
    } else if (v6.wanGateway != null) {
      lines.push(`route add ::/0 via ${v6.wanGateway} dev ${wan}`)
    }
  }

  // a carrier reaches its site router's LAN (needed when that LAN is public,
  // and for the site's IPv6 /64)
  for (const route of lanRoutes) {
    lines.push(`route add ${route.subnet} via ${route.via} dev ${lan}`)
  }

  const seconds = String(router.nat.bindingTimeoutMs / 1000)
  const values: Record<string, string> = { 'net.ipv4.ip_forward': '1' }
  // the UDP timeouts are per namespace, IPv4 and IPv6 alike: the firewall's
  // pinholes live as long as the NAT's bindings
  if (router.nat.nat !== 'none' || v6?.mode === 'firewall') {
    values['net.netfilter.nf_conntrack_udp_timeout'] = seconds
    values['net.netfilter.nf_conntrack_udp_timeout_stream'] = seconds
  }
  const bridgeValues: Record<string, string> = { 'net.bridge.bridge-nf-call-iptables': '0' }

  const sysctls: SetupStep[] = [{ kind: 'sysctl', namespace: router.namespace, values }]
  if (v6 != null) {
    bridgeValues['net.bridge.bridge-nf-call-ip6tables'] = '0'
    sysctls.push({ kind: 'sysctl', namespace: router.namespace, values: { 'net.ipv6.conf.all.forwarding': '1', ...noAutoconf6([wan, lan]) } })
  }

  return {
    config: [
      { kind: 'ip-batch', namespace: router.namespace, lines },
      { kind: 'nft', namespace: router.namespace, ruleset: routerRuleset(router) }
    ],
    sysctls: [
      ...sysctls,
      // LAN-to-LAN traffic is switched by the bridge and must not pass the
      // router's IP hooks (conntrack, NAT, the IPv6 firewall); without
      // br_netfilter it never does
      { kind: 'sysctl', namespace: router.namespace, values: bridgeValues, ifPresent: true }
    ]
  }
}
