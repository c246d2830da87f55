import { COORDINATION_PROTOCOL, PATH_ACTIVITY_SAMPLE_MS, STUN_ENDPOINTS_PROTOCOL, PATH_WANTED_WINDOW_MS, RELAY_REDIAL_LEAD_S, REPUNCH_BACKOFF_MS, REPUNCH_MAX_ATTEMPTS } from '../constants.ts'
import type { Connection, Logger, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Streams that libp2p and this package open by themselves: they do not
 * make a peer "wanted" (identify on every new connection, the connection
 * monitor's pings, relay signalling, our coordination and STUN queries)
 */
const SYSTEM_PROTOCOLS = new Set([
  '',
  COORDINATION_PROTOCOL,
  STUN_ENDPOINTS_PROTOCOL,
  '/ipfs/id/1.0.0',
  '/ipfs/id/push/1.0.0',
  '/ipfs/ping/1.0.0',
  '/libp2p/circuit/relay/0.2.0/hop',
  '/libp2p/circuit/relay/0.2.0/stop'
])

/**
 * Where a peer's paths stand: `direct` (a direct connection is open),
 * `relayed` (no direct connection; a relayed one is open or being
 * re-dialed), `recovering` (the direct connection died while we wanted the
 * peer: the relay is re-dialed if needed and punches are retried with
 * backoff)
 */
export type PathState = 'direct' | 'relayed' | 'recovering'

/** How a peer became reachable again */
export type RestoredHow = 'migration' | 're-punch' | 'relay'

export interface PathLostEvent {
  peer: PeerId
  /** why the direct connection closed */
  reason: string
  error: Error
  /** a relayed connection to the peer is still open */
  relayed: boolean
}

export interface PathRestoredEvent {
  peer: PeerId
  /**
   * `re-punch`: a new direct connection; `migration`: the direct connection
   * followed the peer to its new address; `relay`: only the relayed path is
   * back (the direct one is still being re-punched)
   */
  how: RestoredHow
  /** ms without a direct path (for `relay`: without any path) */
  downtimeMs: number
  connection: Connection
}

export interface PathAbandonedEvent {
  peer: PeerId
  /** punches tried since the direct path was lost */
  attempts: number
  /** a relayed connection to the peer is open: it stays the path */
  relayed: boolean
}

export interface PathKeeperInit {
  log: Logger
  /** the peer's connections now */
  connections(peer: PeerId): Connection[]
  /** open a new relayed connection (`force`: beside an existing one) */
  dialRelay(circuit: Multiaddr, signal: AbortSignal): Promise<Connection>
  /** punch again: resolves with the direct connection */
  repunch(peer: PeerId, signal: AbortSignal): Promise<Connection>
  /** the application tagged the peer keep-alive (libp2p connection manager tags) */
  isKeptAlive(peer: PeerId): Promise<boolean>
  /** observe our NAT again (our mapping may have moved with the path) */
  refreshNat(signal: AbortSignal): Promise<unknown>
  lost(event: PathLostEvent): void
  restored(event: PathRestoredEvent): void
  abandoned(event: PathAbandonedEvent): void
  /** counters: re-punches, migrations, relay re-dials */
  count?(what: 'repunch' | 'repunch_success' | 'migration' | 'relay_redial' | 'path_lost'): void
  /** the service's shutdown */
  signal: AbortSignal
  now?(): number
}

interface PeerPaths {
  peer: PeerId
  state: PathState
  /** the relay address we dialed the peer by (only the dialing side re-dials) */
  circuit?: Multiaddr
  direct?: Connection
  relayed?: Connection
  /** when the direct path was lost */
  lostAt?: number
  /** last time one of its connections carried an application stream */
  activeAt: number
  attempt: number
  timer?: ReturnType<typeof setTimeout>
  controller?: AbortController
}

/**
 * Keeps the paths of the peers we punched to (docs/ARCHITECTURE.md, "Paths
 * over time"). A direct connection that dies while we still want the peer
 * (it carried an application stream within PATH_WANTED_WINDOW_MS, or the
 * application tagged the peer keep-alive) is replaced: the relay is dialed
 * again when no relayed connection is left, and the punch is retried with
 * backoff. A limited relayed connection of a wanted peer without a direct
 * path is re-dialed shortly before its time limit, and again when the
 * relay cuts it.
 *
 * Bounded work: one record per peer we punched to that is still connected
 * (or was wanted within PATH_WANTED_WINDOW_MS, or is being restored), one
 * timer per record, at most REPUNCH_MAX_ATTEMPTS punches per loss.
 */
export class PathKeeper {
  private readonly init: PathKeeperInit
  private readonly peers = new Map<string, PeerPaths>()
  private readonly now: () => number
  private sampler?: ReturnType<typeof setInterval>

  constructor (init: PathKeeperInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  start (): void {
    this.sampler = setInterval(() => { this.sample() }, PATH_ACTIVITY_SAMPLE_MS)
    this.sampler.unref?.()
  }

  stop (): void {
    clearInterval(this.sampler)
    this.sampler = undefined

    for (const record of this.peers.values()) {
      this.clear(record)
    }

    this.peers.clear()
  }

  state (peer: PeerId): PathState | undefined {
    return this.peers.get(peer.toString())?.state
  }

  /**
   * A punch gave us `direct`; `relayed` is the connection it was
   * coordinated over
   */
  onDirect (peer: PeerId, direct: Connection, relayed?: Connection): void {
    const record = this.record(peer)

    if (relayed != null) {
      this.watchRelayed(record, relayed)
    }

    const recovering = record.state === 'recovering'
    this.clear(record)
    record.direct = direct
    record.state = 'direct'
    record.attempt = 0
    direct.addEventListener('close', (evt) => {
      this.onDirectClosed(record, direct, (evt as { error?: Error }).error)
    }, { once: true })

    if (recovering && record.lostAt != null) {
      this.init.count?.('repunch_success')
      this.init.restored({ peer, how: 're-punch', downtimeMs: this.now() - record.lostAt, connection: direct })
      record.lostAt = undefined
    }
  }

  /**
   * A punch with `peer` found no path: the relayed connection is the path
   * and is kept across the relay's limits while the peer is wanted
   */
  onRelayedOnly (peer: PeerId, relayed: Connection): void {
    const record = this.record(peer)

    if (record.state !== 'recovering') {
      record.state = 'relayed'
    }

    this.watchRelayed(record, relayed)
  }

  /**
   * The direct connection followed the peer's NAT to a new address
   */
  onMigrated (peer: PeerId, direct: Connection): void {
    this.init.count?.('migration')
    this.init.restored({ peer, how: 'migration', downtimeMs: 0, connection: direct })
  }

  private record (peer: PeerId): PeerPaths {
    const key = peer.toString()
    let record = this.peers.get(key)

    if (record == null) {
      record = { peer, state: 'relayed', activeAt: Number.NEGATIVE_INFINITY, attempt: 0 }
      this.peers.set(key, record)
    }

    return record
  }

  private watchRelayed (record: PeerPaths, relayed: Connection): void {
    if (record.relayed === relayed) {
      return
    }

    record.relayed = relayed

    // only the side that dialed the circuit can dial it again: the other
    // side's relay address for us is not a reservation of ours
    if (relayed.direction === 'outbound') {
      record.circuit = relayed.remoteAddr
    }

    relayed.addEventListener('close', () => { this.onRelayedClosed(record, relayed) }, { once: true })
    this.scheduleRelayRenewal(record, relayed)
  }

  /**
   * Before a time-limited relayed connection ends, and no direct path
   * exists, dial the relay again so that the peer stays reachable
   */
  private scheduleRelayRenewal (record: PeerPaths, relayed: Connection): void {
    const seconds = relayed.limits?.seconds

    if (seconds == null || record.circuit == null || relayed.direction !== 'outbound') {
      return
    }

    const timer = setTimeout(() => {
      if (record.relayed === relayed && record.state !== 'direct' && relayed.status === 'open') {
        void this.wanted(record).then(wanted => {
          if (wanted) {
            this.init.log('the relayed connection to %p ends in %d s: dialing the relay again', record.peer, RELAY_REDIAL_LEAD_S)
            void this.redialRelay(record)
          }
        })
      }
    }, Math.max(0, seconds - RELAY_REDIAL_LEAD_S) * 1000)
    timer.unref?.()
    relayed.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
  }

  private onRelayedClosed (record: PeerPaths, relayed: Connection): void {
    if (record.relayed !== relayed || this.init.signal.aborted) {
      return
    }

    record.relayed = undefined

    if (record.state === 'direct' || this.openRelayed(record.peer) != null) {
      return
    }

    // the relay cut the connection (its limits) or went away, and we have
    // no direct path: keep the peer reachable if it is wanted
    void this.wanted(record).then(wanted => {
      if (wanted && record.circuit != null) {
        this.init.log('the relayed connection to %p closed without a direct path: dialing the relay again', record.peer)
        void this.redialRelay(record)
      }
    })
  }

  private onDirectClosed (record: PeerPaths, direct: Connection, error?: Error): void {
    this.init.log.trace('direct connection to %p closed (%s)', record.peer, error?.message ?? 'no error')

    if (record.direct !== direct || this.init.signal.aborted) {
      return
    }

    record.direct = undefined

    const other = this.init.connections(record.peer).find(c => c.status === 'open' && c.limits == null)
    if (other != null) {
      record.direct = other
      return
    }

    // until a new direct connection arrives
    record.state = 'relayed'

    if (error == null) {
      // closed on purpose, by us or by the peer: nothing to restore
      this.init.log('the direct connection to %p was closed', record.peer)
      return
    }

    void this.wanted(record).then(wanted => {
      if (!wanted || this.init.signal.aborted || record.state === 'direct') {
        record.state = 'relayed'
        return
      }

      const relayed = this.openRelayed(record.peer)
      record.state = 'recovering'
      record.lostAt = this.now()
      record.attempt = 0
      this.init.count?.('path_lost')
      this.init.log('lost the direct path to %p (%s): restoring it', record.peer, error.message)
      this.init.lost({ peer: record.peer, reason: error.message, error, relayed: relayed != null })
      this.recover(record)
    })
  }

  /**
   * One recovery step: the relayed path first (if we can dial it), then a
   * punch; on failure the next step after the backoff
   */
  private recover (record: PeerPaths): void {
    if (record.state !== 'recovering' || this.init.signal.aborted) {
      return
    }

    if (record.attempt >= REPUNCH_MAX_ATTEMPTS) {
      this.init.log('giving up restoring a direct path to %p after %d punches', record.peer, record.attempt)
      record.state = 'relayed'
      this.init.abandoned({ peer: record.peer, attempts: record.attempt, relayed: this.openRelayed(record.peer) != null })
      return
    }

    const delay = REPUNCH_BACKOFF_MS[Math.min(record.attempt, REPUNCH_BACKOFF_MS.length - 1)]
    record.timer = setTimeout(() => {
      record.timer = undefined
      void this.attempt(record)
    }, delay * (record.attempt === 0 ? 1 : 0.75 + Math.random() / 2))
    record.timer.unref?.()
  }

  private async attempt (record: PeerPaths): Promise<void> {
    if (record.state !== 'recovering' || this.init.signal.aborted) {
      return
    }

    record.attempt++
    const controller = new AbortController()
    record.controller = controller
    const signal = AbortSignal.any([controller.signal, this.init.signal])

    try {
      if (this.openRelayed(record.peer) == null) {
        if (record.circuit == null) {
          // the peer dialed us through its relay: it redials, we wait for it
          this.recover(record)
          return
        }

        await this.redialRelay(record, signal)
      }

      // our mapping may have moved with the path (a rebinding, a new
      // address): observe it again before offering it
      await this.init.refreshNat(signal).catch(() => {})
      this.init.count?.('repunch')
      // a punch reports its success through onDirect; a direct connection
      // that came another way (libp2p reconnecting a keep-alive peer, the
      // application dialing) is returned by connect() as it is
      const direct = await this.init.repunch(record.peer, signal)

      if (record.state === 'recovering' && direct.status === 'open' && direct.limits == null) {
        this.onDirect(record.peer, direct)
      }
    } catch (err: any) {
      this.init.log('restoring a direct path to %p failed (attempt %d) - %e', record.peer, record.attempt, err)
      this.recover(record)
    } finally {
      if (record.controller === controller) {
        record.controller = undefined
      }
    }
  }

  private async redialRelay (record: PeerPaths, signal: AbortSignal = this.init.signal): Promise<void> {
    if (record.circuit == null) {
      return
    }

    const before = this.now()
    this.init.count?.('relay_redial')
    const relayed = await this.init.dialRelay(record.circuit, signal)
    this.watchRelayed(record, relayed)

    if (record.state === 'recovering' && record.lostAt != null) {
      this.init.restored({ peer: record.peer, how: 'relay', downtimeMs: this.now() - Math.max(record.lostAt, before), connection: relayed })
    }
  }

  /**
   * Do we still want this peer? It carried an application stream recently,
   * or the application tagged it keep-alive
   */
  private async wanted (record: PeerPaths): Promise<boolean> {
    if (this.now() - record.activeAt < PATH_WANTED_WINDOW_MS) {
      return true
    }

    return this.init.isKeptAlive(record.peer).catch(() => false)
  }

  /** note which peers' connections carry application streams */
  private sample (): void {
    const now = this.now()

    for (const [key, record] of this.peers) {
      const connections = this.init.connections(record.peer)

      if (connections.length === 0 && record.state !== 'recovering' && now - record.activeAt > PATH_WANTED_WINDOW_MS) {
        // nothing left to keep: forget the peer (records stay bounded by
        // the peers we are connected to or were lately)
        this.clear(record)
        this.peers.delete(key)
        continue
      }

      const busy = connections.some(c => c.streams.some(s => s.status === 'open' && !SYSTEM_PROTOCOLS.has(s.protocol)))

      if (busy) {
        record.activeAt = now
      }
    }
  }

  private openRelayed (peer: PeerId): Connection | undefined {
    return this.init.connections(peer).find(c => c.status === 'open' && c.limits != null)
  }

  private clear (record: PeerPaths): void {
    clearTimeout(record.timer)
    record.timer = undefined
    record.controller?.abort()
    record.controller = undefined
  }
}
