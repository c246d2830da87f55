/**
 * Named error classes. Every error thrown for wrong use of the API says what
 * to do instead. Sections follow the layers in src/.
 */

// ---------------------------------------------------------------------------
// socket and transport layers
// ---------------------------------------------------------------------------

/**
 * A dial got no answer from the address: nothing listens there, a firewall
 * drops the traffic, or the path loses every packet
 */
export class HandshakeTimeoutError extends Error {
  static name = 'HandshakeTimeoutError'

  constructor (message = 'The udx handshake timed out: check that a udx listener runs at the address and that UDP traffic can reach it') {
    super(message)
    this.name = 'HandshakeTimeoutError'
  }
}

/**
 * The remote refused the connection (it sent RESET), e.g. because it is
 * shutting down or its half-open table is full
 */
export class HandshakeRefusedError extends Error {
  static name = 'HandshakeRefusedError'

  constructor (message = 'The remote udx listener refused the connection') {
    super(message)
    this.name = 'HandshakeRefusedError'
  }
}

/**
 * A multiaddr was passed that is not a udx address
 */
export class InvalidUdxAddressError extends Error {
  static name = 'InvalidUdxAddressError'

  constructor (message = 'Expected a udx multiaddr like /ip4/1.2.3.4/udp/1234/udx') {
    super(message)
    this.name = 'InvalidUdxAddressError'
  }
}

/**
 * A directly connected peer authenticated as a different PeerId than the
 * one we expected (e.g. the peer of the relayed connection)
 */
export class UnexpectedRemotePeerError extends Error {
  static name = 'UnexpectedRemotePeerError'

  constructor (message = 'The remote peer of the direct connection is not the expected peer') {
    super(message)
    this.name = 'UnexpectedRemotePeerError'
  }
}

/**
 * The path of a udx connection died: nothing arrived from the peer for
 * longer than the transport's `pathDeadTimeout` (the peer vanished, its NAT
 * dropped the mapping and no authenticated datagram showed a new one, a
 * network changed). The connection is closed with this error and so are its
 * streams; open a new connection (the hole-punch service re-punches when it
 * wants the peer).
 */
export class PathDeadError extends Error {
  static name = 'PathDeadError'

  constructor (message = 'The direct path to the peer is dead: nothing arrived from it within the dead timeout') {
    super(message)
    this.name = 'PathDeadError'
  }
}

/**
 * A socket operation was attempted on a socket that was already closed
 */
export class SocketClosedError extends Error {
  static name = 'SocketClosedError'

  constructor (message = 'The udx socket is closed') {
    super(message)
    this.name = 'SocketClosedError'
  }
}

// ---------------------------------------------------------------------------
// nat layer
// ---------------------------------------------------------------------------

/**
 * Bytes that were expected to be a STUN message are not a valid one. `reason`
 * is a short machine-readable cause, e.g. `bad-fingerprint`
 */
export class StunDecodeError extends Error {
  static name = 'StunDecodeError'
  public readonly reason: string

  constructor (reason: string, message = `Malformed STUN message (${reason}): drop the datagram`) {
    super(message)
    this.name = 'StunDecodeError'
    this.reason = reason
  }
}

/**
 * A STUN message could not be encoded because a field is out of range (a
 * bad address, a too long SOFTWARE, an error code outside 300..699)
 */
export class StunEncodeError extends Error {
  static name = 'StunEncodeError'

  constructor (message = 'Cannot encode the STUN message: check the attribute values') {
    super(message)
    this.name = 'StunEncodeError'
  }
}

/**
 * A STUN server did not answer a binding request after every retransmission
 */
export class StunTimeoutError extends Error {
  static name = 'StunTimeoutError'

  constructor (message = 'The STUN server did not answer: check its address and that UDP reaches it, or try another server') {
    super(message)
    this.name = 'StunTimeoutError'
  }
}

/**
 * A STUN server answered a binding request with an error response
 */
