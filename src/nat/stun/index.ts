/**
 * STUN (RFC 8489 Binding, RFC 5780 attributes): codec, client, server
 */

export { decodeStunMessage, isStunMessage, peekStunClass } from './decode.ts'
export { encodeStunMessage, attributeSize, addressAttributeSize } from './encode.ts'
export type { EncodeOptions } from './encode.ts'
export {
  ATTR, MAGIC_COOKIE, HEADER_LENGTH, TRANSACTION_ID_LENGTH, METHOD_BINDING, FINGERPRINT_XOR, messageType
} from './message.ts'
export type { StunMessage, DecodedStunMessage, StunAttributes, StunClass, ChangeRequest, ErrorCode } from './message.ts'
export { createTransactionId } from './transaction-id.ts'
export { StunClient, StunChangeRequestIgnoredError } from './client.ts'
export type { StunClientInit, StunClientComponents, StunServerAddress, BindingOptions, BindingResult } from './client.ts'
export { StunServer } from './server.ts'
export type { StunServerInit, StunServerComponents, StunAlternateSockets } from './server.ts'
export { TransactionPacer, globalTransactionPacer } from './pacer.ts'
export type { TransactionPacerInit } from './pacer.ts'
export { SourceRateLimiter } from './rate-limiter.ts'
export type { SourceRateLimiterInit, TokenBucketConfig, RateDecision } from './rate-limiter.ts'
export { installStunServers } from './server-set.ts'
export type { InstallStunServersOptions, InstalledStunServer, StunServerMode, StunServerSet } from './server-set.ts'
export { resolveStunServers } from './resolve.ts'
export type { StunServerName, LookupAddress, ResolveStunServersOptions } from './resolve.ts'
