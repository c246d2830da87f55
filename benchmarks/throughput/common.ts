export const MiB = 1024 * 1024

/** Protocols the benchmark registers on the receiver */
export const SINK_PROTOCOL = '/bench/sink/1.0.0'
export const ECHO_PROTOCOL = '/bench/echo/1.0.0'
export const STATS_PROTOCOL = '/bench/stats/1.0.0'

/** Size of each write */
export const CHUNK_SIZE = 64 * 1024

export class BenchTimeoutError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'BenchTimeoutError'
  }
}

/**
 * Reject with a BenchTimeoutError if `promise` has not settled in `ms`;
 * `onTimeout` may abort the work that is still running
 */
export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string, onTimeout?: (err: Error) => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const err = new BenchTimeoutError(`${what} did not finish within ${ms} ms`)
      onTimeout?.(err)
      reject(err)
    }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface CpuTime {
  /** user + system CPU time, µs */
  cpuMicros: number
}

export function cpuNow (): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** kernel (system) CPU time of this process, µs */
export function sysNow (): number {
  return process.cpuUsage().system
}

export interface MemorySample {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
}

/**
 * Memory after a full GC (needs --expose-gc; without it the numbers are
 * taken as they are)
 */
export async function memoryAfterGc (): Promise<MemorySample> {
  const gc = (globalThis as any).gc as (() => void) | undefined
  for (let i = 0; i < 4; i++) {
    gc?.()
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }
}

/**
 * One shared payload chunk: the same bytes are written again and again so
 * that generating data costs nothing (Noise encrypts them anyway)
 */
export function payloadChunk (size = CHUNK_SIZE): Uint8Array {
  const buf = new Uint8Array(size)
  for (let i = 0; i < size; i++) {
    buf[i] = (i * 2654435761) >>> 24
  }
  return buf
}

export function parseArgs (argv: string[]): any {
  const json = argv[0]
  if (json == null) {
    throw new Error('missing JSON argument')
  }
  return JSON.parse(json)
}

export interface UdxCounters {
  packetsTransmitted: number
  packetsReceived: number
  packetsDroppedByKernel: number
  retransmits: number
  fastRecoveries: number
  rtoCount: number
}

/**
 * Counters of a udx-native UDX instance (all its sockets and live streams);
 * stream counters of streams that closed meanwhile are lost, so take deltas
 * over a window in which the measured streams stay open
 */
export function udxCounters (udx: any, streams: Iterable<any>): UdxCounters {
  const counters = {
    packetsTransmitted: udx.packetsTransmitted ?? 0,
    packetsReceived: udx.packetsReceived ?? 0,
    packetsDroppedByKernel: udx.packetsDroppedByKernel ?? 0,
    retransmits: 0,
    fastRecoveries: 0,
    rtoCount: 0
  }
  for (const s of streams) {
    counters.retransmits += s.retransmits ?? 0
    counters.fastRecoveries += s.fastRecoveries ?? 0
    counters.rtoCount += s.rtoCount ?? 0
  }
  return counters
}

export function diffCounters (after: UdxCounters, before: UdxCounters): UdxCounters {
  const out: any = {}
  for (const key of Object.keys(after) as Array<keyof UdxCounters>) {
    out[key] = after[key] - (before[key] ?? 0)
  }
  return out
}
