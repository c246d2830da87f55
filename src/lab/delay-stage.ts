/**
 * The userspace delay stage: builds `delay-queue.c` once (cached by the hash
 * of its source) and runs it in the internet namespace.
 */

import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DELAY_QUEUE_MAX_PACKETS, DELAY_STAGE_READY_TIMEOUT_MS } from './constants.ts'
import { LabCommandError } from './errors.ts'
import { LabProcess } from './lab-process.ts'
import { runChecked } from './run-command.ts'
import type { DelayStagePlan } from './setup-plan.ts'

/** where the source is: next to this module, or in src/ when this runs from dist/ */
function sourcePath (): string {
  const candidates = [
    fileURLToPath(new URL('./delay-queue.c', import.meta.url)),
    fileURLToPath(new URL('../../../src/lab/delay-queue.c', import.meta.url))
  ]
  const found = candidates.find(path => existsSync(path))
  if (found == null) {
    throw new Error(`delay-queue.c not found (looked at ${candidates.join(', ')})`)
  }
  return found
}

let building: Promise<string> | undefined

/**
 * The path of the compiled delay stage, compiling it if needed.
 *
 * @throws {LabToolMissingError} without gcc
 * @throws {LabCommandError} when it does not compile (libnetfilter-queue-dev missing)
 */
export async function delayStageBinary (): Promise<string> {
  building ??= build().catch(err => {
    building = undefined
    throw err
  })
  return building
}

async function build (): Promise<string> {
  const source = sourcePath()
  const hash = createHash('sha256').update(await readFile(source)).digest('hex').slice(0, 16)
  const dir = join(tmpdir(), 'hpl-lab-cache')
  const binary = join(dir, `delay-queue-${hash}`)

  if (existsSync(binary)) {
    return binary
  }

  await mkdir(dir, { recursive: true })
  const partial = `${binary}.${process.pid}.tmp`
  try {
    await runChecked('gcc', ['-O2', '-Wall', '-o', partial, source, '-lnetfilter_queue', '-lnfnetlink'], { timeoutMs: 60_000 })
  } catch (err) {
    if (err instanceof LabCommandError) {
      throw new LabCommandError(err.command, err.code, `${err.stderr}\nThe delay stage needs libnetfilter_queue: \`apt-get install -y gcc libnetfilter-queue-dev\``)
    }
    throw err
  } finally {
    if (!existsSync(partial)) {
      await rm(partial, { force: true })
    }
  }
  // atomic, so concurrent labs never run a half-written binary
  await rename(partial, binary)
  return binary
}

/**
 * Start the delay stage for `plan` and wait until its queues are bound.
 */
export async function startDelayStage (plan: DelayStagePlan): Promise<LabProcess> {
  const binary = await delayStageBinary()
  const specs = plan.queues.map(q => `${q.queue}:${Math.round(q.delayMs * 1000)}`)
  const proc = new LabProcess('internet', plan.namespace, [binary, String(DELAY_QUEUE_MAX_PACKETS), ...specs])
  try {
    await proc.waitForLine(/^ready$/, { timeoutMs: DELAY_STAGE_READY_TIMEOUT_MS })
  } catch (err) {
    await proc.kill()
    throw err
  }
  return proc
}
