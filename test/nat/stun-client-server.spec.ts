import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { InvalidStunResponseError, StunClientClosedError, StunErrorResponseError, StunTimeoutError } from '../../src/errors.ts'
import { StunChangeRequestIgnoredError, StunClient } from '../../src/nat/stun/client.ts'
import { decodeStunMessage, isStunMessage } from '../../src/nat/stun/decode.ts'
import { encodeStunMessage } from '../../src/nat/stun/encode.ts'
import { ATTR, METHOD_BINDING } from '../../src/nat/stun/message.ts'
import { TransactionPacer } from '../../src/nat/stun/pacer.ts'
import { StunServer } from '../../src/nat/stun/server.ts'
import { createTransactionId } from '../../src/nat/stun/transaction-id.ts'
import { bindSquare, requireBindable, SECOND_LOOPBACK } from '../fixtures/loopback.ts'
import { DgramSocket } from './dgram-socket.ts'
import type { StunClientInit } from '../../src/nat/stun/client.ts'
import type { StunAttributes } from '../../src/nat/stun/message.ts'
import type { StunServerInit } from '../../src/nat/stun/server.ts'
import type { RemoteInfo } from '../../src/socket/datagram-socket.ts'

const components = { logger: defaultLogger() }

function countTimers (): number {
  return process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
}

async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

