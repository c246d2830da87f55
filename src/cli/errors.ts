/**
 * Errors of the command-line tool. Each message says what to type instead.
 */

/**
 * The command line is wrong: an unknown command or option, a missing or
 * malformed value. The tool prints the message and the command's usage
 * line, and exits with EXIT_USAGE.
 */
export class UsageError extends Error {
  static name = 'UsageError'

  constructor (message = 'Invalid command line: see --help') {
    super(message)
    this.name = 'UsageError'
  }
}

/**
 * A command could not do its work (a relay that cannot be reached, an
 * address already in use): the tool prints the message and exits with
 * EXIT_FAILURE.
 */
export class CommandFailedError extends Error {
  static name = 'CommandFailedError'

  constructor (message = 'The command failed', options?: ErrorOptions) {
    super(message, options)
    this.name = 'CommandFailedError'
  }
}
