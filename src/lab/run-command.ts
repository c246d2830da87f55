/**
 * Runs one program to completion with captured output, a time limit and an
 * output limit. No shell is involved: arguments go to the program as they
 * are.
 */

import { spawn } from 'node:child_process'
import { COMMAND_TIMEOUT_MS, EXEC_MAX_BUFFER_BYTES } from './constants.ts'
import { LabCommandError, LabToolMissingError } from './errors.ts'

export interface CommandResult {
  stdout: string
  stderr: string
  /** exit code, or null when a signal ended the process */
  code: number | null
  signal: NodeJS.Signals | null
}

export interface RunOptions {
  /** written to the program's stdin, which is then closed */
  input?: string
  /**
   * @default 15000
   */
  timeoutMs?: number
  /**
   * @default 16777216
   */
  maxBufferBytes?: number
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** aborting kills the program */
  signal?: AbortSignal
}

/** Debian packages of the programs the lab runs, for the error message */
const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2',
  nft: 'nftables',
  sysctl: 'procps',
  conntrack: 'conntrack',
  'iptables-restore': 'iptables',
  gcc: 'gcc libnetfilter-queue-dev',
  turnserver: 'coturn',
  turnutils_natdiscovery: 'coturn'
}

/**
 * Run `file` with `args` and resolve with its output and exit status,
 * whatever the status.
 *
 * @throws {LabToolMissingError} when the program is not installed
 * @throws {LabCommandError} when it runs out of time or output space
 */
export async function runCommand (file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS
  const maxBuffer = options.maxBufferBytes ?? EXEC_MAX_BUFFER_BYTES
  const command = [file, ...args]

  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env,
      cwd: options.cwd
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let outBytes = 0
    let errBytes = 0
    let failure: Error | undefined

    const fail = (error: Error): void => {
      if (failure == null) {
        failure = error
        child.kill('SIGKILL')
      }
    }

    const timer = setTimeout(() => {
      fail(new LabCommandError(command, null, Buffer.concat(err).toString(), `did not finish within ${timeoutMs} ms`))
    }, timeoutMs)

    const onAbort = (): void => {
      fail(new LabCommandError(command, null, Buffer.concat(err).toString(), 'was aborted'))
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })

    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length
      if (outBytes > maxBuffer) {
        fail(new LabCommandError(command, null, '', `wrote more than ${maxBuffer} bytes to stdout`))
        return
      }
      out.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      errBytes += chunk.length
      if (errBytes > maxBuffer) {
        fail(new LabCommandError(command, null, '', `wrote more than ${maxBuffer} bytes to stderr`))
        return
      }
      err.push(chunk)
    })

    let settled = false
    const settle = (result?: CommandResult): void => {
      if (settled) {
        return
      }
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      if (failure != null || result == null) {
        reject(failure ?? new Error('unreachable'))
      } else {
        resolve(result)
      }
    }

    child.on('error', (error: NodeJS.ErrnoException) => {
      fail(error.code === 'ENOENT' ? new LabToolMissingError(file, PACKAGE_OF[file] ?? file) : error)
      if (child.pid == null) {
        // it never started, so no 'close' may follow
        settle()
      }
    })

    child.on('close', (code, signal) => {
      settle({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code, signal })
    })

    // a program that exits without reading its stdin makes the write fail
    // with EPIPE; its exit status tells what happened
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
  })
}

/**
 * Like {@link runCommand} but fails unless the program exits with status 0.
 *
 * @throws {LabCommandError}
 */
export async function runChecked (file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const result = await runCommand(file, args, options)
  if (result.code !== 0) {
    throw new LabCommandError([file, ...args], result.code, result.stderr !== '' ? result.stderr : result.stdout)
  }
  return result
}

/**
 * The argv that runs `argv` inside network namespace `namespace`.
 */
export function inNamespace (namespace: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', namespace, ...argv]
}
