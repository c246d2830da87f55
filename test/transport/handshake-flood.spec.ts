import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { expect } from 'aegir/chai'
import { HANDSHAKE_MAX_HALF_OPEN, HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE, HANDSHAKE_OPEN_SIZE } from '../../src/constants.ts'
import { UDXTransport } from '../../src/index.ts'
import { decodeHandshake, encodeHandshake, HandshakeType, isHandshakeDatagram } from '../../src/transport/handshake-message.ts'
import { createUdxNode } from '../fixtures/create-node.ts'
import type { HandshakeAcceptor } from '../../src/transport/handshake-acceptor.ts'
import type { TestNode } from '../fixtures/create-node.ts'

/** OPENs per second of every flood */
const FLOOD_RATE = 1_000
/** legitimate dials made while the flood runs */
const DIALS = 4

function getTransport (node: TestNode): UDXTransport {
  return (node as any).components.transportManager.getTransports()
    .find((t: any) => t instanceof UDXTransport)
}

function acceptorOf (node: TestNode): HandshakeAcceptor<unknown> {
  const transport = getTransport(node)
  const [socket] = transport.getListenSockets()
  return (transport as any).handlers.get(socket).acceptor
}

async function bindSocket (host: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, host, () => { resolve() })
  })
  return socket
}

/**
 * Linux answers all of 127.0.0.0/8 on lo; other hosts may have 127.0.0.1 only
 */
async function skipUnlessBindable (context: Mocha.Context, host: string): Promise<void> {
  const socket = await bindSocket(host).catch(() => undefined)

  if (socket == null) {
    context.skip()
  }

  await new Promise<void>(resolve => { socket.close(() => { resolve() }) })
}

interface Flood {
  /** OPENs sent */
  sent: number
  /** RETRYs received */
  retries: number
  /** largest answer received, in bytes */
  largestAnswer: number
  stop(): Promise<void>
}

/**
 * Send FLOOD_RATE well-formed OPENs per second (fresh nonce and stream id
 * each) to `port`, spread round-robin over `sockets`. A flooder that
 * `answersRetries` sends OPEN again with the cookie of every RETRY, as a
 * real (not spoofed) attacker would.
 */
function flood (sockets: dgram.Socket[], port: number, answersRetries = false): Flood {
  const state = { sent: 0, retries: 0, largestAnswer: 0 }
  let next = 0

  for (const socket of sockets) {
    socket.on('message', (msg) => {
      state.largestAnswer = Math.max(state.largestAnswer, msg.byteLength)

      if (!isHandshakeDatagram(msg)) {
        return
      }

      const message = decodeHandshake(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength))

      if (message.type !== HandshakeType.RETRY) {
        return
      }

      state.retries++

      if (answersRetries) {
        socket.send(encodeHandshake({ type: HandshakeType.OPEN, nonce: message.nonce, streamId: message.echoedStreamId, echoedStreamId: 0, cookie: message.cookie }), port, '127.0.0.1')
      }
    })
  }

  // every 10 ms, the OPENs owed at FLOOD_RATE since the start
  const started = Date.now()
  const timer = setInterval(() => {
    const owed = Math.min(FLOOD_RATE / 10, Math.floor((Date.now() - started) * FLOOD_RATE / 1000) - state.sent)

    for (let i = 0; i < owed; i++) {
      const socket = sockets[next++ % sockets.length]
      const open = encodeHandshake({ type: HandshakeType.OPEN, nonce: randomBytes(8), streamId: 1 + (randomBytes(4).readUInt32BE(0) % 0xFFFFFFFE), echoedStreamId: 0 })
      socket.send(open, port, '127.0.0.1')
      state.sent++
    }
  }, 10)

  return Object.assign(state, {
    stop: async () => {
      clearInterval(timer)
      await Promise.all(sockets.map(async socket => { await new Promise<void>(resolve => { socket.close(() => { resolve() }) }) }))
    }
  })
}