export class StunErrorResponseError extends Error {
  static name = 'StunErrorResponseError'
  public readonly code: number
  public readonly reason: string
  /** for 420 (Unknown Attribute): the attribute types the server refused */
  public readonly unknownAttributes: number[]

  constructor (code: number, reason: string, unknownAttributes: number[] = [], message = `The STUN server answered with error ${code} (${reason})${code === 420 ? ': it does not support an attribute we sent (e.g. CHANGE-REQUEST without RFC 5780 support)' : ''}`) {
    super(message)
    this.name = 'StunErrorResponseError'
    this.code = code
    this.reason = reason
    this.unknownAttributes = unknownAttributes
  }
}

/**
 * A STUN server answered with a success response that lacks the mapped
 * address
 */
export class InvalidStunResponseError extends Error {
  static name = 'InvalidStunResponseError'

  constructor (message = 'The STUN server answered without a (XOR-)MAPPED-ADDRESS: use another STUN server') {
    super(message)
    this.name = 'InvalidStunResponseError'
  }
}

/**
 * A STUN client was used after close()
 */
export class StunClientClosedError extends Error {
  static name = 'StunClientClosedError'

  constructor (message = 'The STUN client is closed: create a new one') {
    super(message)
    this.name = 'StunClientClosedError'
  }
}

// ---------------------------------------------------------------------------
// punch, protocol and service layers
// ---------------------------------------------------------------------------

/**
 * A datagram claimed to be a punch probe but is not a well-formed one (wrong
 * size, magic, version, type or reserved bits). `reason` names the rule.
 */
export class InvalidProbeError extends Error {
  static name = 'InvalidProbeError'
  readonly reason: string

  constructor (reason: string, message = `Malformed probe datagram (${reason}): drop it and count it, it is not from a peer running this protocol version`) {
    super(message)
    this.name = 'InvalidProbeError'
    this.reason = reason
  }
}

/**
 * A well-formed probe datagram failed authentication: another session, the
 * wrong sender role (e.g. our own probe reflected back) or a bad MAC
 */
export class ProbeAuthenticationError extends Error {
  static name = 'ProbeAuthenticationError'
  readonly reason: string

  constructor (reason: string, message = `Probe datagram failed authentication (${reason}): drop it, it was not sent by the peer of this session`) {
    super(message)
    this.name = 'ProbeAuthenticationError'
    this.reason = reason
  }
}

/**
 * The planner was called with inputs it cannot plan from (e.g. a negative
 * RTT, a port out of range)
 */
export class InvalidPlanInputError extends Error {
  static name = 'InvalidPlanInputError'

  constructor (message = 'Invalid punch planner input: pass validated profiles and candidates (see src/protocol/validate.ts)') {
    super(message)
    this.name = 'InvalidPlanInputError'
  }
}

/**
 * The plan the offerer sent in SYNC cannot be followed by this side (e.g. it
 * asks for more extra sockets than we offered). Answer with ABORT
 * PLAN_REJECTED.
 */
export class PlanRejectedError extends Error {
  static name = 'PlanRejectedError'

  constructor (message = 'The offered punch plan cannot be followed: abort the session with reason PLAN_REJECTED') {
    super(message)
    this.name = 'PlanRejectedError'
  }
}

/**
 * A coordination message broke a rule of docs/PROTOCOL.md. `field` is the
 * dotted path of the offending field, `rule` what was expected. Answer with
 * ABORT INVALID_MESSAGE and close the stream.
 */
export class InvalidCoordinationMessageError extends Error {
  static name = 'InvalidCoordinationMessageError'
  readonly field: string
  readonly rule: string

  constructor (field: string, rule: string, message = `Invalid coordination message: ${field} ${rule}; abort the session with reason INVALID_MESSAGE`) {
    super(message)
    this.name = 'InvalidCoordinationMessageError'
    this.field = field
    this.rule = rule
  }
}

