import { expect } from 'aegir/chai'
import { COORDINATION_PROTOCOL } from '../../src/constants.ts'
import { CoordinationChannel } from '../../src/service/coordination-channel.ts'
import { openCoordinationStream } from '../../src/service/coordination-stream.ts'
import { createUdxNode } from '../fixtures/create-node.ts'
import type { CoordinationMessage } from '../../src/protocol/messages.ts'
import type { TestNode } from '../fixtures/create-node.ts'
import type { Connection } from '@libp2p/interface'

const SESSION = new Uint8Array(8).fill(7)

function abortMessage (message: string): CoordinationMessage {
  return { type: 'abort', abort: { sessionId: SESSION, reason: 'cancelled', message } }
}

/**
 * The coordination stream is opened with optimistic multistream-select: the
 * protocol proposal leaves with the first message, so OFFER costs no extra
 * round trip (docs/PROTOCOL.md, section 3)
 */
describe('opening the coordination stream', function () {
  this.timeout(20_000)
  let dialer: TestNode
  let listener: TestNode
  let connection: Connection

  beforeEach(async () => {
    dialer = await createUdxNode()
    listener = await createUdxNode()
    connection = await dialer.dial(listener.getMultiaddrs()[0])
  })

  afterEach(async () => {
    await dialer?.stop()
    await listener?.stop()
  })

  it('sends nothing until the first message, then the proposal and the message together', async () => {
    const received: CoordinationMessage[] = []
    let handlerCalls = 0
    await listener.handle(COORDINATION_PROTOCOL, async (stream) => {
      handlerCalls++
      const channel = new CoordinationChannel(stream)
      received.push(await channel.read())
      await channel.send(abortMessage('reply'))
    })

    const opened = await openCoordinationStream(connection, { signal: AbortSignal.timeout(5_000) })

    // with a fully negotiated stream the listener's handler would already
    // have run: multistream-select finishes before newStream resolves
    expect(opened.pendingProtocol).to.equal(COORDINATION_PROTOCOL)
    expect(handlerCalls).to.equal(0)

    const channel = new CoordinationChannel(opened.stream, { pendingProtocol: opened.pendingProtocol })
    expect(channel.negotiation).to.equal('optimistic')
    await channel.send(abortMessage('first'))
    const reply = await channel.read({ signal: AbortSignal.timeout(5_000) })

    expect(handlerCalls).to.equal(1)
    expect(received).to.have.lengthOf(1)
    expect(received[0]).to.have.nested.property('abort.message', 'first')
    expect(reply).to.have.nested.property('abort.message', 'reply')
    expect(opened.stream.protocol).to.equal(COORDINATION_PROTOCOL)
  })

  it('rejects the first read with UnsupportedProtocolError when the peer does not run the protocol', async () => {
    const opened = await openCoordinationStream(connection, { signal: AbortSignal.timeout(5_000) })
    const channel = new CoordinationChannel(opened.stream, { pendingProtocol: opened.pendingProtocol })
    await channel.send(abortMessage('first'))

    await expect(channel.read({ signal: AbortSignal.timeout(5_000) })).to.eventually.be.rejected
      .with.property('name', 'UnsupportedProtocolError')
  })
})
