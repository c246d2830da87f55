import dgram from 'node:dgram'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { SocketPool } from '../../src/socket/socket-pool.ts'

async function portIsFree (port: number, host: string): Promise<boolean> {
  const probe = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  return new Promise<boolean>(resolve => {
    probe.once('error', () => { probe.close(); resolve(false) })
    probe.bind(port, host, () => { probe.close(() => { resolve(true) }) })
  })
}

describe('socket pool loopback sockets (for movable paths)', () => {
  let pool: SocketPool
  let handlersMade: number

  beforeEach(() => {
    pool = new SocketPool({ logger: defaultLogger() })
    handlersMade = 0
    pool.addSocketHandler(() => {
      handlersMade++
      return { name: 'test', matches: () => false, handle: () => {} }
    })
  })

  afterEach(async () => {
    await pool.close()
  })

  it('binds one per socket, on the socket\'s IP, or on 127.0.0.1 for a wildcard socket', () => {
    const specific = pool.bindExtra('127.0.0.1')
    const wildcard = pool.bindExtra('0.0.0.0')
    const handlers = handlersMade

    const a = pool.loopbackFor(specific)
    expect(pool.loopbackFor(specific)).to.equal(a)
    expect(a.address().host).to.equal('127.0.0.1')
    expect(a.address().port).to.not.equal(specific.address().port)
    expect(pool.loopbackFor(wildcard).address().host).to.equal('127.0.0.1')

    // not a socket of the pool's own: no handlers, not listed
    expect(handlersMade).to.equal(handlers)
    expect(pool.allSockets()).to.not.include(a)
  })

  it('closes with its socket and releases its port', async () => {
    const socket = pool.bindExtra('127.0.0.1')
    const loopback = pool.loopbackFor(socket)
    const port = loopback.address().port

    await pool.closeSocket(socket)

    expect(loopback.closed).to.be.true()
    expect(await portIsFree(port, '127.0.0.1')).to.be.true()
  })

  it('closes when the pool closes', async () => {
    const loopback = pool.loopbackFor(pool.bindExtra('127.0.0.1'))
    await pool.close()
    expect(loopback.closed).to.be.true()
  })
})
