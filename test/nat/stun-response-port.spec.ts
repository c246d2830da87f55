import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { encodeResponsePortRequest } from '../../src/nat/port-mapping/response-port-request.ts'
import { StunMappingVerifier } from '../../src/nat/port-mapping/stun-mapping-verifier.ts'
import { decodeStunMessage, isStunMessage } from '../../src/nat/stun/decode.ts'
import { encodeStunMessage } from '../../src/nat/stun/encode.ts'
import { ATTR, METHOD_BINDING } from '../../src/nat/stun/message.ts'
import { installStunServers } from '../../src/nat/stun/server-set.ts'
import { StunServer } from '../../src/nat/stun/server.ts'
import { createTransactionId } from '../../src/nat/stun/transaction-id.ts'
import { DgramSocket } from './dgram-socket.ts'
import { RecordingSocket } from './stun/recording-socket.ts'
import type { DecodedStunMessage, StunAttributes } from '../../src/nat/stun/message.ts'
import type { InstallStunServersOptions, StunServerSet } from '../../src/nat/stun/server-set.ts'
import type { StunServerInit } from '../../src/nat/stun/server.ts'
import type { DatagramSocket, RemoteInfo } from '../../src/socket/datagram-socket.ts'

const components = { logger: defaultLogger() }

async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
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

/**
 * A Binding request; `software` pads it (RESPONSE-PORT must not come with
 * PADDING), so that the answer fits without amplification
 */
function request (attributes: StunAttributes = {}): Uint8Array {
  return encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes })
}

interface Received { data: Uint8Array, message: DecodedStunMessage, from: RemoteInfo }