describe('nat/stun client and server on real UDP sockets', function () {
  this.timeout(20_000)

  let sockets: DgramSocket[]
  let clients: StunClient[]
  let servers: StunServer[]

  beforeEach(() => {
    sockets = []
    clients = []
    servers = []
  })

  afterEach(async () => {
    clients.forEach(c => { c.close() })
    servers.forEach(s => { s.stop() })
    await Promise.all(sockets.map(async s => { await s.close() }))
  })

  async function socket (host = '127.0.0.1'): Promise<DgramSocket> {
    const s = await DgramSocket.bind(host, 0)
    sockets.push(s)

    return s
  }

  function client (s: DgramSocket, init: Partial<StunClientInit> = {}): StunClient {
    const c = new StunClient(components, { socket: s, pacer: new TransactionPacer({ perSecond: 1000 }), ...init })
    clients.push(c)

    return c
  }

  function server (s: DgramSocket, init: Partial<StunServerInit> = {}): StunServer {
    const srv = new StunServer(components, { socket: s, ...init })
    srv.start()
    servers.push(srv)

    return srv
  }

  /** every STUN message a raw socket receives */
  function collect (s: DgramSocket): Array<{ data: Uint8Array, from: RemoteInfo }> {
    const got: Array<{ data: Uint8Array, from: RemoteInfo }> = []
    s.addHandler({ name: 'collect', matches: isStunMessage, handle: (data, from) => { got.push({ data: data.slice(), from }) } })

    return got
  }

  function request (attributes: StunAttributes = {}, options: { fingerprint?: boolean, extraAttributes?: Array<{ type: number, value: Uint8Array }> } = {}): Uint8Array {
    return encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes }, options)
  }

  async function until (condition: () => boolean, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms

    while (!condition()) {
      if (Date.now() > deadline) {
        throw new Error('condition not met in time')
      }

      await delay(5)
    }
  }

  it('learns its own address from our server, with an RTT and one transmission', async () => {
    const serverSocket = await socket()
    const clientSocket = await socket()
    server(serverSocket)
    const result = await client(clientSocket).binding(serverSocket.address())

    expect(result.mapped).to.deep.equal(clientSocket.address())
    expect(result.local).to.deep.equal(clientSocket.address())
    expect(result.from).to.deep.equal(serverSocket.address())
    expect(result.transmissions).to.equal(1)
    expect(result.rtt).to.be.within(0, 1000)
    expect(result.otherAddress).to.be.undefined()
    expect(result.responseOrigin).to.be.undefined()
  })

  it('works over IPv6 loopback', async function () {
    await requireBindable(this, '::1')
    const serverSocket = await socket('::1')
    const clientSocket = await socket('::1')
    server(serverSocket)
    const result = await client(clientSocket).binding(serverSocket.address())
    expect(result.mapped).to.deep.equal({ host: '::1', port: clientSocket.address().port, family: 6 })
  })

  it('answers a Binding request with XOR-MAPPED-ADDRESS and a valid FINGERPRINT', async () => {
    const serverSocket = await socket()
    const raw = await socket()
    server(serverSocket, { software: 'test' })
    const got = collect(raw)
    const req = request({ padding: 64 })
    await raw.send(req, serverSocket.address().port, '127.0.0.1')
    await until(() => got.length === 1)

    const response = decodeStunMessage(got[0].data)
    expect(response.class).to.equal('success')
    expect(response.transactionId).to.deep.equal(req.subarray(8, 20))
    expect(response.fingerprint).to.be.true()
    expect(response.attributes.xorMappedAddress).to.deep.equal(raw.address())
    expect(response.attributes.software).to.equal('test')
  })

  describe('RFC 5780', () => {
    it('announces OTHER-ADDRESS and RESPONSE-ORIGIN and answers "change port" from the second port', async () => {
      const a = await socket()
      const b = await socket()
      server(a, { alternates: { changePort: b } })
      server(b, { alternates: { changePort: a } })
      const c = client(await socket())

      const plain = await c.binding(a.address())
      expect(plain.otherAddress).to.deep.equal(b.address())
      expect(plain.responseOrigin).to.deep.equal(a.address())

      const changed = await c.binding(a.address(), { changePort: true })
      expect(changed.from).to.deep.equal(b.address())
      expect(changed.responseOrigin).to.deep.equal(b.address())
    })

    it('rejects with StunChangeRequestIgnoredError when a server answers a change request from the address it went to', async () => {
      const a = await socket()
      // a server that ignores CHANGE-REQUEST: it "changes" to itself
      server(a, { alternates: { changePort: a, changeIp: a, changeIpAndPort: a }, otherAddress: null })
      const clientSocket = await socket()
      const c = client(clientSocket, { rto: 20 })

      for (const change of [{ changePort: true }, { changeIp: true }, { changeIp: true, changePort: true }]) {
        const err = await c.binding(a.address(), change).catch(e => e)
        expect(err, JSON.stringify(change)).to.be.an.instanceOf(StunChangeRequestIgnoredError)
      }

      // a plain request from there is the normal answer
      expect((await c.binding(a.address())).from).to.deep.equal(a.address())
      expect(c.pending).to.equal(0)
    })

    it('answers a change it cannot make with 420', async () => {
      const a = await socket()
      const b = await socket()
      server(a, { alternates: { changePort: b } })
      const c = client(await socket())

      const err = await c.binding(a.address(), { changeIp: true }).catch(e => e)
      expect(err).to.be.an.instanceOf(StunErrorResponseError)
      expect(err).to.have.property('code', 420)
      expect(err.unknownAttributes).to.deep.equal([ATTR.CHANGE_REQUEST])
    })

    it('answers from the other IP and port on a four-socket server (127.0.0.1 and 127.0.0.2)', async function () {
      await requireBindable(this, SECOND_LOOPBACK)
      // (127.0.0.1, p1) (127.0.0.1, p2) (127.0.0.2, p1) (127.0.0.2, p2)
      const [a1, a1p2, a2p1, a2] = await bindSquare(async (host, port) => DgramSocket.bind(host, port))
      sockets.push(a1, a1p2, a2p1, a2)
      server(a1, { alternates: { changePort: a1p2, changeIp: a2p1, changeIpAndPort: a2 } })
      const c = client(await socket())

      const plain = await c.binding(a1.address())
      expect(plain.otherAddress).to.deep.equal(a2.address())
      const both = await c.binding(a1.address(), { changeIp: true, changePort: true })
      expect(both.from).to.deep.equal(a2.address())
      const ip = await c.binding(a1.address(), { changeIp: true })
      expect(ip.from).to.deep.equal(a2p1.address())
    })
  })

  describe('retransmission and timeouts', () => {
    it('survives a dropped first request by retransmitting after the RTO', async () => {
      const serverSocket = await socket()
      server(serverSocket)
      let seen = 0
      serverSocket.inboundFilter = () => ++seen > 1
      const started = Date.now()
      const result = await client(await socket(), { rto: 100 }).binding(serverSocket.address())

      expect(result.transmissions).to.equal(2)
      expect(serverSocket.received).to.have.length(2)
      expect(Date.now() - started).to.be.at.least(90)
      expect(result.sentAt).to.be.at.most(result.receivedAt - 90)
    })

    it('gives up with StunTimeoutError after maxTransmissions, RTO doubling', async () => {
      const silent = await socket()
      const started = Date.now()
      const err = await client(await socket(), { rto: 20, maxTransmissions: 3 }).binding(silent.address()).catch(e => e)

      expect(err).to.be.an.instanceOf(StunTimeoutError)
      expect(err.name).to.equal('StunTimeoutError')
      // sends at 0, 20, 60 ms; gives up at 140 ms
      expect(Date.now() - started).to.be.at.least(130)
      expect(silent.received).to.have.length(3)
    })

    it('clears every timer when aborted, and sends nothing more', async () => {
      const silent = await socket()
      const c = client(await socket(), { rto: 50 })
      const timersBefore = countTimers()
      const controller = new AbortController()
      const pending = c.binding(silent.address(), { signal: controller.signal })
      await until(() => silent.received.length === 1)
      expect(countTimers()).to.be.above(timersBefore)

      controller.abort()
      await expect(pending).to.eventually.be.rejected.with.property('name', 'AbortError')
      expect(c.pending).to.equal(0)
      expect(countTimers()).to.equal(timersBefore)
      await delay(300)
      expect(silent.received).to.have.length(1)
    })

    it('rejects at once for an already aborted signal, without sending', async () => {
      const silent = await socket()
      const err = await client(await socket()).binding(silent.address(), { signal: AbortSignal.abort() }).catch(e => e)
      expect(err).to.have.property('name', 'AbortError')
      await delay(50)
      expect(silent.received).to.have.length(0)
    })

    it('rejects pending requests with StunClientClosedError on close', async () => {
      const silent = await socket()
      const s = await socket()
      const c = client(s)
      const pending = c.binding(silent.address())
      await until(() => silent.received.length === 1)
      c.close()
      await expect(pending).to.eventually.be.rejected.with.property('name', StunClientClosedError.name)
      expect(s.handlerCount).to.equal(0)
    })
  })

  describe('response matching', () => {
    it('drops an answer with the right transaction id from the wrong source', async () => {
      const fake = await socket()
      const elsewhere = await socket()
      fake.addHandler({
        name: 'wrong-source',
        matches: isStunMessage,
        handle: (data, from) => {
          const req = decodeStunMessage(data)
          const res = encodeStunMessage({ method: METHOD_BINDING, class: 'success', transactionId: req.transactionId, attributes: { xorMappedAddress: from } })
          void elsewhere.send(res, from.port, from.host)
        }
      })
      const clientSocket = await socket()
      const err = await client(clientSocket, { rto: 20, maxTransmissions: 2 }).binding(fake.address()).catch(e => e)

      expect(err).to.be.an.instanceOf(StunTimeoutError)
      expect(clientSocket.drops.map(d => d.reason)).to.include('stun-unexpected-source')
    })

    it('does not claim responses to transactions it did not start', async () => {
      const clientSocket = await socket()
      const raw = await socket()
      client(clientSocket)
      const stray = encodeStunMessage({ method: METHOD_BINDING, class: 'success', transactionId: createTransactionId(), attributes: { xorMappedAddress: raw.address() } })
      await raw.send(stray, clientSocket.address().port, '127.0.0.1')
      await until(() => clientSocket.drops.length === 1)
      expect(clientSocket.drops[0].reason).to.equal('unclaimed')
    })

    it('rejects a success answer without a mapped address with InvalidStunResponseError', async () => {
      const fake = await socket()
      fake.addHandler({
        name: 'no-address',
        matches: isStunMessage,
        handle: (data, from) => {
          const req = decodeStunMessage(data)
          void fake.send(encodeStunMessage({ method: METHOD_BINDING, class: 'success', transactionId: req.transactionId, attributes: {} }), from.port, from.host)
        }
      })
      const err = await client(await socket()).binding(fake.address()).catch(e => e)
      expect(err).to.be.an.instanceOf(InvalidStunResponseError)
    })

    it('asks again without PADDING when a server answers 420 for it', async () => {
      const fake = await socket()
      const paddings: Array<number | undefined> = []
      fake.addHandler({
        name: 'no-padding-server',
        matches: isStunMessage,
        handle: (data, from) => {
          const req = decodeStunMessage(data)
          paddings.push(req.attributes.padding)
          const attributes: StunAttributes = req.attributes.padding != null
            ? { errorCode: { code: 420, reason: 'Unknown Attribute' }, unknownAttributes: [ATTR.PADDING] }
            : { xorMappedAddress: from }
          void fake.send(encodeStunMessage({ method: METHOD_BINDING, class: req.attributes.padding != null ? 'error' : 'success', transactionId: req.transactionId, attributes }), from.port, from.host)
        }
      })
      const clientSocket = await socket()
      const result = await client(clientSocket).binding(fake.address())
      expect(result.mapped).to.deep.equal(clientSocket.address())
      expect(paddings).to.have.length(2)
      expect(paddings[0]).to.be.a('number')
      expect(paddings[1]).to.be.undefined()
    })

    it('refuses a server that is not an IP address and port', async () => {
      const c = client(await socket())
      await expect(c.binding({ host: 'stun.example.com', port: 3478 })).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
      await expect(c.binding({ host: '127.0.0.1', port: 0 })).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
    })
  })

  describe('server protections', () => {
    it('never answers with more bytes than the request carried', async () => {
      const a = await socket()
      const b = await socket()
      server(a, { alternates: { changePort: b }, software: 'libp2p-udp-holepunch test server' })
      const raw = await socket()
      const got = collect(raw)

      // 28 bytes (with FINGERPRINT): too small for any answer
      await raw.send(request(), a.address().port, '127.0.0.1')
      // 48 bytes: too small for the RFC 5780 answer (XOR-MAPPED, RESPONSE-ORIGIN, OTHER-ADDRESS, FINGERPRINT = 64)
      await raw.send(request({ padding: 16 }), a.address().port, '127.0.0.1')
      // 64 bytes: just fits, without SOFTWARE
      await raw.send(request({ padding: 32 }), a.address().port, '127.0.0.1')
      // 200 bytes: fits with SOFTWARE
      await raw.send(request({ padding: 168 }), a.address().port, '127.0.0.1')
      await until(() => a.drops.length === 2 && got.length === 2)

      expect(a.drops.map(d => d.reason)).to.deep.equal(['stun-request-too-small', 'stun-request-too-small'])
      expect(got.map(g => g.data.length)).to.deep.equal([64, 100])
      expect(decodeStunMessage(got[0].data).attributes.software).to.be.undefined()
      expect(decodeStunMessage(got[1].data).attributes.software).to.equal('libp2p-udp-holepunch test server')
    })

    it('rate-limits requests per source IP', async () => {
      const serverSocket = await socket()
      server(serverSocket, { perSourceRate: { rate: 0.001, burst: 3 } })
      const raw = await socket()
      const got = collect(raw)

      for (let i = 0; i < 6; i++) {
        await raw.send(request({ padding: 64 }), serverSocket.address().port, '127.0.0.1')
      }

      await until(() => got.length + serverSocket.drops.length === 6)
      expect(got).to.have.length(3)
      expect(serverSocket.drops.map(d => d.reason)).to.deep.equal(['stun-source-limited', 'stun-source-limited', 'stun-source-limited'])
    })

    it('rate-limits requests globally, across sources', async () => {
      const serverSocket = await socket()
      server(serverSocket, { globalRate: { rate: 0.001, burst: 2 } })
      const raws = [await socket(), await socket(), await socket()]
      const got = raws.map(collect)

      for (const raw of raws) {
        await raw.send(request({ padding: 64 }), serverSocket.address().port, '127.0.0.1')
      }

      await until(() => got.flat().length + serverSocket.drops.length === 3)
      expect(got.flat()).to.have.length(2)
      expect(serverSocket.drops.map(d => d.reason)).to.deep.equal(['stun-global-limited'])
    })

    it('answers an unknown comprehension-required attribute with 420 and drops malformed requests', async () => {
      const serverSocket = await socket()
      server(serverSocket)
      const raw = await socket()
      const got = collect(raw)
      await raw.send(request({ padding: 64 }, { extraAttributes: [{ type: 0x7777, value: new Uint8Array(4) }] }), serverSocket.address().port, '127.0.0.1')
      const broken = request({ padding: 64 })
      broken[broken.length - 1] ^= 1
      await raw.send(broken, serverSocket.address().port, '127.0.0.1')
      await until(() => got.length === 1 && serverSocket.drops.length === 1)

      const answer = decodeStunMessage(got[0].data)
      expect(answer.class).to.equal('error')
      expect(answer.attributes.errorCode?.code).to.equal(420)
      expect(answer.attributes.unknownAttributes).to.deep.equal([0x7777])
      expect(serverSocket.drops[0].reason).to.equal('stun-malformed')
    })

    it('does not claim STUN responses, so a client can share its socket', async () => {
      const shared = await socket()
      const other = await socket()
      server(shared)
      server(other)
      const result = await client(shared).binding(other.address())
      expect(result.mapped).to.deep.equal(shared.address())
    })
  })

  describe('pacing', () => {
    it('starts at most 10 new transactions per second', async () => {
      const serverSocket = await socket()
      server(serverSocket)
      const arrivals: number[] = []
      serverSocket.inboundFilter = () => { arrivals.push(Date.now()); return true }
      const c = client(await socket(), { pacer: new TransactionPacer({ perSecond: 10 }) })
      const started = Date.now()
      await Promise.all(Array.from({ length: 5 }, async () => c.binding(serverSocket.address())))

      expect(Date.now() - started).to.be.at.least(390)
      expect(arrivals).to.have.length(5)

      for (let i = 1; i < arrivals.length; i++) {
        expect(arrivals[i] - arrivals[i - 1], `gap ${i}`).to.be.at.least(80)
      }
    })
  })
})
