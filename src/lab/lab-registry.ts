/**
 * Records which process owns which lab, and removes the labs whose owner is
 * gone (crashed test runs) or, on request, all labs.
 *
 * A lab is identified by its namespace prefix `hpl-<id>-`. Before it creates
 * anything, a lab writes `/run/hpl-lab/<id>.json` with the pid and start time
 * of its process (the start time tells a reused pid from the owner).
 */

import { readFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { LAB_NAME_PREFIX, LAB_REGISTRY_DIR } from './constants.ts'
import { killProcessesInNamespaces } from './namespace-processes.ts'
import { runCommand } from './run-command.ts'
import { stepCommand } from './run-setup.ts'
import { planTeardown } from './setup-plan.ts'

const NETNS_DIR = '/run/netns'

export interface LabRecord {
  id: string
  pid: number
  /** field 22 of /proc/<pid>/stat: clock ticks after boot */
  startTime: string
  createdAt: string
}

export interface CleanupOptions {
  /**
   * Also remove labs whose owner process is still running (for example
   * from a shell after an interrupted run)
   *
   * @default false
   */
  all?: boolean
}

export interface CleanupReport {
  /** ids of the labs that were removed */
  removed: string[]
  /** namespaces that could not be deleted */
  failed: string[]
}

/**
 * The start time of a process, or undefined when it does not exist.
 */
export function processStartTime (pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after "(comm)" start at field 3
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]
  } catch {
    return undefined
  }
}

/**
 * Where the record of lab `id` is.
 */
export function labRecordPath (id: string): string {
  return `${LAB_REGISTRY_DIR}/${id}.json`
}

/**
 * Write the record of lab `id`, owned by this process.
 */
export async function registerLab (id: string): Promise<void> {
  const record: LabRecord = {
    id,
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '',
    createdAt: new Date().toISOString()
  }
  await mkdir(LAB_REGISTRY_DIR, { recursive: true, mode: 0o755 })
  await writeFile(labRecordPath(id), JSON.stringify(record) + '\n')
}

/**
 * Remove the record of lab `id`.
 */
export async function unregisterLab (id: string): Promise<void> {
  await rm(labRecordPath(id), { force: true })
}

/**
 * The lab id in a namespace name `hpl-<id>-...`, or undefined.
 */
export function labIdOfNamespace (namespace: string): string | undefined {
  if (!namespace.startsWith(LAB_NAME_PREFIX)) {
    return undefined
  }
  const rest = namespace.slice(LAB_NAME_PREFIX.length)
  const dash = rest.indexOf('-')
  return dash > 0 ? rest.slice(0, dash) : undefined
}

/**
 * Every lab namespace that exists now, grouped by lab id.
 */
export async function listLabNamespaces (): Promise<Map<string, string[]>> {
  const byLab = new Map<string, string[]>()
  let names: string[] = []
  try {
    names = await readdir(NETNS_DIR)
  } catch {
    return byLab
  }
  for (const name of names) {
    const id = labIdOfNamespace(name)
    if (id != null) {
      byLab.set(id, [...(byLab.get(id) ?? []), name])
    }
  }
  return byLab
}

async function readRecord (id: string): Promise<LabRecord | undefined> {
  try {
    return JSON.parse(await readFile(labRecordPath(id), 'utf8'))
  } catch {
    return undefined
  }
}

/**
 * Whether the process that created the lab still runs.
 */
function ownerAlive (record: LabRecord | undefined): boolean {
  if (record == null) {
    return false
  }
  const startTime = processStartTime(record.pid)
  return startTime != null && startTime === record.startTime
}

/**
 * Remove the namespaces (with their interfaces, rules and processes) of
 * `namespaces`, killing the processes inside first.
 *
 * @returns the namespaces that are still there afterwards
 */
export async function removeNamespaces (namespaces: readonly string[]): Promise<string[]> {
  if (namespaces.length === 0) {
    return []
  }
  await killProcessesInNamespaces(namespaces)
  const { argv, input } = stepCommand(planTeardown(namespaces))
  // `ip -batch` stops at the first failed line; -force goes on
  await runCommand(argv[0], ['-force', ...argv.slice(1)], { input })

  const left = await listLabNamespaces()
  const remaining = new Set([...left.values()].flat())
  return namespaces.filter(ns => remaining.has(ns))
}

/**
 * Remove every lab whose owner process is gone (or every lab, with
 * `all: true`): its processes, namespaces and record.
 */
export async function cleanupLabs (options: CleanupOptions = {}): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], failed: [] }
  const namespaces = await listLabNamespaces()
  let recordIds: string[] = []
  try {
    recordIds = (await readdir(LAB_REGISTRY_DIR)).filter(f => f.endsWith('.json')).map(f => f.slice(0, -'.json'.length))
  } catch {
    // no lab ever ran
  }

  for (const id of new Set([...namespaces.keys(), ...recordIds])) {
    const record = await readRecord(id)
    if (options.all !== true && ownerAlive(record)) {
      continue
    }
    const failed = await removeNamespaces(namespaces.get(id) ?? [])
    report.failed.push(...failed)
    if (failed.length === 0) {
      await unregisterLab(id)
      report.removed.push(id)
    }
  }

  return report
}
