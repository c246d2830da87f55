import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { STUN_SERVER_PER_IP_BURST } from '../../src/constants.ts'
import { encodeStunMessage } from '../../src/nat/stun/encode.ts'
import { METHOD_BINDING } from '../../src/nat/stun/message.ts'
import { rateLimitSource, StunServer } from '../../src/nat/stun/server.ts'
import { createTransactionId } from '../../src/nat/stun/transaction-id.ts'
import { DgramSocket } from './dgram-socket.ts'
import { RecordingSocket } from './stun/recording-socket.ts'
import type { RemoteInfo } from '../../src/socket/datagram-socket.ts'

function request (): Uint8Array {
  // padded so that the answer fits (the server never answers with more bytes than it got)
  return encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId: createTransactionId(), attributes: { padding: 64 } })
}

function from (host: string, port = 40_000): RemoteInfo {
  return { host, port, family: host.includes(':') ? 6 : 4 }
}

describe('nat/stun server rate limits by source', () => {
  describe('rateLimitSource', () => {
    const cases: Array<[string, string]> = [
      ['192.0.2.1', '192.0.2.1'],
      ['::ffff:192.0.2.1', '192.0.2.1'],
      ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
      ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:DB8:0001:0002:0:0:0:9', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8::/64'],
      ['::1', '::/64'],
      ['not an address', 'not an address']
    ]

    for (const [host, key] of cases) {
      it(`counts ${host} as ${key}`, () => {
        expect(rateLimitSource(host)).to.equal(key)
      })
    }

    it('tells apart neighbouring /64s and honours another prefix length', () => {
      expect(rateLimitSource('2001:db8:1:2::1')).to.not.equal(rateLimitSource('2001:db8:1:3::1'))
      expect(rateLimitSource('2001:db8:1:2::1', 48)).to.equal(rateLimitSource('2001:db8:1:3::1', 48))
      expect(rateLimitSource('2001:db8:1:2::1', 48)).to.equal('2001:db8:1::/48')
      expect(rateLimitSource('2001:db8:1:2::1', 60)).to.equal('2001:db8:1::/60')
      expect(rateLimitSource('2001:db8:1:2::1', 128)).to.equal('2001:db8:1:2::1/128')
    })
  })

  describe('StunServer', () => {
    let socket: RecordingSocket
    let server: StunServer
    const now = 1_000_000

    beforeEach(() => {
      socket = new RecordingSocket()
      server = new StunServer({ logger: defaultLogger() }, {
        socket,
        perSourceRate: { rate: 0.001, burst: 2 },
        globalRate: { rate: 1_000, burst: 10_000 },
        now: () => now
      })
    })

    it('gives all addresses of one IPv6 /64 one budget', () => {
      for (const host of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3', '2001:db8:1:2::4']) {
        server.handle(request(), from(host), socket)
      }

      expect(socket.sent).to.have.lengthOf(2)
      expect(socket.drops).to.deep.equal(['stun-source-limited', 'stun-source-limited'])

      // the neighbouring /64 has its own budget
      server.handle(request(), from('2001:db8:1:3::1'), socket)
      expect(socket.sent).to.have.lengthOf(3)
    })

    it('does not let a client escape the limit by walking through its /64', () => {
      for (let i = 1; i <= 1_000; i++) {
        server.handle(request(), from(`2001:db8:aa:bb::${i.toString(16)}`), socket)
      }

      expect(socket.sent).to.have.lengthOf(2)
      expect(socket.drops).to.have.lengthOf(998)
    })

    it('still counts IPv4 sources one address at a time', () => {
      for (const host of ['192.0.2.1', '192.0.2.1', '192.0.2.1', '192.0.2.2', '::ffff:192.0.2.2']) {
        server.handle(request(), from(host), socket)
      }

      expect(socket.sent.map(s => s.host)).to.deep.equal(['192.0.2.1', '192.0.2.1', '192.0.2.2', '::ffff:192.0.2.2'])
      expect(socket.drops).to.deep.equal(['stun-source-limited'])
    })
  })

  it('limits a real client on ::1 by its source prefix (IPv6 loopback, when the host has it)', async function () {
    const serverSocket = await DgramSocket.bind('::1').catch(() => undefined)

    if (serverSocket == null) {
      return this.skip()
    }

    const client = await DgramSocket.bind('::1')
    const server = new StunServer({ logger: defaultLogger() }, { socket: serverSocket, perSourceRate: { rate: 0.001, burst: STUN_SERVER_PER_IP_BURST } })
    server.start()

    try {
      let answers = 0
      client.addHandler({ name: 'count', matches: () => true, handle: () => { answers++ } })

      for (let i = 0; i < STUN_SERVER_PER_IP_BURST + 5; i++) {
        await client.send(request(), serverSocket.address().port, '::1')
      }

      // the drops are counted at once, the answers arrive a little later
      const done = (): boolean => serverSocket.drops.length >= 5 && answers >= STUN_SERVER_PER_IP_BURST
      const deadline = Date.now() + 2_000
      while (!done() && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 10))
      }

      expect(answers).to.equal(STUN_SERVER_PER_IP_BURST)
      expect(serverSocket.drops.map(d => d.reason)).to.deep.equal(new Array(5).fill('stun-source-limited'))
    } finally {
      server.stop()
      await client.close()
      await serverSocket.close()
    }
  })
})
