import { AbortError } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { NAT_CLASSIFICATION_MAX_AGE_MS, NAT_PROFILE_MAX_AGE_MS } from '../../src/constants.ts'
import { decodeStunMessage, isStunMessage } from '../../src/nat/stun/decode.ts'
import { encodeStunMessage } from '../../src/nat/stun/encode.ts'
import { METHOD_BINDING } from '../../src/nat/stun/message.ts'
import { StunServer } from '../../src/nat/stun/server.ts'
import { NatMonitor } from '../../src/service/nat-monitor.ts'
import { SocketPool } from '../../src/socket/socket-pool.ts'
import { DgramSocket } from '../nat/dgram-socket.ts'
import type { NatDiscovery } from '../../src/nat/discovery/discover.ts'
import type { MappingBehaviour, NatProfile, TransportAddress } from '../../src/nat/nat-profile.ts'
import type { LookupAddress } from '../../src/nat/stun/resolve.ts'
import type { NatMonitorInit } from '../../src/service/nat-monitor.ts'
import type { StunServerAddress } from '../../src/service/types.ts'
import type { BoundSocket } from '../../src/socket/bound-socket.ts'

const logger = defaultLogger()
const T0 = 1_700_000_000_000

/** One call of the stubbed discovery: held until the test finishes it */
interface DiscoveryCall {
  signal?: AbortSignal
  settled: boolean
  finish(profile?: NatProfile): void
}

/**
 * A stand-in for discoverNat whose runs the test finishes by hand (or at
 * once with `auto`), so the monitor's sharing and abort logic is observable
 * without timing; it rejects with AbortError when its signal aborts, as the
 * real one does
 */
class DiscoveryStub {
  readonly calls: DiscoveryCall[] = []
  auto = true
  profile: () => NatProfile

  constructor (profile: () => NatProfile) {
    this.profile = profile
  }

  readonly discover: NonNullable<NatMonitorInit['discover']> = async (_client, _servers, options) => {
    return new Promise<NatDiscovery>((resolve, reject) => {
      const call: DiscoveryCall = {
        signal: options.signal,
        settled: false,
        finish: (profile = this.profile()) => {
          if (!call.settled) {
            call.settled = true
            resolve({ profile, observations: [], filtering: [], steps: [], durationMs: 0 })
          }
        }
      }
      this.calls.push(call)
      options.signal?.addEventListener('abort', () => {
        if (!call.settled) {
          call.settled = true
          reject(new AbortError('discovery aborted'))
        }
      }, { once: true })

      if (this.auto) {
        call.finish()
      }
    })
  }

  /** the run in progress (the last call, unfinished) */
  get running (): DiscoveryCall {
    const call = this.calls[this.calls.length - 1]
    expect(call, 'a discovery in progress').to.exist()
    expect(call.settled, 'the discovery is still running').to.be.false()
    return call
  }
}

function profileWith (mapping: MappingBehaviour, publicAddresses: TransportAddress[], observedAt: number): NatProfile {
  return {
    reachability: mapping === 'EIM' ? 'public' : 'private',
    mapping,
    filtering: mapping === 'EIM' ? 'EIF' : 'APDF',
    allocation: { kind: mapping === 'EIM' ? 'preserving' : 'random' },
    publicAddresses,
    confidence: 1,
    observedAt
  }
}

/** settles every pending promise callback */
async function settle (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}

