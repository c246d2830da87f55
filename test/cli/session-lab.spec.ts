/* eslint-disable no-console */
/*
 * `relay`, `listen` and `dial` end to end in the NAT lab, as users run
 * them on three machines: the relay on the internet (one IP, no STUN
 * configuration anywhere), `listen` behind one NAT, `dial` behind another.
 * "Direct" is judged from the NAT router's conntrack table, not from what
 * the tool says.
 *
 * Needs root (skips without it, fails under CI=true).
 */

import { expect } from 'aegir/chai'
import { hasDirectFlow } from '../../demo/lab-driver.ts'
import { Lab } from '../../src/lab/index.ts'
import { requireRootOrSkip } from '../lab/helpers/require-root.ts'
import { CliProcess, cliArgv, jsonLines } from './cli-process.ts'
import type { LabHost } from '../../src/lab/index.ts'

/** the relay's default data limit per relayed connection (circuit-relay-v2: 128 KiB) */
const RELAY_DATA_LIMIT = 1 << 17

/** is `want` a subsequence of `steps`? */
function inOrder (steps: readonly string[], want: readonly string[]): boolean {
  let i = 0
  for (const step of steps) {
    if (step === want[i]) {
      i++
    }
  }
  return i === want.length
}

async function dial (host: LabHost, args: string[]): Promise<{ code: number | null, events: any[], stdout: string, stderr: string }> {
  const result = await host.exec(cliArgv(['dial', ...args]), { timeoutMs: 90_000 })
  return { code: result.code, events: jsonLines(result.stdout.split('\n')), stdout: result.stdout, stderr: result.stderr }
}

