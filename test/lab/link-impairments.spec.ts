import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { Lab, udpReflectorScript } from '../../src/lab/index.ts'
import { requireRootOrSkip } from './helpers/require-root.ts'

const UDP_PING = fileURLToPath(new URL('./fixtures/udp-ping.ts', import.meta.url))

const DELAY_MS = 40
const FAR_DELAY_MS = 30
const LOSS_PERCENT = 20
const PORT = 7000

interface PingResult { sent: number, received: number, rttsMs: number[] }

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

describe('the NAT lab\'s link impairments', function () {
  this.timeout(60_000)
  let lab: Lab | undefined

  before(async function () {
    requireRootOrSkip(this)
    lab = await Lab.create({
      sites: [
        { name: 'plain', nat: 'port-restricted' },
        { name: 'slow', nat: 'port-restricted', delayMs: DELAY_MS },
        { name: 'lossy', nat: 'symmetric-random', lossPercent: LOSS_PERCENT }
      ],
      publicHosts: ['echo', { name: 'far', delayMs: FAR_DELAY_MS }]
    })
    await Promise.all(['echo', 'far'].map(async name => {
      const host = lab?.host(name)
      await host?.spawnNode(udpReflectorScript, [`${host.ip}:${PORT}`]).waitForLine(/^ready$/)
    }))
  })

  after(async () => {
    await lab?.destroy()
  })

  async function ping (from: string, to: string, count: number, intervalMs: number): Promise<PingResult> {
    if (lab == null) {
      throw new Error('no lab')
    }
    const result = await lab.host(from).exec([process.execPath, UDP_PING, lab.host(to).ip, String(PORT), String(count), String(intervalMs), '1000'])
    expect(result.code, result.stderr).to.equal(0)
    return JSON.parse(result.stdout)
  }

  it('adds nothing to a link without impairments', async () => {
    const { received, rttsMs } = await ping('plain1', 'echo', 20, 10)
    expect(received).to.equal(20)
    expect(median(rttsMs)).to.be.below(10)
  })

  it('delays each direction of a delayed link, so the round trip grows by twice the delay', async () => {
    const { received, rttsMs } = await ping('slow1', 'echo', 20, 20)
    // eslint-disable-next-line no-console
    console.log(`      RTT over a ${DELAY_MS} ms link: min ${Math.min(...rttsMs).toFixed(1)} ms, median ${median(rttsMs).toFixed(1)} ms`)
    expect(received).to.equal(20)
    expect(Math.min(...rttsMs)).to.be.at.least(2 * DELAY_MS)
    expect(median(rttsMs)).to.be.below(2 * DELAY_MS + 15)
  })

  it('adds the delays of both links between two delayed hosts', async () => {
    const { received, rttsMs } = await ping('slow1', 'far', 10, 20)
    expect(received).to.equal(10)
    expect(Math.min(...rttsMs)).to.be.at.least(2 * (DELAY_MS + FAR_DELAY_MS))
    expect(median(rttsMs)).to.be.below(2 * (DELAY_MS + FAR_DELAY_MS) + 20)
  })

  it('drops the configured share of packets in each direction of a lossy link', async () => {
    const count = 400
    const { received } = await ping('lossy1', 'echo', count, 5)
    const expected = (1 - LOSS_PERCENT / 100) ** 2
    // eslint-disable-next-line no-console
    console.log(`      ${LOSS_PERCENT} % loss per direction: ${received} of ${count} round trips (expected ${(expected * count).toFixed(0)})`)
    // binomial standard deviation is about 10 round trips here: allow 4
    expect(received / count).to.be.within(expected - 0.1, expected + 0.1)
  })
})
