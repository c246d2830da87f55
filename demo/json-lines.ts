/**
 * The JSON-lines protocol of the lab node processes (demo/lab-node.ts and
 * the benchmark's stock DCUtR node): events out on stdout, commands in on
 * stdin. Imports nothing of this package, so a stock node can use it.
 */
import { createInterface } from 'node:readline'

export function emit (event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n')
}

/**
 * Pass every JSON line of stdin to `handle`; stop (then exit) on SIGTERM
 */
export function serveCommands (handle: (command: any) => Promise<void>, stop: () => Promise<void> | void): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    let command
    try {
      command = JSON.parse(line)
    } catch {
      emit({ event: 'error', error: `not JSON: ${line}` })
      return
    }
    void handle(command)
  })

  process.on('SIGTERM', () => {
    void Promise.resolve(stop()).finally(() => process.exit(0))
  })
}
