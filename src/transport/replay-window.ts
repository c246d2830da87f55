/**
 * Anti-replay window over a peer's challenge numbers (the sliding window of
 * IPsec, RFC 4303 section 3.4.3): a number is accepted once, and only while
 * it is among the newest `size` numbers seen. Pure, no clock needed:
 * numbers only grow, so a captured datagram is useless once its number has
 * been accepted or has fallen out of the window.
 */

export type ReplayVerdict = 'fresh' | 'replay' | 'too-old'

export class ReplayWindow {
  private readonly size: number
  /** the highest number accepted, 0 before the first */
  private highest = 0
  /** bit i set: number `highest - i` was accepted */
  private seen = 0n

  /**
   * @param size - window width in numbers, 1 to 1024
   */
  constructor (size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 1024) {
      throw new RangeError('the replay window holds 1 to 1024 numbers')
    }

    this.size = size
  }

  /**
   * What accepting `seq` would mean, without accepting it. Number 0 is never
   * fresh (challenges count from 1).
   */
  check (seq: number): ReplayVerdict {
    if (!Number.isInteger(seq) || seq <= 0) {
      return 'too-old'
    }

    if (seq > this.highest) {
      return 'fresh'
    }

    const age = this.highest - seq

    if (age >= this.size) {
      return 'too-old'
    }

    return ((this.seen >> BigInt(age)) & 1n) !== 0n ? 'replay' : 'fresh'
  }

  /**
   * Accept `seq` if it is fresh; returns the verdict
   */
  accept (seq: number): ReplayVerdict {
    const verdict = this.check(seq)

    if (verdict !== 'fresh') {
      return verdict
    }

    if (seq > this.highest) {
      const shift = seq - this.highest
      this.seen = shift >= this.size ? 0n : (this.seen << BigInt(shift)) & ((1n << BigInt(this.size)) - 1n)
      this.seen |= 1n
      this.highest = seq
    } else {
      this.seen |= 1n << BigInt(this.highest - seq)
    }

    return 'fresh'
  }
}
