/*
 * The nftables rulesets of the lab, as text for `nft -f`. Pure.
 *
 * A NAT router gets one table, `ip lab`:
 *
 * - `postrouting` (nat, srcnat) translates what leaves on the WAN side: `snat`
 *   to the WAN address keeps the source port when it is free (Linux NAT),
 *   `fully-random` picks a random port per flow, and `numgen inc` through a
 *   map of the port pool picks the next port of a sequence per flow.
 * - `record` (filter, srcnat + 1, so after the translation) remembers, for
 *   full cone, restricted cone and hairpinning, which inside address and
 *   port each mapped port belongs to (map `mappings`, keyed by the mapped
 *   port), and for restricted cone which remote addresses each mapped port
 *   has sent to (set `contacted`). Both expire after the binding timeout
 *   unless outbound packets refresh them.
 * - `prerouting` (nat, dstnat) sends unsolicited inbound UDP through
 *   `mappings` (full cone: always, restricted: when the sender's address is
 *   in `contacted`), and LAN packets to the public address back inside
 *   (hairpinning).
 * - `forward` lets out everything from the LAN and lets in replies and
 *   translated (DNAT) packets only; `input` drops TCP and UDP to the router
 *   itself, so that a closed mapping drops silently as most NATs do.
 *
 * A router that maps ports (miniupnpd) also gets table `inet miniupnpd` with
 * the empty chains the daemon fills (its DNAT runs just before the lab's
 * own, so an explicit mapping wins over a cone NAT's), lets in what the
 * daemon serves on the LAN side (SSDP, its HTTP port, NAT-PMP/PCP) and the
 * answers of its STUN test, and does not translate its own packets (a
 * router's own traffic leaves from its WAN address as it is). A carrier
 * whose router maps ports lets in that router's STUN test.
 *
 * A router with IPv6 also gets table `ip6 lab6` (see `routerFirewall6`):
 * a stateful firewall without translation, or for an open router a forward
 * chain that filters nothing and only makes conntrack watch the flows. The
 * IPv4 table is the same with or without it.
 *
 * The internet namespace gets one table, `bridge lab`, with the random drops
 * of lossy links (IPv4, and IPv6 but neighbour discovery in a dual-stack
 * lab).
 */

import { GATEWAY_STUN_PORTS, PCP_PORT, SSDP_PORT, UPNP_HTTP_PORT } from './constants.ts'
import { IFACE } from './topology.ts'
import type { InternetPort, RouterSpec } from './topology.ts'

/** Options of the internet namespace's rulesets */
export interface InternetRulesetOptions {
  /**
   * The lab is dual-stack: impair IPv6 too
   *
   * @default false
   */
  ipv6?: boolean
}

/**
 * ICMPv6 types the lab never drops or delays on the internet bridge:
 * neighbour discovery, the IPv6 counterpart of ARP (RFC 4861)
 */
const ND_TYPES_NFT = 'nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect'
const ND_TYPES_XT = ['router-solicitation', 'router-advertisement', 'neighbour-solicitation', 'neighbour-advertisement', 'redirect']

/** nft counts random numbers modulo this when it drops packets: 0.01 % steps */
const LOSS_SCALE = 10_000

/**
 * The ruleset of a site router or carrier NAT.
 */
export function routerRuleset (router: RouterSpec): string {
  const v4 = routerRuleset4(router)
  const v6 = routerFirewall6(router)
  return v6 != null ? `${v4}\n${v6}` : v4
}

/**
 * The IPv6 table of a dual-stack router or carrier (`table ip6 lab6`), or
 * undefined for an IPv4-only one. No translation.
 *
 * A `firewall` router's `forward` chain has policy drop: replies (`ct state
 * established,related`, which includes ICMPv6 errors about a known flow)
 * and everything from the LAN pass; from the WAN only ICMPv6 packet-too-big
 * (path MTU discovery must work, RFC 4890) and echo requests; every other
 * new inbound packet is dropped silently. So an outbound UDP packet opens a
 * pinhole for replies from exactly its destination address and port
 * (APDF), and two hosts behind two such firewalls punch through by sending
 * to each other at the same time. Its `input` chain drops TCP and UDP from
 * the WAN to the router itself, as the IPv4 table does.
 *
 * An `open` router's `forward` chain accepts everything; its `ct state`
 * rule only makes conntrack track the flows, so that tests can list them.
 */
