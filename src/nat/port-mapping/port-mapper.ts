/**
 * Asks the gateway to map our udx ports: PCP first, then NAT-PMP, then
 * UPnP-IGD (each can be switched off), at start, after a network change,
 * and again after a round that found nothing (with backoff). Renews each
 * mapping before its lease ends, refuses mappings whose external address is
 * private or shared (another NAT in front), verifies the others from
 * outside before they count, and deletes them on stop.
 *
 * The service wires it with a few lines: construct it with the ports to map
 * (the listen sockets) and a verifier, call start()/stop(), call
 * networkChanged() when the host's addresses change, and listen for
 * `mapping:change` (or read `usableMappings()`).
 */

import { randomBytes } from 'node:crypto'
import { AbortError, TypedEventEmitter } from '@libp2p/interface'
import {
  PORT_MAPPING_LIFETIME_S,
  PORT_MAPPING_MAX_RETRY_MS,
  PORT_MAPPING_MIN_RENEW_MS,
  PORT_MAPPING_RENEW_FRACTION,
  PORT_MAPPING_RETRY_MS,
  PORT_MAPPING_REVERIFY_MS,
  PORT_MAPPING_STOP_TIMEOUT_MS,
  PORT_MAPPING_VERIFY_RETRY_MS,
  PORT_MAPPING_VERIFY_TIMEOUT_MS
} from '../../constants.ts'
import { PortMappingUnavailableError } from '../../errors.ts'
import { externalAddressProblem } from './external-address.ts'
import { defaultGateways } from './gateway-routes.ts'
import { mapWithNatPmp } from './nat-pmp-mapping.ts'
import { PCP_NONCE_BYTES } from './pcp-codec.ts'
import { mapWithPcp } from './pcp-mapping.ts'
import { isUsableMapping } from './types.ts'
import { mapWithUpnp } from './upnp-mapping.ts'
import type { MappingVerifier, PortMappingInit, PortMappingProtocol, PortMappingState, ProtocolMapRequest, ProtocolMapping } from './types.ts'
import type { AbortOptions, ComponentLogger, Logger, Startable } from '@libp2p/interface'

export interface PortMapperComponents {
  logger: ComponentLogger
}

/** A local udx port to map */
export interface PortMappingTarget {
  port: number
  family: 4 | 6
}

export interface PortMapperInit extends PortMappingInit {
  /**
   * The ports to map, read at every round: the udx listen sockets (the
   * second STUN port needs no mapping)
   */
  targets(): PortMappingTarget[]
  /**
   * Checks mapped addresses from outside (see StunMappingVerifier). Without
   * one, mappings stay `unknown` and are not used, unless `verify: false`.
   */
  verifier?: MappingVerifier
  /** clock in ms (default Date.now) */
  now?(): number
  /**
   * The gateways for PCP and NAT-PMP (default: `gateways`, else the
   * default routes). A seam for tests.
   */
  findGateways?(family: 4 | 6): Promise<string[]>
  /**
   * Make a mapping with one protocol (default: the real clients). A seam
   * for tests of the orchestration; production code leaves it out.
   */
  mapWith?(protocol: PortMappingProtocol, request: ProtocolMapRequest & { gateways: string[], nonce: Uint8Array }, options: AbortOptions): Promise<ProtocolMapping>
}

export interface PortMapperEvents {
  /** any mapping was made, moved, verified, refused or lost; detail: every mapping now */
  'mapping:change': CustomEvent<PortMappingState[]>
}

/** the state of one target */
interface Entry {
  key: string
  target: PortMappingTarget
  /** one nonce per target for the mapper's life: PCP renewals and re-maps repeat it */
  nonce: Uint8Array
  mapping?: ProtocolMapping
  state?: PortMappingState
  /** rounds in a row that found no mapping */
  failures: number
  timer?: ReturnType<typeof setTimeout>
  verifyTimer?: ReturnType<typeof setTimeout>
  /** the work in progress (a round, a renewal, a verification) */
  controller?: AbortController
}

const PROTOCOL_ORDER: PortMappingProtocol[] = ['pcp', 'nat-pmp', 'upnp']