/**
 * An encoded coordination message is larger than the protocol allows
 */
export class CoordinationMessageTooLargeError extends Error {
  static name = 'CoordinationMessageTooLargeError'

  constructor (message = 'Coordination message too large: send fewer candidates (the limit is in src/constants.ts)') {
    super(message)
    this.name = 'CoordinationMessageTooLargeError'
  }
}

/**
 * The peer speaks another version of the coordination protocol. Answer with
 * ABORT UNSUPPORTED_VERSION and keep the relayed connection.
 */
export class UnsupportedCoordinationVersionError extends Error {
  static name = 'UnsupportedCoordinationVersionError'
  readonly version: number

  constructor (version: number, message = `The peer uses coordination protocol version ${version}, this node only version 1: keep the relayed connection, upgrade one of the nodes`) {
    super(message)
    this.name = 'UnsupportedCoordinationVersionError'
    this.version = version
  }
}

/**
 * A punch ended without a direct path (budget or probe limit reached). The
 * relayed connection, if any, is still there.
 */
export class PunchFailedError extends Error {
  static name = 'PunchFailedError'

  /**
   * Why no path was made:
   * - `no-path` our punch ran and found none (its budget ended, or every
   * target went unanswered): the only outcome punch history learns from
   * - `no-strategy` no plan for this NAT pair, or no usable candidate (ours
   * or the peer's decision)
   * - `peer` the peer's punch ended without a path first (its ABORT TIMEOUT)
   */
  readonly reason: PunchFailureReason

  constructor (message = 'No direct path could be made: the relayed connection stays in use', reason: PunchFailureReason = 'no-path') {
    super(message)
    this.name = 'PunchFailedError'
    this.reason = reason
  }
}

export type PunchFailureReason = 'no-path' | 'no-strategy' | 'peer'

/**
 * The peer aborted the punch (it was cancelled or is shutting down)
 */
export class PunchAbortedByPeerError extends Error {
  static name = 'PunchAbortedByPeerError'

  constructor (message = 'The peer aborted the punch') {
    super(message)
    this.name = 'PunchAbortedByPeerError'
  }
}

/**
 * holePunch() was used without the udx() transport, or before the node
 * started
 */
export class NoUdxTransportError extends Error {
  static name = 'NoUdxTransportError'

  constructor (message = 'holePunch() needs the udx() transport: add udx() to the transports of createLibp2p') {
    super(message)
    this.name = 'NoUdxTransportError'
  }
}

/**
 * connect() was given a PeerId with no relayed connection to coordinate over
 */
export class NoRelayedConnectionError extends Error {
  static name = 'NoRelayedConnectionError'

  constructor (message = 'No relayed connection to the peer: dial it through a relay first, or pass its /p2p-circuit multiaddr to connect()') {
    super(message)
    this.name = 'NoRelayedConnectionError'
  }
}

/**
 * The coordination with the peer broke down: the relayed connection or its
 * stream closed, the relay could not be dialed, the peer sent something
 * invalid, or the direct upgrade failed. `cause` holds the original error.
 */
export class CoordinationFailedError extends Error {
  static name = 'CoordinationFailedError'

  constructor (message = 'The coordination with the peer over the relayed connection failed', options?: ErrorOptions) {
    super(message, options)
    this.name = 'CoordinationFailedError'
  }
}

/**
 * connect() could not start a punch: `maxOutboundPunches` punches of ours
 * are already running. Try again later (inbound punches, which peers start,
 * have their own limit and never take our slots).
 */
export class TooManyPunchesError extends Error {
  static name = 'TooManyPunchesError'

  constructor (message = 'Too many punches are running: try again later') {
    super(message)
    this.name = 'TooManyPunchesError'
  }
}

/**
 * Internal: our session gave way to the peer's simultaneous OFFER (glare).
 * Callers never see it: they get the outcome of the peer's session.
 */
