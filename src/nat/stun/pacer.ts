/**
 * Spaces new STUN transactions at most `perSecond` per second (RFC 5780
 * section 4: at most 10 new transactions per second). Slots are handed out
 * at even intervals, first come first served; retransmissions do not take a
 * slot.
 */

import { AbortError } from '@libp2p/interface'
import { STUN_MAX_TRANSACTIONS_PER_SECOND } from '../../constants.ts'

export interface TransactionPacerInit {
  /** new transactions per second (default STUN_MAX_TRANSACTIONS_PER_SECOND) */
  perSecond?: number
  /** clock in ms (default Date.now) */
  now?(): number
}

export class TransactionPacer {
  private readonly interval: number
  private readonly now: () => number
  private nextSlot: number

  constructor (init: TransactionPacerInit = {}) {
    const perSecond = init.perSecond ?? STUN_MAX_TRANSACTIONS_PER_SECOND

    if (!(perSecond > 0)) {
      throw new RangeError('perSecond must be above 0')
    }

    this.interval = 1000 / perSecond
    this.now = init.now ?? Date.now
    this.nextSlot = -Infinity
  }

  /**
   * Reserve the next free slot and return how many ms to wait for it (pure
   * bookkeeping, no timers)
   */
  reserve (): number {
    const now = this.now()
    const at = Math.max(now, this.nextSlot)
    this.nextSlot = at + this.interval

    return at - now
  }

  /**
   * Wait for a slot. Rejects with AbortError (and clears its timer) when the
   * signal aborts; the slot is then lost, which only slows later callers.
   */
  async acquire (signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    const delay = this.reserve()

    if (delay <= 0) {
      return
    }

    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(timer)
        reject(new AbortError('Waiting for a STUN transaction slot was aborted'))
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }, delay)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

/**
 * The process-wide pacer that STUN clients share unless given their own
 */
export const globalTransactionPacer = new TransactionPacer()
