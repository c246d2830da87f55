/**
 * Line-based JSON messages between the benchmark orchestrator and its child
 * processes. Children write `@@bench {json}` lines to stdout (anything else on
 * stdout/stderr is passed through as log output) and read one JSON object per
 * line from stdin. A child exits when its stdin closes, so it never outlives
 * the orchestrator.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { ChildProcess } from 'node:child_process'

export const PREFIX = '@@bench '

export interface Message {
  type: string
  [key: string]: any
}

// ---------------------------------------------------------------------------
// child side
// ---------------------------------------------------------------------------

export function emit (msg: Message): void {
  process.stdout.write(PREFIX + JSON.stringify(msg) + '\n')
}

/**
 * Call `onMessage` for every JSON line the parent writes to stdin; exit the
 * process when stdin closes (the parent is gone or told us to stop).
 */
export function onParentMessage (onMessage: (msg: Message) => void | Promise<void>, onEnd?: () => Promise<void>): void {
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    if (line.trim() === '') {
      return
    }
    let msg: Message
    try {
      msg = JSON.parse(line)
    } catch {
      return
    }
    Promise.resolve(onMessage(msg)).catch((err: any) => {
      emit({ type: 'error', message: String(err?.stack ?? err) })
    })
  })
  rl.on('close', () => {
    const done = (): never => process.exit(0)
    // bounded: a stuck shutdown must not keep an orphan alive
    setTimeout(done, 5_000).unref()
    Promise.resolve(onEnd?.()).catch(() => {}).finally(done)
  })
}

/**
 * Report a fatal error to the parent and exit
 */
export function fail (err: any): never {
  emit({ type: 'error', message: String(err?.stack ?? err) })
  process.exit(1)
}

// ---------------------------------------------------------------------------
// parent side
// ---------------------------------------------------------------------------

export class TimeoutError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TimeoutError'
  }
}

const live = new Set<ChildProcess>()

/**
 * Kill every child still running (on exit, error or signal)
 */
export function killAllChildren (): void {
  for (const child of live) {
    if (child.exitCode == null && child.signalCode == null) {
      child.kill('SIGKILL')
    }
  }
  live.clear()
}

process.once('exit', killAllChildren)

export interface SpawnOptions {
  /** extra node flags, e.g. --cpu-prof */
  nodeArgs?: string[]
  /** label for log lines */
  name: string
  /** print the child's non-protocol output */
  verbose?: boolean
}

/**
 * A child process speaking the line protocol
 */
export class Child {
  readonly name: string
  readonly proc: ChildProcess
  private readonly inbox: Message[] = []
  private waiter?: { resolve(msg: Message): void, reject(err: Error): void, match(msg: Message): boolean }
  private exitError?: Error
  readonly exited: Promise<number | null>
  private readonly stderrTail: string[] = []

  constructor (script: string, args: string[], options: SpawnOptions) {
    this.name = options.name
    this.proc = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe']
    })
    live.add(this.proc)

    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      if (line.startsWith(PREFIX)) {
        let msg: Message
        try {
          msg = JSON.parse(line.slice(PREFIX.length))
        } catch (err: any) {
          this.onFatal(new Error(`${this.name}: unparseable message ${line}`))
          return
        }
        if (msg.type === 'error') {
          this.onFatal(new Error(`${this.name} failed: ${msg.message}`))
          return
        }
        this.deliver(msg)
      } else if (options.verbose === true) {
        process.stderr.write(`[${this.name}] ${line}\n`)
      }
    })
    createInterface({ input: this.proc.stderr! }).on('line', (line) => {
      this.stderrTail.push(line)
      if (this.stderrTail.length > 20) {
        this.stderrTail.shift()
      }
      if (options.verbose === true) {
        process.stderr.write(`[${this.name}!] ${line}\n`)
      }
    })

    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc)
        if (code !== 0 && this.exitError == null) {
          this.onFatal(new Error(`${this.name} exited with code ${code} signal ${signal}${this.stderrTail.length > 0 ? `; stderr:\n${this.stderrTail.join('\n')}` : ''}`))
        } else if (this.exitError == null) {
          this.onFatal(new Error(`${this.name} exited`))
        }
        resolve(code)
      })
    })
    this.proc.stdin!.on('error', () => {})
  }

  send (msg: Message): void {
    if (this.proc.stdin?.writable === true) {
      this.proc.stdin.write(JSON.stringify(msg) + '\n')
    }
  }

  /**
   * The next message of `type` (earlier messages of other types are dropped),
   * or a TimeoutError after `timeoutMs`
   */
  async next (type: string, timeoutMs: number): Promise<Message> {
    const index = this.inbox.findIndex(m => m.type === type)
    if (index !== -1) {
      return this.inbox.splice(index, 1)[0]
    }
    if (this.exitError != null) {
      throw this.exitError
    }
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        reject(new TimeoutError(`${this.name}: no '${type}' message within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiter = {
        match: (msg) => msg.type === type,
        resolve: (msg) => { clearTimeout(timer); this.waiter = undefined; resolve(msg) },
        reject: (err) => { clearTimeout(timer); this.waiter = undefined; reject(err) }
      }
    })
  }

  /**
   * Close stdin (the child exits) and wait for it, killing it after `timeoutMs`
   */
  async stop (timeoutMs = 10_000): Promise<void> {
    if (this.proc.exitCode != null || this.proc.signalCode != null) {
      return
    }
    this.exitError = this.exitError ?? new Error(`${this.name} stopped`)
    this.proc.stdin?.end()
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, timeoutMs)
    await this.exited
    clearTimeout(timer)
  }

  kill (): void {
    this.exitError = this.exitError ?? new Error(`${this.name} killed`)
    this.proc.kill('SIGKILL')
  }

  private deliver (msg: Message): void {
    if (this.waiter?.match(msg) === true) {
      this.waiter.resolve(msg)
    } else {
      this.inbox.push(msg)
    }
  }

  private onFatal (err: Error): void {
    if (this.exitError == null) {
      this.exitError = err
    }
    this.waiter?.reject(err)
  }
}
