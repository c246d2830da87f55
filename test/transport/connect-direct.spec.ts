import dgram from 'node:dgram'
import { expect } from 'aegir/chai'
import { UDXTransport } from '../../src/index.ts'
import { createUdxNode } from '../fixtures/create-node.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import type { BoundSocket } from '../../src/socket/bound-socket.ts'
import type { ConnectDirectOptions } from '../../src/transport/udx-transport.ts'
import type { TestNode } from '../fixtures/create-node.ts'
import type { Connection } from '@libp2p/interface'

function getTransport (node: TestNode): UDXTransport {
  return (node as any).components.transportManager.getTransports()
    .find((t: any) => t instanceof UDXTransport)
}

/**
 * Whether a UDP socket can bind `port` on 127.0.0.1 (i.e. nobody holds it)
 */
async function portIsFree (port: number): Promise<boolean> {
  const probe = dgram.createSocket('udp4')
  return new Promise<boolean>(resolve => {
    probe.once('error', () => { probe.close(); resolve(false) })
    probe.bind(port, '127.0.0.1', () => { probe.close(() => { resolve(true) }) })
  })
}

interface Side {
  node: TestNode
  transport: UDXTransport
  socket: BoundSocket
  streamId: number
}

describe('UDXTransport.connectDirect on loopback', function () {
  this.timeout(60_000)
  let a: Side
  let b: Side

  async function side (): Promise<Side> {
    const node = await createUdxNode()
    const transport = getTransport(node)
    return { node, transport, socket: transport.pool.bindExtra('127.0.0.1'), streamId: transport.reserveStreamId() }
  }

  function options (from: Side, to: Side, initiator: boolean, extra: Partial<ConnectDirectOptions> = {}): ConnectDirectOptions {
    return {
      socket: from.socket,
      remote: to.socket.address(),
      localStreamId: from.streamId,
      remoteStreamId: to.streamId,
      initiator,
      expectedPeer: to.node.peerId,
      ...extra
    }
  }

  async function connectBoth (extra: Partial<ConnectDirectOptions> = {}): Promise<[Connection, Connection]> {
    return Promise.all([
      a.transport.connectDirect(options(a, b, true, extra)),
      b.transport.connectDirect(options(b, a, false, extra))
    ])
  }

  beforeEach(async () => {
    a = await side()
    b = await side()
  })

  afterEach(async () => {
    await a?.node.stop()
    await b?.node.stop()
  })

  it('closes an owned extra socket when the connection is closed, on both sides', async () => {
    const [toB] = await connectBoth({ closeSocketOnClose: true })
    expect(toB.remotePeer.equals(b.node.peerId)).to.be.true()
    expect(a.transport.pool.isExtra(a.socket)).to.be.true()
    const ports = [a.socket.address().port, b.socket.address().port]

    await toB.close()

    // ours: closed locally; theirs: closed by the remote
    await waitFor(() => a.socket.closed && b.socket.closed)
    expect(a.transport.pool.isExtra(a.socket)).to.be.false()
    expect(b.transport.pool.isExtra(b.socket)).to.be.false()
    await waitFor(() => !a.transport.pool.streamIds.has(a.streamId) && !b.transport.pool.streamIds.has(b.streamId))
    await a.socket.close()
    await b.socket.close()
    for (const port of ports) {
      expect(await portIsFree(port)).to.be.true(`port ${port} released`)
    }
  })

  it('with a path key, releases its relay streams and loopback socket, and the owned socket, when the connection closes', async () => {
    const idsBefore = [a.transport.pool.streamIds.size, b.transport.pool.streamIds.size]
    const pathKey = new Uint8Array(32).fill(7)
    const [toB] = await connectBoth({ closeSocketOnClose: true, pathKey })
    // the connection's stream plus the relay and the exit of its movable path
    expect(a.transport.pool.streamIds.size).to.equal(idsBefore[0] + 2)
    const loopback = a.transport.pool.loopbackFor(a.socket)
    const ports = [a.socket.address().port, b.socket.address().port, loopback.address().port]

    await toB.close()

    await waitFor(() => a.socket.closed && b.socket.closed && loopback.closed)
    await waitFor(() => a.transport.pool.streamIds.size === idsBefore[0] - 1 && b.transport.pool.streamIds.size === idsBefore[1] - 1)
    await a.socket.close()
    await b.socket.close()
    await loopback.close()
    for (const port of ports) {
      expect(await portIsFree(port)).to.be.true(`port ${port} released`)
    }
  })

  it('refuses a path key shorter than 16 bytes, and still releases the id', async () => {
    const err = await a.transport.connectDirect(options(a, b, true, { pathKey: new Uint8Array(15) })).catch(err => err)
    expect(err).to.have.property('name', 'InvalidParametersError')
    expect(a.transport.pool.streamIds.has(a.streamId)).to.be.false()
  })

  it('closes an owned extra socket when the connection is aborted', async () => {
    const [toB] = await connectBoth({ closeSocketOnClose: true })
    toB.abort(new Error('test abort'))
    await waitFor(() => a.socket.closed && b.socket.closed)
    await waitFor(() => !a.transport.pool.streamIds.has(a.streamId))
  })

  it('leaves the socket open without the flag', async () => {
    const [toB] = await connectBoth()
    await toB.close()
    await waitFor(() => !a.transport.pool.streamIds.has(a.streamId))
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(a.socket.closed).to.be.false()
    expect(a.transport.pool.isExtra(a.socket)).to.be.true()
  })

  it('releases the stream id and the owned socket when the signal is already aborted', async () => {
    const err = await a.transport.connectDirect(options(a, b, true, { closeSocketOnClose: true, signal: AbortSignal.abort() })).catch(err => err)
    expect(err).to.have.property('name', 'AbortError')
    expect(a.transport.pool.streamIds.has(a.streamId)).to.be.false()
    expect(a.socket.closed).to.be.true()
  })

  it('releases the stream id when the stream cannot connect', async () => {
    const err = await a.transport.connectDirect(options(a, b, true, { remote: { host: 'not-an-ip', port: 1 }, closeSocketOnClose: true })).catch(err => err)
    expect(err).to.be.an('error')
    expect(a.transport.pool.streamIds.has(a.streamId)).to.be.false()
    expect(a.socket.closed).to.be.true()
  })

  it('releases the stream ids and owned sockets when the upgrade fails (wrong peer)', async () => {
    // a expects to meet itself: b's Noise identity cannot match
    const stranger = a.node.peerId
    const results = await Promise.allSettled([
      a.transport.connectDirect(options(a, b, true, { expectedPeer: stranger, closeSocketOnClose: true, signal: AbortSignal.timeout(10_000) })),
      b.transport.connectDirect(options(b, a, false, { closeSocketOnClose: true, signal: AbortSignal.timeout(10_000) }))
    ])

    expect(results[0].status).to.equal('rejected')
    // when the promise rejected, the id and the socket were already free
    expect(a.transport.pool.streamIds.has(a.streamId)).to.be.false()
    expect(a.socket.closed).to.be.true()
    await waitFor(() => b.socket.closed && !b.transport.pool.streamIds.has(b.streamId))
    expect(a.node.getConnections()).to.be.empty()
  })

  it('refuses to own a socket that is not an extra socket, and still releases the id', async () => {
    const [listening] = a.transport.getListenSockets()
    const err = await a.transport.connectDirect(options(a, b, true, { socket: listening, closeSocketOnClose: true })).catch(err => err)
    expect(err).to.have.property('name', 'InvalidParametersError')
    expect(a.transport.pool.streamIds.has(a.streamId)).to.be.false()
    expect(listening.closed).to.be.false()
  })
})
