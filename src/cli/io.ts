/**
 * What a command may touch of the outside world: two line writers and the
 * AbortSignal that Ctrl-C fires. Results go to standard output (one JSON
 * object per line with --json), progress and errors to standard error, so
 * `--json` output can be piped as it is.
 */

import { AbortError } from '@libp2p/interface'

/** the command did what it was asked */
export const EXIT_OK = 0
/** the command ran but failed (unreachable relay, no connection, ...) */
export const EXIT_FAILURE = 1
/** the command line was wrong */
export const EXIT_USAGE = 2
/** Ctrl-C (SIGINT) cancelled the command: 128 + SIGINT, as shells report it */
export const EXIT_CANCELLED = 130

export interface CliIO {
  /** one line of the result (no trailing newline) */
  out(line: string): void
  /** one line of progress or of an error (no trailing newline) */
  err(line: string): void
  /** aborted when the user cancels (Ctrl-C) */
  signal: AbortSignal
  /** clock in ms for elapsed times (default performance.now) */
  now?(): number
}

/**
 * Progress lines on standard error, each with the seconds since the
 * command started: `[ 1.20s] connecting to the relay ...`
 */
export class Progress {
  private readonly io: CliIO
  private readonly started: number
  private readonly now: () => number

  constructor (io: CliIO) {
    this.io = io
    this.now = io.now ?? (() => performance.now())
    this.started = this.now()
  }

  /** ms since the command started */
  elapsed (): number {
    return this.now() - this.started
  }

  step (message: string): void {
    this.io.err(`[${(this.elapsed() / 1000).toFixed(2).padStart(6)}s] ${message}`)
  }
}

/**
 * Resolves when `signal` aborts (for commands that run until Ctrl-C)
 */
export async function untilAborted (signal: AbortSignal): Promise<void> {
  if (signal.aborted) {
    return
  }

  await new Promise<void>(resolve => {
    signal.addEventListener('abort', () => { resolve() }, { once: true })
  })
}

/**
 * Wait `ms`, or reject with AbortError at once when `signal` aborts
 */
export async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()

  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new AbortError('Cancelled'))
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Poll `check` every `intervalMs` until it returns a value (not undefined),
 * `timeoutMs` passes (resolves undefined) or `signal` aborts (AbortError)
 */
export async function pollFor<T> (check: () => T | undefined, options: { timeoutMs: number, intervalMs?: number, signal: AbortSignal }): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs

  for (;;) {
    const value = check()

    if (value !== undefined) {
      return value
    }

    if (Date.now() >= deadline) {
      return undefined
    }

    await sleep(options.intervalMs ?? 50, options.signal)
  }
}