export function routerFirewall6 (router: RouterSpec): string | undefined {
  const v6 = router.ipv6
  if (v6 == null) {
    return undefined
  }
  const wan = quote(IFACE.wan)
  const lan = quote(IFACE.lan)

  if (v6.mode === 'open') {
    return [
      'table ip6 lab6 {',
      '  chain forward {',
      '    type filter hook forward priority filter; policy accept;',
      '    # no filter: this rule only makes conntrack track the flows',
      '    ct state established,related accept',
      '  }',
      '}',
      ''
    ].join('\n')
  }

  return [
    'table ip6 lab6 {',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '    ct state established,related accept',
    '    ct state invalid drop',
    `    iifname ${lan} oifname ${wan} accept`,
    `    iifname ${wan} icmpv6 type { packet-too-big, echo-request } accept`,
    '  }',
    '',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    ct state established,related accept',
    `    iifname ${wan} meta l4proto { tcp, udp } drop`,
    '  }',
    '}',
    ''
  ].join('\n')
}

function routerRuleset4 (router: RouterSpec): string {
  const { nat, wanIp, lanSubnet, portMapping } = router
  const wan = quote(IFACE.wan)
  const lan = quote(IFACE.lan)
  const lines: string[] = ['flush ruleset', '']

  if (portMapping != null) {
    lines.push(...miniupnpdTable())
  }

  lines.push('table ip lab {')

  if (nat.nat === 'none') {
    lines.push(
      '  chain forward {',
      '    type filter hook forward priority filter; policy accept;',
      '  }',
      '',
      '  chain input {',
      '    type filter hook input priority filter; policy accept;',
      '    meta l4proto { tcp, udp } drop',
      '  }',
      '}',
      ''
    )
    return lines.join('\n')
  }

  const cone = nat.nat === 'full-cone' || nat.nat === 'restricted'
  const needsMappings = cone || nat.hairpinning
  const timeout = `${nat.bindingTimeoutMs}ms`

  if (needsMappings) {
    lines.push(
      '  # mapped public port -> inside address . port',
      '  map mappings {',
      '    type inet_service : ipv4_addr . inet_service',
      `    flags dynamic,timeout; timeout ${timeout}; size 65535;`,
      '  }',
      ''
    )
  }

  if (nat.nat === 'restricted') {
    lines.push(
      '  # remote address . mapped public port, for each remote a mapping has sent to',
      '  set contacted {',
      '    type ipv4_addr . inet_service',
      `    flags dynamic,timeout; timeout ${timeout}; size 65535;`,
      '  }',
      ''
    )
  }

  if (nat.nat === 'symmetric-seq') {
    const elements: string[] = []
    for (let k = 0; k < nat.poolSize; k++) {
      elements.push(`${k} : ${nat.firstPort + k * nat.portDelta}`)
    }
    lines.push(
      `  # sequence number -> port: ${nat.firstPort}, ${nat.firstPort + nat.portDelta}, ... (${nat.poolSize} ports)`,
      '  map seqports {',
      `    typeof numgen inc mod ${nat.poolSize} : udp sport`,
      `    elements = { ${elements.join(', ')} }`,
      '  }',
      ''
    )
  }

  // prerouting: unsolicited inbound and hairpinning
  lines.push(
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;'
  )
  if (nat.nat === 'full-cone') {
    lines.push(`    iifname ${wan} ip daddr ${wanIp} meta l4proto udp dnat ip to udp dport map @mappings`)
  }
  if (nat.nat === 'restricted') {
    lines.push(`    iifname ${wan} ip daddr ${wanIp} meta l4proto udp ip saddr . udp dport @contacted dnat ip to udp dport map @mappings`)
  }
  if (nat.hairpinning) {
    lines.push(`    iifname ${lan} ip daddr ${wanIp} meta l4proto udp dnat ip to udp dport map @mappings`)
  }
  lines.push('  }', '')

  // postrouting: the translation itself, and the hairpin translation
  lines.push(
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;'
  )
  if (portMapping != null) {
    lines.push(`    oifname ${wan} ip saddr ${wanIp} accept`)
  }
  for (const match of [`oifname ${wan}`, ...(nat.hairpinning ? [`oifname ${lan} ip saddr ${lanSubnet} ct status dnat`] : [])]) {
    if (nat.nat === 'symmetric-seq') {
      // one rule (one counter) per protocol, so TCP flows (to a relay, say)
      // do not move the UDP sequence
      lines.push(
        `    ${match} meta l4proto udp snat ip to ${wanIp} : numgen inc mod ${nat.poolSize} map @seqports`,
        `    ${match} meta l4proto tcp snat ip to ${wanIp} : numgen inc mod ${nat.poolSize} map @seqports`,
        `    ${match} snat ip to ${wanIp}`
      )
    } else if (nat.nat === 'symmetric-random') {
      lines.push(`    ${match} snat ip to ${wanIp} fully-random`)
    } else {
      lines.push(`    ${match} snat ip to ${wanIp}`)
    }
  }
  lines.push('  }', '')

  if (needsMappings) {
    lines.push(
      '  chain record {',
      '    type filter hook postrouting priority srcnat + 1; policy accept;',
      `    oifname ${wan} meta l4proto udp ct direction original ct status snat update @mappings { udp sport : ct original ip saddr . ct original proto-src }`,
      `    oifname ${wan} meta l4proto udp ct direction reply ct status dnat update @mappings { udp sport : ct reply ip saddr . ct reply proto-src }`
    )
    if (nat.nat === 'restricted') {
      lines.push(`    oifname ${wan} meta l4proto udp update @contacted { ip daddr . udp sport }`)
    }
    lines.push('  }', '')
  }

  lines.push(
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '    ct state established,related accept',
    `    iifname ${lan} oifname ${wan} accept`,
    '    ct status dnat accept',
    '  }',
    '',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    ct state established,related accept'
  )
  lines.push(...portMappingInput(router))
  lines.push(
    '    meta l4proto { tcp, udp } drop',
    '  }',
    '}',
    ''
  )

  return lines.join('\n')
}