export class PortMapper extends TypedEventEmitter<PortMapperEvents> implements Startable {
  private readonly components: PortMapperComponents
  private readonly init: PortMapperInit
  private readonly log: Logger
  /** UPnP-IGD (both versions) logs here; per-packet lines on trace */
  private readonly upnpLog: Logger
  private readonly now: () => number
  private readonly entries = new Map<string, Entry>()
  private running = false
  /** a round for every target, in progress: refresh() callers join it */
  private round?: Promise<void>

  constructor (components: PortMapperComponents, init: PortMapperInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('libp2p:udx:port-mapping')
    this.upnpLog = components.logger.forComponent('libp2p:udx:port-mapping:upnp')
    this.now = init.now ?? Date.now
  }

  readonly [Symbol.toStringTag] = 'libp2p-udp-holepunch/port-mapper'

  isStarted (): boolean {
    return this.running
  }

  /**
   * Start mapping in the background (resolves at once; listen for
   * `mapping:change`, or await refresh()). Does nothing when `enabled` is
   * false or every protocol is off.
   */
  async start (): Promise<void> {
    if (this.running || !this.enabled()) {
      return
    }

    this.running = true
    void this.refresh().catch(err => {
      this.log('port mapping round failed - %e', err)
    })
  }

  /**
   * Stop renewing, abort whatever runs, and delete our mappings at the
   * gateway (waiting at most PORT_MAPPING_STOP_TIMEOUT_MS for it).
   */
  async stop (): Promise<void> {
    if (!this.running) {
      return
    }

    this.running = false
    const entries = [...this.entries.values()]
    this.entries.clear()

    await Promise.all(entries.map(async entry => {
      this.cancel(entry)
      const mapping = entry.mapping
      entry.mapping = undefined

      if (mapping == null) {
        return
      }

      try {
        await mapping.remove({ signal: AbortSignal.timeout(PORT_MAPPING_STOP_TIMEOUT_MS) })
        this.log('deleted the %s mapping %s:%d', mapping.protocol, mapping.external.host, mapping.external.port)
      } catch (err: any) {
        this.log('could not delete the %s mapping of port %d - %e', mapping.protocol, entry.target.port, err)
      } finally {
        await mapping.close().catch(() => {})
      }
    }))

    this.round = undefined
    this.emitChange()
  }

  /** every mapping we hold, with its verification state */
  mappings (): PortMappingState[] {
    return [...this.entries.values()].flatMap(e => e.state != null ? [{ ...e.state, internal: { ...e.state.internal }, external: { ...e.state.external } }] : [])
  }

  /** the mappings that may be offered and trusted (verified, not behind another NAT) */
  usableMappings (family?: 4 | 6): PortMappingState[] {
    return this.mappings().filter(s => isUsableMapping(s) && (family == null || s.external.family === family))
  }

  /**
   * The host's network changed (new address, new default route): forget
   * the mappings (the old gateway may be gone; a PCP re-map with the same
   * nonce renews it where it still exists) and map again now.
   */
  networkChanged (): void {
    if (!this.running) {
      return
    }

    for (const entry of this.entries.values()) {
      this.cancel(entry)
      void entry.mapping?.close().catch(() => {})
      entry.mapping = undefined
      entry.state = undefined
      entry.failures = 0
    }

    this.round = undefined
    this.emitChange()
    void this.refresh().catch(err => {
      this.log('port mapping round after a network change failed - %e', err)
    })
  }

  /**
   * Map every target that has no mapping yet and wait for it (including the
   * verification). Concurrent callers share one round; the signal only
   * ends the caller's wait.
   */
  async refresh (options: AbortOptions = {}): Promise<PortMappingState[]> {
    if (!this.running) {
      return this.mappings()
    }

    this.round ??= this.runRound().finally(() => {
      this.round = undefined
    })

    await raceAbort(this.round, options.signal)
    return this.mappings()
  }

  /**
   * Renew every mapping now instead of at half its lifetime (after the host
   * woke from sleep, say); resolves when every renewal (or the re-map that
   * follows a failed one) ended
   */
  async renewNow (options: AbortOptions = {}): Promise<PortMappingState[]> {
    await raceAbort(Promise.all([...this.entries.values()].map(async entry => this.renew(entry))), options.signal)
    return this.mappings()
  }

