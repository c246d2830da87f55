/**
 * The command-line parser: Node's util.parseArgs under a declarative spec
 * per command, the help text made from the same spec, and converters for
 * the values the commands take. Pure: arguments in, values or UsageError
 * out.
 */

import { parseArgs } from 'node:util'
import { UsageError } from './errors.ts'

/** the name users type: `npx libp2p-udp-holepunch <command>` */
export const PROGRAM = 'libp2p-udp-holepunch'

export interface OptionSpec {
  type: 'string' | 'boolean'
  /** one line for --help */
  description: string
  /** the value's placeholder in --help, e.g. `multiaddr` */
  valueName?: string
  /** may be given more than once; the values are collected in order */
  multiple?: boolean
  short?: string
  /** shown in --help; the command applies its own default */
  defaultText?: string
}

export interface CommandSpec {
  name: string
  /** one line for the command list */
  summary: string
  /** what follows `<program> <name>` in the usage line, e.g. `<multiaddr> [options]` */
  usage: string
  /** paragraphs printed under the usage line */
  description: string[]
  /** the positional arguments: exactly this many are required */
  positionals: string[]
  options: Record<string, OptionSpec>
  /** example command lines (without the program name) */
  examples?: string[]
}

export interface ParsedCommand {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
  /** `--help` or `-h` was given: print the help, ignore everything else */
  help: boolean
}

/** options every command has */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' }
}

/**
 * Parse the arguments after the command name. Unknown options, missing
 * values and a wrong number of positionals throw UsageError; `--help`
 * short-circuits everything else.
 */
export function parseCommand (spec: CommandSpec, args: readonly string[]): ParsedCommand {
  if (args.includes('--help') || args.includes('-h')) {
    return { values: {}, positionals: [], help: true }
  }

  const options = Object.fromEntries(Object.entries({ ...spec.options, ...COMMON_OPTIONS }).map(([name, o]) => [name, {
    type: o.type,
    multiple: o.multiple === true,
    ...(o.short != null ? { short: o.short } : {})
  }]))

  let parsed
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true })
  } catch (err: any) {
    throw new UsageError(usageMessage(spec, cleanParseError(err.message)))
  }

  if (parsed.positionals.length !== spec.positionals.length) {
    const want = spec.positionals.length === 0
      ? 'takes no arguments'
      : `takes ${spec.positionals.map(p => `<${p}>`).join(' ')}`
    const got = parsed.positionals.length === 0 ? 'none given' : `got ${parsed.positionals.map(p => JSON.stringify(p)).join(' ')}`
    throw new UsageError(usageMessage(spec, `${spec.name} ${want} (${got})`))
  }

  return { values: parsed.values as ParsedCommand['values'], positionals: parsed.positionals, help: false }
}

function usageMessage (spec: CommandSpec, problem: string): string {
  return `${problem}\nusage: ${PROGRAM} ${spec.name} ${spec.usage} (see ${PROGRAM} ${spec.name} --help)`
}

/** parseArgs' messages name the option with its internal wording; keep the first sentence */
function cleanParseError (message: string): string {
  return message.split('. To specify')[0].replace(/^Unknown option '([^']+)'.*$/, 'unknown option $1')
}

/**
 * The help text of a command: usage, description, options, examples
 */
export function formatCommandHelp (spec: CommandSpec): string {
  const lines = [`Usage: ${PROGRAM} ${spec.name} ${spec.usage}`, '']

  for (const paragraph of spec.description) {
    lines.push(...wrap(paragraph, 78), '')
  }

  const entries = Object.entries({ ...spec.options, ...COMMON_OPTIONS }).map(([name, o]) => {
    const flag = `${o.short != null ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`
    const notes = [o.multiple === true ? 'repeatable' : '', o.defaultText != null ? `default ${o.defaultText}` : ''].filter(n => n !== '')
    return { flag, text: o.description + (notes.length > 0 ? ` (${notes.join('; ')})` : '') }
  })
  const width = Math.min(30, Math.max(...entries.map(e => e.flag.length)) + 2)

  lines.push('Options:')
  for (const { flag, text } of entries) {
    const wrapped = wrap(text, 78 - width - 2)
    lines.push(`  ${flag.padEnd(width)}${wrapped[0]}`)
    if (flag.length >= width) {
      // the flag took the room of the text column: the text goes below it
      lines[lines.length - 1] = `  ${flag}`
      lines.push(...wrapped.map(w => `  ${''.padEnd(width)}${w}`))
    } else {
      lines.push(...wrapped.slice(1).map(w => `  ${''.padEnd(width)}${w}`))
    }
  }

  if (spec.examples != null && spec.examples.length > 0) {
    lines.push('', 'Examples:')
    lines.push(...spec.examples.map(e => `  ${PROGRAM} ${spec.name} ${e}`.trimEnd()))
  }

  return lines.join('\n') + '\n'
}

