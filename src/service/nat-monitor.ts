import { AbortError } from '@libp2p/interface'
import { MAX_IDENTIFY_OBSERVATIONS, MAX_PUBLIC_ADDRESSES, NAT_CLASSIFICATION_MAX_AGE_MS, NAT_PROFILE_MAX_AGE_MS } from '../constants.ts'
import { natAdvice } from '../nat/advice.ts'
import { classify } from '../nat/classify/classify.ts'
import { discoverNat } from '../nat/discovery/discover.ts'
import { addressKey, ipFamily } from '../nat/ip.ts'
import { UNKNOWN_NAT_PROFILE } from '../nat/nat-profile.ts'
import { StunClient } from '../nat/stun/client.ts'
import { resolveStunServers } from '../nat/stun/resolve.ts'
import type { StunServerAddress } from './types.ts'
import type { NatAdvice } from '../nat/advice.ts'
import type { DiscoverNatOptions, NatDiscovery } from '../nat/discovery/discover.ts'
import type { BindingClient } from '../nat/discovery/runner.ts'
import type { NatProfile, TransportAddress } from '../nat/nat-profile.ts'
import type { Observation } from '../nat/observation.ts'
import type { PortMappingState } from '../nat/port-mapping/types.ts'
import type { LookupAddress } from '../nat/stun/resolve.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { AbortOptions, ComponentLogger, Logger } from '@libp2p/interface'

export interface NatMonitorInit {
  logger: ComponentLogger
  /**
   * The STUN servers, or a function the monitor calls at every refresh for
   * the current list (configured ones plus those found among connected
   * peers). `host` is an IP address or a DNS host name: names are looked
   * up at refresh time (both families, bounded by NAT_DNS_TIMEOUT_MS, at
   * most NAT_DNS_MAX_ADDRESSES_PER_NAME addresses of the main socket's
   * family each; failures are logged and left out of that run). At most
   * NAT_MAX_STUN_SERVERS distinct addresses are used, in the order given.
   */
  servers: StunServerAddress[] | (() => StunServerAddress[])
  /** the socket whose mapping we classify: the main udx listening socket */
  socket(): BoundSocket | undefined
  /**
   * Fresh sockets for port-allocation samples and filtering tests (so an
   * earlier run's open filter cannot look like EIF)
   */
  openSocket?(family: 4 | 6): BoundSocket
  closeSocket?(socket: BoundSocket): Promise<void>
  /** clock in ms (default Date.now): every age and timestamp of the monitor */
  now?(): number
  /**
   * The full discovery run (default discoverNat). A seam for tests of the
   * refresh logic; production code leaves it out.
   */
  discover?(client: BindingClient, servers: readonly StunServerAddress[], options: DiscoverNatOptions<BoundSocket>): Promise<NatDiscovery>
  /**
   * The DNS lookup of one host name, both families (default
   * `dns.promises.lookup(host, { all: true })`). A seam for tests.
   */
  lookup?(host: string): Promise<LookupAddress[]>
  /**
   * Our port mappings (the service's PortMapper). A usable mapping (verified,
   * or verification switched off, and not behind another NAT) of the main
   * socket's family makes the profile `public`, with the mapped address
   * first among the public addresses: peers reach us on it whatever the NAT
   * does, so the planner treats our side as open.
   */
  portMapper?: {
    mappings(): PortMappingState[]
    usableMappings(family?: 4 | 6): PortMappingState[]
  }
}

/**
 * Keeps our NatProfile: runs STUN and the RFC 5780 tests on the main
 * socket against the servers (resolved anew at every refresh), on demand
 * and when the profile is older than NAT_PROFILE_MAX_AGE_MS. Concurrent
 * refreshes share one run; each caller waits with its own signal (see
 * SharedRun).
 */
