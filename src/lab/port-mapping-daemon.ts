/**
 * The port-mapping routers of the lab: miniupnpd (Debian package
 * `miniupnpd-nftables`) on a site router, with UPnP-IGD, NAT-PMP and PCP on
 * its LAN side, and the STUN responders it checks its external address
 * with. The config and the parser of its rules are pure; the start
 * functions run the programs.
 *
 * Why miniupnpd needs a STUN responder: version 2.3 refuses to map ports
 * while its WAN address is in a reserved range (the lab's internet uses the
 * documentation ranges) unless `ext_perform_stun` shows the address is
 * reachable without filtering. The lab's responder sits right upstream of
 * the router (gateway-stun.ts), so the test passes and reports the WAN
 * address itself; behind a carrier NAT that is a private address, as a
 * real router there reports.
 */

import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MINIUPNPD_READY_TIMEOUT_MS, UPNP_HTTP_PORT } from './constants.ts'
import { LabCommandError } from './errors.ts'
import { LabProcess } from './lab-process.ts'
import { IFACE } from './topology.ts'
import type { GatewayStunSpec, RouterSpec } from './topology.ts'

/** where miniupnpd is installed by Debian */
export const MINIUPNPD_PATH = '/usr/sbin/miniupnpd'

const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

/** Absolute path of the gateway STUN responder script */
export const gatewayStunScript: string = fileURLToPath(new URL(`./gateway-stun${extension}`, import.meta.url))

/** One port mapping that a lab router's miniupnpd holds (its DNAT rule) */
export interface RouterPortMapping {
  protocol: 'udp' | 'tcp'
  externalPort: number
  internalHost: string
  internalPort: number
}

/**
 * miniupnpd's configuration for a router (see miniupnpd.conf(5)).
 */
export function miniupnpdConfig (router: RouterSpec, uuid: string): string {
  const pm = router.portMapping

  if (pm == null) {
    throw new Error(`router ${router.namespace} does not map ports`)
  }

  return [
    `ext_ifname=${IFACE.wan}`,
    `listening_ip=${IFACE.lan}`,
    `http_port=${UPNP_HTTP_PORT}`,
    `enable_upnp=${pm.upnp ? 'yes' : 'no'}`,
    // one socket serves both: a protocol switched off alone is dropped by
    // the router's input chain (nft-ruleset.ts)
    `enable_natpmp=${pm.natPmp || pm.pcp ? 'yes' : 'no'}`,
    'ext_perform_stun=yes',
    `ext_stun_host=${pm.stun.ips[0]}`,
    `ext_stun_port=${pm.stun.ports[0]}`,
    'upnp_table_name=miniupnpd',
    'upnp_nat_table_name=miniupnpd',
    'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd',
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    // clients may map ports to their own address only
    'secure_mode=yes',
    'system_uptime=no',
    'notify_interval=60',
    'clean_ruleset_interval=600',
    `min_lifetime=${pm.minLifetime}`,
    `max_lifetime=${pm.maxLifetime}`,
    `force_igd_desc_v1=${pm.igdVersion === 1 ? 'yes' : 'no'}`,
    `uuid=${uuid}`,
    `allow 1024-65535 ${router.lanSubnet} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    ''
  ].join('\n')
}

/**
 * The port mappings in `nft list chain inet miniupnpd prerouting_miniupnpd`
 * output: one per DNAT rule, such as the line
 * `iif "wan" (protocol match) th dport 40000 dnat ip to 10.1.0.10:40000`
 */
export function parseMiniupnpdRedirects (text: string): RouterPortMapping[] {
  const mappings: RouterPortMapping[] = []

  for (const line of text.split('\n')) {
    const dnat = line.match(/dport (\d+) .*dnat ip to (\d{1,3}(?:\.\d{1,3}){3}):(\d+)/)

    if (dnat == null) {
      continue
    }

    // the protocol is matched on the IP header's protocol byte (0x11 UDP, 0x06 TCP)
    const protocol = /@nh,72,8 0x6\b|@nh,72,8 0x06\b|\btcp\b/.test(line) ? 'tcp' : 'udp'
    mappings.push({ protocol, externalPort: Number(dnat[1]), internalHost: dnat[2], internalPort: Number(dnat[3]) })
  }

  return mappings
}

/**
 * Start a gateway STUN responder and wait until its sockets are bound
 */
export async function startGatewayStun (spec: GatewayStunSpec): Promise<LabProcess> {
  const proc = new LabProcess('gateway-stun', spec.namespace, [
    process.execPath, '--disable-warning=ExperimentalWarning', gatewayStunScript,
    spec.ips[0], spec.ips[1], String(spec.ports[0]), String(spec.ports[1])
  ])

  try {
    await proc.waitForLine(/^ready$/, { timeoutMs: MINIUPNPD_READY_TIMEOUT_MS })
  } catch (err) {
    await proc.kill()
    throw err
  }

  return proc
}

/**
 * Write the router's miniupnpd config under `dir` and start the daemon in
 * the router's namespace (in the foreground, logging to stderr); resolves
 * once it listens for every protocol it serves.
 */
export async function startMiniupnpd (router: RouterSpec, site: string, labId: string, index: number): Promise<LabProcess> {
  const dir = join(tmpdir(), `hpl-lab-${labId}`)
  await mkdir(dir, { recursive: true })
  const config = join(dir, `miniupnpd-${site}.conf`)
  const uuid = `3f2b1a9e-${labId.padStart(4, '0').slice(-4)}-4000-8000-${String(index).padStart(12, '0')}`
  await writeFile(config, miniupnpdConfig(router, uuid))

  const proc = new LabProcess(`${site}-nat`, router.namespace, [MINIUPNPD_PATH, '-d', '-f', config, '-P', join(dir, `miniupnpd-${site}.pid`)])
  const pm = router.portMapping
  // the last line of its start-up: NAT-PMP/PCP comes after HTTP
  const ready = pm?.natPmp === true || pm?.pcp === true ? /Listening for NAT-PMP\/PCP traffic/ : /HTTP listening on port/

  try {
    await proc.waitForLine(ready, { stream: 'stderr', timeoutMs: MINIUPNPD_READY_TIMEOUT_MS })
  } catch (err) {
    await proc.kill()
    throw err
  }

  const log = proc.output('stderr')
  if (!log.some(line => line.includes('Port forwarding is now enabled'))) {
    await proc.kill()
    throw new LabCommandError(proc.argv, null, log.join('\n'), 'started, but its STUN test disabled port forwarding')
  }

  return proc
}
