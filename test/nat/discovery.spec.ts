import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { discoverNat } from '../../src/nat/discovery/discover.ts'
import { StunClient } from '../../src/nat/stun/client.ts'
import { TransactionPacer } from '../../src/nat/stun/pacer.ts'
import { StunServer } from '../../src/nat/stun/server.ts'
import { bindSquare, requireBindable, SECOND_LOOPBACK } from '../fixtures/loopback.ts'
import { DgramSocket } from './dgram-socket.ts'
import { FakeSymmetricNatSocket } from './fake-nat-socket.ts'
import type { DatagramSocket } from '../../src/socket/datagram-socket.ts'

const components = { logger: defaultLogger() }

describe('nat/discovery on loopback', function () {
  this.timeout(20_000)

  let closers: Array<() => Promise<void> | void>

  beforeEach(() => { closers = [] })

  afterEach(async () => {
    for (const close of closers.reverse()) {
      await close()
    }
  })

  async function bind (host: string, port = 0): Promise<DgramSocket> {
    const s = await DgramSocket.bind(host, port)
    closers.push(async () => { await s.close() })

    return s
  }

  function serve (socket: DgramSocket, alternates: ConstructorParameters<typeof StunServer>[1]['alternates'] = {}): void {
    const server = new StunServer(components, { socket, alternates })
    server.start()
    closers.push(() => { server.stop() })
  }

  function stunClient (socket: DatagramSocket): StunClient {
    const client = new StunClient(components, { socket, rto: 20, pacer: new TransactionPacer({ perSecond: 1000 }) })
    closers.push(() => { client.close() })

    return client
  }

  /**
   * An RFC 5780 server on 127.0.0.1 and 127.0.0.2 (Linux answers the whole
   * 127/8 on lo), two ports each. Without 127.0.0.2 (not Linux) the test
   * skips, or fails under CI=true.
   */
  async function quadServer (context: Mocha.Context): Promise<DgramSocket> {
    await requireBindable(context, SECOND_LOOPBACK)
    const sockets = await bindSquare(async (host, port) => DgramSocket.bind(host, port))
    sockets.forEach(s => closers.push(async () => { await s.close() }))
    const [a1p1, a1p2, a2p1, a2p2] = sockets

    serve(a1p1, { changePort: a1p2, changeIp: a2p1, changeIpAndPort: a2p2 })
    serve(a1p2, { changePort: a1p1, changeIp: a2p2, changeIpAndPort: a2p1 })
    serve(a2p1, { changePort: a2p2, changeIp: a1p1, changeIpAndPort: a1p2 })
    serve(a2p2, { changePort: a2p1, changeIp: a1p2, changeIpAndPort: a1p1 })

    return a1p1
  }

  it('finds no NAT on loopback: public, EIM, EIF, preserving', async function () {
    const server = await quadServer(this)
    const local = await bind('127.0.0.1')
    const { profile, steps, filtering } = await discoverNat(stunClient(local), [server.address()])

    expect(steps.map(s => `${s.step.test}:${s.status}`)).to.deep.equal([
      'mapping-I:ok', 'filtering-II:ok', 'filtering-III:ok', 'mapping-II:ok', 'mapping-III:ok', 'mapping-IV:ok'
    ])
    expect(filtering).to.have.length(1)
    expect(filtering[0]).to.deep.include({ changeIpAndPort: 'received', changePort: 'received' })
    expect(profile).to.deep.include({ reachability: 'public', mapping: 'EIM', filtering: 'EIF' })
    expect(profile.allocation).to.deep.equal({ kind: 'preserving' })
    expect(profile.publicAddresses).to.deep.equal([local.address()])
  })

  it('classifies a sequential symmetric NAT: APDM, APDF, delta 1', async function () {
    const server = await quadServer(this)
    const nat = new FakeSymmetricNatSocket({ host: '10.0.0.2', port: 5000, family: 4 }, { sequentialFrom: 20000 + Math.floor(Math.random() * 30000) })
    closers.push(async () => { await nat.close() })
    const { profile, steps, observations } = await discoverNat(stunClient(nat), [server.address()])

    expect(steps.map(s => `${s.step.test}:${s.status}`)).to.deep.equal([
      'mapping-I:ok', 'filtering-II:timeout', 'filtering-III:timeout', 'mapping-II:ok', 'mapping-III:ok', 'mapping-IV:ok'
    ])
    expect(observations).to.have.length(4)
    expect(profile).to.deep.include({ reachability: 'private', mapping: 'APDM', filtering: 'APDF' })
    expect(profile.allocation).to.have.property('kind', 'sequential')
    expect(profile.allocation).to.have.property('delta', 1)
    expect(profile.publicAddresses).to.have.length(4)
  })

  it('classifies a random symmetric NAT as random allocation', async function () {
    const server = await quadServer(this)
    const nat = new FakeSymmetricNatSocket({ host: '10.0.0.2', port: 5000, family: 4 })
    closers.push(async () => { await nat.close() })
    const { profile } = await discoverNat(stunClient(nat), [server.address()])

    expect(profile).to.deep.include({ mapping: 'APDM', filtering: 'APDF' })
    expect(profile.allocation).to.deep.equal({ kind: 'random' })
  })

  it('skips the tests a one-IP RFC 5780 server cannot run, and assumes the safer filtering', async () => {
    const a = await bind('127.0.0.1')
    const b = await bind('127.0.0.1')
    serve(a, { changePort: b })
    serve(b, { changePort: a })
    const { steps, profile } = await discoverNat(stunClient(await bind('127.0.0.1')), [a.address()])

    expect(steps.map(s => `${s.step.test}:${s.status}`)).to.deep.equal([
      'mapping-I:ok', 'filtering-II:unsupported', 'filtering-III:ok', 'mapping-II:skipped', 'mapping-III:ok', 'mapping-IV:skipped'
    ])
    // II could not run: the other-port answer got through, so at least ADF
    expect(profile).to.deep.include({ reachability: 'public', mapping: 'EIM', filtering: 'ADF' })
  })

  it('gets one observation per plain STUN server', async () => {
    const a = await bind('127.0.0.1')
    const b = await bind('127.0.0.1')
    serve(a)
    serve(b)
    const { steps, profile, filtering } = await discoverNat(stunClient(await bind('127.0.0.1')), [a.address(), b.address()])

    expect(steps.filter(s => s.status === 'ok').map(s => s.step.id)).to.deep.equal(['0/mapping-I', '1/mapping-I'])
    expect(filtering.map(f => [f.changeIpAndPort, f.changePort])).to.deep.equal([['unsupported', 'unsupported'], ['unsupported', 'unsupported']])
    expect(profile).to.deep.include({ reachability: 'public', mapping: 'EIM', filtering: 'unknown' })
  })

  it('samples port allocation from fresh sockets and runs the filtering tests on fresh sockets, closing them all', async function () {
    const server = await quadServer(this)
    const portCounter = { next: 20000 + Math.floor(Math.random() * 30000) }
    const nat = new FakeSymmetricNatSocket({ host: '10.0.0.2', port: 5000, family: 4 }, { portCounter })
    closers.push(async () => { await nat.close() })
    const open = new Set<FakeSymmetricNatSocket>()
    let opened = 0
    const { profile, steps, observations } = await discoverNat<FakeSymmetricNatSocket>(stunClient(nat), [server.address()], {
      openSocket: () => {
        const s = new FakeSymmetricNatSocket({ host: '10.0.0.2', port: 5001 + opened++, family: 4 }, { portCounter })
        open.add(s)
        return s
      },
      closeSocket: async s => { open.delete(s); await s.close() },
      logger: components.logger,
      freshClient: { rto: 20, pacer: new TransactionPacer({ perSecond: 1000 }) }
    })

    expect(steps.map(s => `${s.step.id}:${s.status}`)).to.deep.equal([
      '0/mapping-I:ok',
      'allocation/0:ok', 'allocation/1:ok', 'allocation/2:ok', 'allocation/3:ok', 'allocation/4:ok',
      '0/filtering-II:timeout', '0/filtering-III:timeout',
      '0/mapping-II:ok', '0/mapping-III:ok', '0/mapping-IV:ok'
    ])
    // 5 allocation sockets and one for the filtering tests
    expect(opened).to.equal(6)
    expect(open.size).to.equal(0)
    expect(observations.filter(o => o.freshSocket === true)).to.have.length(5)
    expect(profile).to.deep.include({ reachability: 'private', mapping: 'APDM', filtering: 'APDF' })
    expect(profile.allocation).to.deep.include({ kind: 'sequential', delta: 1 })
    // the fresh sockets' mappings are gone: not public addresses
    expect(profile.publicAddresses).to.have.length(4)
  })

  it('finds no NAT for a socket bound to 0.0.0.0 (its own addresses come from the interfaces)', async function () {
    const server = await quadServer(this)
    const local = await bind('0.0.0.0')
    const { profile } = await discoverNat<DgramSocket>(stunClient(local), [server.address()], {
      openSocket: async () => bind('0.0.0.0'),
      closeSocket: async s => { await s.close() },
      logger: components.logger,
      freshClient: { rto: 20, pacer: new TransactionPacer({ perSecond: 1000 }) }
    })

    expect(profile).to.deep.include({ reachability: 'public', mapping: 'EIM', filtering: 'EIF' })
    expect(profile.allocation).to.deep.equal({ kind: 'preserving' })
  })

  it('does not ask a server whose OTHER-ADDRESS shares its IP to change the IP', async () => {
    const a = await bind('127.0.0.1')
    const b = await bind('127.0.0.1')
    serve(a, { changePort: b })
    serve(b, { changePort: a })
    const local = await bind('127.0.0.1')
    const { steps } = await discoverNat(stunClient(local), [a.address()])

    expect(steps.find(s => s.step.test === 'filtering-II')).to.deep.include({ status: 'unsupported' })
    expect(local.sent.filter(d => d.port === a.address().port)).to.have.length(2)
  })

  it('needs a logger when it may open sockets', async () => {
    const local = await bind('127.0.0.1')
    await expect(discoverNat<DgramSocket>(stunClient(local), [local.address()], {
      openSocket: async () => bind('127.0.0.1'),
      closeSocket: async s => { await s.close() }
    })).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
  })

  it('rejects with AbortError when aborted and leaves no timer behind', async () => {
    const silent = await bind('127.0.0.1')
    const timersBefore = process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
    const controller = new AbortController()
    const running = discoverNat(stunClient(await bind('127.0.0.1')), [silent.address()], { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 30)

    await expect(running).to.eventually.be.rejected.with.property('name', 'AbortError')
    expect(process.getActiveResourcesInfo().filter(r => r === 'Timeout').length).to.equal(timersBefore)
  })
})