export class NatMonitor {
  private readonly init: NatMonitorInit
  private readonly log: Logger
  private profile: NatProfile = UNKNOWN_NAT_PROFILE
  /** identify observations of our udx socket, newest last, bounded */
  private readonly identified: Observation[] = []
  /** when the profile was last confirmed (full discovery or same mapping) */
  private refreshedAt = 0
  /** when the last full discovery classified the NAT */
  private classifiedAt = 0
  private readonly now: () => number
  /** full discoveries, shared by refresh() and fresh() callers */
  private readonly refreshing: SharedRun<NatProfile>
  /** confirm-or-refresh of a stale profile, shared by fresh() callers */
  private readonly freshening: SharedRun<NatProfile>
  private client?: StunClient
  private clientSocket?: BoundSocket
  /** the resolved servers of the last refresh (undefined before the first) */
  private lastServers?: StunServerAddress[]

  constructor (init: NatMonitorInit) {
    this.init = init
    this.log = init.logger.forComponent('libp2p:udx:nat')
    this.now = init.now ?? Date.now
    this.refreshing = new SharedRun(async signal => this.run(signal), 'The NAT refresh was aborted')
    this.freshening = new SharedRun(async signal => this.freshen(signal), 'Waiting for a fresh NAT profile was aborted')
  }

  /**
   * The profile: what discovery found, and `public` through a usable port
   * mapping (see `portMapper`)
   */
  getProfile (): NatProfile {
    return this.withMapping(this.profile)
  }

  /**
   * Our port mappings with their verification state (empty without a port
   * mapper)
   */
  portMappings (): PortMappingState[] {
    return this.init.portMapper?.mappings() ?? []
  }

  /**
   * The STUN server addresses (IPs) the last refresh used, after DNS; empty
   * before the first refresh
   */
  getServers (): StunServerAddress[] {
    return (this.lastServers ?? []).map(s => ({ ...s }))
  }

  /**
   * Whether the profile is usable for punching and, when not (or only
   * partly), what to configure: see natAdvice. Before the first refresh it
   * counts the servers as given.
   */
  advice (): NatAdvice {
    return natAdvice(this.getProfile(), { serversKnown: this.lastServers?.length ?? this.configuredServers().length })
  }

  isStale (): boolean {
    return this.now() - this.refreshedAt > NAT_PROFILE_MAX_AGE_MS
  }

  /**
   * The profile, refreshed first if it is stale. Concurrent callers share
   * one confirmation or refresh. A failed refresh keeps the last profile: the
   * only rejection is an AbortError, at once, when the caller's own signal
   * aborts (the shared work goes on for the other callers).
   */
  async fresh (options?: AbortOptions): Promise<NatProfile> {
    if (!this.isStale()) {
      return this.getProfile()
    }

    try {
      return this.withMapping(await this.freshening.join(options?.signal))
    } catch (err: any) {
      if (options?.signal?.aborted === true) {
        throw err.name === 'AbortError' ? err : new AbortError('Waiting for a fresh NAT profile was aborted')
      }

      this.log('could not refresh the NAT profile - %e', err)
      return this.getProfile()
    }
  }

  /**
   * Run a full refresh (or join the one that is running). The caller's
   * signal only ends its own wait, with AbortError at once; the refresh is
   * aborted only when every caller has gone.
   */
  async refresh (options?: AbortOptions): Promise<NatProfile> {
    return this.withMapping(await this.refreshing.join(options?.signal))
  }

  /** current servers (IP addresses) that the last run did not have */
  private hasNewServers (): boolean {
    const last = new Set((this.lastServers ?? []).map(addressKey))
    return this.configuredServers().some(s => ipFamily(s.host) != null && !last.has(addressKey(s)))
  }

  /**
   * `profile` as peers should see it: reachable on a usable mapping of the
   * main socket's port (mapped addresses first, repeats removed)
   */
  private withMapping (profile: NatProfile): NatProfile {
    const local = this.init.socket()?.address()

    if (local == null) {
      return profile
    }

    // the mappings of the main socket's port: the profile describes that socket
    const mapped = this.init.portMapper?.usableMappings(local.family).filter(m => m.internal.port === local.port).map(m => ({ ...m.external })) ?? []

    if (mapped.length === 0) {
      return profile
    }

    const rest = profile.publicAddresses.filter(a => !mapped.some(m => m.host === a.host && m.port === a.port))

    return {
      ...profile,
      reachability: 'public',
      publicAddresses: [...mapped, ...rest].slice(0, MAX_PUBLIC_ADDRESSES)
    }
  }

