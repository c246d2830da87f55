/**
 * Liveness of one connection's path, judged from what arrives: the UDX
 * stream's received-packet counter (data, acks, and the acks and heartbeats
 * of the keepalive) and verified path responses. Pure: the caller reads the
 * counter and the clock and calls `check` every tick.
 *
 * - alive: something arrived within half the dead timeout
 * - quiet: nothing for half the dead timeout (a connection with a path key
 * challenges its peer more often then)
 * - dead: nothing for the whole dead timeout
 *
 * A check that runs much later than planned means the event loop was
 * stalled (a long synchronous task, a suspended VM): datagrams that arrived
 * meanwhile are still waiting to be read, and the timers phase runs before
 * the I/O phase. Such a check never declares the path dead; it asks for a
 * new check at once, which runs after the pending datagrams were read.
 */
import { PATH_HEALTH_TICK } from '../constants.ts'

export type PathState = 'alive' | 'quiet' | 'dead'

export interface PathHealthInit {
  /** nothing heard for this long is dead, ms */
  deadTimeoutMs: number
  /** how often `check` is planned to run, ms */
  tickMs: number
  /** clock at the start: the connection counts as heard then */
  now: number
  /** the received-packet counter at the start */
  packets: number
}

export interface PathCheck {
  state: PathState
  /** ms since the last sign of life */
  silentMs: number
  /** the check was late: run the next one at once, no dead verdict before */
  recheck: boolean
}

/**
 * How often a connection with this dead timeout is checked, in ms: a tenth
 * of it, between 20 ms and PATH_HEALTH_TICK
 */
export function healthTickMs (deadTimeoutMs: number): number {
  return Math.max(20, Math.min(PATH_HEALTH_TICK, Math.floor(deadTimeoutMs / 10)))
}

export class PathHealth {
  private readonly deadTimeoutMs: number
  private readonly tickMs: number
  private lastHeard: number
  private lastPackets: number
  private lastCheck: number

  constructor (init: PathHealthInit) {
    this.deadTimeoutMs = init.deadTimeoutMs
    this.tickMs = init.tickMs
    this.lastHeard = init.now
    this.lastPackets = init.packets
    this.lastCheck = init.now
  }

  /**
   * Something authenticated arrived outside the stream (a path response)
   */
  heard (now: number): void {
    this.lastHeard = Math.max(this.lastHeard, now)
  }

  /**
   * Judge the path at `now`, given the stream's received-packet counter
   */
  check (now: number, packets: number): PathCheck {
    if (packets !== this.lastPackets) {
      this.lastPackets = packets
      this.heard(now)
    }

    const late = now - this.lastCheck > 2 * this.tickMs
    this.lastCheck = now
    const silentMs = Math.max(0, now - this.lastHeard)

    if (silentMs >= this.deadTimeoutMs) {
      return late ? { state: 'quiet', silentMs, recheck: true } : { state: 'dead', silentMs, recheck: false }
    }

    return { state: silentMs >= this.deadTimeoutMs / 2 ? 'quiet' : 'alive', silentMs, recheck: false }
  }
}
