/**
 * What happens to a site's paths over time, done to a running lab: a NAT
 * that rebinds a socket to a new public port, a WAN address that changes,
 * a path that is blackholed for a while. Pure planning (argv lists and
 * nftables text, table-tested) apart from the few functions that run it in
 * a lab's router namespace.
 *
 * Every change is made in the site router's namespace only, with argument
 * arrays (no shell); addresses and ports are checked before they reach a
 * command line.
 */

import { isIPv6 } from 'node:net'
import { LabTopologyError } from './errors.ts'
import { routerRuleset } from './nft-ruleset.ts'
import { inNamespace, runChecked, runCommand } from './run-command.ts'
import { IFACE, INTERNET_SUBNETS } from './topology.ts'
import type { Lab } from './lab.ts'
import type { RouterSpec } from './topology.ts'

/**
 * The table a blackhole lives in, beside the router's own `ip lab` table
 * (deleting it ends the blackhole and touches nothing else)
 */
export const BLACKHOLE_TABLE = 'lab_blackhole'

/** One inside socket and the public port its NAT moves it to */
export interface Rebinding {
  /** the LAN host's address */
  host: string
  /** the socket's port on the LAN host */
  port: number
  /** the public port every flow of the socket leaves from after the rebinding */
  newPort: number
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

function checkIp (ip: string, what: string): string {
  if (!IPV4.test(ip)) {
    throw new LabTopologyError(`${what} must be an IPv4 address, got "${ip}"`)
  }
  return ip
}

function checkPort (port: number, what: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new LabTopologyError(`${what} must be a port number (1-65535), got ${port}`)
  }
  return port
}

/** a router the changes here know how to change: a site's own NAT on the internet, no miniupnpd */
function checkChangeable (router: RouterSpec, what: string): void {
  if (router.nat.nat === 'none') {
    throw new LabTopologyError(`${what}: site "${router.site}" has no NAT`)
  }
  if (!router.onInternet) {
    throw new LabTopologyError(`${what}: the router of site "${router.site}" is behind a carrier NAT; only a router on the internet can be changed`)
  }
  if (router.portMapping != null) {
    throw new LabTopologyError(`${what}: site "${router.site}" runs miniupnpd, whose rules and configuration would go stale`)
  }
}

/**
 * The commands (run in the router's namespace, in order) that move each
 * socket to its new public port: one `snat` rule per socket at the top of
 * the translation chain (it wins over the NAT's own rule, so the socket
 * stays endpoint-independent: every flow of it gets the new port), then the
 * deletion of the socket's UDP conntrack entries, so that its next datagram
 * is translated afresh, as after a NAT reboot or a carrier NAT that
 * reallocated. Other sockets keep their translation.
 */
export function planRebinding (router: RouterSpec, rebindings: readonly Rebinding[]): string[][] {
  checkChangeable(router, 'Rebinding')
  if (rebindings.length === 0) {
    throw new LabTopologyError('Rebinding: name at least one socket')
  }
  const wan = checkIp(router.wanIp, 'The WAN address')
  const commands: string[][] = []

  for (const r of rebindings) {
    const host = checkIp(r.host, 'The host')
    const port = checkPort(r.port, 'The inside port')
    const newPort = checkPort(r.newPort, 'The new public port')
    commands.push(['nft', 'insert', 'rule', 'ip', 'lab', 'postrouting', 'oifname', IFACE.wan, 'ip', 'saddr', host, 'udp', 'sport', String(port), 'snat', 'ip', 'to', `${wan}:${newPort}`])
  }

  for (const r of rebindings) {
    commands.push(['conntrack', '-D', '-p', 'udp', '--orig-src', r.host, '--orig-port-src', String(r.port)])
  }

  return commands
}

/**
 * The table that drops every packet the router forwards to or from
 * `remoteIps` (IPv4 and IPv6 addresses), before the NAT's and the IPv6
 * firewall's own forward chains see it: the direct path to those addresses
 * is gone while the table exists, everything else (the relay, STUN) passes.
 */