  /** verify every mapping again now (e.g. once STUN servers are known) */
  async verifyAll (options: AbortOptions = {}): Promise<PortMappingState[]> {
    await raceAbort(Promise.all([...this.entries.values()].map(async entry => this.verify(entry))), options.signal)
    return this.mappings()
  }

  private enabled (): boolean {
    const i = this.init
    return i.enabled !== false && (i.pcp !== false || i.natPmp !== false || i.upnp !== false)
  }

  private async runRound (): Promise<void> {
    const targets = this.init.targets()
    const keys = new Set<string>()

    for (const target of targets) {
      const key = `${target.family}/${target.port}`
      keys.add(key)

      if (!this.entries.has(key)) {
        this.entries.set(key, { key, target, nonce: randomBytes(PCP_NONCE_BYTES), failures: 0 })
      }
    }

    // a socket that closed: drop its mapping
    for (const [key, entry] of this.entries) {
      if (!keys.has(key)) {
        this.entries.delete(key)
        this.cancel(entry)
        const mapping = entry.mapping
        void mapping?.remove({ signal: AbortSignal.timeout(PORT_MAPPING_STOP_TIMEOUT_MS) }).catch(() => {}).finally(() => { void mapping.close() })
      }
    }

    await Promise.all([...this.entries.values()].filter(e => e.mapping == null && e.controller == null).map(async entry => this.mapEntry(entry)))
  }

  private async mapEntry (entry: Entry): Promise<void> {
    const controller = new AbortController()
    entry.controller = controller
    clearTimeout(entry.timer)

    try {
      const mapping = await this.create(entry, controller.signal)

      if (!this.isCurrent(entry, controller)) {
        await mapping.remove({ signal: AbortSignal.timeout(PORT_MAPPING_STOP_TIMEOUT_MS) }).catch(() => {})
        await mapping.close()
        return
      }

      entry.failures = 0
      entry.mapping = mapping
      this.accept(entry, mapping)
    } catch (err: any) {
      if (!this.isCurrent(entry, controller)) {
        return
      }

      entry.failures++
      const wait = Math.min(PORT_MAPPING_RETRY_MS * 2 ** (entry.failures - 1), PORT_MAPPING_MAX_RETRY_MS)
      this.log('no mapping for udx port %d - %e; trying again in %d s', entry.target.port, err, Math.round(wait / 1000))
      entry.timer = setTimeout(() => { void this.mapEntry(entry) }, wait)
      return
    } finally {
      if (entry.controller === controller) {
        entry.controller = undefined
      }
    }

    await this.settle(entry)
  }

  /** PCP, NAT-PMP, UPnP in turn; the first mapping wins */
  private async create (entry: Entry, signal: AbortSignal): Promise<ProtocolMapping> {
    const { port, family } = entry.target
    const request: ProtocolMapRequest = {
      port,
      family,
      lifetime: this.init.lifetime ?? PORT_MAPPING_LIFETIME_S,
      description: this.init.description ?? 'libp2p-udp-holepunch'
    }
    const errors: string[] = []

    for (const protocol of PROTOCOL_ORDER) {
      if (!this.protocolEnabled(protocol) || (protocol === 'nat-pmp' && family === 6)) {
        continue
      }

      signal.throwIfAborted()

      try {
        // UPnP finds its gateway with SSDP; the default gateways only
        // restrict which answers our IGDv1 search follows (none known: any
        // private answerer, see igd-discovery.ts)
        const gateways = protocol === 'upnp' ? await this.gateways(family).catch(() => []) : await this.gateways(family)
        const mapping = await this.mapWith(protocol, { ...request, gateways, nonce: entry.nonce }, { signal })
        this.log('udx port %d mapped with %s%s by %s: %s:%d for %d s', port, protocol, mapping.igdVersion != null ? ` (IGDv${mapping.igdVersion})` : '', mapping.gateway, mapping.external.host, mapping.external.port, mapping.lifetime)
        return mapping
      } catch (err: any) {
        if (signal.aborted) {
          throw err
        }

        this.log('%s did not map udx port %d - %e', protocol, port, err)
        errors.push(`${protocol}: ${err.message ?? err}`)
      }
    }

    throw new PortMappingUnavailableError(`No gateway mapped udx port ${port} (${errors.join('; ') || 'every protocol is off'})`)
  }