/**
 * The input rules of a router that runs miniupnpd (what it serves on the
 * LAN, the answers of its STUN test) or of a carrier that answers its
 * router's STUN test
 */
function portMappingInput (router: RouterSpec): string[] {
  const { portMapping } = router
  const wan = quote(IFACE.wan)
  const lan = quote(IFACE.lan)
  const lines: string[] = []

  if (portMapping != null) {
    // the first payload byte is the version: 0 NAT-PMP, 2 PCP
    if (!portMapping.natPmp) {
      lines.push(`    iifname ${lan} udp dport ${PCP_PORT} @th,64,8 0 drop`)
    }
    if (!portMapping.pcp) {
      lines.push(`    iifname ${lan} udp dport ${PCP_PORT} @th,64,8 2 drop`)
    }
    lines.push(
      `    iifname ${lan} udp dport { ${SSDP_PORT}, ${PCP_PORT} } accept`,
      `    iifname ${lan} tcp dport ${UPNP_HTTP_PORT} accept`,
      `    iifname ${wan} ip saddr { ${portMapping.stun.ips.join(', ')} } udp sport { ${portMapping.stun.ports.join(', ')} } accept`
    )
  }

  if (router.gatewayStunIp != null) {
    lines.push(`    iifname ${lan} ip daddr { ${router.lanIp}, ${router.gatewayStunIp} } udp dport { ${GATEWAY_STUN_PORTS.join(', ')} } accept`)
  }

  return lines
}

/**
 * The table miniupnpd fills (upnp_table_name = upnp_nat_table_name =
 * miniupnpd): its filter chain (the lab's forward chain already lets DNATed
 * packets in), its DNAT chain just before the lab's own prerouting, and its
 * (unused) SNAT chain.
 */
