import { expect } from 'aegir/chai'
import { formatCommandHelp, formatProgramHelp, parseByteSize, parseCommand, parseCount, parseHostPort, parsePort, parseSeconds, stringList, wrap } from '../../src/cli/args.ts'
import { UsageError } from '../../src/cli/errors.ts'
import type { CommandSpec } from '../../src/cli/args.ts'

const SPEC: CommandSpec = {
  name: 'demo',
  summary: 'a command for the tests',
  usage: '<target> [--relay <multiaddr>]... [--json]',
  description: ['Does nothing.'],
  positionals: ['target'],
  options: {
    relay: { type: 'string', multiple: true, valueName: 'multiaddr', description: 'a relay' },
    json: { type: 'boolean', description: 'JSON output' },
    bytes: { type: 'string', valueName: 'size', description: 'how much', defaultText: '8M' }
  },
  examples: ['x --json']
}

function usageError (fn: () => unknown): string {
  try {
    fn()
  } catch (err: any) {
    expect(err).to.be.an.instanceOf(UsageError)
    return err.message
  }
  throw new Error('expected a UsageError')
}

describe('cli: argument parsing', () => {
  it('collects repeatable options in order, booleans and the positional', () => {
    const parsed = parseCommand(SPEC, ['x', '--relay', '/a', '--json', '--relay=/b'])

    expect(parsed.help).to.be.false()
    expect(parsed.positionals).to.deep.equal(['x'])
    expect(stringList(parsed.values, 'relay')).to.deep.equal(['/a', '/b'])
    expect(parsed.values.json).to.be.true()
    expect(stringList(parsed.values, 'bytes')).to.deep.equal([])
  })

  it('--help and -h win over everything else, even a wrong command line', () => {
    expect(parseCommand(SPEC, ['--nonsense', '--help']).help).to.be.true()
    expect(parseCommand(SPEC, ['-h']).help).to.be.true()
  })

  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown option', ['x', '--nope'], /unknown option --nope/],
    ['a missing value', ['x', '--relay'], /--relay/],
    ['a missing positional', [], /demo takes <target> \(none given\)/],
    ['an extra positional', ['x', 'y'], /demo takes <target> \(got "x" "y"\)/]
  ]

  for (const [what, args, message] of cases) {
    it(`rejects ${what} with a UsageError that shows the usage line`, () => {
      const text = usageError(() => parseCommand(SPEC, args))
      expect(text).to.match(message)
      expect(text).to.include('usage: libp2p-udp-holepunch demo <target>')
    })
  }

  it('makes the help text from the spec: usage, description, options with notes, examples', () => {
    const help = formatCommandHelp(SPEC)

    expect(help).to.match(/^Usage: libp2p-udp-holepunch demo <target> \[--relay <multiaddr>\]\.\.\. \[--json\]\n/)
    expect(help).to.include('Does nothing.')
    expect(help).to.match(/--relay <multiaddr> +a relay \(repeatable\)/)
    expect(help).to.match(/--bytes <size> +how much \(default 8M\)/)
    expect(help).to.match(/-h, --help +show this help and exit/)
    expect(help).to.include('  libp2p-udp-holepunch demo x --json')
  })

  it('lists every command in the program help', () => {
    const help = formatProgramHelp([SPEC, { name: 'other', summary: 'another one' }])
    expect(help).to.match(/^ {2}demo {3}a command for the tests$/m)
    expect(help).to.match(/^ {2}other {2}another one$/m)
  })

  it('wraps text at word boundaries', () => {
    expect(wrap('aaa bbb ccc ddd', 7)).to.deep.equal(['aaa bbb', 'ccc ddd'])
    expect(wrap('averyveryverylongword x', 5)).to.deep.equal(['averyveryverylongword', 'x'])
  })
})

describe('cli: value converters', () => {
  const hostPorts: Array<[string, { host: string, port: number }]> = [
    ['stun.example.org:3478', { host: 'stun.example.org', port: 3478 }],
    ['203.0.113.7:4001', { host: '203.0.113.7', port: 4001 }],
    ['[2001:db8::7]:4001', { host: '2001:db8::7', port: 4001 }]
  ]

  for (const [text, want] of hostPorts) {
    it(`reads host:port ${text}`, () => {
      expect(parseHostPort(text, 'stun')).to.deep.equal(want)
    })
  }

  for (const text of ['stun.example.org', '2001:db8::7:4001', 'host:0', 'host:70000', ':3478', 'a b:1']) {
    it(`rejects host:port ${JSON.stringify(text)}`, () => {
      expect(usageError(() => parseHostPort(text, 'stun'))).to.include('--stun')
    })
  }

  const sizes: Array<[string, number]> = [
    ['65536', 65536],
    ['64k', 64 * 1024],
    ['8M', 8 * 1024 * 1024],
    ['8MiB', 8 * 1024 * 1024],
    ['10MB', 10_000_000],
    ['1.5k', 1536],
    ['0', 0]
  ]

  for (const [text, bytes] of sizes) {
    it(`reads the size ${text} as ${bytes} bytes`, () => {
      expect(parseByteSize(text, 'bytes', 2 ** 30)).to.equal(bytes)
    })
  }

  it('rejects sizes it cannot read or above the maximum', () => {
    expect(usageError(() => parseByteSize('lots', 'bytes', 100))).to.include('--bytes "lots"')
    expect(usageError(() => parseByteSize('8X', 'bytes', 100))).to.include('--bytes "8X"')
    expect(usageError(() => parseByteSize('1k', 'bytes', 100))).to.include('at most 100 bytes')
  })

  it('reads ports, counts and seconds within their bounds', () => {
    expect(parsePort('4001', 'port')).to.equal(4001)
    expect(parsePort('0', 'port', { allowZero: true })).to.equal(0)
    expect(usageError(() => parsePort('0', 'port'))).to.include('1-65535')
    expect(usageError(() => parsePort('65536', 'port'))).to.include('1-65535')
    expect(parseCount('10', 'rtt-count', 0, 1000)).to.equal(10)
    expect(usageError(() => parseCount('1001', 'rtt-count', 0, 1000))).to.include('0 to 1000')
    expect(usageError(() => parseCount('-1', 'rtt-count', 0, 1000))).to.include('--rtt-count')
    expect(parseSeconds('1.5', 'timeout', 600)).to.equal(1500)
    expect(usageError(() => parseSeconds('0', 'timeout', 600))).to.include('more than 0')
    expect(usageError(() => parseSeconds('601', 'timeout', 600))).to.include('at most 600')
  })
})
