/*
 * The PortMapper's orchestration (protocol order, double NAT, verification,
 * renewal, stop) with the protocols replaced by a seam (`mapWith`). What the
 * protocols do on the wire against a real router is tested in the NAT lab
 * (test/service/lab/port-mapping.spec.ts).
 */

import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { PortMapper } from '../../../src/nat/port-mapping/port-mapper.ts'
import type { TransportAddress } from '../../../src/nat/nat-profile.ts'
import type { PortMapperInit } from '../../../src/nat/port-mapping/port-mapper.ts'
import type { MappingVerifier, PortMappingProtocol, PortMappingState, ProtocolMapping, VerificationOutcome } from '../../../src/nat/port-mapping/types.ts'

const PORT = 40000

interface Call { protocol: PortMappingProtocol, nonce: string }

/** gateways that answer as told: an external address per protocol, or an error */
class FakeGateways {
  readonly calls: Call[] = []
  readonly removed: string[] = []
  readonly answers = new Map<PortMappingProtocol, string | Error>()
  renewTo?: TransportAddress
  renewError?: Error

  mapWith: NonNullable<PortMapperInit['mapWith']> = async (protocol, request) => {
    this.calls.push({ protocol, nonce: Buffer.from(request.nonce).toString('hex') })
    const answer = this.answers.get(protocol) ?? new Error(`${protocol} does not answer`)
    if (answer instanceof Error) {
      throw answer
    }
    const mapping: ProtocolMapping = {
      protocol,
      gateway: '10.1.0.1',
      internal: { host: '10.1.0.10', port: request.port, family: request.family },
      external: { host: answer, port: request.port, family: request.family },
      lifetime: 7200,
      renew: async () => {
        if (this.renewError != null) {
          throw this.renewError
        }
        mapping.external = this.renewTo ?? mapping.external
        return { external: mapping.external, lifetime: 7200, stateLost: false }
      },
      remove: async () => { this.removed.push(`${protocol}:${mapping.external.host}:${mapping.external.port}`) },
      close: async () => {}
    }
    return mapping
  }
}

class FakeVerifier implements MappingVerifier {
  outcome: VerificationOutcome = 'verified'
  readonly asked: TransportAddress[] = []

  async verify ({ external }: { external: TransportAddress }): Promise<VerificationOutcome> {
    this.asked.push(external)
    return this.outcome
  }
}