describe('cli: relay, listen and dial between two NATs in the lab', function () {
  this.timeout(3 * 60_000)
  let lab: Lab | undefined
  const processes: CliProcess[] = []
  let relayAddr: string
  /** `listen` behind a port-restricted NAT, and behind a random symmetric one */
  let cone: CliProcess
  let random: CliProcess
  let coneCircuit: string
  let randomCircuit: string

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: [
        { name: 'pr', nat: 'port-restricted' },
        { name: 'sq', nat: 'symmetric-seq' },
        { name: 'ra', nat: 'symmetric-random' },
        { name: 'rb', nat: 'symmetric-random' }
      ],
      publicHosts: ['relay']
    })

    const relayHost = lab.host('relay')
    const relay = new CliProcess(relayHost, ['relay', '--json', '--ip', relayHost.ip])
    processes.push(relay)
    const ready = await relay.event(e => e.event === 'relay')
    relayAddr = (ready.addresses as string[]).find(a => a.startsWith(`/ip4/${relayHost.ip}/tcp/4001/p2p/`)) as string
    expect(relayAddr, JSON.stringify(ready.addresses)).to.be.a('string')
    expect(ready.udx).to.have.members([`${relayHost.ip}:4001`, `${relayHost.ip}:4002`])

    cone = new CliProcess(lab.host('pr1'), ['listen', '--json', '--relay', relayAddr])
    random = new CliProcess(lab.host('ra1'), ['listen', '--json', '--relay', relayAddr])
    processes.push(cone, random)
    const [coneReady, randomReady] = await Promise.all([cone.event(e => e.event === 'listening'), random.event(e => e.event === 'listening')])
    coneCircuit = coneReady.circuits[0]
    randomCircuit = randomReady.circuits[0]
    expect(coneCircuit).to.equal(`${relayAddr}/p2p-circuit/p2p/${coneReady.peerId as string}`)
  })

  after(async () => {
    const exits = await Promise.allSettled(processes.map(async p => p.interrupt()))
    await lab?.destroy()
    // relay and listen stop cleanly on Ctrl-C
    for (const exit of exits) {
      if (exit.status === 'fulfilled' && exit.value.code !== 0) {
        console.log(`      a relay or listen process exited with ${JSON.stringify(exit.value)}`)
      }
    }
  })

  it('dial behind a symmetric NAT gets a direct connection to listen behind a port-restricted one, shows the timeline, then RTT and throughput', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }

    const result = await dial(lab.host('sq1'), ['--json', '--bytes', '2M', coneCircuit])
    expect(result.code, result.stderr).to.equal(0)

    const steps = result.events.filter(e => e.event === 'progress').map(e => e.step)
    console.log(`      timeline: ${steps.join(' → ')}`)
    // whoever starts the punch (our connect() or the listener's background
    // upgrade, a race): relayed, an offer, probes, a path, direct
    expect(inOrder(steps, ['hole-punch:dial-relay', 'relayed-connection', 'punch:path-found', 'hole-punch:upgrade', 'hole-punch:direct']), steps.join(' ')).to.be.true()
    expect(inOrder(steps, ['hole-punch:offer', 'hole-punch:plan', 'punch:path-found']) || inOrder(steps, ['peer-offer', 'punch:path-found']), steps.join(' ')).to.be.true()
    expect(steps.filter(s => s === 'hole-punch:offer' || s === 'peer-offer'), steps.join(' ')).to.have.length(1)

    const connected = result.events.find(e => e.event === 'connected')
    expect(connected).to.include({ direct: true })
    expect(connected.remoteAddr).to.include(`/ip4/${lab.site('pr').publicIp}/udp/`)
    expect(connected.strategy).to.be.a('string')

    const rtt = result.events.find(e => e.event === 'rtt')
    expect(rtt.samples).to.equal(10)
    expect(rtt.minMs).to.be.a('number').and.be.at.most(rtt.maxMs)
    const throughput = result.events.find(e => e.event === 'throughput')
    expect(throughput.bytes).to.equal(2 * 1024 * 1024)
    expect(throughput).to.not.have.property('limitedBy')
    expect(result.events.at(-1)).to.include({ event: 'done', direct: true })

    // the network agrees: site sq's NAT holds a udx flow with site pr
    expect(await hasDirectFlow(lab, 'sq', lab.site('pr').publicIp)).to.be.true()

    // the listener printed the connection as relayed, then direct, and echoed everything
    // the dialer, as the listener sees it
    const peer = connected.self
    await cone.event(e => e.event === 'echo' && e.peer === peer && e.bytes === 2 * 1024 * 1024)
    const events = cone.events().filter(e => e.peer === peer)
    expect(events.some(e => e.event === 'connection' && e.relayed === true)).to.be.true()
    const direct = events.find(e => e.event === 'direct')
    expect(direct, JSON.stringify(events)).to.not.be.undefined()
    expect(direct.strategy).to.equal(connected.strategy)
    expect(direct.remoteAddr).to.include(`/ip4/${lab.site('sq').publicIp}/udp/`)
    expect(events.filter(e => e.event === 'echo').every(e => e.relayed === false)).to.be.true()
  })

  it('dial between two random symmetric NATs stays relayed, says why, and measures within the relay\'s data limit (or fails with --no-fallback)', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }

    const result = await dial(lab.host('rb1'), ['--json', randomCircuit])
    expect(result.code, result.stderr).to.equal(0)

    const steps = result.events.filter(e => e.event === 'progress').map(e => e.step)
    console.log(`      timeline: ${steps.join(' → ')}`)
    expect(steps).to.include('hole-punch:fallback')
    expect(steps).to.not.include('hole-punch:direct')

    const connected = result.events.find(e => e.event === 'connected')
    expect(connected).to.include({ direct: false })
    expect(connected.remoteAddr).to.include('/p2p-circuit')
    expect(connected.reason).to.be.a('string')

    expect(result.events.find(e => e.event === 'rtt').samples).to.equal(10)
    // a quarter of what the relay still allows on the connection
    const throughput = result.events.find(e => e.event === 'throughput')
    expect(throughput.bytes).to.be.above(0).and.at.most(RELAY_DATA_LIMIT / 4)
    expect(throughput.limitedBy).to.include('relayed')

    expect(await hasDirectFlow(lab, 'rb', lab.site('ra').publicIp)).to.be.false()

    const peer = connected.self
    await random.event(e => e.event === 'echo' && e.peer === peer && e.bytes === throughput.bytes)
    expect(random.events('echo').filter(e => e.peer === peer).every(e => e.relayed === true)).to.be.true()

    // with --no-fallback the same pair is a failure, and says why
    const strict = await dial(lab.host('rb1'), ['--no-fallback', randomCircuit])
    expect(strict.code).to.equal(1)
    expect(strict.stderr).to.match(/^error: No direct connection: (PunchFailedError|PunchAbortedByPeerError): /m)
  })

  it('Ctrl-C cancels a dial while it runs: it says so and exits with 130', async () => {
    if (lab == null) {
      throw new Error('no lab')
    }

    // text output; the transfer (1 GiB) would outlast the test if the signal did nothing
    // (the signal lands while it punches, or while it measures: both must stop)
    const proc = new CliProcess(lab.host('sq1'), ['dial', '--bytes', '1G', coneCircuit])
    let exit
    try {
      await proc.proc.waitForLine(/relayed connection open/, { timeoutMs: 30_000 })
      exit = await proc.interrupt(20_000)
    } finally {
      await proc.proc.kill()
    }

    expect(exit, proc.stderr()).to.deep.equal({ code: 130, signal: null })
    expect(proc.stderr()).to.include('cancelled')
  })
})
