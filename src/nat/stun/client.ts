/**
 * A STUN client (RFC 8489 Binding, RFC 5780 CHANGE-REQUEST) over a
 * DatagramSocket. It shares the socket with everything else: it claims only
 * STUN responses whose transaction id it is waiting for.
 */

import { AbortError, InvalidParametersError } from '@libp2p/interface'
import { STUN_MAX_TRANSMISSIONS, STUN_MIN_RTO, STUN_REQUEST_PAD_TO, STUN_RTO, STUN_RTT_RTO_FACTOR } from '../../constants.ts'
import {
  InvalidStunResponseError, StunClientClosedError, StunDecodeError, StunErrorResponseError, StunTimeoutError
} from '../../errors.ts'
import { ipFamily, sameHost } from '../ip.ts'
import { decodeStunMessage, peekStunClass } from './decode.ts'
import { attributeSize, encodeStunMessage } from './encode.ts'
import { ATTR, HEADER_LENGTH, METHOD_BINDING, TRANSACTION_ID_LENGTH } from './message.ts'
import { globalTransactionPacer } from './pacer.ts'
import { createTransactionId, transactionKey } from './transaction-id.ts'
import type { StunAttributes } from './message.ts'
import type { TransactionPacer } from './pacer.ts'
import type { DatagramHandler, DatagramSocket, RemoteInfo } from '../../socket/datagram-socket.ts'
import type { TransportAddress } from '../nat-profile.ts'
import type { AbortOptions, ComponentLogger, Logger } from '@libp2p/interface'

export interface StunServerAddress {
  /** an IPv4 or IPv6 address (resolve names before: resolveStunServers) */
  host: string
  port: number
}

/**
 * The server answered a CHANGE-REQUEST from the address the request went to:
 * it ignored the attribute (a server that does not implement RFC 5780 should
 * say 420, some answer anyway). Discovery counts the test as unsupported.
 */
export class StunChangeRequestIgnoredError extends Error {
  static name = 'StunChangeRequestIgnoredError'

  constructor (message = 'The STUN server ignored CHANGE-REQUEST (it answered from the address the request went to): it cannot run the RFC 5780 filtering tests') {
    super(message)
    this.name = 'StunChangeRequestIgnoredError'
  }
}

export interface BindingOptions extends AbortOptions {
  /** RFC 5780: ask the server to answer from its other IP address */
  changeIp?: boolean
  /** RFC 5780: ask the server to answer from its other port */
  changePort?: boolean
  /** how many times to send the request (default: the client's setting) */
  maxTransmissions?: number
  /**
   * a round-trip time (ms) measured to this server shortly before: the RTO
   * becomes STUN_RTT_RTO_FACTOR x rtt, between STUN_MIN_RTO and the
   * client's RTO (default: the client's RTO)
   */
  rtt?: number
}

export interface BindingResult {
  /** our address as the server saw it (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS) */
  mapped: TransportAddress
  /** RFC 5780 OTHER-ADDRESS: the server's alternate address and port */
  otherAddress?: TransportAddress
  /** RFC 5780 RESPONSE-ORIGIN: where the server says it answered from */
  responseOrigin?: TransportAddress
  /** where the response came from */
  from: TransportAddress
  /** our socket's local address */
  local: TransportAddress
  /**
   * ms from the last transmission to the response. After a retransmission
   * the answer may belong to an earlier send (Karn's problem), so only
   * `transmissions === 1` gives a clean sample.
   */
  rtt: number
  /** how many times the request was sent */
  transmissions: number
  /** clock time of the first transmission (when a new NAT mapping was made) */
  sentAt: number
  /** clock time the response arrived */
  receivedAt: number
  software?: string
}

export interface StunClientComponents {
  logger: ComponentLogger
}

export interface StunClientInit {
  socket: DatagramSocket
  /** first retransmission timeout in ms, doubling (default STUN_RTO) */
  rto?: number
  /** sends per transaction (default STUN_MAX_TRANSMISSIONS) */
  maxTransmissions?: number
  /**
   * pad requests to this many bytes so that servers that refuse to amplify
   * can answer (default STUN_REQUEST_PAD_TO; 0 disables)
   */
  padTo?: number
  /** the pacer shared by all clients (default: the process-wide one) */
  pacer?: TransactionPacer
  /** SOFTWARE attribute to send (default none) */
  software?: string
  /** clock in ms (default Date.now) */
  now?(): number
}

interface Transaction {
  server: StunServerAddress
  changeIp: boolean
  changePort: boolean
  firstSentAt: number
  lastSentAt: number
  transmissions: number
  resolve(result: BindingResult): void
  reject(err: Error): void
}

