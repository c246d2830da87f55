/**
 * The command-line tool as a real process: from source (src/cli/bin.ts with
 * Node's type stripping), in a lab host or on this machine, with its JSON
 * lines parsed.
 */

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LabHost, LabProcess } from '../../src/lab/index.ts'

export const CLI_BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url))
const NODE_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning']

/** the argv that runs the CLI with `args` */
export function cliArgv (args: readonly string[]): string[] {
  return [process.execPath, ...NODE_FLAGS, CLI_BIN, ...args]
}

/** the JSON objects among `lines` (other lines are skipped) */
export function jsonLines (lines: readonly string[]): any[] {
  return lines.flatMap(line => {
    if (!line.startsWith('{')) {
      return []
    }
    try {
      return [JSON.parse(line)]
    } catch {
      return []
    }
  })
}

/**
 * A long-running CLI command (relay, listen, dial) in a lab host, started
 * with --json
 */
export class CliProcess {
  readonly proc: LabProcess

  constructor (host: LabHost, args: readonly string[]) {
    this.proc = host.spawn(cliArgv(args))
  }

  /** the JSON events written so far */
  events (name?: string): any[] {
    return jsonLines(this.proc.output('stdout')).filter(e => name == null || e.event === name)
  }

  /**
   * The first event (among those written so far or later) that matches;
   * rejects with the process's stderr after `timeoutMs` or when it exits
   * without one
   */
  async event (predicate: (event: any) => boolean, timeoutMs = 30_000): Promise<any> {
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort() }, timeoutMs)

    try {
      for await (const line of this.proc.lines('stdout', { signal: controller.signal })) {
        const [event] = jsonLines([line])
        if (event != null && predicate(event)) {
          return event
        }
      }
    } catch {
      // aborted: reported below
    } finally {
      clearTimeout(timer)
    }

    throw new Error(`${this.proc.argv.slice(3).join(' ')} in ${this.proc.host}: no matching event within ${timeoutMs} ms (exit ${JSON.stringify(this.proc.exitStatus)})\nstdout:\n${this.proc.output('stdout').slice(-15).join('\n')}\nstderr:\n${this.stderr()}`)
  }

  /** the last lines of standard error */
  stderr (lines = 30): string {
    return this.proc.output('stderr').slice(-lines).join('\n')
  }

  /** Ctrl-C, then wait for the exit (SIGKILL after `timeoutMs`) */
  async interrupt (timeoutMs = 10_000): Promise<{ code: number | null, signal: string | null }> {
    this.proc.signal('SIGINT')
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, timeoutMs) })
    const exit = await Promise.race([this.proc.exited, timedOut])
    clearTimeout(timer)
    return exit ?? await this.proc.kill()
  }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Run the CLI on this machine (no lab) to completion
 */
export async function runCliHere (args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  const [command, ...rest] = cliArgv(args)

  return new Promise((resolve, reject) => {
    const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * A long-running CLI command on this machine (no lab), started with --json
 */
export class LocalCli {
  private readonly child: ReturnType<typeof spawn>
  private stdout = ''
  private stderrText = ''
  readonly exited: Promise<{ code: number | null, signal: string | null }>

  constructor (args: readonly string[]) {
    const [command, ...rest] = cliArgv(args)
    this.child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.on('data', (chunk: Buffer) => { this.stdout += chunk.toString() })
    this.child.stderr?.on('data', (chunk: Buffer) => { this.stderrText += chunk.toString() })
    this.exited = new Promise(resolve => {
      this.child.on('close', (code, signal) => { resolve({ code, signal }) })
    })
  }

  events (name?: string): any[] {
    return jsonLines(this.stdout.split('\n')).filter(e => name == null || e.event === name)
  }

  /** the first event that matches, polling every 50 ms */
  async event (predicate: (event: any) => boolean, timeoutMs = 30_000): Promise<any> {
    const deadline = Date.now() + timeoutMs
    let exited = false
    void this.exited.then(() => { exited = true })

    while (Date.now() < deadline) {
      const found = this.events().find(predicate)
      if (found != null) {
        return found
      }
      if (exited) {
        break
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }

    throw new Error(`no matching event within ${timeoutMs} ms${exited ? ' (the process exited)' : ''}\n${this.stderr()}`)
  }

  stderr (): string {
    return this.stderrText.split('\n').slice(-30).join('\n')
  }

  /** Ctrl-C, then wait for the exit (SIGKILL after `timeoutMs`) */
  async interrupt (timeoutMs = 10_000): Promise<{ code: number | null, signal: string | null }> {
    this.child.kill('SIGINT')
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, timeoutMs) })
    const exit = await Promise.race([this.exited, timedOut])
    clearTimeout(timer)
    if (exit != null) {
      return exit
    }
    this.child.kill('SIGKILL')
    return this.exited
  }
}
