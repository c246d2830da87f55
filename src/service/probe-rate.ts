/**
 * The node-wide pace of probe and priming datagrams: one token bucket that
 * every punch session of the node draws from, so that many sessions at once
 * (for example a swarm of lying peers) cannot make the node send more than
 * `perSecond` datagrams per second in total. Pure: the clock is injected.
 */
export interface ProbeRateInit {
  /** tokens added per second */
  perSecond: number
  /** bucket size: the largest burst (a priming burst of many sockets) */
  burst: number
  /**
   * clock in ms
   *
   * @default performance.now
   */
  now?(): number
}

export class ProbeRate {
  private readonly perSecond: number
  private readonly burst: number
  private readonly now: () => number
  private tokens: number
  private updated: number
  /** datagrams refused since start, for metrics */
  refused = 0

  constructor (init: ProbeRateInit) {
    this.perSecond = Math.max(0, init.perSecond)
    this.burst = Math.max(1, init.burst)
    this.now = init.now ?? (() => performance.now())
    this.tokens = this.burst
    this.updated = this.now()
  }

  /**
   * Take one token if there is one
   */
  take (): boolean {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.updated) * this.perSecond / 1000)
    this.updated = now

    if (this.tokens < 1) {
      this.refused++
      return false
    }

    this.tokens -= 1
    return true
  }
}
