/**
 * A STUN Binding server as a datagram handler (RFC 8489 section 6.3, RFC 5780
 * section 6 when alternate sockets are configured).
 *
 * RESPONSE-PORT (RFC 5780 section 7.5) is honoured: the answer goes to the
 * request's source IP at that port, from the socket CHANGE-REQUEST picks
 * (a port-mapping verifier asks for exactly that: an answer from a port it
 * never sent to, at its mapped port). The destination IP is always the
 * request's own source IP, never anything the request names.
 *
 * Safety: every answer is at most as large as the request that caused it
 * (optional attributes are left out, then the request is dropped), so the
 * server cannot amplify traffic towards a spoofed source; requests are rate
 * limited per source (an IPv4 address, an IPv6 /64) and globally before they
 * are decoded. Answers redirected to another port (RESPONSE-PORT) take a
 * token from a second, much smaller budget, per source and global: past it
 * the request is counted as dropped (`stun-redirect-source-limited`,
 * `stun-redirect-global-limited`) and answered with 500 at its own source
 * port, so an honest client asks elsewhere or later instead of reading the
 * silence as "nothing got through".
 */

import {
  STUN_SERVER_GLOBAL_BURST, STUN_SERVER_GLOBAL_RATE, STUN_SERVER_IPV6_SOURCE_PREFIX, STUN_SERVER_MAX_TRACKED_IPS,
  STUN_SERVER_PER_IP_BURST, STUN_SERVER_PER_IP_RATE
} from '../../constants.ts'
import { StunDecodeError } from '../../errors.ts'
import { canonicalHost, formatIP, parseIP } from '../ip.ts'
import { decodeStunMessage, peekStunClass } from './decode.ts'
import { encodeStunMessage } from './encode.ts'
import { ATTR, METHOD_BINDING } from './message.ts'
import { SourceRateLimiter } from './rate-limiter.ts'
import type { StunAttributes, StunMessage } from './message.ts'
import type { TokenBucketConfig } from './rate-limiter.ts'
import type { DatagramHandler, DatagramSocket, RemoteInfo } from '../../socket/datagram-socket.ts'
import type { TransportAddress } from '../nat-profile.ts'
import type { ComponentLogger, Logger } from '@libp2p/interface'

/**
 * Answers redirected with RESPONSE-PORT per source (an IPv4 address, an
 * IPv6 prefix), per second and as a burst, on top of the plain per-source
 * limit. A port-mapping verification sends at most 3 requests per server
 * and a node verifies a mapping when it is made or renewed; 10 lets the
 * hosts of one office NAT (one public IP) verify at once, 1/s keeps what a
 * spoofed source can aim at its victim's other ports tiny.
 */
export const STUN_SERVER_REDIRECT_PER_IP_RATE = 1
export const STUN_SERVER_REDIRECT_PER_IP_BURST = 10

/**
 * Answers redirected with RESPONSE-PORT in total, per second and as a
 * burst: a tenth of the plain global budget (STUN_SERVER_GLOBAL_RATE), so
 * a flood of spoofed sources spends at most that on redirected answers.
 */
export const STUN_SERVER_REDIRECT_GLOBAL_RATE = 50
export const STUN_SERVER_REDIRECT_GLOBAL_BURST = 100

/**
 * The sockets an RFC 5780 server answers CHANGE-REQUEST from, relative to the
 * socket this handler serves. Each must be bound to a specific address (not
 * 0.0.0.0), because that address is what clients are told.
 */
export interface StunAlternateSockets {
  /** same IP, other port: answers "change port" */
  changePort?: DatagramSocket
  /** other IP, same port: answers "change IP" */
  changeIp?: DatagramSocket
  /** other IP and other port: answers "change IP and port" */
  changeIpAndPort?: DatagramSocket
}

export interface StunServerComponents {
  logger: ComponentLogger
}

