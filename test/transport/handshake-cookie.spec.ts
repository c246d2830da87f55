import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { HANDSHAKE_COOKIE_BUCKET_MS, HANDSHAKE_COOKIE_SIZE } from '../../src/constants.ts'
import { SocketPool } from '../../src/socket/socket-pool.ts'
import { HandshakeAcceptor, sourceKey } from '../../src/transport/handshake-acceptor.ts'
import { HandshakeHandler } from '../../src/transport/handshake-handler.ts'
import { cookieBucket, decodeHandshake, encodeHandshake, HandshakeType, isHandshakeDatagram, mintCookie, verifyCookie } from '../../src/transport/handshake-message.ts'
import type { BoundSocket } from '../../src/socket/bound-socket.ts'
import type { CookieSubject, HandshakeMessage } from '../../src/transport/handshake-message.ts'
import type { UDXStream } from 'udx-native'

describe('handshake cookies', () => {
  const secret = randomBytes(32)
  const subject: CookieSubject = { host: '198.51.100.7', port: 40_000, nonce: randomBytes(8), streamId: 0x1234_5678 }
  const bucket = 1_000
  const secretFor = (b: number): Uint8Array | undefined => b >= 0 ? secret : undefined

  it('verifies in the bucket it was minted in and the next one', () => {
    const cookie = mintCookie(secret, bucket, subject)
    expect(cookie).to.have.lengthOf(HANDSHAKE_COOKIE_SIZE)
    expect(cookieBucket(cookie)).to.equal(bucket)
    expect(verifyCookie(cookie, subject, bucket, secretFor)).to.equal('valid')
    expect(verifyCookie(cookie, subject, bucket + 1, secretFor)).to.equal('valid')
  })

  it('is expired two buckets later, and refused from the future', () => {
    const cookie = mintCookie(secret, bucket, subject)
    expect(verifyCookie(cookie, subject, bucket + 2, secretFor)).to.equal('expired')
    expect(verifyCookie(cookie, subject, bucket - 1, secretFor)).to.equal('expired')
  })

  it('is invalid for another source address, port, nonce or stream id', () => {
    const cookie = mintCookie(secret, bucket, subject)
    expect(verifyCookie(cookie, { ...subject, host: '198.51.100.8' }, bucket, secretFor)).to.equal('invalid')
    expect(verifyCookie(cookie, { ...subject, port: subject.port + 1 }, bucket, secretFor)).to.equal('invalid')
    expect(verifyCookie(cookie, { ...subject, nonce: randomBytes(8) }, bucket, secretFor)).to.equal('invalid')
    expect(verifyCookie(cookie, { ...subject, streamId: subject.streamId + 1 }, bucket, secretFor)).to.equal('invalid')
  })

  it('is invalid when forged: random tag, moved bucket, other secret, unknown secret, wrong size', () => {
    const cookie = mintCookie(secret, bucket, subject)
    const randomTag = cookie.slice()
    randomTag.set(randomBytes(16), 4)
    expect(verifyCookie(randomTag, subject, bucket, secretFor)).to.equal('invalid')

    // an attacker extending a cookie's life by editing its bucket
    const moved = mintCookie(secret, bucket, subject)
    new DataView(moved.buffer).setUint32(0, bucket + 1)
    expect(verifyCookie(moved, subject, bucket + 2, secretFor)).to.equal('invalid')

    expect(verifyCookie(mintCookie(randomBytes(32), bucket, subject), subject, bucket, secretFor)).to.equal('invalid')
    expect(verifyCookie(cookie, subject, bucket, () => undefined)).to.equal('invalid')
    expect(verifyCookie(cookie.subarray(1), subject, bucket, secretFor)).to.equal('invalid')
  })

  it('finds no valid cookie among 10,000 random ones', () => {
    for (let i = 0; i < 10_000; i++) {
      const forged = randomBytes(HANDSHAKE_COOKIE_SIZE)
      new DataView(forged.buffer, forged.byteOffset).setUint32(0, bucket)
      expect(verifyCookie(forged, subject, bucket, secretFor)).to.equal('invalid')
    }
  })

  it('counts IPv4 addresses one by one and IPv6 addresses by /64', () => {
    expect(sourceKey('203.0.113.9')).to.equal('203.0.113.9')
    expect(sourceKey('2001:db8:1:2::1')).to.equal('2001:db8:1:2::/64')
    expect(sourceKey('2001:db8:1:2:ffff:eeee:dddd:cccc')).to.equal('2001:db8:1:2::/64')
    expect(sourceKey('2001:0DB8:0001:0002::7')).to.equal('2001:db8:1:2::/64')
    expect(sourceKey('2001:db8::1')).to.equal('2001:db8:0:0::/64')
    expect(sourceKey('2001:db8:0:1::1')).to.not.equal(sourceKey('2001:db8::1'))
    expect(sourceKey('::1')).to.equal('0:0:0:0::/64')
    expect(sourceKey('fe80::1%eth0')).to.equal('fe80:0:0:0::/64')
    expect(sourceKey('::ffff:192.0.2.1')).to.equal('192.0.2.1')
    expect(sourceKey('64:ff9b::192.0.2.1')).to.equal('64:ff9b:0:0::/64')
    expect(sourceKey('not:an:address::x')).to.equal('not:an:address::x')
  })
})

