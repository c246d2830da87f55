import { expect } from 'aegir/chai'
import { throughputBudget } from '../../src/cli/dial.ts'
import { shortPeerId } from '../../src/cli/nat-report.ts'
import { circuitAddresses, connectedLine, describeProgress, formatBytes, formatMs, listenBanner, preferredAddress, progressDetail, relayBanner, rttLine, rttStats, throughputLine, withPeerId } from '../../src/cli/session-format.ts'

const PEER = '12D3KooWPeerPeerPeerPeerPeerPeerPeerPeerPeerPeer'
const RELAY = '12D3KooWRelayRelayRelayRelayRelayRelayRelayRelay'

describe('cli: relay, listen and dial output', () => {
  const progress: Array<[string, any, string]> = [
    ['hole-punch:dial-relay', undefined, 'dialing the peer through the relay'],
    ['relayed-connection', undefined, 'relayed connection open'],
    ['hole-punch:relayed', undefined, 'we start the punch over the relayed connection'],
    ['peer-offer', undefined, 'offer from the peer: it started the punch, we answer'],
    ['hole-punch:offer', undefined, 'offer: NAT profiles and candidates exchanged'],
    ['hole-punch:answer', { rttMs: 42.4 }, 'answer: relayed round trip 42 ms'],
    ['hole-punch:plan', { strategy: 'sequential-prediction', reason: 'EIM~APDM' }, 'plan: sequential-prediction (EIM~APDM)'],
    ['hole-punch:sync', undefined, 'sync: both sides start punching now'],
    ['punch:probing', undefined, 'probing: sending UDP probes to the peer\'s candidates'],
    ['punch:path-found', { host: '203.0.113.100', port: 4001 }, 'path found: 203.0.113.100:4001 answered'],
    ['punch:path-found', { host: '2001:db8::1', port: 4001 }, 'path found: [2001:db8::1]:4001 answered'],
    ['hole-punch:upgrade', undefined, 'upgrading the path: Noise handshake, yamux'],
    ['hole-punch:direct', { durationMs: 812.3 }, 'direct connection after 812 ms'],
    ['hole-punch:fallback', { reason: 'no path' }, 'no direct path: staying on the relayed connection (no path)'],
    ['udx:handshake-open', undefined, 'udx:handshake-open']
  ]

  for (const [type, detail, text] of progress) {
    it(`describes the progress event ${type}${detail != null ? ` ${JSON.stringify(detail)}` : ''}`, () => {
      expect(describeProgress(type, detail)).to.equal(text)
    })
  }

  it('makes progress details printable as JSON', () => {
    expect(progressDetail({ a: 1n, e: new Error('boom'), s: 'x' })).to.deep.equal({ a: '1', e: 'boom', s: 'x' })
    expect(progressDetail(undefined)).to.equal(undefined)
  })

  it('prefers a public TCP address for the examples of the relay banner', () => {
    expect(preferredAddress(['/ip4/127.0.0.1/tcp/4001', '/ip4/10.0.0.2/tcp/4001', '/ip4/198.51.100.7/tcp/4001', '/ip4/198.51.100.7/udp/4001/udx'])).to.equal('/ip4/198.51.100.7/tcp/4001')
    expect(preferredAddress(['/ip4/127.0.0.1/udp/4001/udx', '/ip4/10.0.0.2/tcp/4001'])).to.equal('/ip4/10.0.0.2/tcp/4001')
    expect(preferredAddress([])).to.equal(undefined)
  })

  it('prints the relay\'s multiaddrs with its PeerId, its STUN ports and the commands that use it', () => {
    const lines = relayBanner({ program: 'p', peerId: RELAY, addresses: ['/ip4/127.0.0.1/tcp/4001', `/ip4/198.51.100.7/tcp/4001/p2p/${RELAY}`], udx: ['198.51.100.7:4001', '198.51.100.7:4002'] })

    expect(lines).to.include(`  /ip4/127.0.0.1/tcp/4001/p2p/${RELAY}`)
    expect(lines).to.include(`  /ip4/198.51.100.7/tcp/4001/p2p/${RELAY}`)
    expect(lines).to.include('STUN on udx: 198.51.100.7:4001, 198.51.100.7:4002')
    expect(lines).to.include(`  p nat --relay /ip4/198.51.100.7/tcp/4001/p2p/${RELAY}`)
    expect(lines.some(l => l.startsWith(`  p listen --relay /ip4/198.51.100.7/tcp/4001/p2p/${RELAY}`))).to.be.true()
    expect(lines.join('\n')).to.not.include('--announce')
  })

  it('tells the relay\'s operator to announce a public address when it has none', () => {
    const lines = relayBanner({ program: 'p', peerId: RELAY, addresses: ['/ip4/10.0.0.2/tcp/4001'], udx: ['10.0.0.2:4001'] })
    expect(lines.join('\n')).to.include('--announce /ip4/<public IP>/tcp/<port>')
  })

  it('lists the circuit address through the relay address the user gave first', () => {
    const relay = `/ip4/198.51.100.7/tcp/4001/p2p/${RELAY}`
    const circuits = circuitAddresses(relay, PEER, [`${relay}/p2p-circuit`, `/ip4/10.0.0.2/tcp/4001/p2p/${RELAY}/p2p-circuit`, '/ip4/10.9.9.9/udp/1/udx'])

    expect(circuits).to.deep.equal([
      `${relay}/p2p-circuit/p2p/${PEER}`,
      `/ip4/10.0.0.2/tcp/4001/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`
    ])
    expect(listenBanner({ program: 'p', peerId: PEER, circuits })).to.include(`  p dial ${circuits[0]}`)
    expect(withPeerId([`/a/p2p/${PEER}`, '/b'], PEER)).to.deep.equal([`/a/p2p/${PEER}`, `/b/p2p/${PEER}`])
  })

  it('says how the dial got connected', () => {
    expect(connectedLine({ peer: PEER, direct: true, remoteAddr: '/ip4/203.0.113.100/udp/4001/udx', durationMs: 812, strategy: 'direct-cone' }))
      .to.equal(`Connected directly to ${shortPeerId(PEER)} at /ip4/203.0.113.100/udp/4001/udx after 812 ms (strategy direct-cone)`)
    expect(connectedLine({ peer: PEER, direct: false, remoteAddr: '/x/p2p-circuit', reason: 'no plan' }))
      .to.equal(`Connected to ${shortPeerId(PEER)} through the relay (/x/p2p-circuit): no plan`)
  })

  it('sums up round trips: min, median, max', () => {
    expect(rttStats([])).to.equal(undefined)
    expect(rttStats([3, 1, 2])).to.deep.equal({ samples: 3, minMs: 1, medianMs: 2, maxMs: 3 })
    expect(rttStats([4, 1, 2, 3])).to.deep.equal({ samples: 4, minMs: 1, medianMs: 2.5, maxMs: 4 })
    expect(rttLine({ samples: 10, minMs: 0.81, medianMs: 1.2, maxMs: 26 })).to.equal('RTT:        min 0.8 ms, median 1.2 ms, max 26 ms (10 round trips)')
  })

  it('prints throughput per direction and what limited it', () => {
    expect(throughputLine({ bytes: 8 * 1024 * 1024, seconds: 2 })).to.equal('Throughput: 8.0 MiB sent and echoed back in 2.00 s: 4.0 MiB/s each way')
    expect(throughputLine({ bytes: 32 * 1024, seconds: 0.5 }, 'relayed')).to.equal('Throughput: 32.0 KiB sent and echoed back in 0.50 s: 64.0 KiB/s each way (relayed)')
  })

  it('sends all that was asked over a direct connection, a quarter of the data limit over a relayed one', () => {
    expect(throughputBudget(8 << 20, { limits: undefined })).to.deep.equal({ bytes: 8 << 20 })
    expect(throughputBudget(8 << 20, { limits: { bytes: 131072n } })).to.deep.equal({ bytes: 32768, limitedBy: 'relayed: the relay allows 128.0 KiB on this connection' })
    expect(throughputBudget(1000, { limits: { bytes: 131072n } })).to.deep.equal({ bytes: 1000 })
    expect(throughputBudget(8 << 20, { limits: { seconds: 120 } })).to.deep.equal({ bytes: 8 << 20 })
  })

  it('formats durations and sizes', () => {
    expect(formatMs(undefined)).to.equal('?')
    expect(formatMs(1.23)).to.equal('1.2 ms')
    expect(formatMs(812.4)).to.equal('812 ms')
    expect(formatMs(12_345)).to.equal('12.3 s')
    expect(formatBytes(512)).to.equal('512 B')
    expect(formatBytes(1536)).to.equal('1.5 KiB')
    expect(formatBytes(3 * 1024 ** 3)).to.equal('3.0 GiB')
  })
})
