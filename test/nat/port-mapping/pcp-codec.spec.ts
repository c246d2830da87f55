import { expect } from 'aegir/chai'
import { InvalidPcpMessageError } from '../../../src/errors.ts'
import {
  PCP_RESULT,
  decodePcpResponse,
  encodePcpAnnounceRequest,
  encodePcpMapRequest,
  isTransientPcpResult,
  pcpEpochLost,
  pcpResultName
} from '../../../src/nat/port-mapping/pcp-codec.ts'

const NONCE = Uint8Array.from({ length: 12 }, (_, i) => i + 1)

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

/** a MAP response as a server sends it (RFC 6887 sections 7.2, 11.1) */
function mapResponse (fields: { result?: number, lifetime?: number, epoch?: number, nonce?: Uint8Array, protocol?: number, internalPort?: number, externalPort?: number, ip?: string, options?: string, version?: number, opcode?: number }): Uint8Array {
  const ip = fields.ip ?? '00000000000000000000ffffcb007164' // ::ffff:203.0.113.100
  const out = Buffer.concat([
    Buffer.from([fields.version ?? 2, 0x80 | (fields.opcode ?? 1), 0, fields.result ?? 0]),
    u32(fields.lifetime ?? 7200), u32(fields.epoch ?? 1000), Buffer.alloc(12),
    Buffer.from(fields.nonce ?? NONCE), Buffer.from([fields.protocol ?? 17, 0, 0, 0]),
    u16(fields.internalPort ?? 40000), u16(fields.externalPort ?? 40000), Buffer.from(ip, 'hex'),
    Buffer.from(fields.options ?? '', 'hex')
  ])
  return new Uint8Array(out)
}

