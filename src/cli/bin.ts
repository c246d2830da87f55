#!/usr/bin/env node
/**
 * `npx libp2p-udp-holepunch <command>`: the process around runCli. Ctrl-C
 * (SIGINT) or SIGTERM aborts the command's AbortSignal; a second one exits
 * at once.
 */

import { AbortError } from '@libp2p/interface'
import { EXIT_CANCELLED } from './io.ts'
import { runCli } from './main.ts'

/** after the command returned, how long open handles may keep the process alive, ms */
const EXIT_GRACE_MS = 2_000

const controller = new AbortController()

for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.on(name, () => {
    if (controller.signal.aborted) {
      process.exit(EXIT_CANCELLED)
    }
    process.stderr.write(`${name === 'SIGINT' ? 'Ctrl-C' : name}: cancelling (again to quit at once)\n`)
    controller.abort(new AbortError('Cancelled'))
  })
}

const code = await runCli(process.argv.slice(2), {
  out: line => { process.stdout.write(line + '\n') },
  err: line => { process.stderr.write(line + '\n') },
  signal: controller.signal
})

// the node has stopped; let the last datagrams (connection closes) go out
// while the event loop drains, but do not wait for a straggling timer
process.exitCode = code
setTimeout(() => { process.exit(code) }, EXIT_GRACE_MS).unref()