describe('nat/stun server honours RESPONSE-PORT (RFC 5780 section 7.5) on real UDP sockets', function () {
  this.timeout(20_000)

  const closers: Array<() => Promise<void> | void> = []

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) {
      await close()
    }
  })

  async function socket (host = '127.0.0.1'): Promise<DgramSocket> {
    const s = await DgramSocket.bind(host, 0)
    closers.push(async () => { await s.close() })
    return s
  }

  function server (s: DgramSocket, init: Partial<StunServerInit> = {}): StunServer {
    const srv = new StunServer(components, { socket: s, ...init })
    srv.start()
    closers.push(() => { srv.stop() })
    return srv
  }

  /** every STUN message a socket receives, decoded */
  function collect (s: DgramSocket): Received[] {
    const got: Received[] = []
    s.addHandler({ name: 'collect', matches: isStunMessage, handle: (data, from) => { got.push({ data: data.slice(), message: decodeStunMessage(data), from }) } })
    return got
  }

  /**
   * Two sockets on one IP with a server set on them (change-port servers,
   * as on a relay that runs this package): `[a, b]`
   */
  async function serverPair (options: InstallStunServersOptions = {}, host = '127.0.0.1'): Promise<[DgramSocket, DgramSocket, StunServerSet]> {
    const a = await socket(host)
    const b = await socket(host)
    const set = installStunServers([a, b], components, options)
    closers.push(() => { set.stop() })
    return [a, b, set]
  }

  /**
   * A client socket and the socket its answers are redirected to
   * (RESPONSE-PORT), with what each receives
   */
  async function client (): Promise<{ src: DgramSocket, dst: DgramSocket, atSource: Received[], atTarget: Received[] }> {
    const src = await socket()
    const dst = await socket()
    return { src, dst, atSource: collect(src), atTarget: collect(dst) }
  }

  /** the port of a socket that was bound and closed again: nobody listens there */
  async function closedPort (): Promise<number> {
    const s = await DgramSocket.bind('127.0.0.1', 0)
    const { port } = s.address()
    await s.close()
    return port
  }

  it('answers at the RESPONSE-PORT of the request\'s source IP, with the request\'s source as XOR-MAPPED-ADDRESS, and not at the source port', async () => {
    const serverSocket = await socket()
    server(serverSocket)
    const { src, dst, atSource, atTarget } = await client()

    const bytes = request({ responsePort: dst.address().port, software: 'x'.repeat(40) })
    await src.send(bytes, serverSocket.address().port, '127.0.0.1')
    await until(() => atTarget.length === 1)

    const [answer] = atTarget
    expect(answer.message.class).to.equal('success')
    expect(answer.message.transactionId).to.deep.equal(bytes.subarray(8, 20))
    expect(answer.message.attributes.xorMappedAddress).to.deep.equal(src.address())
    expect(answer.from).to.deep.equal(serverSocket.address())
    expect(answer.data.length).to.be.at.most(bytes.length)
    // the server sent exactly one datagram, to the response port
    expect(serverSocket.sent).to.deep.equal([{ size: answer.data.length, port: dst.address().port, host: '127.0.0.1' }])
    expect(atSource).to.deep.equal([])
  })

  for (const host of ['127.0.0.1', '0.0.0.0']) {
    it(`answers from its other port when CHANGE-REQUEST asks for it: two sockets on ${host} (a relay's udx port and its second STUN port)`, async () => {
      const [a, b, set] = await serverPair({}, host)
      expect(set.servers.map(s => s.mode)).to.deep.equal(['change-port', 'change-port'])
      const { src, dst, atSource, atTarget } = await client()

      // the port-mapping verifier's own request
      const bytes = encodeResponsePortRequest({ transactionId: createTransactionId(), responsePort: dst.address().port })
      await src.send(bytes, a.address().port, '127.0.0.1')
      await until(() => atTarget.length === 1)

      const [answer] = atTarget
      expect(answer.message.class).to.equal('success')
      expect(answer.from.port).to.equal(b.address().port)
      expect(answer.message.attributes.xorMappedAddress).to.deep.equal(src.address())
      if (host === '127.0.0.1') {
        expect(answer.message.attributes.responseOrigin).to.deep.equal(b.address())
        expect(answer.message.attributes.otherAddress).to.deep.equal(b.address())
      }
      expect(answer.data.length).to.be.at.most(bytes.length)
      expect(a.sent).to.deep.equal([])
      expect(b.sent).to.deep.equal([{ size: answer.data.length, port: dst.address().port, host: '127.0.0.1' }])
      expect(atSource).to.deep.equal([])
    })
  }

  it('never answers at another port with more bytes than the request carried: a request one word too small is dropped', async () => {
    const [a, b] = await serverPair()
    const { src, dst, atTarget } = await client()
    const attributes = (software: number): StunAttributes => ({ responsePort: dst.address().port, changeRequest: { changeIp: false, changePort: true }, software: 's'.repeat(software) })

    // XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS and FINGERPRINT: 64 bytes
    const small = request(attributes(12))
    expect(small.length).to.equal(60)
    await src.send(small, a.address().port, '127.0.0.1')
    await until(() => a.drops.length === 1)
    expect(a.drops.map(d => d.reason)).to.deep.equal(['stun-request-too-small'])

    const exact = request(attributes(16))
    expect(exact.length).to.equal(64)
    await src.send(exact, a.address().port, '127.0.0.1')
    await until(() => atTarget.length === 1)
    expect(atTarget[0].data.length).to.equal(64)
    expect(atTarget[0].message.transactionId).to.deep.equal(exact.subarray(8, 20))
    expect([...a.sent, ...b.sent].map(s => s.size)).to.deep.equal([64])
  })

  it('refuses RESPONSE-PORT together with PADDING, and RESPONSE-PORT 0, with 400 at the source port', async () => {
    const serverSocket = await socket()
    server(serverSocket)
    const { src, dst, atSource, atTarget } = await client()

    await src.send(request({ responsePort: dst.address().port, padding: 64 }), serverSocket.address().port, '127.0.0.1')
    await src.send(request({ responsePort: 0, software: 'x'.repeat(40) }), serverSocket.address().port, '127.0.0.1')
    await until(() => atSource.length === 2)

    expect(atSource.map(r => r.message.class)).to.deep.equal(['error', 'error'])
    expect(atSource.map(r => r.message.attributes.errorCode?.code)).to.deep.equal([400, 400])
    expect(serverSocket.sent.map(s => s.port)).to.deep.equal([src.address().port, src.address().port])
    expect(atTarget).to.deep.equal([])
  })

  it('answers RESPONSE-PORT with 420 naming it when told not to honour it', async () => {
    const serverSocket = await socket()
    server(serverSocket, { responsePort: false })
    const { src, dst, atSource } = await client()

    await src.send(request({ responsePort: dst.address().port, software: 'x'.repeat(40) }), serverSocket.address().port, '127.0.0.1')
    await until(() => atSource.length === 1)

    expect(atSource[0].message.attributes.errorCode?.code).to.equal(420)
    expect(atSource[0].message.attributes.unknownAttributes).to.deep.equal([ATTR.RESPONSE_PORT])
  })

  it('answers a RESPONSE-PORT equal to the source port as a plain request, without spending the redirect budget', async () => {
    const serverSocket = await socket()
    server(serverSocket, { redirectPerSourceRate: { rate: 0.001, burst: 1 } })
    const src = await socket()
    const atSource = collect(src)

    for (let i = 0; i < 3; i++) {
      await src.send(request({ responsePort: src.address().port, software: 'x'.repeat(40) }), serverSocket.address().port, '127.0.0.1')
    }

    await until(() => atSource.length === 3)
    expect(atSource.map(r => r.message.class)).to.deep.equal(['success', 'success', 'success'])
    expect(serverSocket.drops).to.deep.equal([])
  })

  it('gives redirected answers a budget of their own per source: past it, the request is counted as dropped and answered with 500 at its source port; plain requests still get answers', async () => {
    const serverSocket = await socket()
    server(serverSocket, { redirectPerSourceRate: { rate: 0.001, burst: 2 } })
    const { src, dst, atSource, atTarget } = await client()

    for (let i = 0; i < 3; i++) {
      await src.send(request({ responsePort: dst.address().port, software: 'x'.repeat(40) }), serverSocket.address().port, '127.0.0.1')
    }

    await until(() => atTarget.length === 2 && atSource.length === 1)
    expect(serverSocket.drops.map(d => d.reason)).to.deep.equal(['stun-redirect-source-limited'])
    expect(atSource[0].message.class).to.equal('error')
    expect(atSource[0].message.attributes.errorCode?.code).to.equal(500)

    // an answer to the source port itself is not a redirect
    await src.send(request({ padding: 64 }), serverSocket.address().port, '127.0.0.1')
    await until(() => atSource.length === 2)
    expect(atSource[1].message.class).to.equal('success')
    expect(atTarget).to.have.length(2)
  })

  it('caps redirected answers globally, across sources', async () => {
    const serverSocket = await socket()
    server(serverSocket, { redirectGlobalRate: { rate: 0.001, burst: 2 } })
    const sources = [await socket(), await socket(), await socket()]
    const errors = sources.map(collect)
    const dst = await socket()
    const atTarget = collect(dst)

    for (const src of sources) {
      await src.send(request({ responsePort: dst.address().port, software: 'x'.repeat(40) }), serverSocket.address().port, '127.0.0.1')
    }

    await until(() => atTarget.length + errors.flat().length === 3)
    expect(atTarget).to.have.length(2)
    expect(errors.flat().map(r => r.message.attributes.errorCode?.code)).to.deep.equal([500])
    expect(serverSocket.drops.map(d => d.reason)).to.deep.equal(['stun-redirect-global-limited'])
  })

  it('shares one redirect budget among the servers of a set: asking each socket does not multiply it', async () => {
    const [a, b] = await serverPair({ redirectPerSourceRate: { rate: 0.001, burst: 2 } })
    const { src, dst, atSource, atTarget } = await client()

    for (const target of [a, b, a, b]) {
      await src.send(request({ responsePort: dst.address().port, software: 'x'.repeat(60) }), target.address().port, '127.0.0.1')
    }

    await until(() => atTarget.length + atSource.length === 4)
    expect(atTarget).to.have.length(2)
    expect(atSource.map(r => r.message.attributes.errorCode?.code)).to.deep.equal([500, 500])
    expect([...a.drops, ...b.drops].map(d => d.reason)).to.deep.equal(['stun-redirect-source-limited', 'stun-redirect-source-limited'])
  })

  describe('with the port-mapping verifier (StunMappingVerifier)', () => {
    /**
     * A verifier whose "mapped" socket is `mapped` and whose fresh sockets
     * come from a pool bound beforehand (openSocket is synchronous)
     */
    async function verifier (mapped: DgramSocket, servers: DgramSocket[]): Promise<StunMappingVerifier> {
      const fresh: DgramSocket[] = []

      for (let i = 0; i < servers.length; i++) {
        fresh.push(await socket())
      }

      return new StunMappingVerifier(components, {
        socket: (port) => mapped.address().port === port ? mapped : undefined,
        openSocket: () => {
          const s = fresh.shift()
          if (s == null) {
            throw new Error('no fresh socket left')
          }
          return s
        },
        closeSocket: async (s: DatagramSocket) => { await (s as DgramSocket).close() },
        servers: () => servers.map(s => ({ host: '127.0.0.1', port: s.address().port })),
        rtoMs: 50,
        maxTransmissions: 2
      })
    }

    it('verifies a working "mapping" through a set of two sockets on one IP (a relay that runs this package)', async () => {
      const [a, b] = await serverPair()
      const mapped = await socket()

      const outcome = await (await verifier(mapped, [a])).verify({ external: mapped.address(), internalPort: mapped.address().port })
      expect(outcome).to.equal('verified')
      // the answer came from the other port of the set
      expect(b.sent.map(s => s.port)).to.deep.equal([mapped.address().port])
      expect(a.sent).to.deep.equal([])
    })

    it('calls a "mapping" that forwards nothing failed: the server answered at the mapped port and nothing arrived', async () => {
      const [a, b] = await serverPair()
      const mapped = await socket()
      const nowhere = await closedPort()

      const outcome = await (await verifier(mapped, [a])).verify({ external: { host: '127.0.0.1', port: nowhere, family: 4 }, internalPort: mapped.address().port })
      expect(outcome).to.equal('failed')
      expect(b.sent.map(s => s.port)).to.deep.equal([nowhere, nowhere])
    })

    it('cannot verify through a server without RESPONSE-PORT or without a second port: unknown, never verified', async () => {
      const [refusing] = await serverPair({ responsePort: false })
      const alone = await socket()
      server(alone)
      const mapped = await socket()

      const outcome = await (await verifier(mapped, [refusing, alone])).verify({ external: mapped.address(), internalPort: mapped.address().port })
      expect(outcome).to.equal('unknown')
    })
  })
})