  private async freshen (signal: AbortSignal): Promise<NatProfile> {
    // the NAT's behaviour changes rarely, its mapping of our socket more
    // often: while the classification is recent, one binding request that
    // finds the same mapping is enough (one RTT instead of a full run)
    if (await this.confirmMapping(signal)) {
      return this.profile
    }

    return this.refreshing.join(signal)
  }

  /**
   * True when the classification is younger than
   * NAT_CLASSIFICATION_MAX_AGE_MS and the first server of the last refresh
   * still sees our main socket at an address of the profile (or, behind an
   * address-dependent NAT, at a new one, which becomes the most recent
   * public address). False, so that a full refresh follows, also when that
   * server does not answer: it may have gone (a peer that disconnected),
   * and when the mapping is unclassified while more servers than the last
   * run had are known now (a full run may classify it).
   */
  private async confirmMapping (signal: AbortSignal): Promise<boolean> {
    const server = this.lastServers?.[0]

    if (this.client == null || server == null || this.now() - this.classifiedAt > NAT_CLASSIFICATION_MAX_AGE_MS) {
      return false
    }

    if (this.profile.mapping === 'unknown' && this.hasNewServers()) {
      return false
    }

    let mapped: TransportAddress

    try {
      mapped = (await this.client.binding(server, { signal, maxTransmissions: 3 })).mapped
    } catch (err: any) {
      if (signal.aborted) {
        throw err
      }

      this.log('could not confirm the mapping with %s:%d, refreshing - %e', server.host, server.port, err)
      return false
    }
    const known = this.profile.publicAddresses.some(a => a.host === mapped.host && a.port === mapped.port)
    // an address-dependent NAT gives a new mapping once the old binding
    // expired: that is its known behaviour, not a change of NAT; an
    // endpoint-independent NAT that moved our mapping has changed
    const dependent = this.profile.mapping === 'APDM' || this.profile.mapping === 'ADM'

    if (!known && !dependent) {
      return false
    }

    if (!known) {
      this.profile = {
        ...this.profile,
        publicAddresses: [mapped, ...this.profile.publicAddresses].slice(0, MAX_PUBLIC_ADDRESSES),
        observedAt: this.now()
      }
    }

    this.refreshedAt = this.now()
    return true
  }

  /**
   * The mapping our NAT allocates right now, from one binding request on a
   * fresh socket: for a sequential NAT this is where its allocator stands,
   * so the peer can predict the port of our next mapping. Undefined when
   * there is no server or the request fails.
   */
  async latestMapping (options?: AbortOptions): Promise<TransportAddress | undefined> {
    const main = this.init.socket()

    if (main == null || this.init.openSocket == null || this.init.closeSocket == null) {
      return undefined
    }

    // the first server of the last refresh (no DNS on this path), else the
    // first of the current list
    const server = this.lastServers?.[0] ?? (await this.resolveServers(main.address().family, options?.signal))[0]

    if (server == null) {
      return undefined
    }

    const socket = this.init.openSocket(main.address().family)
    const client = new StunClient({ logger: this.init.logger }, { socket, now: this.now })

    try {
      const result = await client.binding(server, { signal: options?.signal, maxTransmissions: 3 })
      return result.mapped
    } catch (err: any) {
      this.log('could not sample the latest mapping - %e', err)
      return undefined
    } finally {
      client.close()
      await this.init.closeSocket(socket)
    }
  }

  /**
   * A peer connected to us over udx reported, through identify, the address
   * it sees us at: one more observation of our mapping, weighed with the
   * STUN ones at the next refresh
   */
  addObservation (observation: Observation): void {
    this.identified.push(observation)

    if (this.identified.length > MAX_IDENTIFY_OBSERVATIONS) {
      this.identified.splice(0, this.identified.length - MAX_IDENTIFY_OBSERVATIONS)
    }
  }

  stop (): void {
    this.freshening.abort()
    this.refreshing.abort()
    this.client?.close()
    this.client = undefined
    this.clientSocket = undefined
  }