export class GlareError extends Error {
  static name = 'GlareError'

  constructor (message = 'Both peers offered at once; this session gave way') {
    super(message)
    this.name = 'GlareError'
  }
}

/**
 * The direct connection's upgrader did not start with the encrypter both
 * peers pre-negotiated over the relay (noise() must come first in
 * `connectionEncrypters`)
 */
export class PreNegotiationError extends Error {
  static name = 'PreNegotiationError'

  constructor (message = 'The upgrader did not propose the pre-negotiated encrypter') {
    super(message)
    this.name = 'PreNegotiationError'
  }
}

// ---------------------------------------------------------------------------
// port mapping (src/nat/port-mapping/)
// ---------------------------------------------------------------------------

/**
 * A PCP message (RFC 6887) could not be encoded or decoded; `reason` says
 * which check failed (machine-readable, e.g. `too-short`, `version`)
 */
export class InvalidPcpMessageError extends Error {
  static name = 'InvalidPcpMessageError'
  readonly reason: string

  constructor (reason: string, message: string) {
    super(message)
    this.name = 'InvalidPcpMessageError'
    this.reason = reason
  }
}

/**
 * The PCP server answered with an error result (RFC 6887 section 7.4)
 */
export class PcpResultError extends Error {
  static name = 'PcpResultError'
  /** the result code, e.g. 2 (NOT_AUTHORIZED) */
  readonly result: number
  /** how long the server says the error holds, in seconds */
  readonly lifetime: number

  constructor (result: number, resultName: string, lifetime: number) {
    super(`The PCP server refused the request: ${resultName} (${result})`)
    this.name = 'PcpResultError'
    this.result = result
    this.lifetime = lifetime
  }
}

/**
 * The gateway did not answer a port-mapping request (PCP, NAT-PMP or UPnP)
 * in time: it may not speak the protocol, or the protocol is switched off
 */
export class PortMappingTimeoutError extends Error {
  static name = 'PortMappingTimeoutError'

  constructor (message = 'The gateway did not answer the port-mapping request') {
    super(message)
    this.name = 'PortMappingTimeoutError'
  }
}

/**
 * No gateway mapped the port with any of the enabled protocols. Nothing to
 * fix in code: the router has UPnP, NAT-PMP and PCP off (or has none), or
 * there is no NAT; punching still works without a mapping.
 */
export class PortMappingUnavailableError extends Error {
  static name = 'PortMappingUnavailableError'

  constructor (message = 'No gateway mapped the port: the router speaks none of the enabled port-mapping protocols (UPnP-IGD, NAT-PMP, PCP), or they are switched off') {
    super(message)
    this.name = 'PortMappingUnavailableError'
  }
}

/**
 * A UPnP-IGD gateway answered an action with a UPnP error (a SOAP fault
 * with a UPnPError), e.g. 718 ConflictInMappingEntry
 */
export class UpnpActionError extends Error {
  static name = 'UpnpActionError'
  /** the action, e.g. `AddPortMapping` */
  readonly action: string
  /** the UPnP error code, e.g. 718; 0 when the fault had none (or the HTTP status said it) */
  readonly code: number

  constructor (action: string, code: number, description: string) {
    super(`The UPnP-IGD gateway refused ${action}: ${description !== '' ? description : 'no description'} (${code})`)
    this.name = 'UpnpActionError'
    this.action = action
    this.code = code
  }
}

/**
 * An SSDP answer, device description or SOAP answer of a UPnP-IGD gateway
 * could not be used; `reason` says which check failed (machine-readable,
 * e.g. `too-large`, `foreign-location`, `no-service`)
 */
export class InvalidUpnpResponseError extends Error {
  static name = 'InvalidUpnpResponseError'
  readonly reason: string

  constructor (reason: string, message: string) {
    super(message)
    this.name = 'InvalidUpnpResponseError'
    this.reason = reason
  }
}
