/**
 * Extra (birthday) sockets across all punch sessions of the node. A session
 * reserves what it may open before it tells the peer (OFFER/ANSWER carry the
 * number), so the planner sizes the punch with what the node can afford, and
 * gives the reservation back when it ends.
 */
export class SocketQuota {
  private readonly total: number
  private used = 0

  constructor (total: number) {
    this.total = Math.max(0, Math.floor(total))
  }

  /**
   * Reserve up to `wanted` sockets; returns how many were granted (maybe 0)
   */
  reserve (wanted: number): number {
    const granted = Math.max(0, Math.min(Math.floor(wanted), this.total - this.used))
    this.used += granted
    return granted
  }

  release (count: number): void {
    this.used = Math.max(0, this.used - Math.max(0, count))
  }

  get reserved (): number {
    return this.used
  }
}