/**
 * The help text of the program: the commands and how to get their help
 */
export function formatProgramHelp (commands: ReadonlyArray<Pick<CommandSpec, 'name' | 'summary'>>): string {
  const width = Math.max(...commands.map(c => c.name.length)) + 2
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Try direct UDP connections between peers behind NATs (libp2p, hole punching over a circuit relay).',
    '',
    'Commands:',
    ...commands.map(c => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    `Run \`${PROGRAM} <command> --help\` for the options of a command. Ctrl-C cancels any command.`,
    ''
  ].join('\n')
}

/** greedy word wrap to `width` columns */
export function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''

  for (const word of text.split(/\s+/).filter(w => w !== '')) {
    if (line === '') {
      line = word
    } else if (line.length + 1 + word.length <= width) {
      line += ' ' + word
    } else {
      lines.push(line)
      line = word
    }
  }

  lines.push(line)
  return lines
}

// ---------------------------------------------------------------------------
// value converters: each throws UsageError naming the option and the fix
// ---------------------------------------------------------------------------

/** the values of a repeatable string option (none when absent) */
export function stringList (values: ParsedCommand['values'], name: string): string[] {
  const value = values[name]
  if (value == null || typeof value === 'boolean') {
    return []
  }
  return Array.isArray(value) ? value : [value]
}

/** a single string option, or undefined */
export function stringValue (values: ParsedCommand['values'], name: string): string | undefined {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

export function booleanValue (values: ParsedCommand['values'], name: string): boolean {
  return values[name] === true
}

export interface HostPort {
  /** an IP address (no brackets) or a DNS name */
  host: string
  port: number
}

/**
 * `host:port`, `1.2.3.4:3478` or `[2001:db8::1]:3478` (a port is required)
 */
export function parseHostPort (text: string, option: string): HostPort {
  const bracketed = text.match(/^\[([0-9a-fA-F:.]+)\]:(\d+)$/)
  const plain = text.match(/^([^:[\]\s]+):(\d+)$/)
  const match = bracketed ?? plain

  if (match == null) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: give host:port, e.g. stun.example.org:3478, 203.0.113.7:4001 or [2001:db8::7]:4001`)
  }

  return { host: match[1], port: parsePort(match[2], option) }
}

/** a port number 0-65535 (0 = any free port) */
export function parsePort (text: string, option: string, options: { allowZero?: boolean } = {}): number {
  const port = Number(text)

  if (!/^\d+$/.test(text) || port > 65535 || (port === 0 && options.allowZero !== true)) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: give a port number 1-65535${options.allowZero === true ? ' (or 0 for any free port)' : ''}`)
  }

  return port
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3
}

/**
 * A byte count: `65536`, `64k`, `8M`, `8MiB`, `10MB` (k/M/G are binary, KB/MB/GB decimal)
 */
export function parseByteSize (text: string, option: string, max: number): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/)
  const unit = match != null ? BYTE_UNITS[match[2].toLowerCase()] : undefined

  if (match == null || unit == null) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: give a size such as 65536, 64k, 8M or 8MiB`)
  }

  const bytes = Math.round(Number(match[1]) * unit)

  if (bytes > max) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: at most ${max} bytes`)
  }

  return bytes
}

/** a whole number in [min, max] */
export function parseCount (text: string, option: string, min: number, max: number): number {
  const n = Number(text)

  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: give a whole number from ${min} to ${max}`)
  }

  return n
}

/** seconds (decimals allowed) as ms, in (0, maxSeconds] */
export function parseSeconds (text: string, option: string, maxSeconds: number): number {
  const n = Number(text)

  if (!/^\d+(\.\d+)?$/.test(text) || n <= 0 || n > maxSeconds) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: give seconds, more than 0 and at most ${maxSeconds}`)
  }

  return Math.round(n * 1000)
}