export interface StunServerInit {
  /** the socket whose requests this handler answers */
  socket: DatagramSocket
  /** RFC 5780 mode: where to answer CHANGE-REQUEST from */
  alternates?: StunAlternateSockets
  /**
   * OTHER-ADDRESS to announce in RFC 5780 mode (default: the address of
   * changeIpAndPort, else changeIp, else changePort); `null` announces none
   * (the server still honours the CHANGE-REQUESTs its alternates allow)
   */
  otherAddress?: TransportAddress | null
  /**
   * once started, this server alone answers STUN requests on its socket:
   * other StunServers on the same socket stand aside until it stops (so an
   * RFC 5780 server can take over a socket that already has a plain one)
   */
  exclusive?: boolean
  /** SOFTWARE attribute to add when the request is large enough */
  software?: string
  /** per source: an IPv4 address, or an IPv6 prefix of `ipv6SourcePrefix` bits */
  perSourceRate?: TokenBucketConfig
  globalRate?: TokenBucketConfig
  /**
   * honour RESPONSE-PORT (RFC 5780 section 7.5); false answers a request
   * that carries it with 420, as a server that does not know it does
   *
   * @default true
   */
  responsePort?: boolean
  /**
   * answers sent to a RESPONSE-PORT other than the request's source port,
   * per source (on top of `perSourceRate`)
   *
   * @default { rate: STUN_SERVER_REDIRECT_PER_IP_RATE, burst: STUN_SERVER_REDIRECT_PER_IP_BURST }
   */
  redirectPerSourceRate?: TokenBucketConfig
  /**
   * answers sent to a RESPONSE-PORT other than the request's source port,
   * in total
   *
   * @default { rate: STUN_SERVER_REDIRECT_GLOBAL_RATE, burst: STUN_SERVER_REDIRECT_GLOBAL_BURST }
   */
  redirectGlobalRate?: TokenBucketConfig
  /**
   * the redirect budget, shared with other servers (installStunServers
   * gives the servers of one set one budget, so asking each of them does
   * not multiply it); built from the two rates above when left out
   */
  redirectLimiter?: SourceRateLimiter
  /**
   * prefix length, in bits, an IPv6 source is counted by
   *
   * @default STUN_SERVER_IPV6_SOURCE_PREFIX
   */
  ipv6SourcePrefix?: number
  maxTrackedSources?: number
  /** clock in ms (default Date.now) */
  now?(): number
}

/** the server that answers alone on a socket (see StunServerInit.exclusive) */
const exclusiveServers = new WeakMap<DatagramSocket, StunServer>()

export class StunServer implements DatagramHandler {
  public readonly name = 'stun-server'
  private readonly log: Logger
  private readonly socket: DatagramSocket
  private readonly alternates: StunAlternateSockets
  private readonly otherAddress?: TransportAddress
  private readonly software?: string
  private readonly limiter: SourceRateLimiter
  private readonly redirectLimiter: SourceRateLimiter
  private readonly responsePort: boolean
  private readonly exclusive: boolean
  private readonly ipv6SourcePrefix: number
  private removeHandler?: () => void

  constructor (components: StunServerComponents, init: StunServerInit) {
    this.log = components.logger.forComponent('libp2p:udx:stun:server')
    this.socket = init.socket
    this.alternates = init.alternates ?? {}
    this.otherAddress = init.otherAddress === null
      ? undefined
      : init.otherAddress ?? (this.alternates.changeIpAndPort ?? this.alternates.changeIp ?? this.alternates.changePort)?.address()
    this.exclusive = init.exclusive === true
    this.software = init.software
    this.ipv6SourcePrefix = init.ipv6SourcePrefix ?? STUN_SERVER_IPV6_SOURCE_PREFIX
    this.limiter = new SourceRateLimiter({
      perSource: init.perSourceRate ?? { rate: STUN_SERVER_PER_IP_RATE, burst: STUN_SERVER_PER_IP_BURST },
      global: init.globalRate ?? { rate: STUN_SERVER_GLOBAL_RATE, burst: STUN_SERVER_GLOBAL_BURST },
      maxSources: init.maxTrackedSources ?? STUN_SERVER_MAX_TRACKED_IPS,
      now: init.now ?? Date.now
    })
    this.responsePort = init.responsePort ?? true
    this.redirectLimiter = init.redirectLimiter ?? createRedirectLimiter(init)
  }