export class StunClient implements DatagramHandler {
  public readonly name = 'stun-client'
  private readonly log: Logger
  private readonly socket: DatagramSocket
  private readonly rto: number
  private readonly maxTransmissions: number
  private readonly padTo: number
  private readonly pacer: TransactionPacer
  private readonly software?: string
  private readonly now: () => number
  private readonly transactions = new Map<string, Transaction>()
  private readonly removeHandler: () => void
  private closed = false

  constructor (components: StunClientComponents, init: StunClientInit) {
    this.log = components.logger.forComponent('libp2p:udx:stun')
    this.socket = init.socket
    this.rto = init.rto ?? STUN_RTO
    this.maxTransmissions = init.maxTransmissions ?? STUN_MAX_TRANSMISSIONS
    this.padTo = init.padTo ?? STUN_REQUEST_PAD_TO
    this.pacer = init.pacer ?? globalTransactionPacer
    this.software = init.software
    this.now = init.now ?? Date.now

    if (!(this.rto > 0) || !Number.isInteger(this.maxTransmissions) || this.maxTransmissions < 1) {
      throw new InvalidParametersError('rto must be above 0 and maxTransmissions a positive integer')
    }

    this.removeHandler = this.socket.addHandler(this)
  }

  /** transactions waiting for an answer */
  get pending (): number {
    return this.transactions.size
  }

  /**
   * Ask a STUN server for our mapped address.
   *
   * @throws {StunTimeoutError} no answer after every retransmission
   * @throws {StunErrorResponseError} the server answered with an error
   * @throws {StunChangeRequestIgnoredError} with changeIp/changePort: the
   * server answered from the address the request went to
   * @throws {AbortError} the signal aborted (every timer is cleared)
   */
  async binding (server: StunServerAddress, options: BindingOptions = {}): Promise<BindingResult> {
    if (ipFamily(server.host) == null || !Number.isInteger(server.port) || server.port < 1 || server.port > 0xffff) {
      throw new InvalidParametersError(`A STUN server is an IP address and a port in 1..65535, got ${server.host}:${server.port}: resolve host names first`)
    }

    if (this.closed) {
      throw new StunClientClosedError()
    }

    await this.pacer.acquire(options.signal)

    try {
      return await this.transact(server, options, this.padTo)
    } catch (err: any) {
      // a server that does not know PADDING (comprehension-required) says
      // 420: ask again without it. This costs a new transaction slot.
      if (err instanceof StunErrorResponseError && err.code === 420 && err.unknownAttributes.includes(ATTR.PADDING)) {
        this.log('%s:%d does not understand PADDING, asking again without it', server.host, server.port)
        await this.pacer.acquire(options.signal)

        return this.transact(server, options, 0)
      }

      throw err
    }
  }

  /**
   * Reject every pending transaction and stop claiming datagrams
   */
  close (): void {
    if (this.closed) {
      return
    }

    this.closed = true
    this.removeHandler()

    for (const tx of [...this.transactions.values()]) {
      tx.reject(new StunClientClosedError())
    }
  }

  matches (data: Uint8Array): boolean {
    const cls = peekStunClass(data)

    if (cls !== 'success' && cls !== 'error') {
      return false
    }

    return this.transactions.has(transactionKey(data.subarray(8, 8 + TRANSACTION_ID_LENGTH)))
  }

  handle (data: Uint8Array, from: RemoteInfo, socket: DatagramSocket): void {
    let message

    try {
      message = decodeStunMessage(data)
    } catch (err) {
      if (err instanceof StunDecodeError) {
        this.log.trace('malformed STUN response from %s:%d: %s', from.host, from.port, err.reason)
        socket.drop('stun-malformed', from)
        return
      }

      throw err
    }

    const tx = this.transactions.get(transactionKey(message.transactionId))

    if (tx == null || message.method !== METHOD_BINDING) {
      socket.drop('stun-unexpected-response', from)
      return
    }

    if (!fromExpectedSource(tx, from, message.class === 'error')) {
      if (message.class === 'success' && (tx.changeIp || tx.changePort) && sameHost(from.host, tx.server.host) && from.port === tx.server.port) {
        // only a server that ignored CHANGE-REQUEST answers a change request
        // from where it went (the answer got through because we sent there)
        this.log('%s:%d ignored CHANGE-REQUEST', from.host, from.port)
        tx.reject(new StunChangeRequestIgnoredError())
        return
      }

      this.log.trace('STUN response from unexpected source %s:%d', from.host, from.port)
      socket.drop('stun-unexpected-source', from)
      return
    }

    const a = message.attributes
    this.log.trace('STUN %s from %s:%d', message.class, from.host, from.port)

    if (message.class === 'error') {
      tx.reject(new StunErrorResponseError(a.errorCode?.code ?? 0, a.errorCode?.reason ?? 'no ERROR-CODE', a.unknownAttributes))
      return
    }

    const mapped = a.xorMappedAddress ?? a.mappedAddress

    if (mapped == null) {
      tx.reject(new InvalidStunResponseError())
      return
    }

    const receivedAt = this.now()
    tx.resolve({
      mapped,
      otherAddress: a.otherAddress,
      responseOrigin: a.responseOrigin,
      from: { host: from.host, port: from.port, family: from.family },
      local: this.socket.address(),
      rtt: receivedAt - tx.lastSentAt,
      transmissions: tx.transmissions,
      sentAt: tx.firstSentAt,
      receivedAt,
      software: a.software
    })
  }