describe('nat/stun server RESPONSE-PORT destinations', () => {
  it('only ever sends to the request\'s own source IP, at the port it names, counting an IPv6 /64 as one source', () => {
    const socket = new RecordingSocket({ host: '198.51.100.1', port: 3478, family: 4 })
    const server = new StunServer(components, {
      socket,
      redirectPerSourceRate: { rate: 0.001, burst: 3 },
      now: () => 1_000_000
    })
    const from = (host: string): RemoteInfo => ({ host, port: 40_000, family: host.includes(':') ? 6 : 4 })
    const redirect = (port: number): Uint8Array => request({ responsePort: port, software: 'x'.repeat(80) })

    server.handle(redirect(1), from('192.0.2.7'), socket)
    server.handle(redirect(65535), from('192.0.2.7'), socket)
    server.handle(redirect(53), from('::ffff:192.0.2.8'), socket)

    for (const host of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3', '2001:db8:1:2::4']) {
      server.handle(redirect(50_000), from(host), socket)
    }

    expect(socket.sent).to.deep.equal([
      { host: '192.0.2.7', port: 1 },
      { host: '192.0.2.7', port: 65535 },
      { host: '::ffff:192.0.2.8', port: 53 },
      { host: '2001:db8:1:2::1', port: 50_000 },
      { host: '2001:db8:1:2::2', port: 50_000 },
      { host: '2001:db8:1:2:ffff::3', port: 50_000 },
      // the /64's budget of 3 is spent: a 500 at the source port instead
      { host: '2001:db8:1:2::4', port: 40_000 }
    ])
    expect(socket.drops).to.deep.equal(['stun-redirect-source-limited'])
  })
})