describe('a udx listener under a handshake flood', function () {
  this.timeout(120_000)
  let listener: TestNode
  let dialers: TestNode[]
  let floods: Flood[]

  beforeEach(async () => {
    listener = await createUdxNode()
    dialers = await Promise.all(Array.from({ length: DIALS }, async () => createUdxNode()))
    floods = []
  })

  afterEach(async () => {
    await Promise.all(floods.map(async f => { await f.stop() }))
    await Promise.all(dialers.map(async d => { await d.stop() }))
    await listener?.stop()
  })

  /**
   * Let the flood fill the table, then dial from every dialer at once while
   * it goes on; every dial must succeed within the handshake timeout
   */
  async function dialDuringFlood (): Promise<void> {
    await new Promise(resolve => setTimeout(resolve, 1_000))
    const acceptor = acceptorOf(listener)
    expect(acceptor.halfOpenCount).to.be.at.most(HANDSHAKE_MAX_HALF_OPEN)

    const started = Date.now()
    const results = await Promise.allSettled(dialers.map(async dialer => {
      return dialer.services.ping.ping(listener.getMultiaddrs()[0], { signal: AbortSignal.timeout(8_000) })
    }))
    const failed = results.filter(r => r.status === 'rejected').map(r => (r as PromiseRejectedResult).reason)

    expect(failed, `failed dials: ${failed.map(err => `${err.name}: ${err.message}`).join('; ')}`).to.be.empty()
    expect(Date.now() - started).to.be.below(5_000)

    for (const dialer of dialers) {
      expect(dialer.getConnections(listener.peerId)).to.have.lengthOf(1)
    }
  }

  it(`lets ${DIALS} dials through while one socket sends ${FLOOD_RATE} OPENs/s`, async () => {
    const port = getTransport(listener).getListenSockets()[0].address().port
    const attack = flood([await bindSocket('127.0.0.1')], port)
    floods.push(attack)

    await dialDuringFlood()

    const acceptor = acceptorOf(listener)
    expect(attack.sent).to.be.at.least(FLOOD_RATE)
    // the source got its quota of entries, everything else was a stateless RETRY
    expect(acceptor.events.get('accept') ?? 0).to.be.at.most(HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE * 2, 'entries for the flooding source (two 5 s periods)')
    expect(attack.retries).to.be.greaterThan(attack.sent / 2)
    expect(acceptor.events.get('accept_verified')).to.be.at.least(DIALS, 'the dialers came in with a cookie')
    expect(attack.largestAnswer).to.be.at.most(HANDSHAKE_OPEN_SIZE, 'no answer larger than an OPEN')
  })

  it(`lets ${DIALS} dials through while 62 sources send ${FLOOD_RATE} OPENs/s in total`, async function () {
    await skipUnlessBindable(this, '127.0.1.1')
    const port = getTransport(listener).getListenSockets()[0].address().port
    // 31 addresses of 127/8 with two source ports each
    const sockets = await Promise.all(Array.from({ length: 62 }, async (_, i) => bindSocket(`127.0.1.${1 + (i >> 1)}`)))
    const attack = flood(sockets, port)
    floods.push(attack)

    await dialDuringFlood()

    const acceptor = acceptorOf(listener)
    // the spoofed-looking sources never answer RETRY: the table stops
    // growing at the cookie threshold
    expect(acceptor.halfOpenCount).to.be.at.most(HANDSHAKE_MAX_HALF_OPEN / 2)
    expect(attack.retries).to.be.greaterThan(attack.sent / 2)
    expect(attack.largestAnswer).to.be.at.most(HANDSHAKE_OPEN_SIZE)
  })

  it(`lets ${DIALS} dials through while a source that answers RETRYs sends ${FLOOD_RATE} OPENs/s`, async function () {
    await skipUnlessBindable(this, '127.0.0.2')
    const port = getTransport(listener).getListenSockets()[0].address().port
    const attack = flood([await bindSocket('127.0.0.2')], port, true)
    floods.push(attack)

    await dialDuringFlood()

    // a proven source is held to its own quota
    const acceptor = acceptorOf(listener)
    expect(acceptor.halfOpenCount).to.be.at.most(HANDSHAKE_MAX_HALF_OPEN_PER_SOURCE * 2 + DIALS)
    expect(acceptor.events.get('source_limited')).to.be.greaterThan(0)
  })
})
