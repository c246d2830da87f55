import dgram from 'node:dgram'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { RECENT_PORT_RETRIES } from '../../src/constants.ts'
import { SocketPool } from '../../src/socket/socket-pool.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import type { BoundSocket } from '../../src/socket/bound-socket.ts'

async function portIsFree (port: number): Promise<boolean> {
  const probe = dgram.createSocket('udp4')
  return new Promise<boolean>(resolve => {
    probe.once('error', () => { probe.close(); resolve(false) })
    probe.bind(port, '127.0.0.1', () => { probe.close(() => { resolve(true) }) })
  })
}

describe('socket pool', () => {
  let pool: SocketPool
  let created: BoundSocket[]
  let handlersMade: number

  beforeEach(() => {
    pool = new SocketPool({ logger: defaultLogger() })
    handlersMade = 0
    // a handler factory like the transport's, counting what it installs
    pool.addSocketHandler(() => {
      handlersMade++
      return { name: 'test', matches: () => false, handle: () => {} }
    })

    // record every socket the pool binds
    created = []
    const createSocket = (pool as any).createSocket.bind(pool)
    ;(pool as any).createSocket = (host: string, port: number) => {
      const socket: BoundSocket = createSocket(host, port)
      created.push(socket)
      return socket
    }
  })

  afterEach(async () => {
    await pool.close()
  })

  it('closes the sockets it rebinds away from recently closed ports, with their handlers, and forgets them', async () => {
    // the kernel hands back a recently closed port three times in a row
    let reused = 3
    ;(pool as any).recentlyClosed = () => reused-- > 0

    const socket = pool.bindExtra('127.0.0.1')

    expect(created).to.have.lengthOf(4)
    expect(created[3]).to.equal(socket)
    const discarded = created.slice(0, 3)

    for (const s of discarded) {
      expect(s.closed).to.be.true()
      expect(pool.isExtra(s)).to.be.false()
    }

    // one handler per socket was installed; the pool dropped its removers
    // (and with them its references) for the three discarded ones
    expect(handlersMade).to.equal(4)
    expect(pool.socketCount).to.equal(1)
    expect((pool as any).removers.size).to.equal(1, 'the pool keeps no removers of discarded sockets')
    expect(pool.isExtra(socket)).to.be.true()

    for (const s of discarded) {
      const { port } = s.address()
      await waitFor(async () => portIsFree(port))
    }

    await pool.closeSocket(socket)
    expect((pool as any).removers.size).to.equal(0)
  })

  it('gives up rebinding after RECENT_PORT_RETRIES and closes every extra attempt', async () => {
    (pool as any).recentlyClosed = () => true

    const socket = pool.bindExtra('127.0.0.1')

    expect(created).to.have.lengthOf(RECENT_PORT_RETRIES + 1)
    expect(created.filter(s => s.closed)).to.have.lengthOf(RECENT_PORT_RETRIES)
    expect(socket.closed).to.be.false()
    expect((pool as any).removers.size).to.equal(1)

    // close() waits for the discarded sockets too
    await pool.close()
    expect(created.every(s => s.closed)).to.be.true()
    expect((pool as any).discarding.size).to.equal(0)
  })

  it('remembers the port of a closed extra socket and avoids it next time', async () => {
    const first = pool.bindExtra('127.0.0.1')
    const port = first.address().port
    await pool.closeSocket(first)

    expect((pool as any).recentlyClosed(port)).to.be.true()
    const next = pool.bindExtra('127.0.0.1')
    expect(next.address().port).to.not.equal(port)
    expect((pool as any).removers.size).to.equal(1)
  })
})