describe('service/NatMonitor', function () {
  this.timeout(10_000)

  let pool: SocketPool
  let main: BoundSocket
  let serverSocket: DgramSocket
  let server: StunServer
  let clock: number
  let stub: DiscoveryStub
  let monitors: NatMonitor[]

  beforeEach(async () => {
    pool = new SocketPool({ logger })
    main = pool.bindExtra('127.0.0.1', 0)
    serverSocket = await DgramSocket.bind('127.0.0.1', 0)
    server = new StunServer({ logger }, { socket: serverSocket })
    server.start()
    clock = T0
    // by default discovery finds no NAT: our main socket's own address
    stub = new DiscoveryStub(() => profileWith('EIM', [main.address()], clock))
    monitors = []
  })

  afterEach(async () => {
    monitors.forEach(m => { m.stop() })
    server.stop()
    await serverSocket.close()
    await pool.close()
  })

  function monitor (init: Partial<NatMonitorInit> = {}): NatMonitor {
    const m = new NatMonitor({
      logger,
      servers: [serverSocket.address()],
      socket: () => main,
      now: () => clock,
      discover: stub.discover,
      ...init
    })
    monitors.push(m)
    return m
  }

  /** binding requests our STUN server has received */
  function bindingRequests (): number {
    return serverSocket.received.length
  }

  describe('fresh(), by the age of the profile and of its classification', () => {
    const cases: Array<{ title: string, elapsed: number, expected: 'nothing' | 'confirm' | 'full refresh' }> = [
      { title: 'a profile refreshed just now is returned without any I/O', elapsed: 0, expected: 'nothing' },
      { title: 'a profile exactly NAT_PROFILE_MAX_AGE_MS old is still fresh: no I/O', elapsed: NAT_PROFILE_MAX_AGE_MS, expected: 'nothing' },
      { title: 'a stale profile with a recent classification is confirmed with one binding request', elapsed: NAT_PROFILE_MAX_AGE_MS + 1, expected: 'confirm' },
      { title: 'a stale profile whose classification is exactly NAT_CLASSIFICATION_MAX_AGE_MS old is still confirmed', elapsed: NAT_CLASSIFICATION_MAX_AGE_MS, expected: 'confirm' },
      { title: 'a stale profile whose classification is old gets a full refresh', elapsed: NAT_CLASSIFICATION_MAX_AGE_MS + 1, expected: 'full refresh' }
    ]

    cases.forEach(({ title, elapsed, expected }) => {
      it(title, async () => {
        const m = monitor()
        const first = await m.refresh()
        expect(stub.calls).to.have.length(1)
        const requestsBefore = bindingRequests()

        clock = T0 + elapsed
        const profile = await m.fresh()

        expect(stub.calls.length === 2, 'a full refresh').to.equal(expected === 'full refresh')
        expect(bindingRequests() - requestsBefore, 'binding requests').to.equal(expected === 'confirm' ? 1 : 0)
        expect(m.isStale()).to.be.false()

        if (expected !== 'full refresh') {
          expect(profile).to.equal(first)
        }
      })
    })

    it('a confirmation renews the profile but not its classification: once that is old, the next stale profile gets a full refresh', async () => {
      const m = monitor()
      await m.refresh()

      clock = T0 + NAT_CLASSIFICATION_MAX_AGE_MS - 1_000
      await m.fresh()
      expect(stub.calls).to.have.length(1)

      clock = T0 + NAT_CLASSIFICATION_MAX_AGE_MS + 1
      const requestsBefore = bindingRequests()
      await m.fresh()
      expect(bindingRequests(), 'renewed 1 s before: still fresh').to.equal(requestsBefore)

      clock = T0 + NAT_CLASSIFICATION_MAX_AGE_MS - 1_000 + NAT_PROFILE_MAX_AGE_MS + 1
      await m.fresh()
      expect(stub.calls).to.have.length(2)
      expect(bindingRequests()).to.equal(requestsBefore)
    })

    it('a profile that was never refreshed gets a full refresh', async () => {
      const m = monitor()
      const profile = await m.fresh()

      expect(stub.calls).to.have.length(1)
      expect(profile.publicAddresses).to.deep.equal([main.address()])
    })
  })

  describe('confirmation of the mapping', () => {
    it('behind an endpoint-independent NAT a moved mapping means the NAT changed: full refresh', async () => {
      stub.profile = () => profileWith('EIM', [{ host: '198.51.100.7', port: 40_000, family: 4 }], clock)
      const m = monitor()
      await m.refresh()

      clock = T0 + NAT_PROFILE_MAX_AGE_MS + 1
      const requestsBefore = bindingRequests()
      await m.fresh()

      expect(bindingRequests() - requestsBefore, 'the confirmation').to.equal(1)
      expect(stub.calls).to.have.length(2)
    })

    const addressDependent: MappingBehaviour[] = ['ADM', 'APDM']

    addressDependent.forEach(mapping => {
      it(`behind an ${mapping} NAT a new mapping confirms the profile and becomes its first public address`, async () => {
        const old = { host: '198.51.100.7', port: 40_000, family: 4 as const }
        stub.profile = () => profileWith(mapping, [old], clock)
        const m = monitor()
        await m.refresh()

        clock = T0 + NAT_PROFILE_MAX_AGE_MS + 1
        const profile = await m.fresh()

        expect(stub.calls).to.have.length(1)
        expect(profile.mapping).to.equal(mapping)
        expect(profile.publicAddresses).to.deep.equal([main.address(), old])
        expect(profile.observedAt).to.equal(clock)
        expect(m.isStale()).to.be.false()
      })
    })
  })

  describe('sharing between concurrent callers', () => {
    it('two refresh() callers share one discovery and get the same profile', async () => {
      stub.auto = false
      const m = monitor()
      const a = m.refresh()
      const b = m.refresh()
      await settle()
      expect(stub.calls).to.have.length(1)

      stub.running.finish()
      const [pa, pb] = await Promise.all([a, b])
      expect(pa).to.equal(pb)
      expect(m.getProfile()).to.equal(pa)
    })

    it('two fresh() callers of a stale profile share one binding request', async () => {
      const m = monitor()
      await m.refresh()
      const requestsBefore = bindingRequests()

      clock = T0 + NAT_PROFILE_MAX_AGE_MS + 1
      const [a, b] = await Promise.all([m.fresh(), m.fresh()])

      expect(a).to.equal(b)
      expect(bindingRequests() - requestsBefore).to.equal(1)
    })

    it('a fresh() caller that needs a full refresh joins the refresh() in progress', async () => {
      stub.auto = false
      const m = monitor()
      const refreshed = m.refresh()
      await settle()
      const fresh = m.fresh()
      await settle()
      expect(stub.calls).to.have.length(1)

      stub.running.finish()
      expect(await fresh).to.equal(await refreshed)
    })

    it('a refresh() caller whose signal aborts while it waits on a refresh someone else started rejects at once with AbortError; the other caller gets the profile', async () => {
      stub.auto = false
      const m = monitor()
      const first = m.refresh()
      const controller = new AbortController()
      const joined = m.refresh({ signal: controller.signal })
      await settle()

      controller.abort()
      await expect(joined).to.eventually.be.rejected.with.property('name', 'AbortError')

      // the shared discovery goes on for the first caller
      const run = stub.running
      expect(run.signal?.aborted).to.be.false()
      run.finish()
      expect(await first).to.have.property('mapping', 'EIM')
      expect(stub.calls).to.have.length(1)
    })

    it('a fresh() caller whose signal aborts while a shared refresh runs rejects at once with AbortError; the refresh goes on', async () => {
      stub.auto = false
      const m = monitor()
      const first = m.refresh()
      await settle()
      const controller = new AbortController()
      const joined = m.fresh({ signal: controller.signal })
      await settle()

      controller.abort()
      await expect(joined).to.eventually.be.rejected.with.property('name', 'AbortError')

      const run = stub.running
      expect(run.signal?.aborted).to.be.false()
      run.finish()
      expect(await first).to.have.property('mapping', 'EIM')
    })

    it('a fresh() caller whose signal aborts during a shared confirmation rejects at once; the other caller gets the confirmed profile', async () => {
      const m = monitor()
      const profile = await m.refresh()
      // the server does not see the first binding request: the confirmation
      // is in progress until the client retransmits
      serverSocket.inboundFilter = () => false

      clock = T0 + NAT_PROFILE_MAX_AGE_MS + 1
      const controller = new AbortController()
      const other = m.fresh()
      const joined = m.fresh({ signal: controller.signal })
      await settle()

      controller.abort()
      await expect(joined).to.eventually.be.rejected.with.property('name', 'AbortError')

      serverSocket.inboundFilter = undefined
      expect(await other).to.equal(profile)
      expect(stub.calls).to.have.length(1)
    })

    it('when every caller has gone, the refresh itself is aborted and the next caller starts a new one', async () => {
      stub.auto = false
      const m = monitor()
      const a = new AbortController()
      const b = new AbortController()
      const pa = m.refresh({ signal: a.signal })
      const pb = m.refresh({ signal: b.signal })
      await settle()
      const run = stub.running

      a.abort()
      await expect(pa).to.eventually.be.rejected.with.property('name', 'AbortError')
      expect(run.signal?.aborted, 'one caller still waits').to.be.false()

      b.abort()
      await expect(pb).to.eventually.be.rejected.with.property('name', 'AbortError')
      expect(run.signal?.aborted, 'nobody waits').to.be.true()

      const next = m.refresh()
      await settle()
      expect(stub.calls).to.have.length(2)
      stub.running.finish()
      expect(await next).to.have.property('mapping', 'EIM')
    })

    it('a caller with an already aborted signal rejects with AbortError and starts nothing', async () => {
      const m = monitor()

      await expect(m.refresh({ signal: AbortSignal.abort() })).to.eventually.be.rejected.with.property('name', 'AbortError')
      await expect(m.fresh({ signal: AbortSignal.abort() })).to.eventually.be.rejected.with.property('name', 'AbortError')
      expect(stub.calls).to.have.length(0)
      expect(bindingRequests()).to.equal(0)
    })

    it('stop() aborts a refresh in progress: its callers reject, fresh() callers keep the last profile', async () => {
      stub.auto = false
      const m = monitor()
      const refreshed = m.refresh()
      const fresh = m.fresh()
      await settle()
      const run = stub.running

      m.stop()
      expect(run.signal?.aborted).to.be.true()
      await expect(refreshed).to.eventually.be.rejected.with.property('name', 'AbortError')
      expect(await fresh).to.equal(m.getProfile())
    })
  })

  describe('servers: a list or a function, IP addresses or DNS names', () => {
    /** the servers each discovery run was given */
    function serversSeen (): string[][] {
      return seen.map(list => list.map(s => `${s.host}:${s.port}`))
    }

    let seen: Array<readonly StunServerAddress[]>

    beforeEach(() => {
      seen = []
    })

    /** the stubbed discovery, recording the servers it is given */
    function wrapped (): NonNullable<NatMonitorInit['discover']> {
      return async (client, servers, options) => {
        seen.push(servers)
        return stub.discover(client, servers, options)
      }
    }

    it('calls a servers function at every refresh and uses the list it gives then', async () => {
      let list: StunServerAddress[] = [{ host: '198.51.100.1', port: 3478 }]
      let calls = 0
      const m = monitor({ discover: wrapped(), servers: () => { calls++; return list } })

      await m.refresh()
      list = [{ host: '198.51.100.2', port: 4001 }, { host: '198.51.100.2', port: 4002 }]
      await m.refresh()

      expect(calls).to.equal(2)
      expect(serversSeen()).to.deep.equal([['198.51.100.1:3478'], ['198.51.100.2:4001', '198.51.100.2:4002']])
      expect(m.getServers()).to.deep.equal(list)
    })

    it('a stale unclassified profile gets a full refresh, not a confirmation, once more servers are known than its run had', async () => {
      stub.profile = () => profileWith('unknown', [main.address()], clock)
      let list: StunServerAddress[] = [serverSocket.address()]
      const m = monitor({ discover: wrapped(), servers: () => list })
      await m.refresh()

      clock = T0 + NAT_PROFILE_MAX_AGE_MS + 1
      list = [...list, { host: '198.51.100.2', port: 4001 }]
      const requestsBefore = bindingRequests()
      await m.fresh()

      expect(stub.calls).to.have.length(2)
      expect(bindingRequests() - requestsBefore, 'no confirmation').to.equal(0)
    })

    it('looks host names up at refresh time, keeps the main socket\'s family, and leaves out names that fail', async () => {
      const asked: string[] = []
      const answers: Record<string, LookupAddress[]> = {
        'stun.example.org': [{ address: '2001:db8::1', family: 6 }, { address: '192.0.2.1', family: 4 }]
      }
      const lookup = async (host: string): Promise<LookupAddress[]> => {
        asked.push(host)
        const answer = answers[host]

        if (answer == null) {
          throw new Error(`getaddrinfo ENOTFOUND ${host}`)
        }

        return answer
      }
      const m = monitor({
        discover: wrapped(),
        lookup,
        servers: [{ host: 'nowhere.invalid', port: 3478 }, { host: 'stun.example.org', port: 3478 }, { host: '198.51.100.1', port: 3478 }]
      })

      await m.refresh()
      answers['stun.example.org'] = [{ address: '192.0.2.2', family: 4 }]
      await m.refresh()

      expect(serversSeen()).to.deep.equal([['192.0.2.1:3478', '198.51.100.1:3478'], ['192.0.2.2:3478', '198.51.100.1:3478']])
      expect(asked).to.deep.equal(['nowhere.invalid', 'stun.example.org', 'nowhere.invalid', 'stun.example.org'])
    })

    it('resolves localhost with the system resolver and discovers against it', async () => {
      const m = monitor({ discover: undefined, servers: [{ host: 'localhost', port: serverSocket.address().port }] })
      const profile = await m.refresh()

      expect(m.getServers()).to.deep.equal([{ host: '127.0.0.1', port: serverSocket.address().port }])
      expect(profile.publicAddresses).to.deep.equal([main.address()])
      expect(bindingRequests()).to.be.greaterThan(0)
    })

    it('with no server (an empty or throwing function) runs no discovery, and its advice says what to configure', async () => {
      for (const servers of [() => [], () => { throw new Error('not ready') }]) {
        const m = monitor({ discover: wrapped(), servers })

        expect(m.advice()).to.deep.include({ usable: false, code: 'no-stun-servers' })
        await m.refresh()
        expect(m.getServers()).to.deep.equal([])
        expect(m.advice()).to.deep.include({ usable: false, code: 'no-stun-servers' })
      }

      expect(seen).to.have.length(0)
    })

    it('advice() counts the servers of the last refresh', async () => {
      stub.profile = () => profileWith('APDM', [{ host: '198.51.100.7', port: 40_000, family: 4 }], clock)
      const m = monitor({ discover: wrapped(), servers: [{ host: 'nowhere.invalid', port: 3478 }], lookup: async () => { throw new Error('ENOTFOUND') } })

      expect(m.advice().code, 'before a refresh: the servers as given').to.equal('no-answer')
      await m.refresh()
      expect(m.advice().code, 'the name did not resolve').to.equal('no-stun-servers')
    })

    it('a confirmation the first server does not answer (here with an error) falls back to a full refresh: the server may have gone', async () => {
      const failing = await DgramSocket.bind('127.0.0.1', 0)
      failing.addHandler({
        name: 'error-server',
        matches: isStunMessage,
        handle: (data, from) => {
          const { transactionId } = decodeStunMessage(data)
          void failing.send(encodeStunMessage({ method: METHOD_BINDING, class: 'error', transactionId, attributes: { errorCode: { code: 500, reason: 'Server Error' } } }), from.port, from.host)
        }
      })

      try {
        const m = monitor({ discover: wrapped(), servers: [failing.address(), serverSocket.address()] })
        await m.refresh()

        clock = T0 + NAT_PROFILE_MAX_AGE_MS + 1
        await m.fresh()

        expect(failing.received, 'the confirmation').to.have.length(1)
        expect(stub.calls).to.have.length(2)
        expect(m.isStale()).to.be.false()
      } finally {
        await failing.close()
      }
    })

    it('latestMapping() asks the first server of the last refresh, or resolves the list when there was none', async () => {
      const m = monitor({
        discover: wrapped(),
        servers: [{ host: 'localhost', port: serverSocket.address().port }],
        openSocket: () => pool.bindExtra('127.0.0.1', 0),
        closeSocket: async (socket) => { await pool.closeSocket(socket) }
      })

      const before = await m.latestMapping()
      expect(before).to.have.property('host', '127.0.0.1')
      expect(before?.port).to.not.equal(main.address().port)

      await m.refresh()
      const after = await m.latestMapping()
      expect(after).to.have.property('host', '127.0.0.1')
      expect(bindingRequests()).to.equal(2)
    })
  })

  describe('with the real discovery against our STUN server on loopback', () => {
    it('sees our own address (no NAT), then confirms the stale profile with one binding request, all on the injected clock', async () => {
      const m = monitor({ discover: undefined })
      const profile = await m.refresh()

      // one plain server: our own address, no NAT (the mapping needs two observers)
      expect(profile).to.have.property('reachability', 'public')
      expect(profile.publicAddresses).to.deep.equal([main.address()])
      expect(profile.observedAt).to.equal(T0)
      const requestsBefore = bindingRequests()

      clock = T0 + NAT_PROFILE_MAX_AGE_MS + 1
      expect(m.isStale()).to.be.true()
      expect(await m.fresh()).to.equal(profile)
      expect(bindingRequests() - requestsBefore).to.equal(1)
      expect(m.isStale()).to.be.false()
    })
  })
})
