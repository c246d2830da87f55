import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { createUdxNode } from '../fixtures/create-node.ts'
import { waitFor } from '../fixtures/wait-for.ts'
import { closeError, connectThroughRelay, createSide, HOLD, UdpNatRelay } from './fixtures/direct-pair.ts'
import { RecordingMetrics } from './fixtures/recording-metrics.ts'
import type { DirectSide } from './fixtures/direct-pair.ts'
import type { UDXInit } from '../../src/index.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** short timers so that the tests wait seconds, not minutes */
const FAST: UDXInit = { keepaliveInterval: 250, pathDeadTimeout: 1_500 }

/**
 * Resolves with the error `stream` ends with: its read fails or it closes
 * with an error
 */
async function streamError (stream: Stream): Promise<Error | undefined> {
  try {
    for await (const chunk of stream) {
      void chunk
    }
  } catch (err: any) {
    return err
  }

  return undefined
}

describe('direct udx connection liveness on loopback', function () {
  this.timeout(60_000)
  let a: DirectSide
  let b: DirectSide
  let relay: UdpNatRelay
  let cleanup: Array<() => Promise<void>> = []

  async function sides (udx: UDXInit, metrics?: RecordingMetrics): Promise<void> {
    a = await createSide(udx, metrics)
    cleanup.push(async () => { await a.node.stop() })
    b = await createSide(udx)
    cleanup.push(async () => { await b.node.stop() })
  }

  async function setup (udx: UDXInit, metrics?: RecordingMetrics): Promise<[Connection, Connection]> {
    await sides(udx, metrics)
    relay = await UdpNatRelay.create(a.socket.address(), b.socket.address())
    cleanup.push(async () => { await relay.close() })
    return connectThroughRelay(a, b, relay)
  }

  afterEach(async () => {
    for (const step of cleanup.reverse()) {
      await step()
    }
    cleanup = []
  })

  it('closes a connection whose path went silent with PathDeadError, and its open stream fails with it', async () => {
    const metrics = new RecordingMetrics()
    const [toB, toA] = await setup(FAST, metrics)
    const stream = await toB.newStream(HOLD)
    expect(stream.send(randomBytes(64))).to.be.a('boolean')
    const closedA = closeError(toB)
    const closedB = closeError(toA)
    const failed = streamError(stream)

    relay.blackhole()

    const err = await closedA
    expect(err).to.have.property('name', 'PathDeadError')
    expect(err?.message).to.include(`${relay.frontAddress.host}:${relay.frontAddress.port}`)
    expect(await failed).to.have.property('name', 'PathDeadError')
    expect(stream.status).to.not.equal('open')
    // the other side is cut off the same way
    expect(await closedB).to.have.property('name', 'PathDeadError')
    expect(a.node.getConnections(b.node.peerId)).to.be.empty()
    // counted on a's side (only a has the recording metrics)
    expect(metrics.count('libp2p_udx_path_events_total', 'dead')).to.equal(1)
  })

  it('notices a silent peer with the default keepalive and dead timeout', async () => {
    const [toB] = await setup({})
    const closed = closeError(toB)
    const started = performance.now()

    relay.blackhole()

    const err = await closed
    const elapsed = performance.now() - started
    // UDX on its own reports ETIMEDOUT after about 13 s, and only with data
    // in flight: a PathDeadError on this idle connection is our timer
    expect(err).to.have.property('name', 'PathDeadError')
    // eslint-disable-next-line no-console
    console.log(`      silence to PathDeadError with the defaults (keepalive 1000 ms, dead timeout 5000 ms): ${Math.round(elapsed)} ms`)
  })

  it('keeps an idle live connection open across many dead timeouts', async () => {
    const [toB] = await setup(FAST)
    const opened = toB.id

    // six dead timeouts without a byte of application data
    await new Promise(resolve => setTimeout(resolve, 6 * 1_500))

    expect(toB.status).to.equal('open')
    const input = randomBytes(1024)
    const output = await a.node.services.echo.echo(b.node.peerId, input, { signal: AbortSignal.timeout(5_000) })
    expect(output.subarray()).to.equalBytes(input)
    expect(a.node.getConnections(b.node.peerId).map(c => c.id)).to.deep.equal([opened])
  })

  it('closes a dialed connection whose path went silent with PathDeadError on both sides, streams included', async () => {
    await sides(FAST)
    // the dial leaves from a's listening socket: the relay stands between
    // it and b's listener
    const [dialSocket] = a.transport.getListenSockets()
    const [listenSocket] = b.transport.getListenSockets()
    relay = await UdpNatRelay.create(dialSocket.address(), listenSocket.address())
    cleanup.push(async () => { await relay.close() })
    const front = relay.frontAddress
    const connection = await a.node.dial(multiaddr(`/ip4/${front.host}/udp/${front.port}/udx/p2p/${b.node.peerId.toString()}`))
    await waitFor(() => b.node.getConnections(a.node.peerId).length === 1)
    const [inbound] = b.node.getConnections(a.node.peerId)
    // a stream each way: the listener side's libp2p connection is found
    // through connection:open, so its streams fail with the error too
    const fromDialer = streamError(await connection.newStream(HOLD))
    const fromListener = streamError(await inbound.newStream(HOLD))
    const closedDialer = closeError(connection)
    const closedListener = closeError(inbound)

    relay.blackhole()

    expect(await closedDialer).to.have.property('name', 'PathDeadError')
    expect(await closedListener).to.have.property('name', 'PathDeadError')
    expect(await fromDialer).to.have.property('name', 'PathDeadError')
    expect(await fromListener).to.have.property('name', 'PathDeadError')
  })

  it('refuses a dead timeout shorter than three keepalive intervals', async () => {
    const err = await createUdxNode({ udx: { keepaliveInterval: 1_000, pathDeadTimeout: 2_000 } }).catch(err => err)
    expect(err).to.have.property('name', 'InvalidParametersError')
    expect(err.message).to.include('pathDeadTimeout')
  })

  it('leaves a silent connection to UDX when the dead timer is off', async () => {
    const [toB] = await setup({ keepaliveInterval: 250, pathDeadTimeout: 0 })
    const closed = closeError(toB)
    let closedEarly = false
    void closed.then(() => { closedEarly = true })

    relay.blackhole()
    await new Promise(resolve => setTimeout(resolve, 3_000))

    // idle: UDX has nothing in flight, so nothing would ever time out
    expect(closedEarly).to.be.false()
    expect(toB.status).to.equal('open')
  })
})
