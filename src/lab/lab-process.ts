/**
 * A long-running process inside a lab host, with its output split into
 * lines that tests can wait for.
 */

import { spawn } from 'node:child_process'
import { PROCESS_KILL_GRACE_MS, PROCESS_MAX_KEPT_LINES } from './constants.ts'
import { LabTimeoutError } from './errors.ts'
import type { ChildProcess } from 'node:child_process'
import type { Writable } from 'node:stream'

export type OutputStream = 'stdout' | 'stderr'

export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface WaitForLineOptions {
  /**
   * @default 10000
   */
  timeoutMs?: number
  /**
   * @default 'stdout'
   */
  stream?: OutputStream
}

interface LineLog {
  lines: string[]
  /** number of lines dropped from the front to keep the log bounded */
  dropped: number
  partial: string
  ended: boolean
  waiters: Set<() => void>
}

/**
 * A process started by `host.spawn()`. It runs in its own process group;
 * `kill()` (and lab teardown) stops the whole group.
 */
export class LabProcess {
  readonly argv: readonly string[]
  readonly host: string
  /** resolves when the process has exited */
  readonly exited: Promise<ProcessExit>
  readonly #child: ChildProcess
  readonly #logs: Record<OutputStream, LineLog>
  #exit: ProcessExit | undefined

  constructor (host: string, namespace: string, argv: readonly string[], options: SpawnOptions = {}) {
    this.host = host
    this.argv = argv
    this.#logs = { stdout: newLog(), stderr: newLog() }
    this.#child = spawn('ip', ['netns', 'exec', namespace, ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: true
    })
    this.#child.stdin?.on('error', () => {})

    for (const name of ['stdout', 'stderr'] as const) {
      const log = this.#logs[name]
      const stream = this.#child[name]
      stream?.setEncoding('utf8')
      stream?.on('data', (chunk: string) => { appendChunk(log, chunk) })
      stream?.on('end', () => { endLog(log) })
    }

    this.exited = new Promise(resolve => {
      this.#child.on('error', () => {
        // spawn failed: 'close' follows with code -2 or never comes
        this.#setExit({ code: null, signal: null }, resolve)
      })
      this.#child.on('close', (code, signal) => {
        this.#setExit({ code, signal }, resolve)
      })
    })
  }

  #setExit (exit: ProcessExit, resolve: (exit: ProcessExit) => void): void {
    if (this.#exit == null) {
      this.#exit = exit
      endLog(this.#logs.stdout)
      endLog(this.#logs.stderr)
      resolve(exit)
    }
  }

  /** the pid of the process (and of its process group) */
  get pid (): number | undefined {
    return this.#child.pid
  }

  /** its stdin, to talk to it */
  get stdin (): Writable | null {
    return this.#child.stdin
  }

  /** exit status once it has exited */
  get exitStatus (): ProcessExit | undefined {
    return this.#exit
  }

  /**
   * The complete lines written so far (the newest {@link PROCESS_MAX_KEPT_LINES})
   */
  output (stream: OutputStream = 'stdout'): string[] {
    return [...this.#logs[stream].lines]
  }

  /**
   * Every line of a stream: those written so far, then new ones until the
   * process exits or `signal` aborts (then the iteration just ends).
   */
  async * lines (stream: OutputStream = 'stdout', options: { signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const log = this.#logs[stream]
    const { signal } = options
    let index = log.dropped
    while (signal?.aborted !== true) {
      while (index < log.dropped + log.lines.length) {
        index = Math.max(index, log.dropped)
        yield log.lines[index - log.dropped]
        index++
      }
      if (log.ended) {
        return
      }
      await new Promise<void>(resolve => {
        const done = (): void => {
          signal?.removeEventListener('abort', done)
          log.waiters.delete(done)
          resolve()
        }
        log.waiters.add(done)
        signal?.addEventListener('abort', done, { once: true })
      })
    }
  }

  /**
   * Wait for a line (written so far, or later) that matches `pattern`.
   *
   * @throws {LabTimeoutError} if none comes within the time limit or the process exits first
   */
  async waitForLine (pattern: RegExp, options: WaitForLineOptions = {}): Promise<RegExpMatchArray> {
    const timeoutMs = options.timeoutMs ?? 10_000
    const stream = options.stream ?? 'stdout'
    const log = this.#logs[stream]
    const deadline = Date.now() + timeoutMs
    let index = log.dropped

    while (true) {
      for (index = Math.max(index, log.dropped); index < log.dropped + log.lines.length; index++) {
        const match = log.lines[index - log.dropped].match(pattern)
        if (match != null) {
          return match
        }
      }
      const left = deadline - Date.now()
      if (log.ended || left <= 0) {
        const why = log.ended ? `the process exited (${JSON.stringify(this.#exit)})` : `${timeoutMs} ms passed`
        const tail = [...this.#logs.stdout.lines.slice(-5), ...this.#logs.stderr.lines.slice(-5)].join('\n')
        throw new LabTimeoutError(`No ${stream} line of \`${this.argv.join(' ')}\` on ${this.host} matched ${String(pattern)}: ${why}. Last output:\n${tail}`)
      }
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, left)
        function done (): void {
          clearTimeout(timer)
          log.waiters.delete(done)
          resolve()
        }
        log.waiters.add(done)
      })
    }
  }

  /**
   * Send `signal` to the process group.
   */
  signal (signal: NodeJS.Signals): void {
    const pid = this.#child.pid
    if (pid == null || this.#exit != null) {
      return
    }
    try {
      process.kill(-pid, signal)
    } catch {
      // the group is gone
    }
  }

  /**
   * Stop the process group: SIGTERM, then SIGKILL after a grace period.
   * Resolves with the exit status.
   */
  async kill (graceMs = PROCESS_KILL_GRACE_MS): Promise<ProcessExit> {
    if (this.#exit != null || this.#child.pid == null) {
      return this.exited
    }
    this.signal('SIGTERM')
    let timer: ReturnType<typeof setTimeout> | undefined
    const forced = new Promise<void>(resolve => {
      timer = setTimeout(() => {
        this.signal('SIGKILL')
        resolve()
      }, graceMs)
    })
    await Promise.race([this.exited, forced])
    clearTimeout(timer)
    return this.exited
  }
}

function newLog (): LineLog {
  return { lines: [], dropped: 0, partial: '', ended: false, waiters: new Set() }
}

function appendChunk (log: LineLog, chunk: string): void {
  const parts = (log.partial + chunk).split('\n')
  log.partial = parts.pop() ?? ''
  if (parts.length === 0) {
    return
  }
  log.lines.push(...parts.map(line => line.replace(/\r$/, '')))
  const excess = log.lines.length - PROCESS_MAX_KEPT_LINES
  if (excess > 0) {
    log.lines.splice(0, excess)
    log.dropped += excess
  }
  wake(log)
}

function endLog (log: LineLog): void {
  if (log.ended) {
    return
  }
  if (log.partial !== '') {
    log.lines.push(log.partial)
    log.partial = ''
  }
  log.ended = true
  wake(log)
}

function wake (log: LineLog): void {
  const waiters = [...log.waiters]
  log.waiters.clear()
  for (const waiter of waiters) {
    waiter()
  }
}
