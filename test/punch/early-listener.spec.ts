import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { EarlyProbeListener } from '../../src/punch/early-listener.ts'
import { PunchExecution } from '../../src/punch/executor.ts'
import { planPunch } from '../../src/punch/planner.ts'
import { ProbeRouter } from '../../src/punch/probe-router.ts'
import { decodeProbe, encodeProbe, isProbeDatagram } from '../../src/punch/probe.ts'
import { SocketPool } from '../../src/socket/socket-pool.ts'
import { NATS, input, peer } from './fixtures.ts'
import type { ProbeDatagram } from '../../src/punch/probe.ts'
import type { BoundSocket } from '../../src/socket/bound-socket.ts'

const SESSION = new Uint8Array(8).fill(3)
const SECRET = new Uint8Array(32).fill(5)
const log = defaultLogger().forComponent('test:early-listener')

async function until (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/**
 * The initiator's ear between OFFER and its punch (EARLY_PROBES), on two
 * real sockets on loopback
 */
describe('early probes', () => {
  let pool: SocketPool
  let router: ProbeRouter
  let initiator: BoundSocket
  let responder: BoundSocket
  /** what reached the responder's socket */
  let received: ProbeDatagram[]
  let seq = 0

  beforeEach(() => {
    pool = new SocketPool({ logger: defaultLogger() })
    router = new ProbeRouter()
    initiator = pool.bindExtra('127.0.0.1', 0)
    initiator.addHandler(router.handlerFor(initiator))
    responder = pool.bindExtra('127.0.0.1', 0)
    received = []
    responder.addHandler({
      name: 'capture',
      matches: isProbeDatagram,
      handle: (data) => { received.push(decodeProbe(data, { sessionId: SESSION, secret: SECRET, sender: 'initiator' })) }
    })
  })

  afterEach(async () => {
    await pool.close()
  })

  function probeFromResponder (secret = SECRET): void {
    const datagram = encodeProbe({ type: 'probe', sender: 'responder', sessionId: SESSION, seq: ++seq, timestamp: 1234 }, secret)
    void responder.send(datagram, initiator.address().port, '127.0.0.1')
  }

  function listen (maxAcks = 20): EarlyProbeListener {
    return new EarlyProbeListener({ sessionId: SESSION, secret: SECRET, mainSocket: initiator, router, maxAcks, log })
  }

  it('remember the path of the first authenticated probe and ack it with its timestamp', async () => {
    const listener = listen()
    probeFromResponder()
    await until(() => received.length > 0)

    expect(listener.found?.socket).to.equal(initiator)
    expect(listener.found?.remote).to.include({ host: '127.0.0.1', port: responder.address().port })
    expect(received).to.have.lengthOf(1)
    expect(received[0]).to.include({ type: 'ack', timestamp: 1234 })
    listener.stop()
  })

  it('ignore a probe that does not authenticate, and count it as dropped', async () => {
    const listener = listen()
    probeFromResponder(new Uint8Array(32).fill(6))
    await until(() => [...initiator.dropped.values()].reduce((a, b) => a + b, 0) > 0)

    expect(listener.found).to.be.undefined()
    expect(received).to.be.empty()
    listener.stop()
  })

  it('send no more than maxAcks acks however many probes arrive', async () => {
    const listener = listen(2)
    for (let i = 0; i < 6; i++) {
      probeFromResponder()
    }
    await until(() => received.length >= 2)
    await new Promise(resolve => setTimeout(resolve, 100))

    expect(received).to.have.lengthOf(2)
    listener.stop()
  })

  it('hand the session over: after stop() the executor registers it and selects the early path at once, without a probe', async () => {
    const listener = listen()
    probeFromResponder()
    await until(() => listener.found != null)
    const prefound = listener.stop()

    const { plan } = planPunch(input(peer(NATS.fullCone('127.0.0.1', initiator.address().port)), peer(NATS.fullCone('127.0.0.1', responder.address().port)), {
      options: { addressScope: (host) => host.startsWith('127.') ? 'public' : undefined }
    }), 'initiator')
    expect(plan.role).to.equal('both')

    const execution = new PunchExecution({
      plan,
      sessionId: SESSION,
      secret: SECRET,
      mainSocket: initiator,
      openExtraSocket: () => { throw new Error('no extra sockets in this plan') },
      closeSocket: async () => {},
      router,
      limits: { maxDatagrams: 100, maxBytes: 100_000, consentAfter: 32 },
      log,
      signal: AbortSignal.timeout(5_000),
      prefound
    })

    const path = await execution.run()
    await until(() => received.some(p => p.type === 'select'))
    await execution.dispose()

    expect(path.remote).to.include({ host: '127.0.0.1', port: responder.address().port })
    expect(execution.stats.probesSent).to.equal(0)
    expect(received.map(p => p.type)).to.include('select')
  })
})