/**
 * A handshake client on its own UDP socket that records every answer
 */
class Client {
  readonly answers: HandshakeMessage[] = []
  readonly sizes: number[] = []
  private constructor (readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (msg) => {
      if (!isHandshakeDatagram(msg)) {
        // UDX packets of the listener's half-open streams
        return
      }

      this.sizes.push(msg.byteLength)
      this.answers.push(decodeHandshake(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)))
    })
  }

  static async create (listenerPort: number, host = '127.0.0.1'): Promise<Client> {
    const socket = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, host, () => { socket.off('error', reject); resolve() })
    })
    return new Client(socket, listenerPort)
  }

  open (nonce: Uint8Array, streamId: number, cookie?: Uint8Array): void {
    this.socket.send(encodeHandshake({ type: HandshakeType.OPEN, nonce, streamId, echoedStreamId: 0, cookie }), this.port, '127.0.0.1')
  }

  async next (): Promise<HandshakeMessage> {
    const count = this.answers.length
    const deadline = Date.now() + 2_000
    while (this.answers.length === count) {
      if (Date.now() > deadline) {
        throw new Error('no answer')
      }
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    return this.answers[this.answers.length - 1]
  }

  async close (): Promise<void> {
    await new Promise<void>(resolve => { this.socket.close(() => { resolve() }) })
  }
}

