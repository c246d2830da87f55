/**
 * A token bucket on an injected clock: `rate` tokens per second up to
 * `burst`. Pure (no timers); the path layer uses one per connection for what
 * it sends, one per socket for the MACs it verifies, and one per connection
 * for migrations.
 */
export interface TokenBucketInit {
  /** tokens added per second */
  rate: number
  /** bucket size, and the tokens it starts with */
  burst: number
  /** clock in ms */
  now(): number
}

export class TokenBucket {
  private readonly rate: number
  private readonly burst: number
  private readonly now: () => number
  private tokens: number
  private updated: number
  /** takes refused since creation */
  refused = 0

  constructor (init: TokenBucketInit) {
    this.rate = Math.max(0, init.rate)
    this.burst = Math.max(1, init.burst)
    this.now = init.now
    this.tokens = this.burst
    this.updated = this.now()
  }

  /**
   * Take one token if there is one
   */
  take (): boolean {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.updated) * this.rate / 1000)
    this.updated = now

    if (this.tokens < 1) {
      this.refused++
      return false
    }

    this.tokens -= 1
    return true
  }
}
