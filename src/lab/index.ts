/**
 * @packageDocumentation
 *
 * The NAT lab: real Linux NATs in network namespaces, for tests of UDP hole
 * punching. Needs root and `iproute2`, `nftables`, `procps`, `conntrack`;
 * links with a delay also need `iptables`, `gcc` and
 * `libnetfilter-queue-dev`; routers that map ports `miniupnpd-nftables`.
 * See docs/NAT-LAB.md.
 *
 * @example
 * ```ts
 * import { Lab } from 'libp2p-udp-holepunch/lab'
 *
 * const lab = await Lab.create({
 *   sites: [
 *     { name: 'a', nat: 'port-restricted', hairpinning: true },
 *     { name: 'b', nat: 'symmetric-random', delayMs: 20 },
 *     { name: 'c', nat: 'port-restricted', carrier: { nat: 'symmetric-seq' } }
 *   ],
 *   publicHosts: ['relay', 'stun']
 * })
 *
 * const relay = lab.host('relay').spawnNode('test/fixtures/relay.ts')
 * const [, addr] = await relay.waitForLine(/listening on (\S+)/)
 * const result = await lab.host('a1').exec(['ping', '-c', '1', lab.host('relay').ip])
 * console.log(await lab.conntrack('a'))
 * await lab.destroy()
 * ```
 */

export { Lab } from './lab.ts'
export type { LabSite, LabSiteIpv6, ConntrackOptions } from './lab.ts'
export { LabHost } from './lab-host.ts'
export type { ExecOptions } from './lab-host.ts'
export { LabProcess } from './lab-process.ts'
export type { OutputStream, ProcessExit, SpawnOptions, WaitForLineOptions } from './lab-process.ts'
export type { CommandResult } from './run-command.ts'
export type { CleanupOptions, CleanupReport } from './lab-registry.ts'
export { ipv6Truth, natTruth, siteTruth } from './nat-truth.ts'
export { parseConntrack } from './conntrack.ts'
export { planTopology } from './topology.ts'
export type { Topology, SiteSpec, SiteIpv6Spec, HostSpec, RouterSpec, RouterIpv6Spec, ResolvedNat, ResolvedPortMapping, GatewayStunSpec, InternetPort, InternetRoute } from './topology.ts'
export type { RouterPortMapping } from './port-mapping-daemon.ts'
export { NAT_TYPES } from './types.ts'
export type {
  NatType,
  NatOptions,
  Ipv6Mode,
  Ipv6Truth,
  LinkOptions,
  SiteOptions,
  PortMappingOptions,
  PublicHostOptions,
  LabOptions,
  NatTruth,
  ConntrackEntry,
  FlowTuple
} from './types.ts'
export {
  LabRequiresRootError,
  LabToolMissingError,
  LabTopologyError,
  LabCommandError,
  LabDestroyedError,
  LabUnknownNameError,
  LabTimeoutError
} from './errors.ts'
export { udpReflectorScript } from './udp-reflector-path.ts'