describe('nat/port-mapping/PortMapper', () => {
  let gateways: FakeGateways
  let verifier: FakeVerifier
  let mapper: PortMapper | undefined

  const create = (init: Partial<PortMapperInit> = {}): PortMapper => {
    mapper = new PortMapper({ logger: defaultLogger() }, {
      targets: () => [{ port: PORT, family: 4 }],
      mapWith: gateways.mapWith,
      verifier,
      ...init
    })
    return mapper
  }

  beforeEach(() => {
    gateways = new FakeGateways()
    verifier = new FakeVerifier()
  })

  afterEach(async () => {
    await mapper?.stop()
    mapper = undefined
  })

  it('tries PCP, then NAT-PMP, then UPnP, and keeps the first mapping', async () => {
    gateways.answers.set('upnp', '203.0.113.100')
    const m = create()
    await m.start()
    const [mapping] = await m.refresh()

    expect(gateways.calls.map(c => c.protocol)).to.deep.equal(['pcp', 'nat-pmp', 'upnp'])
    expect(mapping).to.deep.include({ protocol: 'upnp', verification: 'verified' })
    expect(mapping.external).to.deep.equal({ host: '203.0.113.100', port: PORT, family: 4 })
    expect(m.usableMappings(4)).to.have.lengthOf(1)
  })

  it('skips the protocols that are switched off, and NAT-PMP for IPv6', async () => {
    gateways.answers.set('upnp', '2001:db8::7')
    const m = create({ pcp: false, targets: () => [{ port: PORT, family: 6 }] })
    await m.start()
    await m.refresh()
    expect(gateways.calls.map(c => c.protocol)).to.deep.equal(['upnp'])
  })

  it('does nothing when switched off', async () => {
    const m = create({ enabled: false })
    await m.start()
    expect(m.isStarted()).to.be.false()
    expect(await m.refresh()).to.deep.equal([])
    expect(gateways.calls).to.deep.equal([])
  })

  it('refuses a mapping to a private or shared address (double NAT) and gives it back', async () => {
    for (const [host, problem] of [['172.16.3.2', 'private'], ['100.64.0.9', 'shared']]) {
      gateways = new FakeGateways()
      gateways.answers.set('pcp', host)
      const m = create()
      await m.start()
      const [mapping] = await m.refresh()

      expect(mapping).to.deep.include({ verification: 'refused', doubleNat: problem })
      expect(m.usableMappings()).to.deep.equal([])
      expect(verifier.asked.filter(a => a.host === host)).to.deep.equal([])
      expect(gateways.removed).to.deep.equal([`pcp:${host}:${PORT}`])
      await m.stop()
    }
  })

  const verificationCases: Array<{ title: string, init: Partial<PortMapperInit>, outcome?: VerificationOutcome, state: PortMappingState['verification'], usable: boolean }> = [
    { title: 'a verified mapping is usable', init: {}, outcome: 'verified', state: 'verified', usable: true },
    { title: 'a mapping nothing reaches is not', init: {}, outcome: 'failed', state: 'failed', usable: false },
    { title: 'a mapping no server could check is not', init: {}, outcome: 'unknown', state: 'unknown', usable: false },
    { title: 'without a verifier a mapping stays unknown', init: { verifier: undefined }, state: 'unknown', usable: false },
    { title: 'with verification switched off a mapping is trusted as reported', init: { verify: false }, state: 'skipped', usable: true }
  ]

  verificationCases.forEach(({ title, init, outcome, state, usable }) => {
    it(title, async () => {
      gateways.answers.set('pcp', '203.0.113.100')
      verifier.outcome = outcome ?? 'verified'
      const m = create(init)
      await m.start()
      const [mapping] = await m.refresh()
      expect(mapping.verification).to.equal(state)
      expect(m.usableMappings().length > 0).to.equal(usable)
    })
  })

  it('verifies a mapping again when a renewal moves it', async () => {
    gateways.answers.set('pcp', '203.0.113.100')
    const m = create()
    await m.start()
    await m.refresh()
    gateways.renewTo = { host: '203.0.113.100', port: 41000, family: 4 }
    verifier.outcome = 'failed'
    const [mapping] = await m.renewNow()

    expect(mapping.external.port).to.equal(41000)
    expect(mapping.verification).to.equal('failed')
    expect(verifier.asked.map(a => a.port)).to.deep.equal([PORT, 41000])
  })

  it('maps again, with the next protocol if need be, when a renewal fails', async () => {
    gateways.answers.set('pcp', '203.0.113.100')
    const m = create()
    await m.start()
    await m.refresh()
    gateways.renewError = new Error('gone')
    gateways.answers.set('pcp', new Error('PCP went away'))
    gateways.answers.set('nat-pmp', '203.0.113.100')
    const [mapping] = await m.renewNow()

    expect(mapping.protocol).to.equal('nat-pmp')
    expect(gateways.calls.map(c => c.protocol)).to.deep.equal(['pcp', 'pcp', 'nat-pmp'])
  })

  it('keeps one PCP nonce per port, across a network change', async () => {
    gateways.answers.set('pcp', '203.0.113.100')
    const m = create()
    await m.start()
    await m.refresh()
    m.networkChanged()
    await m.refresh()
    expect(gateways.calls).to.have.lengthOf(2)
    expect(gateways.calls[0].nonce).to.equal(gateways.calls[1].nonce)
  })

  it('deletes every mapping on stop and reports none', async () => {
    gateways.answers.set('pcp', '203.0.113.100')
    const m = create({ targets: () => [{ port: PORT, family: 4 }, { port: PORT + 1, family: 4 }] })
    const seen: PortMappingState[][] = []
    m.addEventListener('mapping:change', evt => { seen.push(evt.detail) })
    await m.start()
    await m.refresh()
    await m.stop()

    expect(gateways.removed.sort()).to.deep.equal([`pcp:203.0.113.100:${PORT}`, `pcp:203.0.113.100:${PORT + 1}`])
    expect(m.mappings()).to.deep.equal([])
    expect(seen.at(-1)).to.deep.equal([])
  })

  it('finds no mapping when no protocol answers, and stops cleanly while it waits to retry', async () => {
    const m = create()
    await m.start()
    expect(await m.refresh()).to.deep.equal([])
    expect(gateways.calls.map(c => c.protocol)).to.deep.equal(['pcp', 'nat-pmp', 'upnp'])
    await m.stop()
    expect(m.isStarted()).to.be.false()
  })

  it('a caller that aborts its wait gets AbortError at once', async () => {
    gateways.mapWith = async () => new Promise(() => {})
    const m = create()
    await m.start()
    await expect(m.refresh({ signal: AbortSignal.timeout(20) })).to.eventually.be.rejected.with.property('name', 'AbortError')
  })
})
