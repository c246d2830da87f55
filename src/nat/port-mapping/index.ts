/**
 * Port mapping: ask the gateway for a mapped port (PCP, NAT-PMP, UPnP-IGD),
 * keep it, verify it, give it back. See docs/NAT-DISCOVERY.md, "Port
 * mapping".
 */

export { PortMapper } from './port-mapper.ts'
export type { PortMapperComponents, PortMapperInit, PortMapperEvents, PortMappingTarget } from './port-mapper.ts'
export { StunMappingVerifier } from './stun-mapping-verifier.ts'
export type { StunMappingVerifierComponents, StunMappingVerifierInit } from './stun-mapping-verifier.ts'
export { PcpClient } from './pcp-client.ts'
export type { PcpClientComponents, PcpClientInit, PcpMapOptions, PcpMapResult } from './pcp-client.ts'
export { externalAddressProblem } from './external-address.ts'
export type { ExternalAddressProblem } from './external-address.ts'
export { isUsableMapping } from './types.ts'
export type {
  PortMappingInit,
  PortMappingProtocol,
  PortMappingState,
  MappingVerification,
  MappingVerifier,
  VerificationOutcome,
  VerifyMappingRequest
} from './types.ts'
