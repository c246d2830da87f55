import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { LAB_REGISTRY_DIR } from '../../src/lab/constants.ts'
import { Lab, LabDestroyedError, LabUnknownNameError, udpReflectorScript } from '../../src/lab/index.ts'
import { listLabNamespaces } from '../../src/lab/lab-registry.ts'
import { processExists } from '../../src/lab/namespace-processes.ts'
import { runChecked } from '../../src/lab/run-command.ts'
import { requireRootOrSkip } from './helpers/require-root.ts'

const CRASHING_LAB = fileURLToPath(new URL('./fixtures/crashing-lab.ts', import.meta.url))
const UDP_PING = fileURLToPath(new URL('./fixtures/udp-ping.ts', import.meta.url))

/** what the root namespace's network looks like */
async function rootNetworkSnapshot (): Promise<string> {
  const parts = await Promise.all([
    runChecked('ip', ['-o', 'link', 'show']),
    runChecked('ip', ['-o', 'addr', 'show']),
    runChecked('ip', ['route', 'show', 'table', 'all']),
    runChecked('nft', ['list', 'ruleset'])
  ])
  // interface statistics and timers change on their own
  return parts.map(p => p.stdout.replace(/valid_lft \S+ preferred_lft \S+/g, '')).join('\n---\n')
}

