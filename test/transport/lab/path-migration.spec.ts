import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { LabNode } from '../../../demo/lab-driver.ts'
import { Lab } from '../../../src/lab/index.ts'
import { inNamespace, runChecked, runCommand } from '../../../src/lab/run-command.ts'
import { requireRootOrSkip } from '../../lab/helpers/require-root.ts'
import type { LabHost } from '../../../src/lab/index.ts'

const DIRECT_PEER = fileURLToPath(new URL('./fixtures/direct-peer.ts', import.meta.url))
const NODE_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning']
/**
 * Where site a's NAT allocates after the rebinding: 100 ports that do not
 * hold `port` (Linux NAT keeps a source port that lies in the range, which
 * would be no rebinding at all)
 */
function reboundRange (port: number): { first: number, last: number } {
  const first = port >= 45000 && port < 45100 ? 46000 : 45000
  return { first, last: first + 99 }
}

/**
 * Two udx transports with a direct connection in the NAT lab: `a1` behind
 * site a's port-restricted NAT (Linux masquerade: it keeps the source port),
 * `pub` on the "internet". They are connected with connectDirect and stream
 * ids exchanged by the test, as the hole-punch service would after a punch.
 *
 * The NAT rebinding: site a's router forgets the flow (its conntrack entries
 * are deleted) and from then on allocates from 100 other ports, so a1's next
 * datagram leaves from a new public port while pub still sends to the old
 * one, which now drops everything, as a NAT that lost its state (a reboot, a
 * flush, a carrier NAT that reallocated) does.
 */
