/**
 * The command-line tool without the process: pick the command, parse its
 * arguments, run it, and turn what happened into an exit code. bin.ts
 * wires it to the process (argv, stdout, stderr, Ctrl-C).
 */

import { formatCommandHelp, formatProgramHelp, parseCommand, PROGRAM } from './args.ts'
import * as dial from './dial.ts'
import { CommandFailedError, UsageError } from './errors.ts'
import { EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './io.ts'
import * as listen from './listen.ts'
import * as nat from './nat.ts'
import * as relay from './relay.ts'
import type { CommandSpec, ParsedCommand } from './args.ts'
import type { CliIO } from './io.ts'

export interface Command {
  spec: CommandSpec
  run(parsed: ParsedCommand, io: CliIO): Promise<number>
}

/** the commands, in the order --help lists them */
export const COMMANDS: readonly Command[] = [nat, relay, listen, dial]

/**
 * Run the tool with the arguments after the program name; resolves with
 * the exit code (never rejects)
 */
export async function runCli (argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...args] = argv

  if (name == null || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find(c => c.spec.name === args[0]) : undefined
    io.out((topic != null ? formatCommandHelp(topic.spec) : formatProgramHelp(COMMANDS.map(c => c.spec))).trimEnd())
    return name == null ? EXIT_USAGE : EXIT_OK
  }

  const command = COMMANDS.find(c => c.spec.name === name)

  if (command == null) {
    io.err(`unknown command ${JSON.stringify(name)}: use one of ${COMMANDS.map(c => c.spec.name).join(', ')} (${PROGRAM} --help)`)
    return EXIT_USAGE
  }

  try {
    const parsed = parseCommand(command.spec, args)

    if (parsed.help) {
      io.out(formatCommandHelp(command.spec).trimEnd())
      return EXIT_OK
    }

    return await command.run(parsed, io)
  } catch (err: any) {
    return reportError(err, io)
  }
}

function reportError (err: any, io: CliIO): number {
  if (err instanceof UsageError) {
    io.err(err.message)
    return EXIT_USAGE
  }

  if (io.signal.aborted) {
    io.err('cancelled')
    return EXIT_CANCELLED
  }

  if (err instanceof CommandFailedError) {
    io.err(`error: ${err.message}`)
  } else {
    io.err(`error: ${String(err?.name ?? 'Error')}: ${String(err?.message ?? err)}`)
  }

  if (process.env.DEBUG != null && err?.stack != null) {
    io.err(String(err.stack))
  }

  return EXIT_FAILURE
}