export function blackholeRuleset (remoteIps: readonly string[]): string {
  if (remoteIps.length === 0) {
    throw new LabTopologyError('Blackhole: name at least one remote address')
  }
  const v4 = remoteIps.filter(ip => !ip.includes(':')).map(ip => checkIp(ip, 'The blackholed address'))
  const v6 = remoteIps.filter(ip => ip.includes(':')).map(ip => {
    if (isIPv6(ip)) {
      return ip
    }
    throw new LabTopologyError(`The blackholed address must be an IPv4 or IPv6 address, got "${ip}"`)
  })
  const rules = (family: 'ip' | 'ip6', set: string[]): string[] => set.length === 0
    ? []
    : [`    ${family} saddr { ${set.join(', ')} } counter drop`, `    ${family} daddr { ${set.join(', ')} } counter drop`]
  return [
    `table inet ${BLACKHOLE_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority filter - 10; policy accept;',
    ...rules('ip', v4),
    ...rules('ip6', v6),
    '  }',
    '}',
    ''
  ].join('\n')
}

/** The router's WAN address after a change, and what to run for it */
export interface WanChangePlan {
  /**
   * sysctls to set first (in the router's namespace): removing the primary
   * address would otherwise remove the new, secondary one with it
   */
  sysctls: Record<string, string>
  /** `ip -batch` lines (run in the router's namespace) */
  ipBatch: string[]
  /** the router's complete ruleset for the new address (`nft -f`) */
  ruleset: string
  /** the router as it is after the change */
  router: RouterSpec
}

/**
 * Give a site router a new WAN address, as an ISP that assigns a new IP
 * does: the new address is added (the interface keeps its routes while it
 * has an address), the old one removed, and the NAT's ruleset rewritten
 * for the new address (which also forgets a cone NAT's mappings). Run
 * `conntrack -F` afterwards: every binding of the old address is void.
 *
 * `newIp` must be an unused address of the lab's internet (203.0.113.0/24;
 * routers use .100 and up, public hosts .10 and up, so .200-.254 are free).
 */
export function planWanChange (router: RouterSpec, newIp: string): WanChangePlan {
  checkChangeable(router, 'WAN address change')
  checkIp(newIp, 'The new WAN address')
  if (!newIp.startsWith(INTERNET_SUBNETS[0].replace(/0\/24$/, ''))) {
    throw new LabTopologyError(`WAN address change: ${newIp} is not in the lab's internet (${INTERNET_SUBNETS[0]})`)
  }
  if (newIp === router.wanIp) {
    throw new LabTopologyError(`WAN address change: ${newIp} is the router's address already`)
  }
  const changed: RouterSpec = { ...router, wanIp: newIp }
  return {
    sysctls: { [`net.ipv4.conf.${IFACE.wan}.promote_secondaries`]: '1' },
    ipBatch: [
      `addr add ${newIp}/${router.wanPrefixLength} dev ${IFACE.wan}`,
      `addr del ${router.wanIp}/${router.wanPrefixLength} dev ${IFACE.wan}`
    ],
    ruleset: routerRuleset(changed),
    router: changed
  }
}

/** routers whose WAN address changeWanAddress() changed, per lab */
const changedRouters = new WeakMap<Lab, Map<string, RouterSpec>>()

/** a site's router as it is now (after any WAN address change) */
function routerOf (lab: Lab, site: string): RouterSpec {
  const changed = changedRouters.get(lab)?.get(site)
  if (changed != null) {
    return changed
  }
  const spec = lab.topology.sites.find(s => s.name === site)
  if (spec == null) {
    // lab.site() throws the lab's own error for an unknown name
    lab.site(site)
    throw new LabTopologyError(`No site "${site}"`)
  }
  return spec.router
}

async function inRouter (router: RouterSpec, argv: readonly string[], input?: string): Promise<void> {
  const [file, ...args] = inNamespace(router.namespace, argv)
  await runChecked(file, args, input != null ? { input } : {})
}

/**
 * Move sockets of a site's LAN hosts to new public ports (see
 * planRebinding). Resolves with the number of conntrack entries deleted; 0
 * means the sockets had no flow, which a test should treat as a mistake.
 */
export async function rebindNat (lab: Lab, site: string, rebindings: readonly Rebinding[]): Promise<number> {
  const router = routerOf(lab, site)
  let deleted = 0

  for (const argv of planRebinding(router, rebindings)) {
    if (argv[0] === 'conntrack') {
      // exit code 1: no entry matched
      const [file, ...args] = inNamespace(router.namespace, argv)
      const result = await runCommand(file, args)
      const match = result.stderr.match(/(\d+) flow entries have been deleted/)
      deleted += match != null ? Number(match[1]) : 0
      continue
    }
    await inRouter(router, argv)
  }

  return deleted
}

/**
 * Drop every packet a site's router forwards to or from `remoteIps` until
 * the returned function is called (see blackholeRuleset)
 */
export async function blackhole (lab: Lab, site: string, remoteIps: readonly string[]): Promise<() => Promise<void>> {
  const router = routerOf(lab, site)
  await inRouter(router, ['nft', '-f', '-'], blackholeRuleset(remoteIps))
  let ended = false

  return async () => {
    if (ended || lab.destroyed) {
      return
    }
    ended = true
    await inRouter(router, ['nft', 'delete', 'table', 'inet', BLACKHOLE_TABLE])
  }
}

/**
 * Give a site's router a new WAN address and forget every binding (see
 * planWanChange). The lab's `site(name).publicIp` keeps the address the lab
 * was built with; `wanAddress()` gives the one it has now. Rebuilds the NAT's ruleset, so
 * a blackhole or rebinding made before is gone too.
 */
export async function changeWanAddress (lab: Lab, site: string, newIp: string): Promise<void> {
  const router = routerOf(lab, site)
  const plan = planWanChange(router, newIp)
  for (const [key, value] of Object.entries(plan.sysctls)) {
    await inRouter(router, ['sysctl', '-q', '-w', `${key}=${value}`])
  }
  await inRouter(router, ['ip', '-batch', '-'], plan.ipBatch.join('\n') + '\n')
  await inRouter(router, ['nft', '-f', '-'], plan.ruleset)
  await inRouter(router, ['conntrack', '-F'])

  let routers = changedRouters.get(lab)
  if (routers == null) {
    routers = new Map()
    changedRouters.set(lab, routers)
  }
  routers.set(site, plan.router)
}

/** a site router's WAN address now (after any changeWanAddress) */
export function wanAddress (lab: Lab, site: string): string {
  return routerOf(lab, site).wanIp
}
