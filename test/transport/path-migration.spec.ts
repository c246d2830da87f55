import { createHash, randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { expect } from 'aegir/chai'
import { encodePathMessage, PathMessageType } from '../../src/transport/path-message.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import { closeError, connectThroughRelay, createSide, SINK, UdpNatRelay } from './fixtures/direct-pair.ts'
import type { DirectSide } from './fixtures/direct-pair.ts'
import type { UDXInit } from '../../src/index.ts'
import type { UDXMultiaddrConnection } from '../../src/transport/udx-connection.ts'
import type { Connection, Stream } from '@libp2p/interface'

const FAST: UDXInit = { keepaliveInterval: 250, pathDeadTimeout: 2_000 }

async function sendAll (stream: Stream, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.byteLength; offset += 16 * 1024) {
    if (!stream.send(data.subarray(offset, offset + 16 * 1024))) {
      await stream.onDrain()
    }
  }
}

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** the UDX connection under a libp2p connection (tests only) */
function udxConnection (connection: Connection): UDXMultiaddrConnection {
  return (connection as any).maConn
}

describe('direct udx connection migration after a NAT rebinding, on loopback', function () {
  this.timeout(60_000)
  let a: DirectSide
  let b: DirectSide
  let relay: UdpNatRelay
  let cleanup: Array<() => Promise<void>> = []
  const pathKey = randomBytes(32)

  /**
   * a behind the relay (its "NAT"), b outside; with `key` both pass it
   */
  async function setup (udx: UDXInit, key?: Uint8Array): Promise<[Connection, Connection]> {
    a = await createSide(udx)
    cleanup.push(async () => { await a.node.stop() })
    b = await createSide(udx)
    cleanup.push(async () => { await b.node.stop() })
    relay = await UdpNatRelay.create(a.socket.address(), b.socket.address())
    cleanup.push(async () => { await relay.close() })
    return connectThroughRelay(a, b, relay, key)
  }

  afterEach(async () => {
    for (const step of cleanup.reverse()) {
      await step()
    }
    cleanup = []
  })

  it('follows the peer to its new mapping and keeps the same libp2p connection, streams included', async () => {
    const [toB, toA] = await setup(FAST, pathKey)
    const before = relay.mappingAddress
    // a stream opened before the rebinding, written to after it
    const early = await toB.newStream(SINK)
    const first = randomBytes(32 * 1024)
    await sendAll(early, first)

    const started = performance.now()
    const after = await relay.rebind()

    // a writes at once: its packets reach b from the new mapping (udx takes
    // stream packets from any address), and what b sends back (yamux window
    // updates) goes to the dead mapping until b moved: it must arrive after
    const second = randomBytes(8 * 1024)
    await sendAll(early, second)
    await waitFor(() => b.migrations.length === 1)
    const migrationMs = performance.now() - started
    expect(b.migrations[0]).to.deep.equal({ from: before, to: after })
    expect(a.migrations).to.be.empty()
    await early.close()

    // both ways, after the move, on the same connections
    const both = randomBytes(1024 * 1024)
    const fromB = await toA.newStream(SINK)
    await sendAll(fromB, both)
    await fromB.close()
    const fromA = await toB.newStream(SINK)
    await sendAll(fromA, both)
    await fromA.close()

    await waitFor(() => b.sunk.length === 2 && a.sunk.length === 1)
    expect(b.sunk[0]).to.deep.equal({ sha256: sha256(Buffer.concat([first, second])), bytes: first.byteLength + second.byteLength })
    expect(b.sunk[1]).to.deep.equal({ sha256: sha256(both), bytes: both.byteLength })
    expect(a.sunk[0]).to.deep.equal({ sha256: sha256(both), bytes: both.byteLength })
    expect(toB.status).to.equal('open')
    expect(toA.status).to.equal('open')
    expect(a.node.getConnections(b.node.peerId).map(c => c.id)).to.deep.equal([toB.id])
    expect(b.node.getConnections(a.node.peerId).map(c => c.id)).to.deep.equal([toA.id])
    expect(udxConnection(toA).path?.remote).to.deep.equal(after)
    // eslint-disable-next-line no-console
    console.log(`      rebinding to migrated (keepalive ${FAST.keepaliveInterval} ms): ${Math.round(migrationMs)} ms`)
  })

  it('migrates with the default keepalive and dead timeout, delivering what b sent into the dead mapping', async () => {
    const [toB, toA] = await setup({}, pathKey)
    const before = relay.mappingAddress
    const started = performance.now()
    const after = await relay.rebind()

    // b writes at once, to a's old mapping: every packet of it is lost and
    // resent until b moved (udx-native resends a packet to the address it
    // first went to: the connection's stream sends through a relay whose
    // exit moves, so the resends go to the new mapping)
    const lost = randomBytes(256 * 1024)
    const fromB = await toA.newStream(SINK).catch(err => err)
    expect(fromB).to.not.be.an('error')
    await sendAll(fromB, lost)
    await fromB.close()

    await waitFor(() => b.migrations.length === 1, 10_000)
    const migrationMs = performance.now() - started
    expect(b.migrations[0]).to.deep.equal({ from: before, to: after })
    await waitFor(() => a.sunk.length === 1, 10_000)
    expect(a.sunk[0]).to.deep.equal({ sha256: sha256(lost), bytes: lost.byteLength })

    const input = randomBytes(4096)
    const output = await a.node.services.echo.echo(b.node.peerId, input, { signal: AbortSignal.timeout(5_000) })
    expect(output.subarray()).to.equalBytes(input)
    expect(toB.status).to.equal('open')
    expect(toA.status).to.equal('open')
    // eslint-disable-next-line no-console
    console.log(`      rebinding to migrated with the defaults: ${Math.round(migrationMs)} ms`)
  })

  it('closes the connection with PathDeadError after a rebinding when there is no path key', async () => {
    const [toB, toA] = await setup(FAST)
    const closedA = closeError(toB)
    const closedB = closeError(toA)

    await relay.rebind()

    // a hears nothing any more (b sends to the old mapping)
    expect(await closedA).to.have.property('name', 'PathDeadError')
    // b still heard a (from the new mapping) until a closed: a's reset or
    // b's own dead timer ends it
    expect(await closedB).to.be.an('error')
    expect(b.migrations).to.be.empty()
  })

  it('resets the peer through the relay when a connection with a path key is aborted', async () => {
    const [toB, toA] = await setup(FAST, pathKey)
    const closedB = closeError(toA)

    toB.abort(new Error('test abort'))

    // the UDX DESTROY went out through the relay: b closed on it, not on
    // its dead timer
    const err = await closedB
    expect(err).to.be.an('error')
    expect(err).to.not.have.property('name', 'PathDeadError')
  })

  it('does not move for a verified challenge from an address that does not answer, nor for a replay', async () => {
    const [toB, toA] = await setup(FAST, pathKey)
    const before = relay.mappingAddress
    const spoofer = dgram.createSocket('udp4')
    cleanup.push(async () => { await new Promise<void>(resolve => { spoofer.close(() => { resolve() }) }) })
    await new Promise<void>(resolve => { spoofer.bind(0, '127.0.0.1', () => { resolve() }) })
    const answers: Buffer[] = []
    spoofer.on('message', (msg) => { answers.push(msg) })

    // a challenge as a would send it (the key leaked, or a copy of a's
    // datagram replayed from elsewhere with a fresh number)
    const challenge = encodePathMessage({
      type: PathMessageType.CHALLENGE,
      senderInitiator: true,
      receiverStreamId: b.streamId,
      senderStreamId: a.streamId,
      seq: 1_000_000,
      nonce: randomBytes(8)
    }, pathKey)
    spoofer.send(challenge, b.socket.address().port, '127.0.0.1')
    // b answers it and challenges the new address (same size each: no
    // amplification) and then moves only if that address answers
    await waitFor(() => answers.length === 2)
    expect(answers.map(m => m.byteLength)).to.deep.equal([challenge.byteLength, challenge.byteLength])

    // the same datagram again is a replay
    spoofer.send(challenge, b.socket.address().port, '127.0.0.1')
    await waitFor(() => (b.socket.dropped.get('path-replay') ?? 0) === 1)

    await new Promise(resolve => setTimeout(resolve, 1_000))
    expect(b.migrations).to.be.empty()
    expect(udxConnection(toA).path?.remote).to.deep.equal(before)
    expect(toA.status).to.equal('open')
    expect(toB.status).to.equal('open')
  })

  it('drops path datagrams for unknown connections and with bad MACs, and counts them', async () => {
    await setup(FAST, pathKey)
    const spoofer = dgram.createSocket('udp4')
    cleanup.push(async () => { await new Promise<void>(resolve => { spoofer.close(() => { resolve() }) }) })
    await new Promise<void>(resolve => { spoofer.bind(0, '127.0.0.1', () => { resolve() }) })
    const answers: Buffer[] = []
    spoofer.on('message', (msg) => { answers.push(msg) })
    const port = b.socket.address().port
    const message = {
      type: PathMessageType.CHALLENGE,
      senderInitiator: true,
      receiverStreamId: b.streamId,
      senderStreamId: a.streamId,
      seq: 5,
      nonce: randomBytes(8)
    } as const

    spoofer.send(encodePathMessage({ ...message, receiverStreamId: (b.streamId + 1) >>> 0 }, pathKey), port, '127.0.0.1')
    spoofer.send(encodePathMessage(message, randomBytes(32)), port, '127.0.0.1')
    spoofer.send(encodePathMessage({ ...message, senderStreamId: 7 }, pathKey), port, '127.0.0.1')
    spoofer.send(encodePathMessage(message, pathKey).subarray(0, 39), port, '127.0.0.1')

    await waitFor(() =>
      b.socket.dropped.get('path-unknown-id') === 1 &&
      b.socket.dropped.get('path-bad-mac') === 1 &&
      b.socket.dropped.get('path-wrong-sender') === 1 &&
      b.socket.dropped.get('path-invalid') === 1
    )
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(answers).to.be.empty()
    expect(b.migrations).to.be.empty()
  })
})