  private async run (signal: AbortSignal): Promise<NatProfile> {
    const socket = this.init.socket()
    const servers = socket == null ? [] : await this.resolveServers(socket.address().family, signal)

    if (socket != null) {
      this.lastServers = servers
    }

    if (socket == null || servers.length === 0) {
      // no STUN server: what peers told us through identify is all we have
      if (this.identified.length > 0) {
        this.profile = classify(this.identified, { now: this.now() })
      }
      this.refreshedAt = this.now()
      return this.profile
    }

    if (this.clientSocket !== socket) {
      this.client?.close()
      this.client = new StunClient({ logger: this.init.logger }, { socket, now: this.now })
      this.clientSocket = socket
    }

    const client = this.client as StunClient
    const started = this.now()
    const family = socket.address().family
    const openSocket = this.init.openSocket
    const discover = this.init.discover ?? discoverNat
    const discovery = await discover(client, servers, {
      signal,
      now: this.now,
      logger: this.init.logger,
      observations: this.identified.filter(o => this.now() - o.at < NAT_PROFILE_MAX_AGE_MS * 10),
      openSocket: openSocket != null ? () => openSocket(family) : undefined,
      closeSocket: this.init.closeSocket,
      freshClient: { now: this.now }
    })
    this.profile = discovery.profile
    this.refreshedAt = this.now()
    this.classifiedAt = this.refreshedAt
    this.log('NAT profile in %d ms: %s, mapping %s, filtering %s, allocation %s, public %s', this.now() - started,
      this.profile.reachability, this.profile.mapping, this.profile.filtering, this.profile.allocation.kind,
      this.profile.publicAddresses.map(a => `${a.host}:${a.port}`).join(' '))

    return this.profile
  }

  /** the servers as given now (a throwing function gives none) */
  private configuredServers (): StunServerAddress[] {
    const servers = this.init.servers

    if (typeof servers !== 'function') {
      return servers
    }

    try {
      return servers()
    } catch (err: any) {
      this.log.error('the STUN server list could not be read - %e', err)
      return []
    }
  }

  /** the current servers as IP addresses of `family` (DNS names looked up) */
  private async resolveServers (family: 4 | 6, signal?: AbortSignal): Promise<StunServerAddress[]> {
    return resolveStunServers(this.configuredServers(), {
      family,
      signal,
      lookup: this.init.lookup,
      log: this.log
    })
  }
}

/**
 * One run of `start` shared by concurrent callers. Each caller waits with its
 * own signal: when it aborts, that caller rejects at once with AbortError
 * while the run goes on for the others. When every caller has gone, the run
 * is aborted (through the signal `start` got) and the next caller starts a
 * new one.
 */
class SharedRun<T> {
  private readonly start: (signal: AbortSignal) => Promise<T>
  private readonly abortMessage: string
  private current?: { promise: Promise<T>, controller: AbortController, waiting: number }

  constructor (start: (signal: AbortSignal) => Promise<T>, abortMessage: string) {
    this.start = start
    this.abortMessage = abortMessage
  }

  async join (signal?: AbortSignal): Promise<T> {
    if (signal?.aborted === true) {
      throw new AbortError(this.abortMessage)
    }

    const run = this.current ?? this.begin()
    run.waiting++

    try {
      return await this.wait(run.promise, signal)
    } finally {
      run.waiting--

      if (run.waiting === 0 && this.current === run) {
        // every caller left before the run ended
        this.current = undefined
        run.controller.abort(new AbortError(this.abortMessage))
      }
    }
  }

  /** abort the run in progress, if any (its callers reject) */
  abort (): void {
    const run = this.current
    this.current = undefined
    run?.controller.abort(new AbortError(this.abortMessage))
  }

  private begin (): { promise: Promise<T>, controller: AbortController, waiting: number } {
    const controller = new AbortController()
    const run = { controller, waiting: 0, promise: this.start(controller.signal) }
    const ended = (): void => {
      if (this.current === run) {
        this.current = undefined
      }
    }
    // also keeps a run whose callers all left from an unhandled rejection
    run.promise.then(ended, ended)
    this.current = run

    return run
  }

  private async wait (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal == null) {
      return promise
    }

    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => { reject(new AbortError(this.abortMessage)) }
      signal.addEventListener('abort', onAbort, { once: true })
      promise.then(resolve, reject).finally(() => {
        signal.removeEventListener('abort', onAbort)
      })
    })
  }
}