describe('direct udx connection across a NAT rebinding (NAT lab)', function () {
  this.timeout(120_000)
  let lab: Lab
  let nodes: LabNode[] = []

  // a lab per test: the rebinding changes the router's rules
  beforeEach(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: [{ name: 'a', nat: 'port-restricted' }],
      publicHosts: ['pub']
    })
  })

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const node of nodes) {
        // eslint-disable-next-line no-console
        console.log(`--- ${node.proc.host} stdout\n${node.proc.output('stdout').join('\n')}\n--- stderr\n${node.proc.output('stderr').slice(-60).join('\n')}`)
      }
    }
    await Promise.all(nodes.map(async node => { await node.stop() }))
    nodes = []
    await lab?.destroy()
  })

  async function start (host: LabHost, env: Record<string, string> = {}): Promise<LabNode> {
    const node = new LabNode(host.spawn([process.execPath, ...NODE_FLAGS, DIRECT_PEER], { env: { ...process.env, ...env } }))
    nodes.push(node)
    node.ready = await node.event(e => e.event === 'ready', 30_000)
    return node
  }

  /**
   * Connect a1 (initiator, behind the NAT) and pub; returns both nodes and
   * a1's public address as pub sees it
   */
  async function connect (pathKey?: string, env: Record<string, string> = {}): Promise<{ a: LabNode, pub: LabNode, mapped: { host: string, port: number } }> {
    const [a, pub] = await Promise.all([start(lab.host('a1'), env), start(lab.host('pub'), env)])
    // a port-preserving NAT: a1's socket port is its public port
    const mapped = { host: lab.site('a').publicIp, port: a.ready.port }
    const [toPub, toA] = await Promise.all([
      a.request({ cmd: 'connect', remote: { host: lab.host('pub').ip, port: pub.ready.port }, remoteStreamId: pub.ready.streamId, remotePeer: pub.ready.peerId, initiator: true, pathKey }),
      pub.request({ cmd: 'connect', remote: mapped, remoteStreamId: a.ready.streamId, remotePeer: a.ready.peerId, initiator: false, pathKey })
    ])
    expect(toPub).to.not.have.property('error')
    expect(toA).to.not.have.property('error')

    // the NAT kept the port: the flow is a1 → pub, mapped to a1's own port
    const flows = await lab.conntrack('a')
    expect(flows.some(f => f.original.src === lab.host('a1').ip && f.original.dst === lab.host('pub').ip && f.reply.dport === a.ready.port)).to.be.true()

    return { a, pub, mapped }
  }

  /**
   * Make site a's router forget a1's flows and allocate from another port
   * range from now on
   */
  async function rebind (port: number): Promise<{ first: number, last: number }> {
    const namespace = lab.site('a').routerNamespace
    const wan = lab.site('a').publicIp
    const range = reboundRange(port)
    const [nft, ...nftArgs] = inNamespace(namespace, ['nft', 'insert', 'rule', 'ip', 'lab', 'postrouting', 'oifname', 'wan', 'meta', 'l4proto', 'udp', 'snat', 'ip', 'to', `${wan}:${range.first}-${range.last}`])
    await runChecked(nft, nftArgs)
    const [conntrack, ...conntrackArgs] = inNamespace(namespace, ['conntrack', '-D', '-p', 'udp', '--orig-src', lab.host('a1').ip])
    // exit code 1: nothing to delete, which would be a broken test
    const deleted = await runCommand(conntrack, conntrackArgs)
    expect(deleted.code, deleted.stderr).to.equal(0)
    return range
  }

  /** the port a1's flow to pub leaves from now, if it is in `range` */
  async function reboundPort (range: { first: number, last: number }): Promise<number | undefined> {
    const flows = await lab.conntrack('a')
    return flows.find(f => f.original.src === lab.host('a1').ip && f.original.dst === lab.host('pub').ip && f.reply.dport >= range.first && f.reply.dport <= range.last)?.reply.dport
  }

  it('moves the connection to the new mapping and delivers what was written across the rebinding', async () => {
    const { a, pub, mapped } = await connect(randomBytes(32).toString('hex'))
    const warmup = await a.request({ cmd: 'send', bytes: 64 * 1024 })
    await pub.event(e => e.event === 'sunk' && e.sha256 === warmup.sha256)

    const rebound = Date.now()
    const range = await rebind(mapped.port)

    // both write at once: a's data reaches pub from the new mapping; pub's
    // goes to the dead one until pub moved, and must arrive all the same
    const [fromA, fromPub] = await Promise.all([
      a.request({ cmd: 'send', bytes: 1024 * 1024 }),
      pub.request({ cmd: 'send', bytes: 1024 * 1024 })
    ])
    expect(fromA).to.not.have.property('error')
    expect(fromPub).to.not.have.property('error')

    const migrated = await pub.event(e => e.event === 'migrated', 15_000)
    const port = await reboundPort(range)
    expect(port).to.be.a('number')
    expect(migrated.from).to.deep.equal(mapped)
    expect(migrated.to).to.deep.equal({ host: mapped.host, port })
    expect(a.events('migrated')).to.be.empty()

    const sunkAtPub = await pub.event(e => e.event === 'sunk' && e.sha256 === fromA.sha256, 15_000)
    const sunkAtA = await a.event(e => e.event === 'sunk' && e.sha256 === fromPub.sha256, 15_000)
    expect(sunkAtPub.bytes).to.equal(1024 * 1024)
    expect(sunkAtA.bytes).to.equal(1024 * 1024)

    // and again, after the move, on the same connection
    const after = await pub.request({ cmd: 'send', bytes: 256 * 1024 })
    await a.event(e => e.event === 'sunk' && e.sha256 === after.sha256, 15_000)
    expect(after.connection).to.equal(fromPub.connection)
    expect(after.status).to.equal('open')
    expect(a.events('closed')).to.be.empty()
    expect(pub.events('closed')).to.be.empty()

    // eslint-disable-next-line no-console
    console.log(`      NAT rebinding to migrated: ${migrated.at - rebound} ms; 1 MiB each way written across it delivered after ${Math.max(sunkAtPub.at, sunkAtA.at) - rebound} ms`)
  })

  it('closes the connection with PathDeadError on the rebound side when there is no path key', async () => {
    const { a, pub, mapped } = await connect(undefined)
    const rebound = Date.now()
    await rebind(mapped.port)

    const closed = await a.event(e => e.event === 'closed', 20_000)
    expect(closed.error).to.equal('PathDeadError')
    expect(closed.message).to.include(`${lab.host('pub').ip}:${pub.ready.port as number}`)
    // pub heard a until a gave up; then a's reset or its own timer ends it
    const closedAtPub = await pub.event(e => e.event === 'closed', 20_000)
    expect(closedAtPub.error).to.be.a('string')
    expect(pub.events('migrated')).to.be.empty()

    // eslint-disable-next-line no-console
    console.log(`      NAT rebinding to PathDeadError without a path key (defaults): ${closed.at - rebound} ms (pub: ${closedAtPub.error} after ${closedAtPub.at - rebound} ms)`)
  })
})
