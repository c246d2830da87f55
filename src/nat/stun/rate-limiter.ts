/**
 * Token buckets for the STUN server: one per source IP (bounded number of
 * entries, least recently seen forgotten first) and one global. Pure: the
 * clock is injected and there are no timers.
 */

export interface TokenBucketConfig {
  /** tokens added per second */
  rate: number
  /** bucket size */
  burst: number
}

interface Bucket {
  tokens: number
  updated: number
}

function refill (bucket: Bucket, config: TokenBucketConfig, now: number): void {
  const elapsed = Math.max(0, now - bucket.updated)
  bucket.tokens = Math.min(config.burst, bucket.tokens + elapsed * config.rate / 1000)
  bucket.updated = now
}

export interface SourceRateLimiterInit {
  perSource: TokenBucketConfig
  global: TokenBucketConfig
  /** most sources remembered at once */
  maxSources: number
  now(): number
}

export type RateDecision = 'allow' | 'source-limited' | 'global-limited'

export class SourceRateLimiter {
  private readonly init: SourceRateLimiterInit
  private readonly sources = new Map<string, Bucket>()
  private readonly global: Bucket

  constructor (init: SourceRateLimiterInit) {
    this.init = init
    this.global = { tokens: init.global.burst, updated: init.now() }
  }

  /**
   * Take one token for `source` (and one global token) if both are available
   */
  take (source: string): RateDecision {
    const now = this.init.now()
    let bucket = this.sources.get(source)

    if (bucket == null) {
      bucket = { tokens: this.init.perSource.burst, updated: now }

      if (this.sources.size >= this.init.maxSources) {
        // Map iteration order is insertion order and we re-insert on every
        // use, so the first key is the least recently seen source
        const oldest = this.sources.keys().next().value

        if (oldest != null) {
          this.sources.delete(oldest)
        }
      }
    } else {
      this.sources.delete(source)
      refill(bucket, this.init.perSource, now)
    }

    this.sources.set(source, bucket)

    if (bucket.tokens < 1) {
      return 'source-limited'
    }

    refill(this.global, this.init.global, now)

    if (this.global.tokens < 1) {
      return 'global-limited'
    }

    bucket.tokens -= 1
    this.global.tokens -= 1

    return 'allow'
  }

  /** how many sources are remembered */
  get size (): number {
    return this.sources.size
  }
}
