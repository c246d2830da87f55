/**
 * Finds and stops the processes that live in network namespaces, like
 * `ip netns pids` but for many namespaces in one pass over /proc.
 */

import { readFileSync } from 'node:fs'
import { readdir, readlink, stat } from 'node:fs/promises'
import { PROCESS_EXIT_WAIT_MS, PROCESS_KILL_GRACE_MS, POLL_INTERVAL_MS } from './constants.ts'

const NETNS_DIR = '/run/netns'

/**
 * Pids of the processes (other than this one) whose network namespace is one
 * of `namespaces` (names under /run/netns).
 */
export async function processesInNamespaces (namespaces: readonly string[]): Promise<number[]> {
  const inodes = new Set<string>()
  for (const ns of namespaces) {
    try {
      inodes.add(`net:[${(await stat(`${NETNS_DIR}/${ns}`)).ino}]`)
    } catch {
      // already gone
    }
  }
  if (inodes.size === 0) {
    return []
  }

  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) {
      continue
    }
    try {
      if (inodes.has(await readlink(`/proc/${pid}/ns/net`))) {
        pids.push(pid)
      }
    } catch {
      // exited meanwhile, or a kernel thread
    }
  }
  return pids
}

/**
 * Whether process `pid` exists and has not exited (a zombie has exited: it
 * only waits for its parent to collect its status).
 */
export function processExists (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) S ...": comm may hold spaces and parentheses
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/**
 * SIGTERM every process in the namespaces, SIGKILL the ones still there
 * after a grace period, and wait (bounded) until they are gone. Resolves with
 * the pids that refused to go (normally none).
 */
export async function killProcessesInNamespaces (namespaces: readonly string[], graceMs = PROCESS_KILL_GRACE_MS): Promise<number[]> {
  let pids = await processesInNamespaces(namespaces)
  if (pids.length === 0) {
    return []
  }

  signalAll(pids, 'SIGTERM')
  pids = await waitForExit(pids, graceMs)
  if (pids.length === 0) {
    return []
  }

  // also anything that started meanwhile
  pids = [...new Set([...pids, ...await processesInNamespaces(namespaces)])]
  signalAll(pids, 'SIGKILL')
  return waitForExit(pids, PROCESS_EXIT_WAIT_MS)
}

function signalAll (pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/**
 * Poll until the processes exit or `timeoutMs` passes; resolves with those
 * still running.
 */
export async function waitForExit (pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let alive = pids.filter(processExists)
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, POLL_INTERVAL_MS))
    alive = alive.filter(processExists)
  }
  return alive
}
