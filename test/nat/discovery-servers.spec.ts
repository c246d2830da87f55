/**
 * NAT discovery with the STUN sources a node has without RFC 5780 servers:
 * plain servers, one server on one IP with two ports (our
 * installStunServers on a one-address node, bound to that address or to
 * 0.0.0.0), and a mix with an RFC 5780 server. Real sockets on 127.0.0.1,
 * with fake NATs in front of the client (test/nat/fake-nat-socket.ts).
 */

import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { discoverNat } from '../../src/nat/discovery/discover.ts'
import { StunClient } from '../../src/nat/stun/client.ts'
import { TransactionPacer } from '../../src/nat/stun/pacer.ts'
import { installStunServers } from '../../src/nat/stun/server-set.ts'
import { StunServer } from '../../src/nat/stun/server.ts'
import { bindSquare, requireBindable, SECOND_LOOPBACK } from '../fixtures/loopback.ts'
import { DgramSocket } from './dgram-socket.ts'
import { FakeConeNatSocket, FakeSymmetricNatSocket } from './fake-nat-socket.ts'
import type { DiscoverNatOptions } from '../../src/nat/discovery/discover.ts'
import type { StunServerAddress } from '../../src/nat/stun/client.ts'
import type { DatagramSocket } from '../../src/socket/datagram-socket.ts'

const components = { logger: defaultLogger() }
const fastClient = { rto: 20, pacer: new TransactionPacer({ perSecond: 1000 }) }
const NAT_LOCAL = { host: '10.0.0.2', port: 5000, family: 4 as const }

