import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { StunClient } from '../../src/nat/stun/client.ts'
import { TransactionPacer } from '../../src/nat/stun/pacer.ts'
import { installStunServers } from '../../src/nat/stun/server-set.ts'
import { StunServer } from '../../src/nat/stun/server.ts'
import { bindSquare, requireBindable, SECOND_LOOPBACK } from '../fixtures/loopback.ts'
import { DgramSocket } from './dgram-socket.ts'

const components = { logger: defaultLogger() }

describe('nat/stun installStunServers', function () {
  this.timeout(10_000)

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

  function client (socket: DgramSocket): StunClient {
    const c = new StunClient(components, { socket, rto: 20, maxTransmissions: 3, pacer: new TransactionPacer({ perSecond: 1000 }) })
    closers.push(() => { c.close() })
    return c
  }

  /**
   * 127.0.0.1 and 127.0.0.2, two ports each (same port numbers on both):
   * `[a1, a2, b1, b2]`. Without 127.0.0.2 (not Linux) the test skips, or
   * fails under CI=true.
   */
  async function square (context: Mocha.Context): Promise<DgramSocket[]> {
    await requireBindable(context, SECOND_LOOPBACK)
    const sockets = await bindSquare(async (host, port) => DgramSocket.bind(host, port))
    sockets.forEach(s => closers.push(async () => { await s.close() }))
    return sockets
  }

  it('wires two IPs x two ports as four RFC 5780 servers that announce the opposite corner', async function () {
    const sockets = await square(this)
    const [a1, a2, b1, b2] = sockets
    const set = installStunServers(sockets, components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => s.mode)).to.deep.equal(['rfc5780', 'rfc5780', 'rfc5780', 'rfc5780'])
    expect(set.servers.map(s => s.otherAddress)).to.deep.equal([b2.address(), b1.address(), a2.address(), a1.address()])

    const c = client(await bind('127.0.0.1'))

    for (const [target, changeIp, changePort, from] of [
      [a1, false, false, a1], [a1, true, true, b2], [a1, false, true, a2], [a1, true, false, b1],
      [b2, true, true, a1], [b2, false, true, b1], [a2, true, false, b2]
    ] as const) {
      const result = await c.binding(target.address(), { changeIp, changePort })
      expect(result.from, `${target.address().host}:${target.address().port} ip=${changeIp} port=${changePort}`).to.deep.include(from.address())
      expect(result.otherAddress).to.exist()
    }
  })

  it('takes over a socket that already has a plain server, and gives it back on stop()', async function () {
    const sockets = await square(this)
    const plain = new StunServer(components, { socket: sockets[0] })
    plain.start()
    closers.push(() => { plain.stop() })
    const c = client(await bind('127.0.0.1'))

    await expect(c.binding(sockets[0].address(), { changePort: true })).to.eventually.be.rejected.with.property('code', 420)

    const set = installStunServers(sockets, components)
    const result = await c.binding(sockets[0].address(), { changePort: true })
    expect(result.from).to.deep.include(sockets[1].address())

    set.stop()
    await expect(c.binding(sockets[0].address(), { changePort: true })).to.eventually.be.rejected.with.property('code', 420)
    expect((await c.binding(sockets[0].address())).otherAddress).to.equal(undefined)
  })

  it('gives a wildcard-bound socket a plain server and leaves out closed and repeated sockets', async function () {
    const sockets = await square(this)
    const wildcard = await bind('0.0.0.0')
    const closed = await bind('127.0.0.1')
    await closed.close()
    const set = installStunServers([...sockets, sockets[0], wildcard, closed], components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => s.mode)).to.deep.equal(['rfc5780', 'rfc5780', 'rfc5780', 'rfc5780', 'plain'])
    const result = await client(await bind('127.0.0.1')).binding({ host: '127.0.0.1', port: wildcard.address().port })
    expect(result.otherAddress).to.equal(undefined)
  })

  it('wires a lone socket as a plain server', async () => {
    const set = installStunServers([await bind('127.0.0.1')], components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => s.mode)).to.deep.equal(['plain'])
  })

  it('wires an incomplete set as partial servers: the CHANGE-REQUESTs they can honour, no OTHER-ADDRESS', async function () {
    // the same port on both IPs: a "change IP" pair
    const [a, , b] = await square(this)
    const set = installStunServers([a, b], components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => s.mode)).to.deep.equal(['partial', 'partial'])
    const c = client(await bind('127.0.0.1'))
    const changed = await c.binding(a.address(), { changeIp: true })
    expect(changed.from).to.deep.include(b.address())
    expect(changed.otherAddress).to.equal(undefined)
    await expect(c.binding(a.address(), { changeIp: true, changePort: true })).to.eventually.be.rejected.with.property('code', 420)
  })

  it('wires one IP x two ports as change-port servers: OTHER-ADDRESS is the other port, change IP gets 420', async () => {
    const a = await bind('127.0.0.1')
    const b = await bind('127.0.0.1')
    const set = installStunServers([a, b], components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => s.mode)).to.deep.equal(['change-port', 'change-port'])
    expect(set.servers.map(s => s.otherAddress)).to.deep.equal([b.address(), a.address()])

    const c = client(await bind('127.0.0.1'))
    const plain = await c.binding(a.address())
    expect(plain.otherAddress).to.deep.equal(b.address())
    expect(plain.responseOrigin).to.deep.equal(a.address())

    const changed = await c.binding(a.address(), { changePort: true })
    expect(changed.from).to.deep.include(b.address())
    expect(changed.responseOrigin).to.deep.equal(b.address())
    expect(changed.otherAddress).to.deep.equal(b.address())
    expect((await c.binding(b.address(), { changePort: true })).from).to.deep.include(a.address())

    for (const [changeIp, changePort] of [[true, false], [true, true]]) {
      await expect(c.binding(a.address(), { changeIp, changePort }), `ip=${changeIp} port=${changePort}`).to.eventually.be.rejected.with.property('code', 420)
    }
  })

  it('wires two wildcard-bound sockets of one family as change-port servers without OTHER-ADDRESS', async () => {
    const a = await bind('0.0.0.0')
    const b = await bind('0.0.0.0')
    const set = installStunServers([a, b], components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => [s.mode, s.otherAddress])).to.deep.equal([['change-port', undefined], ['change-port', undefined]])

    const c = client(await bind('127.0.0.1'))
    const target = { host: '127.0.0.1', port: a.address().port }
    const plain = await c.binding(target)
    expect(plain.otherAddress).to.equal(undefined)
    expect(plain.responseOrigin).to.equal(undefined)

    // the kernel sends the answer from the address the request came to
    const changed = await c.binding(target, { changePort: true })
    expect(changed.from).to.deep.include({ host: '127.0.0.1', port: b.address().port })
    await expect(c.binding(target, { changeIp: true })).to.eventually.be.rejected.with.property('code', 420)
  })

  it('pairs a wildcard-bound socket with no concrete one', async () => {
    const wildcard = await bind('0.0.0.0')
    const concrete = await bind('127.0.0.1')
    const set = installStunServers([wildcard, concrete], components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => s.mode)).to.deep.equal(['plain', 'plain'])
  })

  it('without a square, a socket with a same-IP partner is change-port, one with only other-IP partners partial', async function () {
    const [a1, a2, b1] = await square(this)
    const set = installStunServers([a1, a2, b1], components)
    closers.push(() => { set.stop() })

    expect(set.servers.map(s => s.mode)).to.deep.equal(['change-port', 'change-port', 'partial'])
    expect(set.servers.map(s => s.otherAddress)).to.deep.equal([a2.address(), a1.address(), undefined])
    const c = client(await bind('127.0.0.1'))
    // a1 also honours change IP, from b1
    expect((await c.binding(a1.address(), { changeIp: true })).from).to.deep.include(b1.address())
  })

  it('serves plain only with rfc5780: false', async function () {
    const sockets = await square(this)
    const set = installStunServers([...sockets, await bind('0.0.0.0'), await bind('0.0.0.0')], components, { rfc5780: false })
    closers.push(() => { set.stop() })
    expect(set.servers.map(s => s.mode)).to.deep.equal(['plain', 'plain', 'plain', 'plain', 'plain', 'plain'])
  })
})