  private async mapWith (protocol: PortMappingProtocol, request: ProtocolMapRequest & { gateways: string[], nonce: Uint8Array }, options: AbortOptions): Promise<ProtocolMapping> {
    if (this.init.mapWith != null) {
      return this.init.mapWith(protocol, request, options)
    }

    if (protocol === 'upnp') {
      return mapWithUpnp({ ...request, log: this.upnpLog }, options)
    }

    if (request.gateways.length === 0) {
      throw new PortMappingUnavailableError(`No default gateway of IPv${request.family} is known for ${protocol} (set the gateways option)`)
    }

    let last: unknown

    for (const gateway of request.gateways) {
      try {
        return protocol === 'pcp'
          ? await mapWithPcp(this.components, { ...request, gateway, now: this.now }, options)
          : await mapWithNatPmp({ ...request, gateway, log: this.log }, options)
      } catch (err) {
        if (options.signal?.aborted === true) {
          throw err
        }

        last = err
      }
    }

    throw last
  }

  private protocolEnabled (protocol: PortMappingProtocol): boolean {
    switch (protocol) {
      case 'pcp': return this.init.pcp !== false
      case 'nat-pmp': return this.init.natPmp !== false
      default: return this.init.upnp !== false
    }
  }

  private async gateways (family: 4 | 6): Promise<string[]> {
    if (this.init.findGateways != null) {
      return this.init.findGateways(family)
    }

    const configured = this.init.gateways?.filter(g => (g.includes(':') ? 6 : 4) === family)

    if (configured != null && configured.length > 0) {
      return configured
    }

    return (await defaultGateways(family)).map(g => g.host)
  }

  /** a new mapping (or a moved one): refuse it behind another NAT, else verify it */
  private accept (entry: Entry, mapping: ProtocolMapping): void {
    const problem = externalAddressProblem(mapping.external.host)
    entry.state = {
      protocol: mapping.protocol,
      ...(mapping.igdVersion != null ? { igdVersion: mapping.igdVersion } : {}),
      gateway: mapping.gateway,
      internal: { ...mapping.internal },
      external: { ...mapping.external },
      lifetime: mapping.lifetime,
      mappedAt: this.now(),
      verification: initialVerification(problem != null, this.init.verify !== false),
      doubleNat: problem
    }

    if (problem != null) {
      this.log('the gateway %s maps to %s, a %s address: it sits behind another NAT (double NAT); the mapping is not used', mapping.gateway, mapping.external.host, problem)
    }

    this.emitChange()
  }

  /** after a map: delete a refused mapping, verify the others, schedule the renewal */
  private async settle (entry: Entry): Promise<void> {
    const mapping = entry.mapping
    const state = entry.state

    if (mapping == null || state == null) {
      return
    }

    if (state.doubleNat != null) {
      // useless: give the port back, and try again only after a network
      // change or the longest retry wait
      entry.mapping = undefined
      await mapping.remove({ signal: AbortSignal.timeout(PORT_MAPPING_STOP_TIMEOUT_MS) }).catch(() => {})
      await mapping.close()

      if (this.entries.get(entry.key) === entry) {
        entry.timer = setTimeout(() => {
          entry.state = undefined
          void this.mapEntry(entry)
        }, PORT_MAPPING_MAX_RETRY_MS)
      }
      return
    }

    this.scheduleRenewal(entry)
    await this.verify(entry)
  }

  private scheduleRenewal (entry: Entry): void {
    const lifetime = entry.mapping?.lifetime ?? 0
    const wait = Math.max(PORT_MAPPING_MIN_RENEW_MS, lifetime * 1000 * PORT_MAPPING_RENEW_FRACTION)
    clearTimeout(entry.timer)
    entry.timer = setTimeout(() => { void this.renew(entry) }, wait)
  }

