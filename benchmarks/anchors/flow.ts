/**
 * Throughput with an application-level window, the same for every system
 * of the anchors benchmark.
 *
 * js-libp2p WebRTC (node-datachannel) reports no buffered amount, so its
 * streams accept writes without backpressure: a sender that trusts
 * `send()` queues gigabytes in two seconds and then waits minutes for them
 * to drain. So the receiver acknowledges what its application has read
 * (an 8-byte big-endian byte count every ACK_EVERY bytes, and FLUSH_MS after
 * the last bytes it has not acknowledged yet), and the sender keeps at most
 * WINDOW bytes unacknowledged over all its streams. After sending for the
 * test's duration the sender waits until every byte is acknowledged:
 * throughput is what the receiving application got, over the time from the
 * first write to the last acknowledgement. Nobody closes a stream inside the
 * measured time (WebRTC's close waits for a FIN_ACK, which loss can delay by
 * seconds). Pure: no I/O.
 */

/** the receiver acknowledges every this many bytes */
export const ACK_EVERY = 64 * 1024

/** ...and this long after bytes it has not acknowledged yet, ms */
export const FLUSH_MS = 10

/**
 * Most bytes a sender keeps unacknowledged, over all its streams (each
 * stream gets an equal share): it caps throughput at WINDOW / RTT, 840 Mbit/s
 * at the 80 ms RTT of the 20 ms setting, and bounds the time a slow sender
 * needs to drain after its last write (WebRTC at 14 Mbit/s: 5 s)
 */
export const WINDOW = 8 * 1024 * 1024

/** one acknowledgement: the receiver's byte count */
export function encodeCount (bytes: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes))
  return out
}

/**
 * The receiver's side: count bytes, acknowledge them through `send`
 */
export class Receiver {
  bytes = 0
  private acked = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly send: (ack: Uint8Array) => void

  constructor (send: (ack: Uint8Array) => void) {
    this.send = send
  }

  /** bytes received */
  add (n: number): void {
    this.bytes += n
    if (this.bytes - this.acked >= ACK_EVERY) {
      this.flush()
    } else {
      this.timer ??= setTimeout(() => { this.timer = undefined; this.flush() }, FLUSH_MS)
    }
  }

  /** acknowledge everything received so far */
  flush (): void {
    if (this.bytes > this.acked) {
      this.acked = this.bytes
      this.send(encodeCount(this.bytes))
    }
  }

  /** the stream ended: no more acknowledgements */
  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}

/**
 * The sender's side: parse the receiver's acknowledgements and wait for
 * room in the window, or for the last acknowledgement
 */
export class AckTracker {
  acked = 0
  /** performance.now() of the latest acknowledgement */
  ackedAt = 0
  ended = false
  /** bytes this stream may keep unacknowledged */
  readonly window: number
  private pending = new Uint8Array(0)
  private waiters: Array<() => void> = []

  /** `streams`: how many streams share `window` (default WINDOW) */
  constructor (streams = 1, window = WINDOW) {
    this.window = Math.max(ACK_EVERY * 2, Math.floor(window / streams))
  }

  /** bytes from the receiver */
  onData (data: Uint8Array): void {
    const all = new Uint8Array(this.pending.byteLength + data.byteLength)
    all.set(this.pending)
    all.set(data, this.pending.byteLength)
    let offset = 0
    while (all.byteLength - offset >= 8) {
      this.acked = Number(new DataView(all.buffer, all.byteOffset + offset, 8).getBigUint64(0))
      this.ackedAt = performance.now()
      offset += 8
    }
    this.pending = all.slice(offset)
    this.wake()
  }

  /** the receiver's stream ended or broke */
  onEnd (): void {
    this.ended = true
    this.wake()
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) {
      w()
    }
  }

  private async until (done: () => boolean, deadline: number): Promise<void> {
    while (!done() && !this.ended && performance.now() < deadline) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()))
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /**
   * Wait until fewer than `window` of `sent` bytes are unacknowledged, the
   * stream ended, or `deadline` (performance.now() ms) passed
   */
  async room (sent: number, deadline: number): Promise<void> {
    await this.until(() => sent - this.acked < this.window, deadline)
  }

  /** wait until all `sent` bytes are acknowledged (or the stream ended, or `deadline`) */
  async all (sent: number, deadline: number): Promise<void> {
    await this.until(() => this.acked >= sent, deadline)
  }
}
