import { MAX_IDENTIFY_OBSERVATIONS, MAX_PUBLIC_ADDRESSES, NAT_CLASSIFICATION_MAX_AGE_MS, NAT_PROFILE_MAX_AGE_MS } from '../constants.ts'
import { classify } from '../nat/classify/classify.ts'
import { discoverNat } from '../nat/discovery/discover.ts'
import { UNKNOWN_NAT_PROFILE } from '../nat/nat-profile.ts'
import { StunClient } from '../nat/stun/client.ts'
import type { StunServerAddress } from './types.ts'
import type { NatProfile, TransportAddress } from '../nat/nat-profile.ts'
import type { Observation } from '../nat/observation.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { AbortOptions, ComponentLogger, Logger } from '@libp2p/interface'

export interface NatMonitorInit {
  logger: ComponentLogger
  servers: StunServerAddress[]
  /** the socket whose mapping we classify: the main udx listening socket */
  socket(): BoundSocket | undefined
  /**
   * Fresh sockets for port-allocation samples and filtering tests (so an
   * earlier run's open filter cannot look like EIF)
   */
  openSocket?(family: 4 | 6): BoundSocket
  closeSocket?(socket: BoundSocket): Promise<void>
}

/**
 * Keeps our NatProfile: runs STUN and the RFC 5780 tests on the main
 * socket against the configured servers, on demand and when the profile
 * is older than NAT_PROFILE_MAX_AGE_MS. Concurrent refreshes share one run.
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
  private running?: Promise<NatProfile>
  private client?: StunClient
  private clientSocket?: BoundSocket

  constructor (init: NatMonitorInit) {
    this.init = init
    this.log = init.logger.forComponent('libp2p:udx:nat')
  }

  getProfile (): NatProfile {
    return this.profile
  }

  isStale (): boolean {
    return Date.now() - this.refreshedAt > NAT_PROFILE_MAX_AGE_MS
  }

  /**
   * The profile, refreshed first if it is stale. Never throws: a failed
   * refresh keeps the last profile.
   */
  async fresh (options?: AbortOptions): Promise<NatProfile> {
    if (!this.isStale()) {
      return this.profile
    }

    try {
      // the NAT's behaviour changes rarely, its mapping of our socket more
      // often: while the classification is recent, one binding request that
      // finds the same mapping is enough (one RTT instead of a full run)
      if (await this.confirmMapping(options)) {
        return this.profile
      }

      return await this.refresh(options)
    } catch (err: any) {
      this.log('could not refresh the NAT profile - %e', err)
      return this.profile
    }
  }

  /**
   * True when the classification is younger than
   * NAT_CLASSIFICATION_MAX_AGE_MS and the first server still sees our main
   * socket at an address of the profile (or, behind an address-dependent
   * NAT, at a new one, which becomes the most recent public address)
   */
  private async confirmMapping (options?: AbortOptions): Promise<boolean> {
    const server = this.init.servers[0]

    if (this.client == null || server == null || Date.now() - this.classifiedAt > NAT_CLASSIFICATION_MAX_AGE_MS) {
      return false
    }

    const { mapped } = await this.client.binding(server, { signal: options?.signal, maxTransmissions: 3 })
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
        observedAt: Date.now()
      }
    }

    this.refreshedAt = Date.now()
    return true
  }

  async refresh (options?: AbortOptions): Promise<NatProfile> {
    this.running ??= this.run(options).finally(() => {
      this.running = undefined
    })

    return this.running
  }

  /**
   * The mapping our NAT allocates right now, from one binding request on a
   * fresh socket: for a sequential NAT this is where its allocator stands,
   * so the peer can predict the port of our next mapping. Undefined when
   * there is no server or the request fails.
   */
  async latestMapping (options?: AbortOptions): Promise<TransportAddress | undefined> {
    const main = this.init.socket()
    const server = this.init.servers[0]

    if (main == null || server == null || this.init.openSocket == null || this.init.closeSocket == null) {
      return undefined
    }

    const socket = this.init.openSocket(main.address().family)
    const client = new StunClient({ logger: this.init.logger }, { socket })

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
    this.client?.close()
    this.client = undefined
    this.clientSocket = undefined
  }

  private async run (options?: AbortOptions): Promise<NatProfile> {
    const socket = this.init.socket()

    if (socket == null || this.init.servers.length === 0) {
      // no STUN server: what peers told us through identify is all we have
      if (this.identified.length > 0) {
        this.profile = classify(this.identified, { now: Date.now() })
      }
      this.refreshedAt = Date.now()
      return this.profile
    }

    if (this.clientSocket !== socket) {
      this.client?.close()
      this.client = new StunClient({ logger: this.init.logger }, { socket })
      this.clientSocket = socket
    }

    const client = this.client as StunClient
    const started = Date.now()
    const family = socket.address().family
    const openSocket = this.init.openSocket
    const discovery = await discoverNat<BoundSocket>(client, this.init.servers, {
      signal: options?.signal,
      logger: this.init.logger,
      observations: this.identified.filter(o => Date.now() - o.at < NAT_PROFILE_MAX_AGE_MS * 10),
      openSocket: openSocket != null ? () => openSocket(family) : undefined,
      closeSocket: this.init.closeSocket
    })
    this.profile = discovery.profile
    this.refreshedAt = Date.now()
    this.classifiedAt = this.refreshedAt
    this.log('NAT profile in %d ms: %s, mapping %s, filtering %s, allocation %s, public %s', Date.now() - started,
      this.profile.reachability, this.profile.mapping, this.profile.filtering, this.profile.allocation.kind,
      this.profile.publicAddresses.map(a => `${a.host}:${a.port}`).join(' '))

    return this.profile
  }
}
