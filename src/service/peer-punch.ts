import { AbortError } from '@libp2p/interface'
import type { PunchSession } from './punch-session.ts'
import type { HolePunchProgressEvents } from './types.ts'
import type { Side } from '../punch/plan.ts'
import type { Connection, PeerId } from '@libp2p/interface'

/**
 * Where the punch with one peer stands:
 * - `starting` ours: the coordination stream is being opened
 * - `running` a session (ours or the peer's) runs
 * - `awaiting-offer` our session gave way to the peer's simultaneous OFFER
 * (glare), and the peer's OFFER has not arrived yet
 * - `settled` done: every caller has the outcome
 */
export type PeerPunchState = 'starting' | 'running' | 'awaiting-offer' | 'settled'

interface Waiter {
  onProgress?(evt: HolePunchProgressEvents): void
}

/**
 * The one punch with one remote peer, whoever started it: the outcome that
 * every local caller waiting for that peer shares. Sessions come and go
 * under it (after glare, the peer's session replaces ours), but callers only
 * see the final outcome. Each caller joins with its own AbortSignal and
 * progress handler.
 */
export class PeerPunch {
  readonly peer: PeerId
  /** who started it; `initiator` means we did (a local caller wants it) */
  readonly origin: Side
  readonly startedAt = Date.now()
  state: PeerPunchState
  session?: PunchSession
  /** the slot this punch holds */
  slot: Side
  /** aborted when no local caller wants the punch any more, or on stop */
  readonly controller = new AbortController()
  private readonly outcome = Promise.withResolvers<Connection>()
  private readonly waiters = new Set<Waiter>()
  private glareTimer?: ReturnType<typeof setTimeout>

  constructor (peer: PeerId, origin: Side) {
    this.peer = peer
    this.origin = origin
    this.slot = origin
    this.state = origin === 'initiator' ? 'starting' : 'running'
    // callers get the rejection through join()
    this.outcome.promise.catch(() => {})
  }

  /**
   * Progress of whatever session runs, to every waiting caller
   */
  readonly onProgress = (evt: HolePunchProgressEvents): void => {
    for (const waiter of this.waiters) {
      waiter.onProgress?.(evt)
    }
  }

  /**
   * Wait for the outcome. This caller's signal rejects this caller at once
   * with AbortError; the punch goes on for the others, and is aborted when
   * we started it and no caller is left.
   */
  async join (options: { signal: AbortSignal, onProgress?(evt: HolePunchProgressEvents): void }): Promise<Connection> {
    const { signal } = options

    if (signal.aborted) {
      throw new AbortError('connect() was aborted')
    }

    const waiter: Waiter = { onProgress: options.onProgress }
    this.waiters.add(waiter)

    return new Promise<Connection>((resolve, reject) => {
      const done = (): void => {
        signal.removeEventListener('abort', onAbort)
        this.waiters.delete(waiter)
      }
      const onAbort = (): void => {
        done()
        const err = new AbortError(`connect() to ${this.peer.toString()} was aborted`)

        if (this.leave()) {
          // the last caller of our own punch: the punch stops now, and the
          // caller hears back once it has stopped sending, released its
          // sockets and timers and told the peer (a few ms; the ABORT to
          // the peer is bounded by a 1 s timeout)
          this.outcome.promise.then(() => { reject(err) }, () => { reject(err) })
          return
        }

        reject(err)
      }

      signal.addEventListener('abort', onAbort, { once: true })
      this.outcome.promise.then(connection => {
        done()
        resolve(connection)
      }, err => {
        done()
        reject(err)
      })
    })
  }

  /**
   * Our session gave way to the peer's OFFER: wait for it, at most `ms`,
   * then `onTimeout`
   */
  awaitOffer (ms: number, onTimeout: () => void): void {
    this.state = 'awaiting-offer'
    this.session = undefined
    this.glareTimer = setTimeout(() => {
      this.glareTimer = undefined
      onTimeout()
    }, ms)
  }

  /**
   * A session (ours, or the peer's after glare) now runs the punch
   */
  run (session: PunchSession): void {
    clearTimeout(this.glareTimer)
    this.glareTimer = undefined
    this.state = 'running'
    this.session = session
  }

  resolve (connection: Connection): void {
    this.settle()
    this.outcome.resolve(connection)
  }

  reject (err: Error): void {
    this.settle()
    this.outcome.reject(err)
  }

  get settled (): boolean {
    return this.state === 'settled'
  }

  get callers (): number {
    return this.waiters.size
  }

  private settle (): void {
    clearTimeout(this.glareTimer)
    this.glareTimer = undefined
    this.state = 'settled'
  }

  /**
   * A caller left; abort the punch when it was ours and nobody is left.
   * Returns true when it did.
   */
  private leave (): boolean {
    if (this.origin === 'initiator' && this.waiters.size === 0 && !this.settled) {
      this.controller.abort(new AbortError('Every caller waiting for this punch was aborted'))
      return true
    }

    return false
  }
}
