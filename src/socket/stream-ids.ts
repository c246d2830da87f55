import { randomBytes } from 'node:crypto'

/**
 * Hands out UDX stream ids. udx-native keys streams by id per UDX instance
 * (across all of its sockets) and a second stream with a live id silently
 * replaces the first, so ids are random 32-bit values (hard to guess for an
 * off-path attacker) checked against every id in use.
 */
export class StreamIdAllocator {
  private readonly inUse = new Set<number>()
  private readonly random: () => number

  constructor (random: () => number = randomUint32) {
    this.random = random
  }

  /**
   * A fresh id, reserved until `release(id)`
   */
  allocate (): number {
    // the id space has 2^32 - 1 values and we hold at most a few thousand, so
    // a handful of tries is plenty; the bound guards a broken random source
    for (let i = 0; i < 64; i++) {
      const id = this.random() >>> 0

      if (id !== 0 && !this.inUse.has(id)) {
        this.inUse.add(id)
        return id
      }
    }

    throw new Error('Could not allocate a free udx stream id after 64 tries')
  }

  /**
   * Reserve a specific id (e.g. one agreed with a peer); false if it is taken
   */
  reserve (id: number): boolean {
    if (id === 0 || id > 0xFFFFFFFF || this.inUse.has(id)) {
      return false
    }

    this.inUse.add(id)
    return true
  }

  release (id: number): void {
    this.inUse.delete(id)
  }

  has (id: number): boolean {
    return this.inUse.has(id)
  }

  get size (): number {
    return this.inUse.size
  }
}

function randomUint32 (): number {
  return randomBytes(4).readUInt32BE(0)
}
