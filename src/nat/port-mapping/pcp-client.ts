/**
 * A small PCP client (RFC 6887): MAP requests (create, renew, delete) and
 * ANNOUNCE, to one server, over its own UDP socket per request. IPv4
 * mappings through a NAT and IPv6 firewall pinholes alike: the mapping's
 * internal address is the request's source address, so for an IPv6
 * pinhole bind `localAddress` to the global address to open.
 */

import { createSocket } from 'node:dgram'
import { AbortError } from '@libp2p/interface'
import { PCP_INITIAL_RTO_MS, PCP_MAX_TRANSMISSIONS } from '../../constants.ts'
import { InvalidPcpMessageError, PcpResultError, PortMappingTimeoutError } from '../../errors.ts'
import { canonicalHost } from '../ip.ts'
import { PCP_OPCODE, PCP_PROTOCOL, PCP_RESULT, PCP_SERVER_PORT, decodePcpResponse, encodePcpAnnounceRequest, encodePcpMapRequest, pcpResultName } from './pcp-codec.ts'
import type { PcpMapRequest, PcpResponse } from './pcp-codec.ts'
import type { AbortOptions, ComponentLogger, Logger } from '@libp2p/interface'

export interface PcpClientComponents {
  logger: ComponentLogger
}

export interface PcpClientInit {
  /** the server (the default gateway); an IPv6 link-local one with its zone, `fe80::1%eth0` */
  server: string
  /**
   * @default 5351
   */
  port?: number
  /**
   * Bind requests to this local address (its family must be the server's).
   * By default the kernel picks the source address of the route to the
   * server, which is what an IPv4 mapping through a NAT needs.
   */
  localAddress?: string
  /**
   * First retransmission timeout (ms); it doubles after each send
   *
   * @default PCP_INITIAL_RTO_MS (250)
   */
  initialRtoMs?: number
  /**
   * @default PCP_MAX_TRANSMISSIONS (3)
   */
  maxTransmissions?: number
  /** clock in ms (default Date.now) */
  now?(): number
}

/** A MAP request as the caller gives it: the client fills in its own address */
export type PcpMapOptions = Omit<PcpMapRequest, 'clientIp'>

export interface PcpMapResult {
  /** our address the server saw the request come from (the mapping's internal address) */
  clientIp: string
  internalPort: number
  externalIp: string
  externalFamily: 4 | 6
  externalPort: number
  /** granted lifetime, in seconds (0 after a delete) */
  lifetime: number
  /** the server's epoch in the answer (RFC 6887 section 8.5) */
  epoch: number
  /** clock time (ms) the answer arrived */
  receivedAt: number
}

/**
 * The PCP client of one server. Every request runs on a fresh UDP socket
 * that is closed when the request ends, so nothing stays open between
 * renewals.
 */
export class PcpClient {
  private readonly init: PcpClientInit
  private readonly log: Logger
  private readonly now: () => number

  constructor (components: PcpClientComponents, init: PcpClientInit) {
    this.init = init
    this.log = components.logger.forComponent('libp2p:udx:port-mapping:pcp')
    this.now = init.now ?? Date.now
  }

  get server (): string {
    return this.init.server
  }

  /**
   * Create, renew (same nonce, protocol and internal port) or, with
   * lifetime 0, delete a mapping.
   *
   * @throws {PcpResultError} when the server answers with an error result
   * @throws {InvalidPcpMessageError} with reason `version` when the server speaks NAT-PMP only
   * @throws {PortMappingTimeoutError} when it does not answer
   * @throws {AbortError} when the signal aborts
   */
  async map (request: PcpMapOptions, options: AbortOptions = {}): Promise<PcpMapResult> {
    const protocol = PCP_PROTOCOL[request.protocol.toUpperCase() as 'UDP' | 'TCP' | 'ALL']
    const { response, clientIp } = await this.transact(clientIp => encodePcpMapRequest({ ...request, clientIp }), r =>
      r.opcode === PCP_OPCODE.MAP && r.map != null &&
      equalBytes(r.map.nonce, request.nonce) && r.map.protocol === protocol && r.map.internalPort === request.internalPort,
    options)
    const map = response.map

    if (map == null) {
      throw new InvalidPcpMessageError('too-short', 'the MAP response has no MAP fields')
    }

    return {
      clientIp,
      internalPort: map.internalPort,
      externalIp: map.externalIp,
      externalFamily: map.externalFamily,
      externalPort: map.externalPort,
      lifetime: response.lifetime,
      epoch: response.epoch,
      receivedAt: this.now()
    }
  }