describe('the NAT lab\'s life cycle', function () {
  this.timeout(60_000)
  let labs: Lab[] = []

  before(function () {
    requireRootOrSkip(this)
  })

  afterEach(async () => {
    await Promise.all(labs.map(async lab => lab.destroy()))
    labs = []
  })

  const create = async (...args: Parameters<typeof Lab.create>): Promise<Lab> => {
    const lab = await Lab.create(...args)
    labs.push(lab)
    return lab
  }

  it('builds and tears down a two-site lab in under 2 s', async () => {
    const started = performance.now()
    const lab = await create({
      sites: [{ name: 'a', nat: 'port-restricted' }, { name: 'b', nat: 'symmetric-random' }],
      publicHosts: ['relay', 'stun']
    })
    const up = performance.now() - started
    await lab.destroy()
    const total = performance.now() - started
    // eslint-disable-next-line no-console
    console.log(`      two-site lab: up ${up.toFixed(0)} ms, down ${(total - up).toFixed(0)} ms, total ${total.toFixed(0)} ms`)
    expect(total).to.be.below(2000)
  })

  it('leaves no namespace, record or process behind after destroy', async () => {
    const lab = await create({ sites: [{ name: 'a', nat: 'full-cone' }], publicHosts: ['relay'] })
    const proc = lab.host('a1').spawn(['sleep', '600'])
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(proc.pid).to.be.a('number')
    expect((await listLabNamespaces()).get(lab.id)).to.have.length(lab.topology.namespaces.length)
    expect(existsSync(`${LAB_REGISTRY_DIR}/${lab.id}.json`)).to.equal(true)

    await lab.destroy()

    expect((await listLabNamespaces()).has(lab.id)).to.equal(false)
    expect(existsSync(`${LAB_REGISTRY_DIR}/${lab.id}.json`)).to.equal(false)
    expect(processExists(proc.pid ?? 0)).to.equal(false)
    expect(() => lab.host('a1').spawn(['true'])).to.throw(LabDestroyedError)
  })

  it('never changes the root namespace\'s interfaces, addresses, routes or rules', async () => {
    const before = await rootNetworkSnapshot()
    const lab = await create({
      sites: [{ name: 'a', nat: 'full-cone', hairpinning: true, lossPercent: 1, delayMs: 1 }, { name: 'b', nat: 'none' }],
      publicHosts: ['relay']
    })
    expect(await rootNetworkSnapshot()).to.equal(before)
    await lab.destroy()
    expect(await rootNetworkSnapshot()).to.equal(before)
  })

  it('gives labs unique names, so that two can even run at the same time', async () => {
    const options = { sites: [{ name: 'a', nat: 'port-restricted' as const }], publicHosts: ['relay'] }
    const [one, two] = await Promise.all([create(options), create(options)])
    expect(one.id).to.not.equal(two.id)
    const a = await one.host('a1').exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])
    const b = await two.host('a1').exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])
    expect(a.stdout).to.include('10.1.0.10/24')
    expect(b.stdout).to.include('10.1.0.10/24')
    await one.destroy()
    // the other lab is untouched
    expect((await two.host('a1').exec(['true'])).code).to.equal(0)
  })

  it('runs a command in a host and captures its output and exit code', async () => {
    const lab = await create({ sites: [{ name: 'a', nat: 'none' }] })
    const result = await lab.host('a1').exec(['sh', '-c', 'echo out; echo err >&2; exit 3'])
    expect(result).to.deep.equal({ stdout: 'out\n', stderr: 'err\n', code: 3, signal: null })
    expect(() => lab.host('nope')).to.throw(LabUnknownNameError)
  })

  it('runs Node scripts in hosts with this Node binary, and waits for their lines', async () => {
    const lab = await create({ sites: [{ name: 'a', nat: 'port-restricted' }], publicHosts: ['echo'] })
    const echo = lab.host('echo')
    const reflector = echo.spawnNode(udpReflectorScript, [`${echo.ip}:7000`])
    const [, address] = await reflector.waitForLine(/^listening (\S+)$/)
    expect(address).to.equal(`${echo.ip}:7000`)
    await reflector.waitForLine(/^ready$/)

    const ping = lab.host('a1').spawnNode(UDP_PING, [echo.ip, '7000', '5', '10', '200'])
    const lines: string[] = []
    for await (const line of ping.lines()) {
      lines.push(line)
    }
    expect((await ping.exited).code).to.equal(0)
    expect(JSON.parse(lines[0])).to.include({ sent: 5, received: 5 })

    const version = await lab.host('a1').exec([process.execPath, '--version'])
    expect(version.stdout.trim()).to.equal(process.version)

    const exit = await reflector.kill()
    expect(exit.signal ?? exit.code).to.not.equal(undefined)
    expect(processExists(reflector.pid ?? 0)).to.equal(false)
  })

  it('fails waitForLine with the output so far when the line never comes', async () => {
    const lab = await create({ publicHosts: ['x'] })
    const proc = lab.host('x').spawn(['sh', '-c', 'echo hello; sleep 5'])
    await expect(proc.waitForLine(/^bye$/, { timeoutMs: 300 })).to.eventually.be.rejected
      .with.property('message').that.include('hello')
  })

  it('ends a lines() iteration when its signal aborts, even if the process keeps running', async () => {
    const lab = await create({ publicHosts: ['x'] })
    const proc = lab.host('x').spawn(['sh', '-c', 'echo a; sleep 5'])
    const started = Date.now()
    const lines: string[] = []
    for await (const line of proc.lines('stdout', { signal: AbortSignal.timeout(300) })) {
      lines.push(line)
    }
    expect(lines).to.deep.equal(['a'])
    expect(Date.now() - started).to.be.below(2000)
  })

  it('lists the UDP bindings of a NAT router from conntrack, and forgets them on reset', async () => {
    const lab = await create({ sites: [{ name: 'a', nat: 'symmetric-seq' }], publicHosts: ['echo'] })
    const echo = lab.host('echo')
    const reflector = echo.spawnNode(udpReflectorScript, [`${echo.ip}:7000`])
    await reflector.waitForLine(/^ready$/)
    const ping = await lab.host('a1').exec([process.execPath, UDP_PING, echo.ip, '7000', '1', '10', '200'])
    expect(JSON.parse(ping.stdout)).to.include({ received: 1 })

    const entries = await lab.conntrack('a')
    const binding = entries.find(e => e.original.src === lab.host('a1').ip && e.original.dport === 7000)
    expect(binding?.reply.dst).to.equal(lab.site('a').publicIp)
    expect(binding?.reply.dport).to.equal(20000)
    expect(binding?.unreplied).to.equal(false)

    await lab.resetNat('a')
    expect(await lab.conntrack('a')).to.deep.equal([])
  })

  it('removes the namespaces and processes of a crashed lab', async () => {
    const child = spawn(process.execPath, [CRASHING_LAB], { stdio: ['ignore', 'pipe', 'inherit'] })
    const ready = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('the crashing lab did not start')) }, 20_000)
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk: string) => {
        const match = chunk.match(/ready (\S+) (\d+)/)
        if (match != null) {
          clearTimeout(timer)
          resolve(`${match[1]} ${match[2]}`)
        }
      })
      child.on('exit', () => { reject(new Error('the crashing lab exited early')) })
    })
    const [id, sleeperPid] = ready.split(' ')
    child.kill('SIGKILL')
    await new Promise(resolve => child.once('exit', resolve))

    expect((await listLabNamespaces()).get(id)).to.have.length(4)
    expect(processExists(Number(sleeperPid))).to.equal(true)

    const report = await Lab.cleanupAll()

    expect(report.removed).to.include(id)
    expect((await listLabNamespaces()).has(id)).to.equal(false)
    expect(processExists(Number(sleeperPid))).to.equal(false)
    expect(existsSync(`${LAB_REGISTRY_DIR}/${id}.json`)).to.equal(false)
  })

  it('leaves labs of live processes alone when it cleans up', async () => {
    const lab = await create({ publicHosts: ['x'] })
    const report = await Lab.cleanupAll()
    expect(report.removed).to.not.include(lab.id)
    expect((await listLabNamespaces()).has(lab.id)).to.equal(true)
  })
})