describe('handshake acceptor with cookies on real sockets', function () {
  this.timeout(20_000)
  let pool: SocketPool
  let socket: BoundSocket
  let acceptor: HandshakeAcceptor<UDXStream>
  let clients: Client[]
  let now: number

  async function setup (init: { maxHalfOpen?: number, maxHalfOpenPerSource?: number, cookieThreshold?: number }): Promise<void> {
    pool = new SocketPool({ logger: defaultLogger() })
    const handlers = new Map<BoundSocket, HandshakeHandler>()
    pool.addSocketHandler(s => {
      const handler = new HandshakeHandler(s, defaultLogger().forComponent('test:handshake'))
      handlers.set(s, handler)
      return handler
    })
    socket = pool.bindListener('127.0.0.1', 0)
    now = 1_700_000_000_000
    acceptor = new HandshakeAcceptor<UDXStream>({
      pool,
      socket,
      log: defaultLogger().forComponent('test:acceptor'),
      createConnection: (stream) => stream,
      onConnection: () => {},
      now: () => now,
      ...init
    })
    const handler = handlers.get(socket)
    if (handler == null) {
      throw new Error('no handler')
    }
    handler.acceptor = acceptor
  }

  async function client (host = '127.0.0.1'): Promise<Client> {
    const c = await Client.create(socket.address().port, host)
    clients.push(c)
    return c
  }

  beforeEach(() => {
    clients = []
  })

  afterEach(async () => {
    acceptor?.close()
    await Promise.all(clients.map(async c => { await c.close() }))
    await pool?.close()
  })

  it('answers a cookie-less OPEN with a RETRY and keeps no state, then accepts the OPEN with the cookie', async () => {
    await setup({ cookieThreshold: 0 })
    const c = await client()
    const nonce = randomBytes(8)

    c.open(nonce, 77)
    const retry = await c.next()
    expect(retry.type).to.equal(HandshakeType.RETRY)
    expect(retry.nonce).to.equalBytes(nonce)
    expect(retry.echoedStreamId).to.equal(77)
    expect(acceptor.halfOpenCount).to.equal(0)
    expect(c.sizes[0]).to.be.below(64)

    c.open(nonce, 77, retry.cookie)
    const accept = await c.next()
    expect(accept.type).to.equal(HandshakeType.ACCEPT)
    expect(accept.echoedStreamId).to.equal(77)
    expect(acceptor.halfOpenCount).to.equal(1)
    expect(acceptor.events.get('cookie_valid')).to.equal(1)

    // a resent OPEN with the same key gets the same ACCEPT, no new entry
    c.open(nonce, 77, retry.cookie)
    expect((await c.next()).streamId).to.equal(accept.streamId)
    expect(acceptor.halfOpenCount).to.equal(1)
  })

  it('answers an expired cookie with a fresh RETRY', async () => {
    await setup({ cookieThreshold: 0 })
    const c = await client()
    const nonce = randomBytes(8)
    c.open(nonce, 5)
    const retry = await c.next()

    now += 2 * HANDSHAKE_COOKIE_BUCKET_MS
    c.open(nonce, 5, retry.cookie)
    const again = await c.next()
    expect(again.type).to.equal(HandshakeType.RETRY)
    expect(again.cookie).to.not.equalBytes(retry.cookie as Uint8Array)
    expect(acceptor.events.get('cookie_expired')).to.equal(1)
    expect(acceptor.halfOpenCount).to.equal(0)

    c.open(nonce, 5, again.cookie)
    expect((await c.next()).type).to.equal(HandshakeType.ACCEPT)
  })

  it('refuses a cookie from another source port, for another stream id, or forged', async () => {
    await setup({ cookieThreshold: 0 })
    const victim = await client()
    const other = await client()
    const nonce = randomBytes(8)
    victim.open(nonce, 5)
    const { cookie } = await victim.next()

    other.open(nonce, 5, cookie)
    expect((await other.next()).type).to.equal(HandshakeType.RETRY)
    victim.open(nonce, 6, cookie)
    expect((await victim.next()).type).to.equal(HandshakeType.RETRY)
    const forged = (cookie as Uint8Array).slice()
    forged[19] ^= 1
    victim.open(nonce, 5, forged)
    expect((await victim.next()).type).to.equal(HandshakeType.RETRY)

    expect(acceptor.events.get('cookie_invalid')).to.equal(3)
    expect(acceptor.halfOpenCount).to.equal(0)
  })

  it('holds one source to its quota without a cookie, and lets it in with one', async () => {
    await setup({ maxHalfOpenPerSource: 2 })
    const c = await client()

    for (let i = 1; i <= 2; i++) {
      c.open(randomBytes(8), i)
      expect((await c.next()).type).to.equal(HandshakeType.ACCEPT)
    }

    // a third: over the source's quota, a RETRY and no state
    const nonce = randomBytes(8)
    c.open(nonce, 3)
    const retry = await c.next()
    expect(retry.type).to.equal(HandshakeType.RETRY)
    expect(acceptor.halfOpenCount).to.equal(2)

    // with the cookie it counts against the verified quota
    c.open(nonce, 3, retry.cookie)
    expect((await c.next()).type).to.equal(HandshakeType.ACCEPT)
    expect(acceptor.halfOpenCount).to.equal(3)
  })

  it('drops verified OPENs of a source over its verified quota', async () => {
    await setup({ maxHalfOpenPerSource: 2, cookieThreshold: 0 })
    const c = await client()

    for (let i = 1; i <= 3; i++) {
      const nonce = randomBytes(8)
      c.open(nonce, i)
      const { cookie } = await c.next()
      c.open(nonce, i, cookie)

      if (i <= 2) {
        expect((await c.next()).type).to.equal(HandshakeType.ACCEPT)
      }
    }

    await new Promise(resolve => setTimeout(resolve, 100))
    expect(acceptor.halfOpenCount).to.equal(2)
    expect(socket.dropped.get('handshake-source-limit')).to.equal(1)
  })

  it('lets a verified OPEN into a full table by evicting the oldest unverified entry', async function () {
    await setup({ maxHalfOpen: 4, maxHalfOpenPerSource: 4, cookieThreshold: 1 })
    // Linux answers all of 127.0.0.0/8 on lo; other hosts may not
    const junk = await client('127.0.0.2').catch(() => this.skip())

    for (let i = 1; i <= 4; i++) {
      junk.open(randomBytes(8), i)
      expect((await junk.next()).type).to.equal(HandshakeType.ACCEPT)
    }
    expect(acceptor.halfOpenCount).to.equal(4)

    const honest = await client('127.0.0.3')
    const nonce = randomBytes(8)
    honest.open(nonce, 9)
    const retry = await honest.next()
    expect(retry.type).to.equal(HandshakeType.RETRY, 'full table: cookie required')
    honest.open(nonce, 9, retry.cookie)
    expect((await honest.next()).type).to.equal(HandshakeType.ACCEPT)
    expect(acceptor.halfOpenCount).to.equal(4)
    expect(acceptor.events.get('evicted')).to.equal(1)
  })
})
