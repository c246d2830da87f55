/**
 * Named error classes of the NAT lab. Each message says what to do.
 */

/**
 * The lab needs root (network namespaces, nftables)
 */
export class LabRequiresRootError extends Error {
  static name = 'LabRequiresRootError'
  name = 'LabRequiresRootError'

  constructor (message = 'The NAT lab creates network namespaces and nftables rules, which needs root: run the tests as root (CI does) or in a root container') {
    super(message)
  }
}

/**
 * A program the lab runs is not installed
 */
export class LabToolMissingError extends Error {
  static name = 'LabToolMissingError'
  name = 'LabToolMissingError'

  constructor (tool: string, debianPackage: string) {
    super(`The NAT lab needs "${tool}": install it with \`apt-get install -y ${debianPackage}\` (see docs/NAT-LAB.md)`)
  }
}

/**
 * The topology options are invalid
 */
export class LabTopologyError extends Error {
  static name = 'LabTopologyError'
  name = 'LabTopologyError'
}

/**
 * A setup, teardown or query command failed
 */
export class LabCommandError extends Error {
  static name = 'LabCommandError'
  name = 'LabCommandError'
  readonly command: readonly string[]
  readonly code: number | null
  readonly stderr: string

  constructor (command: readonly string[], code: number | null, stderr: string, reason?: string) {
    super(`Lab command \`${command.join(' ')}\` ${reason ?? `exited with code ${code}`}: ${stderr.trim().slice(0, 2000)}`)
    this.command = command
    this.code = code
    this.stderr = stderr
  }
}

/**
 * The lab was used after `destroy()`
 */
export class LabDestroyedError extends Error {
  static name = 'LabDestroyedError'
  name = 'LabDestroyedError'

  constructor (message = 'This lab has been destroyed: create a new one with Lab.create()') {
    super(message)
  }
}

/**
 * A name given to `lab.host()` or `lab.conntrack()` does not exist
 */
export class LabUnknownNameError extends Error {
  static name = 'LabUnknownNameError'
  name = 'LabUnknownNameError'
}

/**
 * A wait (for a line of output, for a process to start) ran out of time
 */
export class LabTimeoutError extends Error {
  static name = 'LabTimeoutError'
  name = 'LabTimeoutError'
}