describe('nat/discovery with plain servers and one IP with two ports', function () {
  this.timeout(20_000)

  let closers: Array<() => Promise<void> | void>

  beforeEach(() => { closers = [] })

  afterEach(async () => {
    for (const close of closers.reverse()) {
      await close()
    }
  })

  async function bind (host = '127.0.0.1', port = 0): Promise<DgramSocket> {
    const s = await DgramSocket.bind(host, port)
    closers.push(async () => { await s.close() })
    return s
  }

  function stunClient (socket: DatagramSocket): StunClient {
    const client = new StunClient(components, { socket, ...fastClient })
    closers.push(() => { client.close() })
    return client
  }

  /** a plain StunServer on its own socket */
  async function plainServer (host = '127.0.0.1'): Promise<StunServerAddress> {
    const socket = await bind(host)
    const server = new StunServer(components, { socket })
    server.start()
    closers.push(() => { server.stop() })
    return socket.address()
  }

  /** installStunServers on `sockets`, as a node does on its udx sockets */
  function serverSet (sockets: DgramSocket[]): ReturnType<typeof installStunServers> {
    const set = installStunServers(sockets, components)
    closers.push(() => { set.stop() })
    return set
  }

  /**
   * Fresh sockets behind the same fake NAT as the main socket (or plain
   * loopback sockets without one), counted, all closed at the end
   */
  function freshSockets<S extends DatagramSocket & { close(): Promise<void> }> (make: (n: number) => S | Promise<S>): DiscoverNatOptions<S> & { open: Set<S>, opened(): number } {
    const open = new Set<S>()
    let opened = 0

    return {
      open,
      opened: () => opened,
      openSocket: async () => {
        const s = await make(opened++)
        open.add(s)
        return s
      },
      closeSocket: async s => {
        open.delete(s)
        await s.close()
      },
      logger: components.logger,
      freshClient: fastClient
    }
  }

  function coneNat (filtering: 'EIF' | 'ADF' | 'APDF', portCounter?: { next: number }): FakeConeNatSocket {
    const nat = new FakeConeNatSocket(NAT_LOCAL, { filtering, portCounter })
    closers.push(async () => { await nat.close() })
    return nat
  }

  function symmetricNat (portCounter: { next: number }): FakeSymmetricNatSocket {
    const nat = new FakeSymmetricNatSocket(NAT_LOCAL, { portCounter })
    closers.push(async () => { await nat.close() })
    return nat
  }

  function randomPortCounter (): { next: number } {
    return { next: 20_000 + Math.floor(Math.random() * 30_000) }
  }

  const summary = (steps: Array<{ step: { id: string }, status: string }>): string[] => steps.map(s => `${s.step.id}:${s.status}`)

  describe('two plain servers (two ports of 127.0.0.1)', () => {
    it('without a NAT: public, EIM from the two observers, preserving, filtering unknown', async () => {
      const servers = [await plainServer(), await plainServer()]
      const fresh = freshSockets(async () => DgramSocket.bind('127.0.0.1'))
      const { profile, observations, filtering } = await discoverNat<DgramSocket>(stunClient(await bind()), servers, fresh)

      expect(observations.filter(o => o.freshSocket !== true)).to.have.length(2)
      expect(profile).to.deep.include({ reachability: 'public', mapping: 'EIM', filtering: 'unknown' })
      expect(profile.allocation).to.deep.equal({ kind: 'preserving' })
      // neither can change its port: 420, no filtering verdict
      expect(filtering.map(f => [f.changeIpAndPort, f.changePort])).to.deep.equal([['unsupported', 'unsupported'], ['unsupported', 'unsupported']])
      expect(fresh.open.size).to.equal(0)
    })

    it('behind a sequential symmetric NAT: APDM (one IP, two ports saw two mappings) and the delta from fresh sockets', async () => {
      const servers = [await plainServer(), await plainServer()]
      const counter = randomPortCounter()
      const fresh = freshSockets(n => new FakeSymmetricNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { portCounter: counter }))
      const { profile, steps } = await discoverNat(stunClient(symmetricNat(counter)), servers, fresh)

      expect(summary(steps).filter(s => s.includes('allocation/'))).to.deep.equal([0, 1, 2, 3, 4].map(k => `allocation/${k}:ok`))
      expect(profile).to.deep.include({ reachability: 'private', mapping: 'APDM', filtering: 'unknown' })
      expect(profile.allocation).to.deep.include({ kind: 'sequential', delta: 1 })
      expect(fresh.open.size).to.equal(0)
    })

    it('behind a cone NAT: EIM, sequential allocation from fresh sockets', async () => {
      const servers = [await plainServer(), await plainServer()]
      const counter = randomPortCounter()
      const fresh = freshSockets(n => new FakeConeNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { filtering: 'APDF', portCounter: counter }))
      const { profile } = await discoverNat(stunClient(coneNat('APDF', counter)), servers, fresh)

      expect(profile).to.deep.include({ reachability: 'private', mapping: 'EIM' })
      expect(profile.allocation).to.deep.include({ kind: 'sequential', delta: 1 })
    })

    it('one plain server alone gives no mapping verdict', async () => {
      const { profile } = await discoverNat(stunClient(symmetricNat(randomPortCounter())), [await plainServer()])

      expect(profile).to.deep.include({ reachability: 'private', mapping: 'unknown' })
      expect(profile.publicAddresses).to.have.length(1)
    })
  })

  describe('one IP with two ports (installStunServers on two sockets of 127.0.0.1)', () => {
    const cases: Array<{ nat: string, filtering: 'EIF' | 'ADF' | 'APDF' | 'symmetric', expected: { mapping: string, filtering: string, allocation: string }, filteringIII: string }> = [
      // test II cannot run on one IP: EIF looks like ADF, the safer verdict
      { nat: 'full cone', filtering: 'EIF', expected: { mapping: 'EIM', filtering: 'ADF', allocation: 'sequential' }, filteringIII: 'ok' },
      { nat: 'restricted cone', filtering: 'ADF', expected: { mapping: 'EIM', filtering: 'ADF', allocation: 'sequential' }, filteringIII: 'ok' },
      { nat: 'port-restricted cone', filtering: 'APDF', expected: { mapping: 'EIM', filtering: 'APDF', allocation: 'sequential' }, filteringIII: 'timeout' },
      { nat: 'sequential symmetric', filtering: 'symmetric', expected: { mapping: 'APDM', filtering: 'APDF', allocation: 'sequential' }, filteringIII: 'timeout' }
    ]

    cases.forEach(({ nat, filtering, expected, filteringIII }) => {
      it(`${nat}: ${expected.mapping}, ${expected.filtering}, ${expected.allocation}, from one configured address`, async () => {
        const [a, b] = [await bind(), await bind()]
        const set = serverSet([a, b])
        expect(set.servers.map(s => s.mode)).to.deep.equal(['change-port', 'change-port'])
        const counter = randomPortCounter()
        const fresh = freshSockets<FakeConeNatSocket | FakeSymmetricNatSocket>(n => filtering === 'symmetric'
          ? new FakeSymmetricNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { portCounter: counter })
          : new FakeConeNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { filtering, portCounter: counter }))
        const main = filtering === 'symmetric' ? symmetricNat(counter) : coneNat(filtering, counter)
        const { profile, steps } = await discoverNat<DatagramSocket>(stunClient(main), [a.address()], fresh)

        expect(summary(steps)).to.deep.equal([
          '0/mapping-I:ok',
          'allocation/0:ok', 'allocation/1:ok', 'allocation/2:ok', 'allocation/3:ok', 'allocation/4:ok',
          '0/filtering-II:unsupported', `0/filtering-III:${filteringIII}`,
          // the other IP is ours: mapping-II and -IV repeat I and III
          '0/mapping-II:skipped', '0/mapping-III:ok', '0/mapping-IV:skipped'
        ])
        expect(profile).to.deep.include({ reachability: 'private', mapping: expected.mapping, filtering: expected.filtering })
        expect(profile.allocation).to.deep.include({ kind: expected.allocation, delta: 1 })
        expect(fresh.opened()).to.equal(6)
        expect(fresh.open.size).to.equal(0)
      })
    })

    it('without a NAT: public, EIM, ADF (test II unsupported), preserving', async () => {
      const [a, b] = [await bind(), await bind()]
      serverSet([a, b])
      const fresh = freshSockets(async () => DgramSocket.bind('127.0.0.1'))
      const { profile } = await discoverNat<DgramSocket>(stunClient(await bind()), [a.address()], fresh)

      expect(profile).to.deep.include({ reachability: 'public', mapping: 'EIM', filtering: 'ADF' })
      expect(profile.allocation).to.deep.equal({ kind: 'preserving' })
    })

    it('both ports given as two servers: each address asked once from the main socket', async () => {
      const [a, b] = [await bind(), await bind()]
      serverSet([a, b])
      const counter = randomPortCounter()
      const fresh = freshSockets(n => new FakeSymmetricNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { portCounter: counter }))
      const main = symmetricNat(counter)
      const { profile, steps } = await discoverNat(stunClient(main), [a.address(), b.address()], fresh)

      expect(summary(steps).filter(s => s.includes('/mapping-'))).to.deep.equal([
        '0/mapping-I:ok', '1/mapping-I:ok',
        '0/mapping-II:skipped', '0/mapping-III:skipped', '0/mapping-IV:skipped',
        '1/mapping-II:skipped', '1/mapping-III:skipped', '1/mapping-IV:skipped'
      ])
      // the main socket made one mapping per port
      expect(main.mappings.size).to.equal(2)
      expect(profile).to.deep.include({ mapping: 'APDM', filtering: 'APDF' })
      expect(profile.allocation).to.deep.include({ kind: 'sequential', delta: 1 })
    })

    it('on the main socket alone, a filtering test whose answer port the main socket has already sent to is refused', async () => {
      const [a, b] = [await bind(), await bind()]
      serverSet([a, b])
      const { profile, steps } = await discoverNat(stunClient(coneNat('APDF')), [a.address(), b.address()])

      expect(summary(steps).filter(s => s.includes('filtering'))).to.deep.equal([
        '0/filtering-II:unsupported', '0/filtering-III:timeout',
        '1/filtering-II:unsupported', '1/filtering-III:unsupported'
      ])
      expect(steps.find(s => s.step.id === '1/filtering-III')?.reason).to.match(/already sent/)
      // the second server's first request waited: its port-filter test would otherwise read ADF
      expect(profile).to.deep.include({ mapping: 'EIM', filtering: 'APDF' })
    })
  })

  describe('one IP with two ports on sockets bound to 0.0.0.0', () => {
    const cases: Array<{ filtering: 'ADF' | 'APDF', expected: string, filteringIII: string }> = [
      { filtering: 'ADF', expected: 'ADF', filteringIII: 'ok' },
      { filtering: 'APDF', expected: 'APDF', filteringIII: 'timeout' }
    ]

    cases.forEach(({ filtering, expected, filteringIII }) => {
      it(`answers change-port without OTHER-ADDRESS; a client that knows both ports runs the port-filtering test (${filtering})`, async () => {
        const [a, b] = [await bind('0.0.0.0'), await bind('0.0.0.0')]
        const set = serverSet([a, b])
        expect(set.servers.map(s => [s.mode, s.otherAddress])).to.deep.equal([['change-port', undefined], ['change-port', undefined]])
        // the addresses a peer reached us at, with our two ports
        const servers = [{ host: '127.0.0.1', port: a.address().port }, { host: '127.0.0.1', port: b.address().port }]
        const counter = randomPortCounter()
        const fresh = freshSockets(n => new FakeConeNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { filtering, portCounter: counter }))
        const { profile, steps } = await discoverNat(stunClient(coneNat(filtering, counter)), servers, fresh)

        expect(summary(steps).filter(s => s.includes('filtering'))).to.deep.equal([
          '0/filtering-II:unsupported', `0/filtering-III:${filteringIII}`,
          '1/filtering-II:unsupported', `1/filtering-III:${filteringIII}`
        ])
        expect(profile).to.deep.include({ mapping: 'EIM', filtering: expected })
        expect(fresh.open.size).to.equal(0)
      })
    })

    it('a server that ignores CHANGE-REQUEST (answers from where the request went) makes the test unsupported, not a timeout', async () => {
      const a = await bind()
      const ignoring = new StunServer(components, { socket: a, alternates: { changePort: a }, otherAddress: null })
      ignoring.start()
      closers.push(() => { ignoring.stop() })
      const servers = [a.address(), await plainServer()]
      const fresh = freshSockets(async () => DgramSocket.bind('127.0.0.1'))
      const { steps, profile } = await discoverNat<DgramSocket>(stunClient(await bind()), servers, fresh)

      const test = steps.find(s => s.step.id === '0/filtering-III')
      expect(test).to.deep.include({ status: 'unsupported' })
      expect(test?.reason).to.match(/ignored CHANGE-REQUEST/)
      expect(steps.find(s => s.step.id === '1/filtering-III')).to.deep.include({ status: 'unsupported' })
      expect(profile.filtering).to.equal('unknown')
    })
  })

  describe('mixed with an RFC 5780 server', () => {
    it('a plain server adds an observer; the RFC 5780 server gives the filtering', async function () {
      await requireBindable(this, SECOND_LOOPBACK)
      const square = await bindSquare(async (host, port) => DgramSocket.bind(host, port))
      square.forEach(s => closers.push(async () => { await s.close() }))
      const set = serverSet(square)
      expect(set.servers.map(s => s.mode)).to.deep.equal(['rfc5780', 'rfc5780', 'rfc5780', 'rfc5780'])
      const plain = await plainServer(SECOND_LOOPBACK)
      const counter = randomPortCounter()
      const fresh = freshSockets(n => new FakeConeNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { filtering: 'APDF', portCounter: counter }))
      const { profile, observations, filtering } = await discoverNat(stunClient(coneNat('APDF', counter)), [plain, square[0].address()], fresh)

      // the main socket's observers: the plain server and the four corners
      expect(new Set(observations.filter(o => o.freshSocket !== true).map(o => `${o.observer.host}:${o.observer.port}`)).size).to.equal(5)
      expect(filtering.map(f => [f.changeIpAndPort, f.changePort])).to.deep.equal([['unsupported', 'unsupported'], ['timeout', 'timeout']])
      expect(profile).to.deep.include({ reachability: 'private', mapping: 'EIM', filtering: 'APDF' })
      expect(profile.allocation).to.deep.include({ kind: 'sequential', delta: 1 })
    })

    it('a symmetric NAT seen by a plain server and an RFC 5780 server: APDM', async function () {
      await requireBindable(this, SECOND_LOOPBACK)
      const square = await bindSquare(async (host, port) => DgramSocket.bind(host, port))
      square.forEach(s => closers.push(async () => { await s.close() }))
      serverSet(square)
      const plain = await plainServer()
      const counter = randomPortCounter()
      const fresh = freshSockets(n => new FakeSymmetricNatSocket({ ...NAT_LOCAL, port: 5001 + n }, { portCounter: counter }))
      const { profile } = await discoverNat(stunClient(symmetricNat(counter)), [square[0].address(), plain], fresh)

      expect(profile).to.deep.include({ mapping: 'APDM', filtering: 'APDF' })
      expect(profile.allocation).to.deep.include({ kind: 'sequential', delta: 1 })
    })
  })
})