  /** Start answering requests that arrive on the socket */
  start (): void {
    this.removeHandler ??= this.socket.addHandler(this)

    if (this.exclusive) {
      exclusiveServers.set(this.socket, this)
    }
  }

  /** Stop answering */
  stop (): void {
    this.removeHandler?.()
    this.removeHandler = undefined

    if (exclusiveServers.get(this.socket) === this) {
      exclusiveServers.delete(this.socket)
    }
  }

  /** the OTHER-ADDRESS this server announces (RFC 5780 mode), if any */
  get announcedOtherAddress (): TransportAddress | undefined {
    return this.otherAddress == null ? undefined : { ...this.otherAddress }
  }

  matches (data: Uint8Array): boolean {
    if (peekStunClass(data) !== 'request') {
      return false
    }

    const owner = exclusiveServers.get(this.socket)

    return owner == null || owner === this
  }

  handle (data: Uint8Array, from: RemoteInfo, socket: DatagramSocket): void {
    const decision = this.limiter.take(rateLimitSource(from.host, this.ipv6SourcePrefix))

    if (decision !== 'allow') {
      this.log.trace('%s STUN request from %s:%d', decision, from.host, from.port)
      socket.drop(`stun-${decision}`, from)
      return
    }

    let request

    try {
      request = decodeStunMessage(data)
    } catch (err) {
      if (err instanceof StunDecodeError) {
        this.log.trace('malformed STUN request from %s:%d: %s', from.host, from.port, err.reason)
        socket.drop('stun-malformed', from)
        return
      }

      throw err
    }

    if (request.method !== METHOD_BINDING) {
      socket.drop('stun-unsupported-method', from)
      return
    }

    if (request.unknownRequired.length > 0) {
      this.answerError(data.length, request, from, 420, 'Unknown Attribute', request.unknownRequired)
      return
    }

    const responsePort = request.attributes.responsePort

    if (responsePort != null) {
      if (!this.responsePort) {
        this.answerError(data.length, request, from, 420, 'Unknown Attribute', [ATTR.RESPONSE_PORT])
        return
      }

      // RFC 5780: RESPONSE-PORT never together with PADDING; port 0 is
      // nowhere
      if (request.attributes.padding != null || responsePort === 0) {
        this.answerError(data.length, request, from, 400, 'Bad Request')
        return
      }
    }

    let sender = socket
    const change = request.attributes.changeRequest

    if (change != null && (change.changeIp || change.changePort)) {
      const alternate = alternateFor(this.alternates, change.changeIp, change.changePort)

      if (alternate == null) {
        // RFC 5780 6.1: a server that cannot honour CHANGE-REQUEST says 420
        this.answerError(data.length, request, from, 420, 'Unknown Attribute', [ATTR.CHANGE_REQUEST])
        return
      }

      sender = alternate
    }

    const required: StunAttributes = {
      xorMappedAddress: { host: from.host, port: from.port, family: from.family }
    }

    if (this.otherAddress != null) {
      required.responseOrigin = sender.address()
      required.otherAddress = this.otherAddress
    }

    const response = this.fit(data.length, request, 'success', required)

    if (response == null) {
      this.log.trace('STUN request from %s:%d too small to answer without amplification', from.host, from.port)
      socket.drop('stun-request-too-small', from)
      return
    }

    // only ever the request's own source IP: RESPONSE-PORT picks the port
    const to: RemoteInfo = responsePort == null ? from : { ...from, port: responsePort }

    if (to.port !== from.port) {
      const decision = this.redirectLimiter.take(rateLimitSource(from.host, this.ipv6SourcePrefix))

      if (decision !== 'allow') {
        this.log.trace('%s: no STUN answer from %s:%d to port %d', decision, from.host, from.port, to.port)
        socket.drop(`stun-redirect-${decision}`, from)
        this.answerError(data.length, request, from, 500, 'Server Error')
        return
      }

      this.log.trace('STUN answer for %s:%d goes to port %d (RESPONSE-PORT)', from.host, from.port, to.port)
    }

    this.send(sender, response, to)
  }

