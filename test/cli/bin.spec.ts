/*
 * The CLI as a process on this machine (no NAT lab, no root): its entry
 * file runs from source, and relay, listen and dial work together on
 * loopback. Direct connections through NATs are tested in the lab
 * (session-lab.spec.ts).
 */

import { expect } from 'aegir/chai'
import { LocalCli, runCliHere } from './cli-process.ts'

describe('cli: the process', function () {
  this.timeout(90_000)
  const started: LocalCli[] = []

  afterEach(async () => {
    await Promise.all(started.splice(0).map(async p => p.interrupt()))
  })

  it('prints the help and exits 0; an unknown command exits 2', async () => {
    const help = await runCliHere(['--help'])
    expect(help.code, help.stderr).to.equal(0)
    expect(help.stdout).to.match(/^Usage: libp2p-udp-holepunch <command> \[options\]/)

    const wrong = await runCliHere(['punch'])
    expect(wrong.code).to.equal(2)
    expect(wrong.stderr).to.include('unknown command "punch"')
  })

  it('relay, listen and dial work together on loopback: dial measures RTT and throughput over the echo of listen', async () => {
    const relay = new LocalCli(['relay', '--json', '--ip', '127.0.0.1', '--port', '0'])
    started.push(relay)
    const relayReady = await relay.event(e => e.event === 'relay')
    expect(relayReady.udx).to.have.length(2)
    const relayAddr = relayReady.addresses.find((a: string) => a.includes('/tcp/'))

    const listen = new LocalCli(['listen', '--json', '--relay', relayAddr])
    started.push(listen)
    const listening = await listen.event(e => e.event === 'listening')
    expect(listening.circuits[0]).to.equal(`${relayAddr as string}/p2p-circuit/p2p/${listening.peerId as string}`)

    const dial = await runCliHere(['dial', '--json', '--bytes', '256k', '--rtt-count', '5', listening.circuits[0]], 60_000)
    expect(dial.code, dial.stderr).to.equal(0)
    const events = dial.stdout.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l))
    const connected = events.find(e => e.event === 'connected')
    expect(connected.peer).to.equal(listening.peerId)
    expect(events.find(e => e.event === 'rtt').samples).to.equal(5)
    // over a relayed connection only a quarter of the relay's 128 KiB data limit
    const bytes = connected.direct === true ? 256 * 1024 : 32 * 1024
    expect(events.find(e => e.event === 'throughput').bytes).to.equal(bytes)
    expect(events.at(-1)).to.deep.include({ event: 'done' })

    const echoed = await listen.event(e => e.event === 'echo' && e.peer === connected.self && e.bytes === bytes)
    expect(echoed.relayed).to.equal(!(connected.direct as boolean))

    // both stop cleanly on Ctrl-C
    expect(await listen.interrupt()).to.deep.equal({ code: 0, signal: null })
    expect(await relay.interrupt()).to.deep.equal({ code: 0, signal: null })
  })
})