  /**
   * Ask whether the server speaks PCP (an ANNOUNCE request); resolves with
   * its answer (result SUCCESS, and its epoch).
   *
   * @throws {Error} the same errors as map()
   */
  async announce (options: AbortOptions = {}): Promise<PcpResponse> {
    const { response } = await this.transact(clientIp => encodePcpAnnounceRequest({ clientIp }), r => r.opcode === PCP_OPCODE.ANNOUNCE, options)
    return response
  }

  private async transact (encode: (clientIp: string) => Uint8Array, matches: (response: PcpResponse) => boolean, options: AbortOptions): Promise<{ response: PcpResponse, clientIp: string }> {
    const { signal } = options

    if (signal?.aborted === true) {
      throw new AbortError('The PCP request was aborted')
    }

    const server = this.init.server
    const port = this.init.port ?? PCP_SERVER_PORT
    const family = server.includes(':') ? 6 : 4
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' })
    const rto = this.init.initialRtoMs ?? PCP_INITIAL_RTO_MS
    const maxTransmissions = this.init.maxTransmissions ?? PCP_MAX_TRANSMISSIONS
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined

    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.bind({ port: 0, address: this.init.localAddress }, () => {
          socket.connect(port, server, () => {
            socket.off('error', reject)
            resolve()
          })
        })
      })

      const clientIp = canonicalHost(socket.address().address.split('%')[0])
      const request = encode(clientIp)

      return await new Promise((resolve, reject) => {
        let sent = 0
        const fail = (err: Error): void => { reject(err) }

        socket.on('error', fail)
        socket.on('message', (data: Buffer) => {
          let response: PcpResponse

          try {
            response = decodePcpResponse(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
          } catch (err: any) {
            if (err instanceof InvalidPcpMessageError && err.reason === 'version' && data.length >= 4 && (data[1] & 0x80) !== 0) {
              // a NAT-PMP-only server: version 0, result 1 (unsupported version)
              reject(err)
              return
            }

            this.log.trace('dropped a malformed PCP answer from %s - %e', server, err)
            return
          }

          if (!matches(response)) {
            this.log.trace('dropped a PCP answer from %s that is not for this request (opcode %d)', server, response.opcode)
            return
          }

          if (response.result !== PCP_RESULT.SUCCESS) {
            reject(new PcpResultError(response.result, pcpResultName(response.result), response.lifetime))
            return
          }

          resolve({ response, clientIp })
        })

        const send = (): void => {
          if (sent === maxTransmissions) {
            reject(new PortMappingTimeoutError(`The PCP server ${server} did not answer ${maxTransmissions} requests`))
            return
          }

          sent++
          socket.send(request, err => {
            if (err != null) {
              this.log('could not send a PCP request to %s - %e', server, err)
            }
          })
          // 0, rto, 3 rto, ...; after the last send, wait as long again
          timer = setTimeout(send, rto * 2 ** (sent - 1))
        }

        onAbort = () => { reject(new AbortError('The PCP request was aborted')) }
        signal?.addEventListener('abort', onAbort, { once: true })
        send()
      })
    } finally {
      clearTimeout(timer)

      if (onAbort != null) {
        signal?.removeEventListener('abort', onAbort)
      }

      socket.removeAllListeners('message')
      try {
        socket.close()
      } catch {
        // already closed
      }
    }
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