  /** renew now (tests, or a timer) */
  private async renew (entry: Entry): Promise<void> {
    const mapping = entry.mapping

    if (mapping == null || !this.running) {
      return
    }

    const controller = new AbortController()
    entry.controller?.abort()
    entry.controller = controller

    try {
      const before = mapping.external
      const result = await mapping.renew({ signal: controller.signal })

      if (!this.isCurrent(entry, controller)) {
        return
      }

      const moved = result.external.host !== before.host || result.external.port !== before.port

      if (moved || result.stateLost) {
        this.log('the %s mapping of udx port %d is now %s:%d%s', mapping.protocol, entry.target.port, result.external.host, result.external.port, result.stateLost ? ' (the gateway had lost its state)' : '')
        this.accept(entry, mapping)
        await this.settle(entry)
        return
      }

      if (entry.state != null) {
        entry.state = { ...entry.state, lifetime: result.lifetime, mappedAt: this.now() }
      }

      this.scheduleRenewal(entry)
    } catch (err: any) {
      if (!this.isCurrent(entry, controller)) {
        return
      }

      this.log('could not renew the %s mapping of udx port %d, mapping again - %e', mapping.protocol, entry.target.port, err)
      entry.mapping = undefined
      entry.state = undefined
      await mapping.close().catch(() => {})
      this.emitChange()
      entry.controller = undefined
      await this.mapEntry(entry)
    } finally {
      if (entry.controller === controller) {
        entry.controller = undefined
      }
    }
  }

  private async verify (entry: Entry): Promise<void> {
    const state = entry.state

    if (state == null || state.doubleNat != null || this.init.verify === false) {
      return
    }

    clearTimeout(entry.verifyTimer)
    const verifier = this.init.verifier

    if (verifier == null) {
      this.update(entry, state, 'unknown')
      return
    }

    let outcome: 'verified' | 'failed' | 'unknown'

    try {
      outcome = await verifier.verify({ external: { ...state.external }, internalPort: entry.target.port }, {
        signal: AbortSignal.timeout(PORT_MAPPING_VERIFY_TIMEOUT_MS)
      })
    } catch (err: any) {
      this.log('could not verify %s:%d - %e', state.external.host, state.external.port, err)
      outcome = 'unknown'
    }

    if (entry.state !== state || this.entries.get(entry.key) !== entry) {
      // moved or stopped meanwhile
      return
    }

    this.update(entry, state, outcome)

    if (outcome === 'failed') {
      this.log.error('the gateway %s says udx port %d is reachable at %s:%d, but a packet sent there from outside did not arrive: not using the mapping (is there another NAT in front of the router?)', state.gateway, entry.target.port, state.external.host, state.external.port)
    }

    entry.verifyTimer = setTimeout(() => { void this.verify(entry) }, outcome === 'verified' ? PORT_MAPPING_REVERIFY_MS : PORT_MAPPING_VERIFY_RETRY_MS)
  }

  private update (entry: Entry, state: PortMappingState, verification: 'verified' | 'failed' | 'unknown'): void {
    const changed = state.verification !== verification
    entry.state = { ...state, verification, verifiedAt: this.now() }

    if (changed) {
      this.emitChange()
    }
  }

  private isCurrent (entry: Entry, controller: AbortController): boolean {
    return this.running && !controller.signal.aborted && this.entries.get(entry.key) === entry
  }

  private cancel (entry: Entry): void {
    entry.controller?.abort(new AbortError('Port mapping was stopped'))
    entry.controller = undefined
    clearTimeout(entry.timer)
    clearTimeout(entry.verifyTimer)
    entry.timer = undefined
    entry.verifyTimer = undefined
  }

  private emitChange (): void {
    this.safeDispatchEvent('mapping:change', { detail: this.mappings() })
  }
}

function initialVerification (refused: boolean, verify: boolean): PortMappingState['verification'] {
  if (refused) {
    return 'refused'
  }

  return verify ? 'pending' : 'skipped'
}

async function raceAbort<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) {
    return promise
  }

  signal.throwIfAborted()

  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(new AbortError('Waiting for port mapping was aborted')) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort)
    })
  })
}
