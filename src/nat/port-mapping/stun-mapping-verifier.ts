/**
 * Verifies a port mapping with a STUN server, before anyone trusts it:
 * routers lie (a mapping on a router behind another NAT, a mapping the
 * router reports but never installs, one lost in a reboot).
 *
 * From a fresh socket, a Binding request with RESPONSE-PORT = the mapped
 * external port and CHANGE-REQUEST (change port) goes to a STUN server. The
 * server answers from its other port to our public IP at the mapped port:
 * an address and port nothing of ours ever sent from, so the answer gets
 * through only if the mapping works, and then arrives on the mapped socket.
 * A server that ignores RESPONSE-PORT answers the fresh socket instead, and
 * one that does not know it answers 420: both mean "try another server",
 * never "verified".
 *
 * Zero-config: the STUN sources the node already uses (relays that run this
 * package, which answer from a second port) do, once their STUN server
 * honours RESPONSE-PORT; coturn in RFC 5780 mode does.
 */

import { AbortError } from '@libp2p/interface'
import { PORT_MAPPING_VERIFY_MAX_SERVERS, STUN_RTO } from '../../constants.ts'
import { sameHost } from '../ip.ts'
import { decodeStunMessage, isStunMessage } from '../stun/decode.ts'
import { createTransactionId, transactionKey } from '../stun/transaction-id.ts'
import { encodeResponsePortRequest } from './response-port-request.ts'
import type { MappingVerifier, VerificationOutcome, VerifyMappingRequest } from './types.ts'
import type { DatagramHandler, DatagramSocket } from '../../socket/datagram-socket.ts'
import type { StunServerAddress } from '../stun/client.ts'
import type { AbortOptions, ComponentLogger, Logger } from '@libp2p/interface'

export interface StunMappingVerifierComponents {
  logger: ComponentLogger
}

export interface StunMappingVerifierInit {
  /** the socket whose port is mapped (the answer arrives there), by local port */
  socket(port: number, family: 4 | 6): DatagramSocket | undefined
  /** a fresh socket to send from, and its release */
  openSocket(family: 4 | 6): DatagramSocket
  closeSocket(socket: DatagramSocket): Promise<void>
  /** STUN servers as IP addresses (e.g. the NAT monitor's resolved list) */
  servers(): StunServerAddress[]
  /**
   * Sends per server (0, 0.5, 1.5 s; an answer is awaited until 3.5 s)
   *
   * @default 3
   */
  maxTransmissions?: number
  /** @default STUN_RTO (500 ms) */
  rtoMs?: number
}

type ServerOutcome = 'verified' | 'unsupported' | 'timeout'

export class StunMappingVerifier implements MappingVerifier {
  private readonly init: StunMappingVerifierInit
  private readonly log: Logger

  constructor (components: StunMappingVerifierComponents, init: StunMappingVerifierInit) {
    this.init = init
    this.log = components.logger.forComponent('libp2p:udx:port-mapping:verify')
  }

  /**
   * `verified` when a server's answer arrived through the mapping; `failed`
   * when a server that takes RESPONSE-PORT sent it and nothing arrived;
   * `unknown` when no server could run the test (none known, none honours
   * RESPONSE-PORT, the mapped socket is gone).
   */
  async verify (request: VerifyMappingRequest, options: AbortOptions = {}): Promise<VerificationOutcome> {
    const family = request.external.family
    const servers = this.init.servers().filter(s => (s.host.includes(':') ? 6 : 4) === family).slice(0, PORT_MAPPING_VERIFY_MAX_SERVERS)
    let timedOut = false

    for (const server of servers) {
      const outcome = await this.ask(server, request, options)
      this.log('verification of %s:%d through %s:%d: %s', request.external.host, request.external.port, server.host, server.port, outcome)

      if (outcome === 'verified') {
        return 'verified'
      }

      if (outcome === 'no-socket') {
        return 'unknown'
      }

      timedOut ||= outcome === 'timeout'
    }

    return timedOut ? 'failed' : 'unknown'
  }

  private async ask (server: StunServerAddress, request: VerifyMappingRequest, options: AbortOptions): Promise<ServerOutcome | 'no-socket'> {
    const { signal } = options

    if (signal?.aborted === true) {
      throw new AbortError('The mapping verification was aborted')
    }

    const family = request.external.family
    const mapped = this.init.socket(request.internalPort, family)

    if (mapped == null || mapped.closed) {
      return 'no-socket'
    }

    const fresh = this.init.openSocket(family)
    const transactionId = createTransactionId()
    const key = transactionKey(transactionId)
    const datagram = encodeResponsePortRequest({ transactionId, responsePort: request.external.port })
    const maxTransmissions = this.init.maxTransmissions ?? 3
    const rto = this.init.rtoMs ?? STUN_RTO
    const removers: Array<() => void> = []
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined

    try {
      return await new Promise<ServerOutcome>((resolve, reject) => {
        const handler = (through: 'mapping' | 'fresh'): DatagramHandler => ({
          name: `port-mapping-verify-${through}`,
          matches: data => isStunMessage(data) && data.length >= 20 && transactionKey(data.subarray(8, 20)) === key,
          handle: (data, from) => {
            let message

            try {
              message = decodeStunMessage(data)
            } catch {
              return
            }

            if (message.class !== 'success' && message.class !== 'error') {
              return
            }

            if (through === 'mapping' && message.class === 'success' && sameHost(from.host, server.host)) {
              resolve('verified')
              return
            }

            // an answer to the fresh socket: the server ignored RESPONSE-PORT
            // (or refused it: 420); an error through the mapping: refused too
            resolve('unsupported')
          }
        })

        removers.push(mapped.addHandler(handler('mapping')), fresh.addHandler(handler('fresh')))
        let sent = 0
        const send = (): void => {
          if (sent === maxTransmissions) {
            resolve('timeout')
            return
          }

          sent++
          fresh.send(datagram, server.port, server.host).catch(err => {
            this.log('could not send the verification request to %s:%d - %e', server.host, server.port, err)
          })
          timer = setTimeout(send, rto * 2 ** (sent - 1))
        }

        onAbort = () => { reject(new AbortError('The mapping verification was aborted')) }
        signal?.addEventListener('abort', onAbort, { once: true })
        send()
      })
    } finally {
      clearTimeout(timer)

      if (onAbort != null) {
        signal?.removeEventListener('abort', onAbort)
      }

      removers.forEach(remove => { remove() })
      await this.init.closeSocket(fresh)
    }
  }
}