function miniupnpdTable (): string[] {
  return [
    'table inet miniupnpd {',
    '  chain miniupnpd {',
    '  }',
    '',
    '  chain prerouting_miniupnpd {',
    '  }',
    '',
    '  chain postrouting_miniupnpd {',
    '  }',
    '',
    '  chain forward {',
    '    type filter hook forward priority filter - 1; policy accept;',
    '    jump miniupnpd',
    '  }',
    '',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat - 1; policy accept;',
    '    jump prerouting_miniupnpd',
    '  }',
    '',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat - 1; policy accept;',
    '    jump postrouting_miniupnpd',
    '  }',
    '}',
    ''
  ]
}

/**
 * The ruleset of the internet namespace: random drops on lossy links, in
 * both directions, IPv4 only (ARP is never dropped); in a dual-stack lab
 * IPv6 too, except neighbour discovery (as ARP). Returns undefined when no
 * link is lossy.
 */
export function internetRuleset (ports: readonly InternetPort[], options: InternetRulesetOptions = {}): string | undefined {
  const lossy = ports.filter(port => port.lossPercent > 0)

  if (lossy.length === 0) {
    return undefined
  }

  // no `flush ruleset`: the delay rules that iptables-restore loads into
  // the same (fresh) namespace at the same time are nftables tables too
  const lines = [
    'table bridge lab {',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;'
  ]
  if (options.ipv6 === true) {
    // ends this chain only, which does nothing but drop
    lines.push(`    icmpv6 type { ${ND_TYPES_NFT} } accept`)
  }
  for (const port of lossy) {
    const threshold = Math.round(port.lossPercent * LOSS_SCALE / 100)
    for (const direction of ['iifname', 'oifname']) {
      lines.push(`    meta protocol ip ${direction} ${quote(port.iface)} numgen random mod ${LOSS_SCALE} < ${threshold} drop`)
      if (options.ipv6 === true) {
        lines.push(`    meta protocol ip6 ${direction} ${quote(port.iface)} numgen random mod ${LOSS_SCALE} < ${threshold} drop`)
      }
    }
  }
  lines.push('  }', '}', '')

  return lines.join('\n')
}

/**
 * The iptables rules (for `iptables-restore`) that hand the packets of
 * delayed links to the delay stage. The kernels we target have no nftables
 * `queue` expression, but do have the xtables NFQUEUE target.
 *
 * A packet that enters the bridge on a delayed link is queued in the mangle
 * table; one that leaves on a delayed link in the filter table. The two
 * tables hook at different priorities, so a packet between two delayed
 * links waits in both queues. Queue `2k` holds the packets arriving from
 * port k, queue `2k + 1` those leaving to it.
 *
 * In a dual-stack lab, `rules6` (for `ip6tables-restore`) sends bridged
 * IPv6 packets to the same queues (the delay stage takes any family),
 * except neighbour discovery, which passes at once as ARP does.
 */
export function delayQueueRules (ports: readonly InternetPort[], options: InternetRulesetOptions = {}): { rules: string, rules6?: string, queues: Array<{ queue: number, delayMs: number }> } | undefined {
  const delayed = ports
    .map((port, index) => ({ port, index }))
    .filter(({ port }) => port.delayMs > 0)

  if (delayed.length === 0) {
    return undefined
  }

  const mangle = ['*mangle']
  const filter = ['*filter']
  const queues: Array<{ queue: number, delayMs: number }> = []

  for (const { port, index } of delayed) {
    mangle.push(`-A FORWARD -m physdev --physdev-in ${port.iface} -j NFQUEUE --queue-num ${2 * index}`)
    filter.push(`-A FORWARD -m physdev --physdev-out ${port.iface} -j NFQUEUE --queue-num ${2 * index + 1}`)
    queues.push({ queue: 2 * index, delayMs: port.delayMs }, { queue: 2 * index + 1, delayMs: port.delayMs })
  }

  const rules = [...mangle, 'COMMIT', ...filter, 'COMMIT', ''].join('\n')

  if (options.ipv6 !== true) {
    return { rules, queues }
  }

  const nd = ND_TYPES_XT.map(type => `-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j ACCEPT`)
  const rules6 = [
    mangle[0], ...nd, ...mangle.slice(1), 'COMMIT',
    filter[0], ...nd, ...filter.slice(1), 'COMMIT',
    ''
  ].join('\n')

  return { rules, rules6, queues }
}

function quote (name: string): string {
  return `"${name}"`
}
