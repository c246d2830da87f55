import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { expect } from 'aegir/chai'
import { createPeer, createRelay, reserveOnRelay } from './fixtures/relay-network.ts'
import type { PeerNode, RelayNode } from './fixtures/relay-network.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The README's config example must work when pasted: this test takes the
 * first ```ts block of README.md as it is, runs it in a fresh folder that
 * sees this package under its published name, and checks what it prints.
 */
describe('the README example', function () {
  this.timeout(60_000)
  let relay: RelayNode
  let peer: PeerNode
  let dir: string

  beforeEach(async () => {
    relay = await createRelay()
    peer = await createPeer()
    dir = await mkdtemp(join(tmpdir(), 'readme-'))
  })

  afterEach(async () => {
    await peer?.stop()
    await relay?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('runs as pasted: it reaches a peer through its circuit address and says how it is connected', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const example = readme.match(/```ts\n([\s\S]*?)```/)?.[1]
    expect(example, 'README.md has a ```ts block').to.be.a('string')

    // the package under its published name, and its dependencies, for the pasted file
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
    // (Node strips types only outside node_modules, so the package is imported by its path)
    await writeFile(join(dir, 'punch.ts'), (example as string).replace(/from 'libp2p-udp-holepunch'/, `from '${pathToFileURL(join(ROOT, 'src/index.ts')).href}'`))

    const circuit = await reserveOnRelay(peer, relay)
    const { code, stdout, stderr } = await run(process.execPath, ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', join(dir, 'punch.ts'), circuit.toString()], dir)

    expect(code, stderr).to.equal(0)
    // loopback is never probed by default, so the example falls back to the relay, as it asks to
    expect(stdout).to.match(/^connected (directly|through the relay) \//m)
    expect(stdout).to.include('hole-punch:dial-relay')
  })
})

async function run (command: string, args: string[], cwd: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 45_000)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
