import { expect } from 'aegir/chai'
import { NAT_DNS_MAX_ADDRESSES_PER_NAME, NAT_MAX_STUN_SERVERS } from '../../src/constants.ts'
import { resolveStunServers } from '../../src/nat/stun/resolve.ts'
import type { LookupAddress } from '../../src/nat/stun/resolve.ts'

function countTimers (): number {
  return process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
}

/** the timers running once the test has started (mocha's own timeout timer included) */
async function timersAtStart (): Promise<number> {
  await new Promise(resolve => setImmediate(resolve))
  return countTimers()
}

/** a lookup from a table; names not in it fail like getaddrinfo's ENOTFOUND */
function table (entries: Record<string, LookupAddress[]>): { lookup(host: string): Promise<LookupAddress[]>, asked: string[] } {
  const asked: string[] = []

  return {
    asked,
    lookup: async (host) => {
      asked.push(host)
      const answer = entries[host]

      if (answer == null) {
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
      }

      return answer
    }
  }
}

describe('nat/stun resolveStunServers', () => {
  const dns = table({
    'stun.example.org': [{ address: '192.0.2.10', family: 4 }, { address: '2001:db8::10', family: 6 }],
    'pool.example.org': [{ address: '192.0.2.1', family: 4 }, { address: '192.0.2.2', family: 4 }, { address: '192.0.2.3', family: 4 }, { address: '2001:db8::1', family: 6 }],
    'v6only.example.org': [{ address: '2001:db8::6', family: 6 }],
    'dup.example.org': [{ address: '192.0.2.10', family: 4 }]
  })

  const cases: Array<{ title: string, servers: Array<{ host: string, port: number }>, family?: 4 | 6, expected: string[] }> = [
    { title: 'IP literals as they are, IPv6 canonical and without brackets', servers: [{ host: '198.51.100.1', port: 3478 }, { host: '[2001:DB8:0::1]', port: 3478 }], expected: ['198.51.100.1:3478', '2001:db8::1:3478'] },
    { title: 'a name: the addresses of the socket\'s family', servers: [{ host: 'stun.example.org', port: 3478 }], family: 6, expected: ['2001:db8::10:3478'] },
    { title: 'a name without a family: both', servers: [{ host: 'stun.example.org', port: 3478 }], expected: ['192.0.2.10:3478', '2001:db8::10:3478'] },
    { title: `a name with many addresses: the first ${NAT_DNS_MAX_ADDRESSES_PER_NAME}`, servers: [{ host: 'pool.example.org', port: 19302 }], family: 4, expected: ['192.0.2.1:19302', '192.0.2.2:19302'] },
    { title: 'a name without an address of the family is left out', servers: [{ host: 'v6only.example.org', port: 3478 }, { host: '198.51.100.1', port: 3478 }], family: 4, expected: ['198.51.100.1:3478'] },
    { title: 'literals of the other family are left out', servers: [{ host: '::1', port: 3478 }, { host: '127.0.0.1', port: 3478 }], family: 4, expected: ['127.0.0.1:3478'] },
    { title: 'repeats (also through a name) are asked once, in the order given', servers: [{ host: 'stun.example.org', port: 3478 }, { host: 'dup.example.org', port: 3478 }, { host: '192.0.2.10', port: 3479 }], family: 4, expected: ['192.0.2.10:3478', '192.0.2.10:3479'] },
    { title: 'a name that does not resolve is left out, the others stay', servers: [{ host: 'nowhere.invalid', port: 3478 }, { host: '198.51.100.1', port: 3478 }], family: 4, expected: ['198.51.100.1:3478'] },
    { title: 'invalid ports and empty hosts are left out', servers: [{ host: '198.51.100.1', port: 0 }, { host: '198.51.100.1', port: 70_000 }, { host: '198.51.100.1', port: 1.5 }, { host: '', port: 3478 }, { host: '198.51.100.2', port: 3478 }], expected: ['198.51.100.2:3478'] },
    {
      title: `at most ${NAT_MAX_STUN_SERVERS} servers, the first ones`,
      servers: Array.from({ length: NAT_MAX_STUN_SERVERS + 2 }, (_, i) => ({ host: `198.51.100.${i + 1}`, port: 3478 })),
      expected: Array.from({ length: NAT_MAX_STUN_SERVERS }, (_, i) => `198.51.100.${i + 1}:3478`)
    }
  ]

  cases.forEach(({ title, servers, family, expected }) => {
    it(title, async () => {
      const resolved = await resolveStunServers(servers, { family, lookup: dns.lookup })
      expect(resolved.map(s => `${s.host}:${s.port}`)).to.deep.equal(expected)
    })
  })

  it('looks up names only, and all of them in parallel', async () => {
    const started: string[] = []
    const release: Array<() => void> = []
    const lookup = async (host: string): Promise<LookupAddress[]> => {
      started.push(host)
      await new Promise<void>(resolve => release.push(resolve))
      return [{ address: host === 'a.example' ? '192.0.2.1' : '192.0.2.2', family: 4 }]
    }
    const resolving = resolveStunServers([{ host: 'a.example', port: 1 }, { host: '192.0.2.9', port: 1 }, { host: 'b.example', port: 1 }], { lookup })
    await new Promise(resolve => setImmediate(resolve))

    expect(started).to.deep.equal(['a.example', 'b.example'])
    release.forEach(r => { r() })
    expect((await resolving).map(s => s.host)).to.deep.equal(['192.0.2.1', '192.0.2.9', '192.0.2.2'])
  })

  it('gives up on a name that takes longer than the timeout, logs it, and leaves no timer behind', async () => {
    const logged: string[] = []
    const log = Object.assign((format: string, ...args: any[]) => { logged.push([format, ...args].join(' ')) }, { enabled: true, trace: () => {}, error: () => {}, newScope: () => log }) as any
    const timersBefore = await timersAtStart()
    const started = Date.now()
    const resolved = await resolveStunServers([{ host: 'slow.example', port: 3478 }, { host: '198.51.100.1', port: 3478 }], {
      lookup: async () => new Promise<LookupAddress[]>(() => {}),
      timeoutMs: 50,
      log
    })

    expect(resolved).to.deep.equal([{ host: '198.51.100.1', port: 3478 }])
    expect(Date.now() - started).to.be.lessThan(1_000)
    expect(logged.join('\n')).to.match(/slow\.example.*no answer within 50 ms/)
    expect(countTimers()).to.equal(timersBefore)
  })

  it('rejects with AbortError at once when aborted, and leaves no timer behind', async () => {
    const timersBefore = await timersAtStart()
    const controller = new AbortController()
    const resolving = resolveStunServers([{ host: 'slow.example', port: 3478 }], {
      lookup: async () => new Promise<LookupAddress[]>(() => {}),
      signal: controller.signal
    })
    setTimeout(() => { controller.abort() }, 10)

    await expect(resolving).to.eventually.be.rejected.with.property('name', 'AbortError')
    expect(countTimers()).to.equal(timersBefore)
    await expect(resolveStunServers([], { signal: AbortSignal.abort() })).to.eventually.be.rejected.with.property('name', 'AbortError')
  })

  it('resolves localhost with the system resolver', async () => {
    const resolved = await resolveStunServers([{ host: 'localhost', port: 3478 }], { family: 4 })
    expect(resolved).to.deep.equal([{ host: '127.0.0.1', port: 3478 }])
  })
})
