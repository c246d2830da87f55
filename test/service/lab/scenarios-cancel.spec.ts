/* eslint-disable no-console */
import { expect } from 'aegir/chai'
import { startPeersBehindRelay, stopNodes } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'

/**
 * Cancelling a punch while it probes, from either side, through real NATs.
 * The punches are birthday punches (port-restricted ~ symmetric-random), so
 * the symmetric side holds many extra sockets when the punch is cancelled
 * and we can see them released. Lab hosts share one clock (network
 * namespaces of one kernel), so times from two nodes compare.
 */
describe('hole-punch scenario: cancellation mid-punch (NAT lab)', function () {
  this.timeout(3 * 60_000)
  let lab: Lab | undefined
  let relay: LabNode | undefined
  const nodes: Record<string, LabNode> = {}

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: [
        { name: 'pr', nat: 'port-restricted', hosts: 3 },
        { name: 'rnd', nat: 'symmetric-random', hosts: 3 }
      ],
      publicHosts: ['relay']
    })
    // one fresh pair per test: the punch history of a node counts failures
    const started = await startPeersBehindRelay(lab, ['pr1', 'pr2', 'pr3', 'rnd1', 'rnd2', 'rnd3'], { DEBUG: 'libp2p:udx*' })
    relay = started.relay
    Object.assign(nodes, started.nodes)
  })

  after(async () => {
    await stopNodes([...Object.values(nodes), relay])
    await lab?.destroy()
  })

  function stderrTail (node: LabNode, lines = 40): string {
    return node.proc.output('stderr').slice(-lines).join('\n')
  }

  async function abortFromInitiator (initiator: LabNode, responder: LabNode): Promise<{ init: any, resp: any }> {
    const watching = responder.request({ cmd: 'watch-punch', peer: initiator.ready.peerId, timeoutMs: 30_000 }, 45_000)
    const init = await initiator.request({ cmd: 'connect-tracked', target: responder.ready.circuit, abortOn: 'punch:probing', timeoutMs: 30_000 }, 45_000)
    const resp = await watching
    return { init, resp }
  }

  function report (label: string, init: any, resp: any, since: number): void {
    const ms = (t: number | undefined): string => t == null ? 'never' : `${t - since} ms`
    console.log(`      ${label}: initiator ${init.errorName ?? 'ok'} (sockets ${init.baselineSockets} → peak ${init.peakSockets} → ${init.sockets}, rejected after ${ms(init.settledAt)}, released after ${ms(init.releasedAt)}); ` +
      `responder ${resp.errorName ?? resp.outcome} (sockets ${resp.baselineSockets} → peak ${resp.peakSockets} → ${resp.sockets}, ended after ${ms(resp.endedAt)}, released after ${ms(resp.releasedAt)})`)
  }

  it('an initiator aborting while probing gets AbortError, and both sides release the punch (the responder its extra sockets)', async () => {
    const initiator = nodes.pr1
    const responder = nodes.rnd1
    const { init, resp } = await abortFromInitiator(initiator, responder)
    report('port-restricted initiator aborts', init, resp, init.abortedAt ?? init.startedAt)

    expect(init.steps, JSON.stringify(init)).to.include('punch:probing')
    expect(init.abortedAt, 'the abort happened').to.be.a('number')
    expect(init.errorName, JSON.stringify(init)).to.equal('AbortError')
    expect(init.releasedAt, `initiator still holds punch resources: ${JSON.stringify(init)}\n${stderrTail(initiator)}`).to.be.a('number')
    expect(init.punches).to.equal(0)

    expect(resp.outcome, JSON.stringify(resp)).to.equal('punch:failure')
    expect(resp.errorName, JSON.stringify(resp)).to.be.oneOf(['PunchAbortedByPeerError', 'PunchFailedError'])
    // the symmetric-random responder opened its birthday sockets, and closed them
    expect(resp.peakSockets, JSON.stringify(resp)).to.be.greaterThan(resp.baselineSockets)
    expect(resp.releasedAt, `responder still holds punch resources: ${JSON.stringify(resp)}\n${stderrTail(responder)}`).to.be.a('number')
    expect(resp.punches).to.equal(0)
  })

  it('a symmetric-random initiator aborting while probing closes its extra sockets, and the responder stops with a named error', async () => {
    const initiator = nodes.rnd2
    const responder = nodes.pr2
    const { init, resp } = await abortFromInitiator(initiator, responder)
    report('symmetric-random initiator aborts', init, resp, init.abortedAt ?? init.startedAt)

    expect(init.errorName, JSON.stringify(init)).to.equal('AbortError')
    expect(init.peakSockets, JSON.stringify(init)).to.be.greaterThan(init.baselineSockets)
    expect(init.releasedAt, `initiator still holds punch resources: ${JSON.stringify(init)}\n${stderrTail(initiator)}`).to.be.a('number')
    expect(init.sockets).to.equal(init.baselineSockets)
    expect(init.punches).to.equal(0)

    expect(resp.outcome, JSON.stringify(resp)).to.equal('punch:failure')
    expect(resp.errorName, JSON.stringify(resp)).to.be.oneOf(['PunchAbortedByPeerError', 'PunchFailedError'])
    expect(resp.releasedAt, `responder still holds punch resources: ${JSON.stringify(resp)}\n${stderrTail(responder)}`).to.be.a('number')
    expect(resp.punches).to.equal(0)
  })

  it('a responder that stops mid-punch makes connect() reject with a named error and the initiator release everything; the responder exits cleanly', async () => {
    const initiator = nodes.pr3
    const responder = nodes.rnd3
    const since = Date.now()
    const connecting = initiator.request({ cmd: 'connect-tracked', target: responder.ready.circuit, timeoutMs: 30_000 }, 45_000)
    await initiator.event(e => e.event === 'progress' && e.step === 'punch:probing' && e.epoch >= since, 30_000)
    const busy = await responder.request({ cmd: 'resources' })

    const stopAt = Date.now()
    responder.proc.stdin?.write(JSON.stringify({ cmd: 'stop' }) + '\n')
    const stopped = await responder.event(e => e.event === 'stopped', 15_000)
    const stoppedAt = Date.now()
    await Promise.race([responder.proc.exited, new Promise(resolve => setTimeout(resolve, 5_000))])
    const init = await connecting
    const respFailure = responder.events('punch:failure').find(e => e.peer === initiator.ready.peerId)

    console.log(`      responder stops: it had ${busy.punches} punch(es) and ${busy.sockets} sockets; stopped after ${stoppedAt - stopAt} ms (${respFailure?.reason ?? 'no punch:failure event'}), exit ${JSON.stringify(responder.proc.exitStatus)}; ` +
      `initiator ${init.errorName ?? 'ok'} after ${init.settledAt - stopAt} ms, released after ${init.releasedAt == null ? 'never' : `${init.releasedAt - stopAt} ms`} (sockets ${init.baselineSockets} → peak ${init.peakSockets} → ${init.sockets})`)

    expect(busy.punches, 'the responder was punching when it stopped').to.equal(1)
    expect(busy.sockets, 'the responder held its birthday sockets').to.be.greaterThan(1)
    expect(stopped.event).to.equal('stopped')
    expect(responder.proc.exitStatus, JSON.stringify(responder.proc.exitStatus)).to.deep.include({ code: 0 })
    expect(respFailure, 'the responder reported its punch as failed').to.not.equal(undefined)

    expect(init.ok, JSON.stringify(init)).to.equal(false)
    expect(init.errorName, JSON.stringify(init)).to.be.oneOf(['PunchAbortedByPeerError', 'PunchFailedError'])
    expect(init.releasedAt, `initiator still holds punch resources: ${JSON.stringify(init)}\n${stderrTail(initiator)}`).to.be.a('number')
    expect(init.sockets).to.equal(init.baselineSockets)
    expect(init.punches).to.equal(0)
  })
})
