import dgram from 'node:dgram'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { SocketPool } from '../../src/socket/socket-pool.ts'
import type { BoundSocket } from '../../src/socket/bound-socket.ts'
import type { RemoteInfo } from '../../src/socket/datagram-socket.ts'

async function until (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('bound socket demultiplexer', () => {
  let pool: SocketPool
  let socket: BoundSocket
  let sender: dgram.Socket

  beforeEach(async () => {
    pool = new SocketPool({ logger: defaultLogger() })
    socket = pool.bindExtra('127.0.0.1', 0)
    sender = dgram.createSocket('udp4')
    await new Promise<void>(resolve => { sender.bind(0, '127.0.0.1', resolve) })
  })

  afterEach(async () => {
    sender.close()
    await pool.close()
  })

  function send (bytes: number[]): void {
    sender.send(Uint8Array.from(bytes), socket.address().port, '127.0.0.1')
  }

  it('routes a datagram to the first handler that claims its first byte', async () => {
    const got: Array<[string, number[], RemoteInfo]> = []
    socket.addHandler({ name: 'a', matches: (d) => d[0] === 0x10, handle: (d, from) => { got.push(['a', [...d], from]) } })
    socket.addHandler({ name: 'b', matches: (d) => d[0] <= 0x20, handle: (d, from) => { got.push(['b', [...d], from]) } })

    send([0x10, 1])
    send([0x20, 2])
    await until(() => got.length === 2)

    expect(got.map(([name, data]) => [name, data])).to.deep.equal([['a', [0x10, 1]], ['b', [0x20, 2]]])
    expect(got[0][2]).to.deep.equal({ host: '127.0.0.1', port: sender.address().port, family: 4 })
  })

  it('drops and counts datagrams no handler claims, UDX packets for unknown streams, and ones a handler rejects', async () => {
    socket.addHandler({ name: 'strict', matches: (d) => d[0] === 0x30, handle: () => { throw new Error('bad') } })

    send([0x99, 1, 2])
    send([0xFF, 0x01, ...new Array(18).fill(0)])
    send([0x30, 0])
    await until(() => socket.droppedCount === 3)

    expect(Object.fromEntries(socket.dropped)).to.deep.equal({
      unknown: 1,
      'udx-unknown-stream': 1,
      'strict-invalid': 1
    })
  })

  it('stops routing to a handler once it is removed', async () => {
    let calls = 0
    const remove = socket.addHandler({ name: 'once', matches: () => true, handle: () => { calls++ } })
    send([1])
    await until(() => calls === 1)
    remove()
    send([1])
    await until(() => socket.droppedCount === 1)
    expect(calls).to.equal(1)
  })

  it('refuses to send once closed, with a named error', async () => {
    await pool.closeSocket(socket)
    await expect(socket.send(Uint8Array.from([1]), 9, '127.0.0.1')).to.eventually.be.rejected.with.property('name', 'SocketClosedError')
  })
})