  /** an error response, always to the request's source address and from the socket it came to */
  private answerError (limit: number, request: StunMessage, from: RemoteInfo, code: number, reason: string, unknown?: number[]): void {
    const response = this.fit(limit, request, 'error', {
      errorCode: { code, reason },
      ...(unknown != null ? { unknownAttributes: unknown } : {})
    })

    if (response == null) {
      this.socket.drop('stun-request-too-small', from)
      return
    }

    this.send(this.socket, response, from)
  }

  /**
   * Encode the response with the required attributes, plus SOFTWARE when it
   * still fits; undefined when even the required ones exceed `limit` bytes
   */
  private fit (limit: number, request: StunMessage, cls: 'success' | 'error', required: StunAttributes): Uint8Array | undefined {
    const base = { method: METHOD_BINDING, class: cls, transactionId: request.transactionId }

    if (this.software != null) {
      const withSoftware = encodeStunMessage({ ...base, attributes: { ...required, software: this.software } })

      if (withSoftware.length <= limit) {
        return withSoftware
      }
    }

    const bytes = encodeStunMessage({ ...base, attributes: required })

    return bytes.length <= limit ? bytes : undefined
  }

  private send (sender: DatagramSocket, bytes: Uint8Array, to: RemoteInfo): void {
    sender.send(bytes, to.port, to.host).catch(err => {
      this.log.error('could not send STUN response to %s:%d - %e', to.host, to.port, err)
    })
  }
}

/** the redirect budget of one server, from its init */
export function createRedirectLimiter (init: Pick<StunServerInit, 'redirectPerSourceRate' | 'redirectGlobalRate' | 'maxTrackedSources' | 'now'>): SourceRateLimiter {
  return new SourceRateLimiter({
    perSource: init.redirectPerSourceRate ?? { rate: STUN_SERVER_REDIRECT_PER_IP_RATE, burst: STUN_SERVER_REDIRECT_PER_IP_BURST },
    global: init.redirectGlobalRate ?? { rate: STUN_SERVER_REDIRECT_GLOBAL_RATE, burst: STUN_SERVER_REDIRECT_GLOBAL_BURST },
    maxSources: init.maxTrackedSources ?? STUN_SERVER_MAX_TRACKED_IPS,
    now: init.now ?? Date.now
  })
}

function alternateFor (alternates: StunAlternateSockets, changeIp: boolean, changePort: boolean): DatagramSocket | undefined {
  if (changeIp && changePort) {
    return alternates.changeIpAndPort
  }

  return changeIp ? alternates.changeIp : alternates.changePort
}

/**
 * The key the per-source rate limit counts `host` under: the canonical IPv4
 * address (also for an IPv4-mapped IPv6 address), or the IPv6 prefix of
 * `prefixBits` bits as `<prefix>/<bits>`. Text that does not parse is its
 * own key.
 */
export function rateLimitSource (host: string, prefixBits: number = STUN_SERVER_IPV6_SOURCE_PREFIX): string {
  const canonical = canonicalHost(host)
  const bytes = canonical.includes(':') ? parseIP(canonical) : undefined

  if (bytes == null) {
    return canonical
  }

  const bits = Math.max(0, Math.min(128, Math.floor(prefixBits)))

  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8))
    bytes[i] &= (0xFF << (8 - keep)) & 0xFF
  }

  return `${formatIP(bytes)}/${bits}`
}
