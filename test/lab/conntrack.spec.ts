import { expect } from 'aegir/chai'
import { parseConntrack } from '../../src/lab/conntrack.ts'

describe('lab conntrack parsing', () => {
  it('reads the original and reply tuples, timeout and flags of UDP entries', () => {
    const text = [
      'udp      17 28 src=10.1.0.10 dst=203.0.113.10 sport=40000 dport=3478 src=203.0.113.10 dst=203.0.113.100 sport=3478 dport=20000 [ASSURED] mark=0 use=1',
      'udp      17 2 src=10.1.0.10 dst=198.51.100.10 sport=40000 dport=3479 [UNREPLIED] src=198.51.100.10 dst=203.0.113.100 sport=3479 dport=20001 mark=0 use=1',
      'tcp      6 431999 ESTABLISHED src=10.1.0.10 dst=203.0.113.11 sport=5000 dport=4001 src=203.0.113.11 dst=203.0.113.100 sport=4001 dport=5000 [ASSURED] mark=0 use=1',
      ''
    ].join('\n')

    expect(parseConntrack(text)).to.deep.equal([
      {
        original: { src: '10.1.0.10', dst: '203.0.113.10', sport: 40000, dport: 3478 },
        reply: { src: '203.0.113.10', dst: '203.0.113.100', sport: 3478, dport: 20000 },
        timeoutSeconds: 28,
        unreplied: false,
        assured: true
      },
      {
        original: { src: '10.1.0.10', dst: '198.51.100.10', sport: 40000, dport: 3479 },
        reply: { src: '198.51.100.10', dst: '203.0.113.100', sport: 3479, dport: 20001 },
        timeoutSeconds: 2,
        unreplied: true,
        assured: false
      }
    ])
  })

  it('returns nothing for an empty table', () => {
    expect(parseConntrack('')).to.deep.equal([])
  })

  it('reads IPv6 entries (conntrack -L -f ipv6) the same way', () => {
    const text = 'udp      17 2 src=2001:db8:1::10 dst=2001:db8::10 sport=41000 dport=5000 src=2001:db8::10 dst=2001:db8:1::10 sport=5000 dport=41000 [ASSURED] mark=0 use=1\n'
    expect(parseConntrack(text)).to.deep.equal([{
      original: { src: '2001:db8:1::10', dst: '2001:db8::10', sport: 41000, dport: 5000 },
      reply: { src: '2001:db8::10', dst: '2001:db8:1::10', sport: 5000, dport: 41000 },
      timeoutSeconds: 2,
      unreplied: false,
      assured: true
    }])
  })
})