function u32 (n: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
function u16 (n: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }

describe('nat/port-mapping/pcp-codec', () => {
  describe('MAP request', () => {
    it('encodes an IPv4 mapping as IPv4-mapped IPv6 with the unspecified address as the suggestion', () => {
      const bytes = encodePcpMapRequest({ lifetime: 7200, clientIp: '10.1.0.10', nonce: NONCE, protocol: 'udp', internalPort: 40000, suggestedExternalPort: 40000 })
      expect(bytes).to.have.lengthOf(60)
      expect(hex(bytes)).to.equal(
        '02010000' + '00001c20' + '00000000000000000000ffff0a01000a' + // version 2, MAP, lifetime, client IP
        '0102030405060708090a0b0c' + '11000000' + '9c409c40' + // nonce, UDP, ports
        '00000000000000000000ffff00000000' // suggested external ::ffff:0.0.0.0
      )
    })

    it('encodes an IPv6 pinhole request with :: as the suggested external address', () => {
      const bytes = encodePcpMapRequest({ lifetime: 0, clientIp: '2001:db8::5', nonce: NONCE, protocol: 'all', internalPort: 0 })
      expect(hex(bytes.subarray(8, 24))).to.equal('20010db8000000000000000000000005')
      expect(bytes[36]).to.equal(0)
      expect(hex(bytes.subarray(44, 60))).to.equal('0'.repeat(32))
    })

    const rejections: Array<{ title: string, request: Parameters<typeof encodePcpMapRequest>[0], reason: string }> = [
      { title: 'a nonce of the wrong size', request: { lifetime: 1, clientIp: '10.0.0.1', nonce: new Uint8Array(8), protocol: 'udp', internalPort: 1 }, reason: 'nonce' },
      { title: 'a negative lifetime', request: { lifetime: -1, clientIp: '10.0.0.1', nonce: NONCE, protocol: 'udp', internalPort: 1 }, reason: 'lifetime' },
      { title: 'a fractional lifetime', request: { lifetime: 1.5, clientIp: '10.0.0.1', nonce: NONCE, protocol: 'udp', internalPort: 1 }, reason: 'lifetime' },
      { title: 'internal port 0 for UDP', request: { lifetime: 1, clientIp: '10.0.0.1', nonce: NONCE, protocol: 'udp', internalPort: 0 }, reason: 'port' },
      { title: 'a port above 65535', request: { lifetime: 1, clientIp: '10.0.0.1', nonce: NONCE, protocol: 'udp', internalPort: 1, suggestedExternalPort: 70000 }, reason: 'port' },
      { title: 'a client IP that is not an address', request: { lifetime: 1, clientIp: 'router.local', nonce: NONCE, protocol: 'udp', internalPort: 1 }, reason: 'address' }
    ]

    for (const { title, request, reason } of rejections) {
      it(`refuses ${title}`, () => {
        expect(() => encodePcpMapRequest(request)).to.throw(InvalidPcpMessageError).with.property('reason', reason)
      })
    }
  })

  it('encodes an ANNOUNCE request: the header alone, lifetime 0', () => {
    expect(hex(encodePcpAnnounceRequest({ clientIp: '10.1.0.10' }))).to.equal('02000000' + '00000000' + '00000000000000000000ffff0a01000a')
  })

  describe('responses', () => {
    it('decodes a MAP success: granted lifetime, epoch, and the external address as plain IPv4', () => {
      const response = decodePcpResponse(mapResponse({ lifetime: 3600, epoch: 77, externalPort: 41000 }))
      expect(response).to.deep.include({ opcode: 1, result: 0, lifetime: 3600, epoch: 77 })
      expect(response.map).to.deep.include({ protocol: 17, internalPort: 40000, externalPort: 41000, externalIp: '203.0.113.100', externalFamily: 4 })
      expect(response.map?.nonce).to.deep.equal(NONCE)
    })

    it('decodes an IPv6 pinhole answer', () => {
      const response = decodePcpResponse(mapResponse({ ip: '20010db8000000000000000000000005' }))
      expect(response.map).to.deep.include({ externalIp: '2001:db8::5', externalFamily: 6 })
    })

    it('decodes an error result, and skips well-formed options', () => {
      const response = decodePcpResponse(mapResponse({ result: PCP_RESULT.NOT_AUTHORIZED, lifetime: 30, options: '02000000' }))
      expect(response.result).to.equal(2)
      expect(response.lifetime).to.equal(30)
    })

    it('decodes an ANNOUNCE answer (no opcode fields)', () => {
      const bytes = new Uint8Array(Buffer.concat([Buffer.from([2, 0x80, 0, 0]), u32(0), u32(5), Buffer.alloc(12)]))
      expect(decodePcpResponse(bytes)).to.deep.equal({ opcode: 0, result: 0, lifetime: 0, epoch: 5 })
    })

    const rejections: Array<{ title: string, bytes: Uint8Array, reason: string }> = [
      { title: 'fewer than 4 bytes', bytes: new Uint8Array([2, 0x81]), reason: 'too-short' },
      { title: 'a NAT-PMP answer (version 0, unsupported version)', bytes: new Uint8Array([0, 0x81, 0, 1, 0, 0, 0, 9]), reason: 'version' },
      { title: 'a header cut short', bytes: mapResponse({}).subarray(0, 20), reason: 'too-short' },
      { title: 'a request (R bit 0)', bytes: (() => { const b = mapResponse({}); b[1] = 1; return b })(), reason: 'not-a-response' },
      { title: 'a length that is not a multiple of 4', bytes: new Uint8Array([...mapResponse({}), 0, 0]), reason: 'length' },
      { title: 'more than 1100 bytes', bytes: new Uint8Array([...mapResponse({}), ...new Uint8Array(1104)]), reason: 'length' },
      { title: 'a MAP success without its fields', bytes: mapResponse({}).subarray(0, 48), reason: 'too-short' },
      { title: 'an option longer than the message', bytes: mapResponse({ options: '01000010' }), reason: 'option' }
    ]

    for (const { title, bytes, reason } of rejections) {
      it(`rejects ${title}`, () => {
        expect(() => decodePcpResponse(bytes)).to.throw(InvalidPcpMessageError).with.property('reason', reason)
      })
    }
  })

  describe('epoch (RFC 6887 section 8.5)', () => {
    const cases: Array<{ title: string, previous: [number, number], current: [number, number], lost: boolean }> = [
      { title: 'advancing with our clock', previous: [1000, 50], current: [1600, 650], lost: false },
      { title: 'the same answer again', previous: [1000, 50], current: [1000, 50], lost: false },
      { title: 'one second back (rounding)', previous: [1000, 50], current: [999, 50], lost: false },
      { title: 'a restart: the epoch went back', previous: [1000, 50], current: [10, 650], lost: true },
      { title: 'far slower than our clock (it restarted in between)', previous: [1000, 50], current: [1100, 1050], lost: true },
      { title: 'far faster than our clock', previous: [1000, 50], current: [5000, 60], lost: true },
      { title: 'within 1/16 plus 2 s', previous: [0, 0], current: [1000, 1060], lost: false }
    ]

    for (const { title, previous, current, lost } of cases) {
      it(`${lost ? 'sees a lost state' : 'sees no lost state'}: ${title}`, () => {
        expect(pcpEpochLost({ epoch: previous[0], at: previous[1] }, { epoch: current[0], at: current[1] })).to.equal(lost)
      })
    }
  })

  it('names result codes and tells the short-lived errors apart', () => {
    expect(pcpResultName(2)).to.equal('NOT_AUTHORIZED')
    expect(pcpResultName(42)).to.equal('RESULT_42')
    expect([0, 1, 2, 3, 7, 8, 11].map(isTransientPcpResult)).to.deep.equal([false, false, false, false, true, true, true])
  })
})
