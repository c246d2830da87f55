import { expect } from 'aegir/chai'
import { EXIT_CANCELLED, EXIT_OK, EXIT_USAGE } from '../../src/cli/io.ts'
import { runCli } from '../../src/cli/main.ts'

async function run (argv: string[], signal = new AbortController().signal): Promise<{ code: number, out: string, err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(argv, { out: line => out.push(line), err: line => err.push(line), signal })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

describe('cli: commands and exit codes', function () {
  this.timeout(30_000)

  it('prints the program help for --help (exit 0) and for nothing at all (exit 2)', async () => {
    const help = await run(['--help'])
    expect(help.code).to.equal(EXIT_OK)
    for (const name of ['nat', 'relay', 'listen', 'dial']) {
      expect(help.out).to.match(new RegExp(`^ {2}${name} `, 'm'))
    }
    expect((await run([])).code).to.equal(EXIT_USAGE)
  })

  for (const name of ['nat', 'relay', 'listen', 'dial']) {
    it(`prints the help of ${name} for \`${name} --help\` and \`help ${name}\``, async () => {
      const a = await run([name, '--help'])
      const b = await run(['help', name])
      expect(a.code).to.equal(EXIT_OK)
      expect(a.out).to.match(new RegExp(`^Usage: libp2p-udp-holepunch ${name} `))
      expect(a.out).to.include('--help')
      expect(b.out).to.equal(a.out)
    })
  }

  const usage: Array<[string[], RegExp]> = [
    [['punch'], /unknown command "punch": use one of nat, relay, listen, dial/],
    [['nat', '--bogus'], /unknown option --bogus/],
    [['nat', '--stun', 'stun.example.org'], /--stun "stun.example.org": give host:port/],
    [['nat', '--relay', '/ip4/198.51.100.7/tcp/4001'], /has no \/p2p\/<peer id>/],
    [['nat', '--timeout', 'soon'], /--timeout "soon"/],
    [['dial'], /dial takes <multiaddr> \(none given\)/],
    [['dial', 'not-a-multiaddr'], /"not-a-multiaddr" is not a multiaddr/],
    [['dial', '/ip4/1.2.3.4/tcp/1', '--bytes', 'lots'], /has no \/p2p\/<peer id>|--bytes/],
    [['listen'], /listen needs --relay <multiaddr>/],
    [['relay', '--ip', 'example.org'], /--ip "example.org": give an IP address/],
    [['relay', '--port', '4001', '--stun-port', '4001'], /must differ from --port/]
  ]

  for (const [argv, message] of usage) {
    it(`exits 2 with what to type instead for \`${argv.join(' ')}\``, async () => {
      const result = await run(argv)
      expect(result.code).to.equal(EXIT_USAGE)
      expect(result.err).to.match(message)
    })
  }

  it('`nat` with nothing to learn from reports no STUN source and says what to configure', async () => {
    const result = await run(['nat', '--json', '--no-port-mapping'])
    expect(result.code, result.err).to.equal(EXIT_OK)

    const report = JSON.parse(result.out)
    expect(report).to.deep.include({ reachability: 'unknown', mapping: 'unknown', stunSources: [], relays: [], portMapped: false })
    expect(report.advice).to.include({ usable: false, code: 'no-stun-servers' })
    expect(report.portMapping).to.deep.equal({ status: 'not-checked', protocols: [], reason: '--no-port-mapping' })
    expect(result.err).to.include('no STUN server known')
  })

  it('stops a command whose signal fires and exits 130 (Ctrl-C)', async () => {
    const controller = new AbortController()
    controller.abort()
    const result = await run(['nat'], controller.signal)

    expect(result.code).to.equal(EXIT_CANCELLED)
    expect(result.err).to.match(/^cancelled$/m)
    expect(result.out).to.equal('')
  })
})
