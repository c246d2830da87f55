import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import { expect } from 'aegir/chai'
import { UDXTransport } from '../../src/index.ts'
import { encodeHandshake, HandshakeType } from '../../src/transport/handshake-message.ts'
import { createUdxNode } from '../fixtures/create-node.ts'
import type { TestNode } from '../fixtures/create-node.ts'

const JUNK_DATAGRAMS = 10_000

function getTransport (node: TestNode): UDXTransport {
  return (node as any).components.transportManager.getTransports()
    .find((t: any) => t instanceof UDXTransport)
}

/**
 * Datagrams that must all be dropped: random bytes, random bytes behind
 * each magic byte we or udx-native route on, truncated and padded handshake
 * messages, and handshake messages with broken fields
 */
/**
 * Datagrams the kernel dropped for a full receive buffer on the UDP socket
 * bound to `port` (the `drops` column of /proc/net/udp)
 */
function kernelDrops (port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')

  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)

    if (fields[1]?.endsWith(`:${hexPort}`)) {
      return parseInt(fields[fields.length - 1], 10)
    }
  }

  return 0
}

function junkDatagram (i: number): Uint8Array {
  const open = encodeHandshake({ type: HandshakeType.OPEN, nonce: randomBytes(8), streamId: 1 + i, echoedStreamId: 0 })

  switch (i % 8) {
    case 0: return randomBytes(1 + (i % 1400))
    case 1: return Uint8Array.from([0xFF, 0x01, ...randomBytes(i % 60)]) // looks like UDX, unknown stream
    case 2: return Uint8Array.from([0xA6, ...randomBytes(i % 80)]) // handshake magic, random body
    case 3: return open.subarray(0, i % 64) // truncated OPEN
    case 4: return Uint8Array.from([...open, 0]) // OPEN one byte too long
    case 5: { const bad = open.slice(); bad[1] = 2; return bad } // unknown version
    case 6: { const bad = open.slice(); bad[2] = 9; return bad } // unknown type
    default: return encodeHandshake({ type: HandshakeType.ACCEPT, nonce: randomBytes(8), streamId: 7, echoedStreamId: 9 }) // ACCEPT nobody asked for
  }
}

describe('a udx listener flooded with malformed datagrams', function () {
  this.timeout(120_000)
  let listener: TestNode
  let dialer: TestNode
  let flooder: dgram.Socket

  beforeEach(async () => {
    listener = await createUdxNode()
    dialer = await createUdxNode()
    flooder = dgram.createSocket('udp4')
    await new Promise<void>(resolve => { flooder.bind(0, '127.0.0.1', resolve) })
  })

  afterEach(async () => {
    flooder?.close()
    await dialer?.stop()
    await listener?.stop()
  })

  it('drops and counts every one, stays up, and keeps serving real connections during the flood', async () => {
    const transport = getTransport(listener)
    const [socket] = transport.getListenSockets()
    const { port } = socket.address()
    const droppedBefore = socket.droppedCount
    const kernelDropsBefore = kernelDrops(port)

    // a valid OPEN, replayed 500 times from the same source: one half-open
    // entry, answered again each time, nothing else
    const replayed = encodeHandshake({ type: HandshakeType.OPEN, nonce: randomBytes(8), streamId: 42, echoedStreamId: 0 })

    const flood = (async () => {
      for (let i = 0; i < JUNK_DATAGRAMS; i++) {
        flooder.send(junkDatagram(i), port, '127.0.0.1')

        if (i % 20 === 0) {
          flooder.send(replayed, port, '127.0.0.1')
        }

        // yield in bursts so the kernel buffer is not the thing under test
        if (i % 50 === 49) {
          await new Promise(resolve => setTimeout(resolve, 1))
        }
      }
    })()

    // real connections made during the flood work
    const echoes = []
    for (let i = 0; i < 5; i++) {
      echoes.push(dialer.services.echo.echo(listener.getMultiaddrs()[0], Uint8Array.from([i]), { signal: AbortSignal.timeout(10_000), force: i === 0 }))
      await new Promise(resolve => setTimeout(resolve, 20))
    }

    await flood
    const outputs = await Promise.all(echoes)
    outputs.forEach((output, i) => { expect(output.subarray()).to.equalBytes(Uint8Array.from([i])) })

    // let the last datagrams arrive
    await new Promise(resolve => setTimeout(resolve, 300))

    const dropped = socket.droppedCount - droppedBefore
    const lostInKernel = kernelDrops(port) - kernelDropsBefore
    expect(dropped).to.be.at.most(JUNK_DATAGRAMS, 'only junk is counted as dropped')
    expect(dropped + lostInKernel).to.be.at.least(JUNK_DATAGRAMS, 'every junk datagram is accounted for')
    expect(dropped).to.be.at.least(JUNK_DATAGRAMS * 0.9)
    expect(socket.dropped.get('udx-unknown-stream')).to.be.greaterThan(0)
    expect(socket.dropped.get('handshake-invalid')).to.be.greaterThan(0)
    expect(socket.dropped.get('handshake-unexpected')).to.be.greaterThan(0)

    // the node still works after the flood
    const rtt = await dialer.services.ping.ping(listener.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) })
    expect(rtt).to.be.a('number')
  })
})