  private async transact (server: StunServerAddress, options: BindingOptions, padTo: number): Promise<BindingResult> {
    const signal = options.signal
    signal?.throwIfAborted()

    if (this.closed) {
      throw new StunClientClosedError()
    }

    const transactionId = createTransactionId()
    const key = transactionKey(transactionId)
    const changeIp = options.changeIp === true
    const changePort = options.changePort === true
    const request = this.encodeRequest(transactionId, changeIp, changePort, padTo)
    const maxTransmissions = options.maxTransmissions ?? this.maxTransmissions
    const rto = rtoFor(options.rtt, this.rto)
    let timer: ReturnType<typeof setTimeout> | undefined

    return new Promise<BindingResult>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer)
        timer = undefined
        this.transactions.delete(key)
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        settle()
        reject(new AbortError('The STUN binding request was aborted'))
      }
      const tx: Transaction = {
        server,
        changeIp,
        changePort,
        firstSentAt: 0,
        lastSentAt: 0,
        transmissions: 0,
        resolve: (result) => {
          settle()
          resolve(result)
        },
        reject: (err) => {
          settle()
          reject(err)
        }
      }

      const transmit = (): void => {
        timer = undefined

        if (!this.transactions.has(key)) {
          return
        }

        if (tx.transmissions === maxTransmissions) {
          this.log('no answer from %s:%d after %d requests', server.host, server.port, tx.transmissions)
          tx.reject(new StunTimeoutError())
          return
        }

        tx.transmissions++
        tx.lastSentAt = this.now()

        if (tx.transmissions === 1) {
          tx.firstSentAt = tx.lastSentAt
        }

        this.log.trace('STUN binding request %d/%d to %s:%d', tx.transmissions, maxTransmissions, server.host, server.port)
        this.socket.send(request, server.port, server.host).catch(err => { tx.reject(err) })
        // RFC 8489 6.2.1: RTO, 2 RTO, 4 RTO ... and after the last request a
        // final wait as long as the next interval would have been
        timer = setTimeout(transmit, rto * 2 ** (tx.transmissions - 1))
      }

      this.transactions.set(key, tx)
      signal?.addEventListener('abort', onAbort, { once: true })
      transmit()
    })
  }

  private encodeRequest (transactionId: Uint8Array, changeIp: boolean, changePort: boolean, padTo: number): Uint8Array {
    const attributes: StunAttributes = {}
    let size = HEADER_LENGTH + 8 // FINGERPRINT

    if (changeIp || changePort) {
      attributes.changeRequest = { changeIp, changePort }
      size += attributeSize(4)
    }

    if (this.software != null) {
      attributes.software = this.software
      size += attributeSize(new TextEncoder().encode(this.software).length)
    }

    if (padTo - size >= 4) {
      attributes.padding = padTo - size - 4
    }

    return encodeStunMessage({ method: METHOD_BINDING, class: 'request', transactionId, attributes })
  }
}

/**
 * The RTO for a request: from a measured RTT when there is one (RFC 6298
 * with one sample), never below STUN_MIN_RTO nor above the client's RTO
 */
export function rtoFor (rtt: number | undefined, clientRto: number): number {
  if (rtt == null || !Number.isFinite(rtt) || rtt < 0) {
    return clientRto
  }

  return Math.min(clientRto, Math.max(STUN_MIN_RTO, STUN_RTT_RTO_FACTOR * rtt))
}

/**
 * A plain request must be answered from the address we sent it to; with
 * CHANGE-REQUEST the IP and/or port must differ as asked (RFC 5780 4.4). An
 * error answer (e.g. 420: the server cannot change) comes from the address we
 * sent to.
 */
function fromExpectedSource (tx: Transaction, from: RemoteInfo, isError: boolean): boolean {
  const hostMatches = sameHost(from.host, tx.server.host)
  const portMatches = from.port === tx.server.port

  if (isError && hostMatches && portMatches) {
    return true
  }

  return hostMatches === !tx.changeIp && portMatches === !tx.changePort
}
