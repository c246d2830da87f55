/**
 * A host of the lab (public or behind a site router): its addresses, and
 * running programs inside its network namespace.
 */

import { DEFAULT_EXEC_TIMEOUT_MS } from './constants.ts'
import { LabDestroyedError } from './errors.ts'
import { LabProcess } from './lab-process.ts'
import { inNamespace, runCommand } from './run-command.ts'
import type { SpawnOptions } from './lab-process.ts'
import type { CommandResult } from './run-command.ts'
import type { HostSpec } from './topology.ts'

export interface ExecOptions {
  /**
   * Kill the program after this long (ms) and reject
   *
   * @default 30000
   */
  timeoutMs?: number
  /** written to its stdin */
  input?: string
  /**
   * @default process.env
   */
  env?: NodeJS.ProcessEnv
  cwd?: string
  signal?: AbortSignal
}

/** what the lab gives a host so that it can track its processes */
export interface HostContext {
  alive(): boolean
  track(proc: LabProcess): void
}

export class LabHost {
  /** e.g. `relay` or `a1` */
  readonly name: string
  /** the network namespace it lives in */
  readonly namespace: string
  readonly kind: 'public' | 'lan'
  /** its addresses, primary first (public hosts have two) */
  readonly ips: readonly string[]
  /** its site (LAN hosts) */
  readonly site?: string
  /** the next hop of its default route (LAN hosts) */
  readonly gateway?: string
  /** its global IPv6 addresses, primary first (empty without IPv6; public hosts have two) */
  readonly ips6: readonly string[]
  /** the next hop of its IPv6 default route (dual-stack LAN hosts) */
  readonly gateway6?: string
  readonly #context: HostContext

  constructor (spec: HostSpec, context: HostContext) {
    this.name = spec.name
    this.namespace = spec.namespace
    this.kind = spec.kind
    this.ips = Object.freeze([...spec.ips])
    this.site = spec.site
    this.gateway = spec.gateway
    this.ips6 = Object.freeze([...(spec.ips6 ?? [])])
    this.gateway6 = spec.gateway6
    this.#context = context
  }

  /** its primary address */
  get ip (): string {
    return this.ips[0]
  }

  /** its primary global IPv6 address (canonical text), undefined without IPv6 */
  get ip6 (): string | undefined {
    return this.ips6[0]
  }

  /**
   * Run a program in this host to completion and capture its output. A
   * non-zero exit is not an error: look at `code`.
   *
   * @throws {LabCommandError} when it runs out of time
   */
  async exec (argv: readonly string[], options: ExecOptions = {}): Promise<CommandResult> {
    this.#assertAlive()
    const [file, ...args] = inNamespace(this.namespace, argv)
    return runCommand(file, args, {
      input: options.input,
      timeoutMs: options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
      env: options.env ?? process.env,
      cwd: options.cwd,
      signal: options.signal
    })
  }

  /**
   * Start a long-running program in this host. The lab kills it on
   * `destroy()` if it still runs.
   */
  spawn (argv: readonly string[], options: SpawnOptions = {}): LabProcess {
    this.#assertAlive()
    const proc = new LabProcess(this.name, this.namespace, argv, options)
    this.#context.track(proc)
    return proc
  }

  /**
   * Start a Node.js script in this host with the same Node binary as this
   * process (`process.execPath`; NODE_OPTIONS passes through the
   * environment), e.g.
   * `host.spawnNode('test/fixtures/peer.ts', ['--port', '4001'])`.
   */
  spawnNode (script: string, args: readonly string[] = [], options: SpawnOptions = {}): LabProcess {
    return this.spawn([process.execPath, script, ...args], options)
  }

  #assertAlive (): void {
    if (!this.#context.alive()) {
      throw new LabDestroyedError()
    }
  }
}
