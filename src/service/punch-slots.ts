import type { Side } from '../punch/plan.ts'

export interface PunchSlotsInit {
  /** punches we start (connect(), background upgrades) at once */
  maxOutbound: number
  /** punches peers start with us at once */
  maxInbound: number
  /** OFFERs one peer may send us per minute */
  maxOffersPerPeerPerMinute: number
  /** peers whose recent OFFERs are remembered (least recently seen forgotten first) */
  maxTrackedPeers: number
  /**
   * clock in ms
   *
   * @default Date.now
   */
  now?(): number
}

const MINUTE_MS = 60_000

/**
 * Admission of punches: outbound and inbound slots counted apart, so peers
 * reaching us can never take the slots of our own connect() calls, and a
 * per-peer rate of OFFERs. Pure bookkeeping: no timers, clock injected,
 * memory bounded by `maxTrackedPeers`.
 */
export class PunchSlots {
  private readonly init: PunchSlotsInit
  private readonly now: () => number
  private readonly used: Record<Side, number> = { initiator: 0, responder: 0 }
  private readonly offers = new Map<string, number[]>()

  constructor (init: PunchSlotsInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  /**
   * Take a slot: `initiator` for punches we start, `responder` for punches
   * a peer starts. With `force` the limit is not checked (a glare hand-over
   * from one side's slot to the other for the same peer).
   */
  acquire (side: Side, force = false): boolean {
    const max = side === 'initiator' ? this.init.maxOutbound : this.init.maxInbound

    if (!force && this.used[side] >= max) {
      return false
    }

    this.used[side]++
    return true
  }

  release (side: Side): void {
    this.used[side] = Math.max(0, this.used[side] - 1)
  }

  inUse (side: Side): number {
    return this.used[side]
  }

  /**
   * Count an OFFER from `peer`; false when it sent more than the per-minute
   * limit within the last minute
   */
  admitOffer (peer: string): boolean {
    const now = this.now()
    const recent = (this.offers.get(peer) ?? []).filter(at => now - at < MINUTE_MS)
    this.offers.delete(peer)

    if (this.offers.size >= this.init.maxTrackedPeers) {
      const oldest = this.offers.keys().next().value

      if (oldest != null) {
        this.offers.delete(oldest)
      }
    }

    if (recent.length >= this.init.maxOffersPerPeerPerMinute) {
      this.offers.set(peer, recent)
      return false
    }

    recent.push(now)
    this.offers.set(peer, recent)
    return true
  }
}
