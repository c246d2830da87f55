import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Message {
  type: Message.Type
  offer?: Offer
  answer?: Answer
  sync?: Sync
  abort?: Abort
  result?: Result
}

export namespace Message {
  export enum Type {
    TYPE_UNSPECIFIED = 'TYPE_UNSPECIFIED',
    OFFER = 'OFFER',
    ANSWER = 'ANSWER',
    SYNC = 'SYNC',
    ABORT = 'ABORT',
    RESULT = 'RESULT'
  }

  enum __TypeValues {
    TYPE_UNSPECIFIED = 0,
    OFFER = 1,
    ANSWER = 2,
    SYNC = 3,
    ABORT = 4,
    RESULT = 5
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<Message>

  export const codec = (): Codec<Message> => {
    if (_codec == null) {
      _codec = message<Message>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(8)
          Message.Type.codec().encode(obj.type, w)
        }

        if (obj.offer != null) {
          w.uint32(18)
          Offer.codec().encode(obj.offer, w)
        }

        if (obj.answer != null) {
          w.uint32(26)
          Answer.codec().encode(obj.answer, w)
        }

        if (obj.sync != null) {
          w.uint32(34)
          Sync.codec().encode(obj.sync, w)
        }

        if (obj.abort != null) {
          w.uint32(42)
          Abort.codec().encode(obj.abort, w)
        }

        if (obj.result != null) {
          w.uint32(50)
          Result.codec().encode(obj.result, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          type: Type.TYPE_UNSPECIFIED
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.type = Message.Type.codec().decode(reader)
              break
            }
            case 2: {
              obj.offer = Offer.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.offer
              })
              break
            }
            case 3: {
              obj.answer = Answer.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.answer
              })
              break
            }
            case 4: {
              obj.sync = Sync.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.sync
              })
              break
            }
            case 5: {
              obj.abort = Abort.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.abort
              })
              break
            }
            case 6: {
              obj.result = Result.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.result
              })
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.type`,
                value: Message.Type.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield * Offer.codec().stream(reader, reader.uint32(), `${prefix}.offer`, {
                limits: opts.limits?.offer
              })

              break
            }
            case 3: {
              yield * Answer.codec().stream(reader, reader.uint32(), `${prefix}.answer`, {
                limits: opts.limits?.answer
              })

              break
            }
            case 4: {
              yield * Sync.codec().stream(reader, reader.uint32(), `${prefix}.sync`, {
                limits: opts.limits?.sync
              })

              break
            }
            case 5: {
              yield * Abort.codec().stream(reader, reader.uint32(), `${prefix}.abort`, {
                limits: opts.limits?.abort
              })

              break
            }
            case 6: {
              yield * Result.codec().stream(reader, reader.uint32(), `${prefix}.result`, {
                limits: opts.limits?.result
              })

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface MessageTypeFieldEvent {
    field: '$.type'
    value: Message.Type
  }

  export interface MessageOfferVersionFieldEvent {
    field: '$.offer.version'
    value: number
  }

  export interface MessageOfferFeaturesFieldEvent {
    field: '$.offer.features'
    value: number
  }

  export interface MessageOfferSessionIdFieldEvent {
    field: '$.offer.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageOfferSecretFieldEvent {
    field: '$.offer.secret'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageOfferStreamIdFieldEvent {
    field: '$.offer.streamId'
    value: number
  }

  export interface MessageOfferNatReachabilityFieldEvent {
    field: '$.offer.nat.reachability'
    value: NatProfile.Reachability
  }

  export interface MessageOfferNatMappingFieldEvent {
    field: '$.offer.nat.mapping'
    value: NatProfile.Mapping
  }

  export interface MessageOfferNatFilteringFieldEvent {
    field: '$.offer.nat.filtering'
    value: NatProfile.Filtering
  }

  export interface MessageOfferNatAllocationFieldEvent {
    field: '$.offer.nat.allocation'
    value: NatProfile.Allocation
  }

  export interface MessageOfferNatDeltaFieldEvent {
    field: '$.offer.nat.delta'
    value: number
  }

  export interface MessageOfferNatReliabilityFieldEvent {
    field: '$.offer.nat.reliability'
    value: number
  }

  export interface MessageOfferNatConfidenceFieldEvent {
    field: '$.offer.nat.confidence'
    value: number
  }

  export interface MessageOfferNatObservedAgeMsFieldEvent {
    field: '$.offer.nat.observedAgeMs'
    value: number
  }

  export interface MessageOfferNatPublicAddressesIpFieldEvent {
    field: '$.offer.nat.publicAddresses[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface MessageOfferNatPublicAddressesPortFieldEvent {
    field: '$.offer.nat.publicAddresses[].port'
    value: number
    index: number
  }

  export interface MessageOfferNatPublicAddressesKindFieldEvent {
    field: '$.offer.nat.publicAddresses[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface MessageOfferCandidatesIpFieldEvent {
    field: '$.offer.candidates[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface MessageOfferCandidatesPortFieldEvent {
    field: '$.offer.candidates[].port'
    value: number
    index: number
  }

  export interface MessageOfferCandidatesKindFieldEvent {
    field: '$.offer.candidates[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface MessageOfferMaxExtraSocketsFieldEvent {
    field: '$.offer.maxExtraSockets'
    value: number
  }

  export interface MessageOfferAttemptFieldEvent {
    field: '$.offer.attempt'
    value: number
  }

  export interface MessageAnswerVersionFieldEvent {
    field: '$.answer.version'
    value: number
  }

  export interface MessageAnswerFeaturesFieldEvent {
    field: '$.answer.features'
    value: number
  }

  export interface MessageAnswerSessionIdFieldEvent {
    field: '$.answer.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageAnswerStreamIdFieldEvent {
    field: '$.answer.streamId'
    value: number
  }

  export interface MessageAnswerNatReachabilityFieldEvent {
    field: '$.answer.nat.reachability'
    value: NatProfile.Reachability
  }

  export interface MessageAnswerNatMappingFieldEvent {
    field: '$.answer.nat.mapping'
    value: NatProfile.Mapping
  }

  export interface MessageAnswerNatFilteringFieldEvent {
    field: '$.answer.nat.filtering'
    value: NatProfile.Filtering
  }

  export interface MessageAnswerNatAllocationFieldEvent {
    field: '$.answer.nat.allocation'
    value: NatProfile.Allocation
  }

  export interface MessageAnswerNatDeltaFieldEvent {
    field: '$.answer.nat.delta'
    value: number
  }

  export interface MessageAnswerNatReliabilityFieldEvent {
    field: '$.answer.nat.reliability'
    value: number
  }

  export interface MessageAnswerNatConfidenceFieldEvent {
    field: '$.answer.nat.confidence'
    value: number
  }

  export interface MessageAnswerNatObservedAgeMsFieldEvent {
    field: '$.answer.nat.observedAgeMs'
    value: number
  }

  export interface MessageAnswerNatPublicAddressesIpFieldEvent {
    field: '$.answer.nat.publicAddresses[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface MessageAnswerNatPublicAddressesPortFieldEvent {
    field: '$.answer.nat.publicAddresses[].port'
    value: number
    index: number
  }

  export interface MessageAnswerNatPublicAddressesKindFieldEvent {
    field: '$.answer.nat.publicAddresses[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface MessageAnswerCandidatesIpFieldEvent {
    field: '$.answer.candidates[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface MessageAnswerCandidatesPortFieldEvent {
    field: '$.answer.candidates[].port'
    value: number
    index: number
  }

  export interface MessageAnswerCandidatesKindFieldEvent {
    field: '$.answer.candidates[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface MessageAnswerMaxExtraSocketsFieldEvent {
    field: '$.answer.maxExtraSockets'
    value: number
  }

  export interface MessageSyncSessionIdFieldEvent {
    field: '$.sync.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageSyncPlanStrategyFieldEvent {
    field: '$.sync.plan.strategy'
    value: PlanSummary.Strategy
  }

  export interface MessageSyncPlanBudgetMsFieldEvent {
    field: '$.sync.plan.budgetMs'
    value: number
  }

  export interface MessageSyncPlanOffererRoleFieldEvent {
    field: '$.sync.plan.offererRole'
    value: PlanSummary.Role
  }

  export interface MessageSyncPlanAnswererRoleFieldEvent {
    field: '$.sync.plan.answererRole'
    value: PlanSummary.Role
  }

  export interface MessageSyncPlanOffererExtraSocketsFieldEvent {
    field: '$.sync.plan.offererExtraSockets'
    value: number
  }

  export interface MessageSyncPlanAnswererExtraSocketsFieldEvent {
    field: '$.sync.plan.answererExtraSockets'
    value: number
  }

  export interface MessageSyncPlanWindowFieldEvent {
    field: '$.sync.plan.window'
    value: number
  }

  export interface MessageSyncPlanRandomPortsFieldEvent {
    field: '$.sync.plan.randomPorts'
    value: number
  }

  export interface MessageSyncPlanRaceLanFieldEvent {
    field: '$.sync.plan.raceLan'
    value: boolean
  }

  export interface MessageAbortSessionIdFieldEvent {
    field: '$.abort.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageAbortReasonFieldEvent {
    field: '$.abort.reason'
    value: Abort.Reason
  }

  export interface MessageAbortMessageFieldEvent {
    field: '$.abort.message'
    value: string
  }

  export interface MessageResultSessionIdFieldEvent {
    field: '$.result.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageResultOutcomeFieldEvent {
    field: '$.result.outcome'
    value: Result.Outcome
  }

  export interface MessageResultElapsedMsFieldEvent {
    field: '$.result.elapsedMs'
    value: number
  }

  export interface MessageResultRetryAfterMsFieldEvent {
    field: '$.result.retryAfterMs'
    value: number
  }

  export interface MessageResultNextOffererFieldEvent {
    field: '$.result.nextOfferer'
    value: Result.NextOfferer
  }

  export function encode (obj: Partial<Message>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Message.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Message>): Message {
    return decodeMessage(buf, Message.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Message>): Generator<MessageTypeFieldEvent | MessageOfferVersionFieldEvent | MessageOfferFeaturesFieldEvent | MessageOfferSessionIdFieldEvent | MessageOfferSecretFieldEvent | MessageOfferStreamIdFieldEvent | MessageOfferNatReachabilityFieldEvent | MessageOfferNatMappingFieldEvent | MessageOfferNatFilteringFieldEvent | MessageOfferNatAllocationFieldEvent | MessageOfferNatDeltaFieldEvent | MessageOfferNatReliabilityFieldEvent | MessageOfferNatConfidenceFieldEvent | MessageOfferNatObservedAgeMsFieldEvent | MessageOfferNatPublicAddressesIpFieldEvent | MessageOfferNatPublicAddressesPortFieldEvent | MessageOfferNatPublicAddressesKindFieldEvent | MessageOfferCandidatesIpFieldEvent | MessageOfferCandidatesPortFieldEvent | MessageOfferCandidatesKindFieldEvent | MessageOfferMaxExtraSocketsFieldEvent | MessageOfferAttemptFieldEvent | MessageAnswerVersionFieldEvent | MessageAnswerFeaturesFieldEvent | MessageAnswerSessionIdFieldEvent | MessageAnswerStreamIdFieldEvent | MessageAnswerNatReachabilityFieldEvent | MessageAnswerNatMappingFieldEvent | MessageAnswerNatFilteringFieldEvent | MessageAnswerNatAllocationFieldEvent | MessageAnswerNatDeltaFieldEvent | MessageAnswerNatReliabilityFieldEvent | MessageAnswerNatConfidenceFieldEvent | MessageAnswerNatObservedAgeMsFieldEvent | MessageAnswerNatPublicAddressesIpFieldEvent | MessageAnswerNatPublicAddressesPortFieldEvent | MessageAnswerNatPublicAddressesKindFieldEvent | MessageAnswerCandidatesIpFieldEvent | MessageAnswerCandidatesPortFieldEvent | MessageAnswerCandidatesKindFieldEvent | MessageAnswerMaxExtraSocketsFieldEvent | MessageSyncSessionIdFieldEvent | MessageSyncPlanStrategyFieldEvent | MessageSyncPlanBudgetMsFieldEvent | MessageSyncPlanOffererRoleFieldEvent | MessageSyncPlanAnswererRoleFieldEvent | MessageSyncPlanOffererExtraSocketsFieldEvent | MessageSyncPlanAnswererExtraSocketsFieldEvent | MessageSyncPlanWindowFieldEvent | MessageSyncPlanRandomPortsFieldEvent | MessageSyncPlanRaceLanFieldEvent | MessageAbortSessionIdFieldEvent | MessageAbortReasonFieldEvent | MessageAbortMessageFieldEvent | MessageResultSessionIdFieldEvent | MessageResultOutcomeFieldEvent | MessageResultElapsedMsFieldEvent | MessageResultRetryAfterMsFieldEvent | MessageResultNextOffererFieldEvent> {
    return streamMessage(buf, Message.codec(), opts)
  }
}

export interface Candidate {
  ip: Uint8Array<ArrayBuffer>
  port: number
  kind: Candidate.Kind
}

export namespace Candidate {
  export enum Kind {
    KIND_UNSPECIFIED = 'KIND_UNSPECIFIED',
    PUBLIC = 'PUBLIC',
    LAN = 'LAN',
    PREDICTED = 'PREDICTED',
    OBSERVED = 'OBSERVED'
  }

  enum __KindValues {
    KIND_UNSPECIFIED = 0,
    PUBLIC = 1,
    LAN = 2,
    PREDICTED = 3,
    OBSERVED = 4
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  let _codec: Codec<Candidate>

  export const codec = (): Codec<Candidate> => {
    if (_codec == null) {
      _codec = message<Candidate>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.ip != null && obj.ip.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.ip)
        }

        if ((obj.port != null && obj.port !== 0)) {
          w.uint32(16)
          w.uint32(obj.port)
        }

        if (obj.kind != null && __KindValues[obj.kind] !== 0) {
          w.uint32(24)
          Candidate.Kind.codec().encode(obj.kind, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          ip: uint8ArrayAlloc(0),
          port: 0,
          kind: Kind.KIND_UNSPECIFIED
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.ip = reader.bytes()
              break
            }
            case 2: {
              obj.port = reader.uint32()
              break
            }
            case 3: {
              obj.kind = Candidate.Kind.codec().decode(reader)
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.ip`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.port`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.kind`,
                value: Candidate.Kind.codec().decode(reader)
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface CandidateIpFieldEvent {
    field: '$.ip'
    value: Uint8Array<ArrayBuffer>
  }

  export interface CandidatePortFieldEvent {
    field: '$.port'
    value: number
  }

  export interface CandidateKindFieldEvent {
    field: '$.kind'
    value: Candidate.Kind
  }

  export function encode (obj: Partial<Candidate>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Candidate.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Candidate>): Candidate {
    return decodeMessage(buf, Candidate.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Candidate>): Generator<CandidateIpFieldEvent | CandidatePortFieldEvent | CandidateKindFieldEvent> {
    return streamMessage(buf, Candidate.codec(), opts)
  }
}

export interface NatProfile {
  reachability: NatProfile.Reachability
  mapping: NatProfile.Mapping
  filtering: NatProfile.Filtering
  allocation: NatProfile.Allocation
  delta: number
  reliability: number
  confidence: number
  observedAgeMs: number
  publicAddresses: Candidate[]
}

export namespace NatProfile {
  export enum Reachability {
    REACHABILITY_UNKNOWN = 'REACHABILITY_UNKNOWN',
    REACHABILITY_PUBLIC = 'REACHABILITY_PUBLIC',
    REACHABILITY_PRIVATE = 'REACHABILITY_PRIVATE'
  }

  enum __ReachabilityValues {
    REACHABILITY_UNKNOWN = 0,
    REACHABILITY_PUBLIC = 1,
    REACHABILITY_PRIVATE = 2
  }

  export namespace Reachability {
    export const codec = (): Codec<Reachability> => {
      return enumeration<Reachability>(__ReachabilityValues)
    }
  }

  export enum Mapping {
    MAPPING_UNKNOWN = 'MAPPING_UNKNOWN',
    MAPPING_EIM = 'MAPPING_EIM',
    MAPPING_ADM = 'MAPPING_ADM',
    MAPPING_APDM = 'MAPPING_APDM'
  }

  enum __MappingValues {
    MAPPING_UNKNOWN = 0,
    MAPPING_EIM = 1,
    MAPPING_ADM = 2,
    MAPPING_APDM = 3
  }

  export namespace Mapping {
    export const codec = (): Codec<Mapping> => {
      return enumeration<Mapping>(__MappingValues)
    }
  }

  export enum Filtering {
    FILTERING_UNKNOWN = 'FILTERING_UNKNOWN',
    FILTERING_EIF = 'FILTERING_EIF',
    FILTERING_ADF = 'FILTERING_ADF',
    FILTERING_APDF = 'FILTERING_APDF'
  }

  enum __FilteringValues {
    FILTERING_UNKNOWN = 0,
    FILTERING_EIF = 1,
    FILTERING_ADF = 2,
    FILTERING_APDF = 3
  }

  export namespace Filtering {
    export const codec = (): Codec<Filtering> => {
      return enumeration<Filtering>(__FilteringValues)
    }
  }

  export enum Allocation {
    ALLOCATION_UNKNOWN = 'ALLOCATION_UNKNOWN',
    ALLOCATION_PRESERVING = 'ALLOCATION_PRESERVING',
    ALLOCATION_SEQUENTIAL = 'ALLOCATION_SEQUENTIAL',
    ALLOCATION_RANDOM = 'ALLOCATION_RANDOM'
  }

  enum __AllocationValues {
    ALLOCATION_UNKNOWN = 0,
    ALLOCATION_PRESERVING = 1,
    ALLOCATION_SEQUENTIAL = 2,
    ALLOCATION_RANDOM = 3
  }

  export namespace Allocation {
    export const codec = (): Codec<Allocation> => {
      return enumeration<Allocation>(__AllocationValues)
    }
  }

  let _codec: Codec<NatProfile>

  export const codec = (): Codec<NatProfile> => {
    if (_codec == null) {
      _codec = message<NatProfile>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.reachability != null && __ReachabilityValues[obj.reachability] !== 0) {
          w.uint32(8)
          NatProfile.Reachability.codec().encode(obj.reachability, w)
        }

        if (obj.mapping != null && __MappingValues[obj.mapping] !== 0) {
          w.uint32(16)
          NatProfile.Mapping.codec().encode(obj.mapping, w)
        }

        if (obj.filtering != null && __FilteringValues[obj.filtering] !== 0) {
          w.uint32(24)
          NatProfile.Filtering.codec().encode(obj.filtering, w)
        }

        if (obj.allocation != null && __AllocationValues[obj.allocation] !== 0) {
          w.uint32(32)
          NatProfile.Allocation.codec().encode(obj.allocation, w)
        }

        if ((obj.delta != null && obj.delta !== 0)) {
          w.uint32(40)
          w.sint32(obj.delta)
        }

        if ((obj.reliability != null && obj.reliability !== 0)) {
          w.uint32(48)
          w.uint32(obj.reliability)
        }

        if ((obj.confidence != null && obj.confidence !== 0)) {
          w.uint32(56)
          w.uint32(obj.confidence)
        }

        if ((obj.observedAgeMs != null && obj.observedAgeMs !== 0)) {
          w.uint32(64)
          w.uint32(obj.observedAgeMs)
        }

        if (obj.publicAddresses != null && obj.publicAddresses.length > 0) {
          for (const value of obj.publicAddresses) {
            w.uint32(74)
            Candidate.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          reachability: Reachability.REACHABILITY_UNKNOWN,
          mapping: Mapping.MAPPING_UNKNOWN,
          filtering: Filtering.FILTERING_UNKNOWN,
          allocation: Allocation.ALLOCATION_UNKNOWN,
          delta: 0,
          reliability: 0,
          confidence: 0,
          observedAgeMs: 0,
          publicAddresses: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.reachability = NatProfile.Reachability.codec().decode(reader)
              break
            }
            case 2: {
              obj.mapping = NatProfile.Mapping.codec().decode(reader)
              break
            }
            case 3: {
              obj.filtering = NatProfile.Filtering.codec().decode(reader)
              break
            }
            case 4: {
              obj.allocation = NatProfile.Allocation.codec().decode(reader)
              break
            }
            case 5: {
              obj.delta = reader.sint32()
              break
            }
            case 6: {
              obj.reliability = reader.uint32()
              break
            }
            case 7: {
              obj.confidence = reader.uint32()
              break
            }
            case 8: {
              obj.observedAgeMs = reader.uint32()
              break
            }
            case 9: {
              if (opts.limits?.publicAddresses != null && obj.publicAddresses.length === opts.limits.publicAddresses) {
                throw new MaxLengthError('Decode error - repeated field "publicAddresses" had too many elements')
              }

              obj.publicAddresses.push(Candidate.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.publicAddresses$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          publicAddresses: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.reachability`,
                value: NatProfile.Reachability.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.mapping`,
                value: NatProfile.Mapping.codec().decode(reader)
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.filtering`,
                value: NatProfile.Filtering.codec().decode(reader)
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.allocation`,
                value: NatProfile.Allocation.codec().decode(reader)
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.delta`,
                value: reader.sint32()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.reliability`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.confidence`,
                value: reader.uint32()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.observedAgeMs`,
                value: reader.uint32()
              }
              break
            }
            case 9: {
              if (opts.limits?.publicAddresses != null && obj.publicAddresses === opts.limits.publicAddresses) {
                throw new MaxLengthError('Streaming decode error - repeated field "publicAddresses" had too many elements')
              }

              for (const evt of Candidate.codec().stream(reader, reader.uint32(), `${prefix}.publicAddresses[]`, {
                limits: opts.limits?.publicAddresses$
              })) {
                yield {
                  ...evt,
                  index: obj.publicAddresses
                }
              }

              obj.publicAddresses++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface NatProfileReachabilityFieldEvent {
    field: '$.reachability'
    value: NatProfile.Reachability
  }

  export interface NatProfileMappingFieldEvent {
    field: '$.mapping'
    value: NatProfile.Mapping
  }

  export interface NatProfileFilteringFieldEvent {
    field: '$.filtering'
    value: NatProfile.Filtering
  }

  export interface NatProfileAllocationFieldEvent {
    field: '$.allocation'
    value: NatProfile.Allocation
  }

  export interface NatProfileDeltaFieldEvent {
    field: '$.delta'
    value: number
  }

  export interface NatProfileReliabilityFieldEvent {
    field: '$.reliability'
    value: number
  }

  export interface NatProfileConfidenceFieldEvent {
    field: '$.confidence'
    value: number
  }

  export interface NatProfileObservedAgeMsFieldEvent {
    field: '$.observedAgeMs'
    value: number
  }

  export interface NatProfilePublicAddressesIpFieldEvent {
    field: '$.publicAddresses[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface NatProfilePublicAddressesPortFieldEvent {
    field: '$.publicAddresses[].port'
    value: number
    index: number
  }

  export interface NatProfilePublicAddressesKindFieldEvent {
    field: '$.publicAddresses[].kind'
    value: Candidate.Kind
    index: number
  }

  export function encode (obj: Partial<NatProfile>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, NatProfile.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NatProfile>): NatProfile {
    return decodeMessage(buf, NatProfile.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NatProfile>): Generator<NatProfileReachabilityFieldEvent | NatProfileMappingFieldEvent | NatProfileFilteringFieldEvent | NatProfileAllocationFieldEvent | NatProfileDeltaFieldEvent | NatProfileReliabilityFieldEvent | NatProfileConfidenceFieldEvent | NatProfileObservedAgeMsFieldEvent | NatProfilePublicAddressesIpFieldEvent | NatProfilePublicAddressesPortFieldEvent | NatProfilePublicAddressesKindFieldEvent> {
    return streamMessage(buf, NatProfile.codec(), opts)
  }
}

export interface Offer {
  version: number
  features: number
  sessionId: Uint8Array<ArrayBuffer>
  secret: Uint8Array<ArrayBuffer>
  streamId: number
  nat?: NatProfile
  candidates: Candidate[]
  maxExtraSockets: number
  attempt: number
}

export namespace Offer {
  let _codec: Codec<Offer>

  export const codec = (): Codec<Offer> => {
    if (_codec == null) {
      _codec = message<Offer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.features != null && obj.features !== 0)) {
          w.uint32(16)
          w.uint32(obj.features)
        }

        if ((obj.sessionId != null && obj.sessionId.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.sessionId)
        }

        if ((obj.secret != null && obj.secret.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.secret)
        }

        if ((obj.streamId != null && obj.streamId !== 0)) {
          w.uint32(40)
          w.uint32(obj.streamId)
        }

        if (obj.nat != null) {
          w.uint32(50)
          NatProfile.codec().encode(obj.nat, w)
        }

        if (obj.candidates != null && obj.candidates.length > 0) {
          for (const value of obj.candidates) {
            w.uint32(58)
            Candidate.codec().encode(value, w)
          }
        }

        if ((obj.maxExtraSockets != null && obj.maxExtraSockets !== 0)) {
          w.uint32(64)
          w.uint32(obj.maxExtraSockets)
        }

        if ((obj.attempt != null && obj.attempt !== 0)) {
          w.uint32(72)
          w.uint32(obj.attempt)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          features: 0,
          sessionId: uint8ArrayAlloc(0),
          secret: uint8ArrayAlloc(0),
          streamId: 0,
          candidates: [],
          maxExtraSockets: 0,
          attempt: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.features = reader.uint32()
              break
            }
            case 3: {
              obj.sessionId = reader.bytes()
              break
            }
            case 4: {
              obj.secret = reader.bytes()
              break
            }
            case 5: {
              obj.streamId = reader.uint32()
              break
            }
            case 6: {
              obj.nat = NatProfile.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.nat
              })
              break
            }
            case 7: {
              if (opts.limits?.candidates != null && obj.candidates.length === opts.limits.candidates) {
                throw new MaxLengthError('Decode error - repeated field "candidates" had too many elements')
              }

              obj.candidates.push(Candidate.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.candidates$
              }))
              break
            }
            case 8: {
              obj.maxExtraSockets = reader.uint32()
              break
            }
            case 9: {
              obj.attempt = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          candidates: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.features`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.sessionId`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.secret`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.streamId`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield * NatProfile.codec().stream(reader, reader.uint32(), `${prefix}.nat`, {
                limits: opts.limits?.nat
              })

              break
            }
            case 7: {
              if (opts.limits?.candidates != null && obj.candidates === opts.limits.candidates) {
                throw new MaxLengthError('Streaming decode error - repeated field "candidates" had too many elements')
              }

              for (const evt of Candidate.codec().stream(reader, reader.uint32(), `${prefix}.candidates[]`, {
                limits: opts.limits?.candidates$
              })) {
                yield {
                  ...evt,
                  index: obj.candidates
                }
              }

              obj.candidates++

              break
            }
            case 8: {
              yield {
                field: `${prefix}.maxExtraSockets`,
                value: reader.uint32()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.attempt`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface OfferVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface OfferFeaturesFieldEvent {
    field: '$.features'
    value: number
  }

  export interface OfferSessionIdFieldEvent {
    field: '$.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface OfferSecretFieldEvent {
    field: '$.secret'
    value: Uint8Array<ArrayBuffer>
  }

  export interface OfferStreamIdFieldEvent {
    field: '$.streamId'
    value: number
  }

  export interface OfferNatReachabilityFieldEvent {
    field: '$.nat.reachability'
    value: NatProfile.Reachability
  }

  export interface OfferNatMappingFieldEvent {
    field: '$.nat.mapping'
    value: NatProfile.Mapping
  }

  export interface OfferNatFilteringFieldEvent {
    field: '$.nat.filtering'
    value: NatProfile.Filtering
  }

  export interface OfferNatAllocationFieldEvent {
    field: '$.nat.allocation'
    value: NatProfile.Allocation
  }

  export interface OfferNatDeltaFieldEvent {
    field: '$.nat.delta'
    value: number
  }

  export interface OfferNatReliabilityFieldEvent {
    field: '$.nat.reliability'
    value: number
  }

  export interface OfferNatConfidenceFieldEvent {
    field: '$.nat.confidence'
    value: number
  }

  export interface OfferNatObservedAgeMsFieldEvent {
    field: '$.nat.observedAgeMs'
    value: number
  }

  export interface OfferNatPublicAddressesIpFieldEvent {
    field: '$.nat.publicAddresses[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface OfferNatPublicAddressesPortFieldEvent {
    field: '$.nat.publicAddresses[].port'
    value: number
    index: number
  }

  export interface OfferNatPublicAddressesKindFieldEvent {
    field: '$.nat.publicAddresses[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface OfferCandidatesIpFieldEvent {
    field: '$.candidates[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface OfferCandidatesPortFieldEvent {
    field: '$.candidates[].port'
    value: number
    index: number
  }

  export interface OfferCandidatesKindFieldEvent {
    field: '$.candidates[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface OfferMaxExtraSocketsFieldEvent {
    field: '$.maxExtraSockets'
    value: number
  }

  export interface OfferAttemptFieldEvent {
    field: '$.attempt'
    value: number
  }

  export function encode (obj: Partial<Offer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Offer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Offer>): Offer {
    return decodeMessage(buf, Offer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Offer>): Generator<OfferVersionFieldEvent | OfferFeaturesFieldEvent | OfferSessionIdFieldEvent | OfferSecretFieldEvent | OfferStreamIdFieldEvent | OfferNatReachabilityFieldEvent | OfferNatMappingFieldEvent | OfferNatFilteringFieldEvent | OfferNatAllocationFieldEvent | OfferNatDeltaFieldEvent | OfferNatReliabilityFieldEvent | OfferNatConfidenceFieldEvent | OfferNatObservedAgeMsFieldEvent | OfferNatPublicAddressesIpFieldEvent | OfferNatPublicAddressesPortFieldEvent | OfferNatPublicAddressesKindFieldEvent | OfferCandidatesIpFieldEvent | OfferCandidatesPortFieldEvent | OfferCandidatesKindFieldEvent | OfferMaxExtraSocketsFieldEvent | OfferAttemptFieldEvent> {
    return streamMessage(buf, Offer.codec(), opts)
  }
}

export interface Answer {
  version: number
  features: number
  sessionId: Uint8Array<ArrayBuffer>
  streamId: number
  nat?: NatProfile
  candidates: Candidate[]
  maxExtraSockets: number
}

export namespace Answer {
  let _codec: Codec<Answer>

  export const codec = (): Codec<Answer> => {
    if (_codec == null) {
      _codec = message<Answer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.features != null && obj.features !== 0)) {
          w.uint32(16)
          w.uint32(obj.features)
        }

        if ((obj.sessionId != null && obj.sessionId.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.sessionId)
        }

        if ((obj.streamId != null && obj.streamId !== 0)) {
          w.uint32(40)
          w.uint32(obj.streamId)
        }

        if (obj.nat != null) {
          w.uint32(50)
          NatProfile.codec().encode(obj.nat, w)
        }

        if (obj.candidates != null && obj.candidates.length > 0) {
          for (const value of obj.candidates) {
            w.uint32(58)
            Candidate.codec().encode(value, w)
          }
        }

        if ((obj.maxExtraSockets != null && obj.maxExtraSockets !== 0)) {
          w.uint32(64)
          w.uint32(obj.maxExtraSockets)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          features: 0,
          sessionId: uint8ArrayAlloc(0),
          streamId: 0,
          candidates: [],
          maxExtraSockets: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.features = reader.uint32()
              break
            }
            case 3: {
              obj.sessionId = reader.bytes()
              break
            }
            case 5: {
              obj.streamId = reader.uint32()
              break
            }
            case 6: {
              obj.nat = NatProfile.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.nat
              })
              break
            }
            case 7: {
              if (opts.limits?.candidates != null && obj.candidates.length === opts.limits.candidates) {
                throw new MaxLengthError('Decode error - repeated field "candidates" had too many elements')
              }

              obj.candidates.push(Candidate.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.candidates$
              }))
              break
            }
            case 8: {
              obj.maxExtraSockets = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          candidates: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.features`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.sessionId`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.streamId`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield * NatProfile.codec().stream(reader, reader.uint32(), `${prefix}.nat`, {
                limits: opts.limits?.nat
              })

              break
            }
            case 7: {
              if (opts.limits?.candidates != null && obj.candidates === opts.limits.candidates) {
                throw new MaxLengthError('Streaming decode error - repeated field "candidates" had too many elements')
              }

              for (const evt of Candidate.codec().stream(reader, reader.uint32(), `${prefix}.candidates[]`, {
                limits: opts.limits?.candidates$
              })) {
                yield {
                  ...evt,
                  index: obj.candidates
                }
              }

              obj.candidates++

              break
            }
            case 8: {
              yield {
                field: `${prefix}.maxExtraSockets`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface AnswerVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface AnswerFeaturesFieldEvent {
    field: '$.features'
    value: number
  }

  export interface AnswerSessionIdFieldEvent {
    field: '$.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface AnswerStreamIdFieldEvent {
    field: '$.streamId'
    value: number
  }

  export interface AnswerNatReachabilityFieldEvent {
    field: '$.nat.reachability'
    value: NatProfile.Reachability
  }

  export interface AnswerNatMappingFieldEvent {
    field: '$.nat.mapping'
    value: NatProfile.Mapping
  }

  export interface AnswerNatFilteringFieldEvent {
    field: '$.nat.filtering'
    value: NatProfile.Filtering
  }

  export interface AnswerNatAllocationFieldEvent {
    field: '$.nat.allocation'
    value: NatProfile.Allocation
  }

  export interface AnswerNatDeltaFieldEvent {
    field: '$.nat.delta'
    value: number
  }

  export interface AnswerNatReliabilityFieldEvent {
    field: '$.nat.reliability'
    value: number
  }

  export interface AnswerNatConfidenceFieldEvent {
    field: '$.nat.confidence'
    value: number
  }

  export interface AnswerNatObservedAgeMsFieldEvent {
    field: '$.nat.observedAgeMs'
    value: number
  }

  export interface AnswerNatPublicAddressesIpFieldEvent {
    field: '$.nat.publicAddresses[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface AnswerNatPublicAddressesPortFieldEvent {
    field: '$.nat.publicAddresses[].port'
    value: number
    index: number
  }

  export interface AnswerNatPublicAddressesKindFieldEvent {
    field: '$.nat.publicAddresses[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface AnswerCandidatesIpFieldEvent {
    field: '$.candidates[].ip'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface AnswerCandidatesPortFieldEvent {
    field: '$.candidates[].port'
    value: number
    index: number
  }

  export interface AnswerCandidatesKindFieldEvent {
    field: '$.candidates[].kind'
    value: Candidate.Kind
    index: number
  }

  export interface AnswerMaxExtraSocketsFieldEvent {
    field: '$.maxExtraSockets'
    value: number
  }

  export function encode (obj: Partial<Answer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Answer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Answer>): Answer {
    return decodeMessage(buf, Answer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Answer>): Generator<AnswerVersionFieldEvent | AnswerFeaturesFieldEvent | AnswerSessionIdFieldEvent | AnswerStreamIdFieldEvent | AnswerNatReachabilityFieldEvent | AnswerNatMappingFieldEvent | AnswerNatFilteringFieldEvent | AnswerNatAllocationFieldEvent | AnswerNatDeltaFieldEvent | AnswerNatReliabilityFieldEvent | AnswerNatConfidenceFieldEvent | AnswerNatObservedAgeMsFieldEvent | AnswerNatPublicAddressesIpFieldEvent | AnswerNatPublicAddressesPortFieldEvent | AnswerNatPublicAddressesKindFieldEvent | AnswerCandidatesIpFieldEvent | AnswerCandidatesPortFieldEvent | AnswerCandidatesKindFieldEvent | AnswerMaxExtraSocketsFieldEvent> {
    return streamMessage(buf, Answer.codec(), opts)
  }
}

export interface PlanSummary {
  strategy: PlanSummary.Strategy
  budgetMs: number
  offererRole: PlanSummary.Role
  answererRole: PlanSummary.Role
  offererExtraSockets: number
  answererExtraSockets: number
  window: number
  randomPorts: number
  raceLan: boolean
}

export namespace PlanSummary {
  export enum Strategy {
    STRATEGY_UNSPECIFIED = 'STRATEGY_UNSPECIFIED',
    DIRECT_CONE = 'DIRECT_CONE',
    PREDICT_SEQUENTIAL = 'PREDICT_SEQUENTIAL',
    BIRTHDAY = 'BIRTHDAY',
    PREDICT_BOTH = 'PREDICT_BOTH',
    LAN = 'LAN'
  }

  enum __StrategyValues {
    STRATEGY_UNSPECIFIED = 0,
    DIRECT_CONE = 1,
    PREDICT_SEQUENTIAL = 2,
    BIRTHDAY = 3,
    PREDICT_BOTH = 4,
    LAN = 5
  }

  export namespace Strategy {
    export const codec = (): Codec<Strategy> => {
      return enumeration<Strategy>(__StrategyValues)
    }
  }

  export enum Role {
    ROLE_UNSPECIFIED = 'ROLE_UNSPECIFIED',
    ROLE_BOTH = 'ROLE_BOTH',
    ROLE_PREDICTOR = 'ROLE_PREDICTOR',
    ROLE_PREDICTED = 'ROLE_PREDICTED',
    ROLE_MANY_SOCKETS = 'ROLE_MANY_SOCKETS',
    ROLE_RANDOM_PORTS = 'ROLE_RANDOM_PORTS'
  }

  enum __RoleValues {
    ROLE_UNSPECIFIED = 0,
    ROLE_BOTH = 1,
    ROLE_PREDICTOR = 2,
    ROLE_PREDICTED = 3,
    ROLE_MANY_SOCKETS = 4,
    ROLE_RANDOM_PORTS = 5
  }

  export namespace Role {
    export const codec = (): Codec<Role> => {
      return enumeration<Role>(__RoleValues)
    }
  }

  let _codec: Codec<PlanSummary>

  export const codec = (): Codec<PlanSummary> => {
    if (_codec == null) {
      _codec = message<PlanSummary>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.strategy != null && __StrategyValues[obj.strategy] !== 0) {
          w.uint32(8)
          PlanSummary.Strategy.codec().encode(obj.strategy, w)
        }

        if ((obj.budgetMs != null && obj.budgetMs !== 0)) {
          w.uint32(16)
          w.uint32(obj.budgetMs)
        }

        if (obj.offererRole != null && __RoleValues[obj.offererRole] !== 0) {
          w.uint32(24)
          PlanSummary.Role.codec().encode(obj.offererRole, w)
        }

        if (obj.answererRole != null && __RoleValues[obj.answererRole] !== 0) {
          w.uint32(32)
          PlanSummary.Role.codec().encode(obj.answererRole, w)
        }

        if ((obj.offererExtraSockets != null && obj.offererExtraSockets !== 0)) {
          w.uint32(40)
          w.uint32(obj.offererExtraSockets)
        }

        if ((obj.answererExtraSockets != null && obj.answererExtraSockets !== 0)) {
          w.uint32(48)
          w.uint32(obj.answererExtraSockets)
        }

        if ((obj.window != null && obj.window !== 0)) {
          w.uint32(56)
          w.uint32(obj.window)
        }

        if ((obj.randomPorts != null && obj.randomPorts !== 0)) {
          w.uint32(64)
          w.uint32(obj.randomPorts)
        }

        if ((obj.raceLan != null && obj.raceLan !== false)) {
          w.uint32(72)
          w.bool(obj.raceLan)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          strategy: Strategy.STRATEGY_UNSPECIFIED,
          budgetMs: 0,
          offererRole: Role.ROLE_UNSPECIFIED,
          answererRole: Role.ROLE_UNSPECIFIED,
          offererExtraSockets: 0,
          answererExtraSockets: 0,
          window: 0,
          randomPorts: 0,
          raceLan: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.strategy = PlanSummary.Strategy.codec().decode(reader)
              break
            }
            case 2: {
              obj.budgetMs = reader.uint32()
              break
            }
            case 3: {
              obj.offererRole = PlanSummary.Role.codec().decode(reader)
              break
            }
            case 4: {
              obj.answererRole = PlanSummary.Role.codec().decode(reader)
              break
            }
            case 5: {
              obj.offererExtraSockets = reader.uint32()
              break
            }
            case 6: {
              obj.answererExtraSockets = reader.uint32()
              break
            }
            case 7: {
              obj.window = reader.uint32()
              break
            }
            case 8: {
              obj.randomPorts = reader.uint32()
              break
            }
            case 9: {
              obj.raceLan = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.strategy`,
                value: PlanSummary.Strategy.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.budgetMs`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.offererRole`,
                value: PlanSummary.Role.codec().decode(reader)
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.answererRole`,
                value: PlanSummary.Role.codec().decode(reader)
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.offererExtraSockets`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.answererExtraSockets`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.window`,
                value: reader.uint32()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.randomPorts`,
                value: reader.uint32()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.raceLan`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface PlanSummaryStrategyFieldEvent {
    field: '$.strategy'
    value: PlanSummary.Strategy
  }

  export interface PlanSummaryBudgetMsFieldEvent {
    field: '$.budgetMs'
    value: number
  }

  export interface PlanSummaryOffererRoleFieldEvent {
    field: '$.offererRole'
    value: PlanSummary.Role
  }

  export interface PlanSummaryAnswererRoleFieldEvent {
    field: '$.answererRole'
    value: PlanSummary.Role
  }

  export interface PlanSummaryOffererExtraSocketsFieldEvent {
    field: '$.offererExtraSockets'
    value: number
  }

  export interface PlanSummaryAnswererExtraSocketsFieldEvent {
    field: '$.answererExtraSockets'
    value: number
  }

  export interface PlanSummaryWindowFieldEvent {
    field: '$.window'
    value: number
  }

  export interface PlanSummaryRandomPortsFieldEvent {
    field: '$.randomPorts'
    value: number
  }

  export interface PlanSummaryRaceLanFieldEvent {
    field: '$.raceLan'
    value: boolean
  }

  export function encode (obj: Partial<PlanSummary>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PlanSummary.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PlanSummary>): PlanSummary {
    return decodeMessage(buf, PlanSummary.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PlanSummary>): Generator<PlanSummaryStrategyFieldEvent | PlanSummaryBudgetMsFieldEvent | PlanSummaryOffererRoleFieldEvent | PlanSummaryAnswererRoleFieldEvent | PlanSummaryOffererExtraSocketsFieldEvent | PlanSummaryAnswererExtraSocketsFieldEvent | PlanSummaryWindowFieldEvent | PlanSummaryRandomPortsFieldEvent | PlanSummaryRaceLanFieldEvent> {
    return streamMessage(buf, PlanSummary.codec(), opts)
  }
}

export interface Sync {
  sessionId: Uint8Array<ArrayBuffer>
  plan?: PlanSummary
}

export namespace Sync {
  let _codec: Codec<Sync>

  export const codec = (): Codec<Sync> => {
    if (_codec == null) {
      _codec = message<Sync>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.sessionId != null && obj.sessionId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.sessionId)
        }

        if (obj.plan != null) {
          w.uint32(18)
          PlanSummary.codec().encode(obj.plan, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          sessionId: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.sessionId = reader.bytes()
              break
            }
            case 2: {
              obj.plan = PlanSummary.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.plan
              })
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.sessionId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield * PlanSummary.codec().stream(reader, reader.uint32(), `${prefix}.plan`, {
                limits: opts.limits?.plan
              })

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncSessionIdFieldEvent {
    field: '$.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncPlanStrategyFieldEvent {
    field: '$.plan.strategy'
    value: PlanSummary.Strategy
  }

  export interface SyncPlanBudgetMsFieldEvent {
    field: '$.plan.budgetMs'
    value: number
  }

  export interface SyncPlanOffererRoleFieldEvent {
    field: '$.plan.offererRole'
    value: PlanSummary.Role
  }

  export interface SyncPlanAnswererRoleFieldEvent {
    field: '$.plan.answererRole'
    value: PlanSummary.Role
  }

  export interface SyncPlanOffererExtraSocketsFieldEvent {
    field: '$.plan.offererExtraSockets'
    value: number
  }

  export interface SyncPlanAnswererExtraSocketsFieldEvent {
    field: '$.plan.answererExtraSockets'
    value: number
  }

  export interface SyncPlanWindowFieldEvent {
    field: '$.plan.window'
    value: number
  }

  export interface SyncPlanRandomPortsFieldEvent {
    field: '$.plan.randomPorts'
    value: number
  }

  export interface SyncPlanRaceLanFieldEvent {
    field: '$.plan.raceLan'
    value: boolean
  }

  export function encode (obj: Partial<Sync>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Sync.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Sync>): Sync {
    return decodeMessage(buf, Sync.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Sync>): Generator<SyncSessionIdFieldEvent | SyncPlanStrategyFieldEvent | SyncPlanBudgetMsFieldEvent | SyncPlanOffererRoleFieldEvent | SyncPlanAnswererRoleFieldEvent | SyncPlanOffererExtraSocketsFieldEvent | SyncPlanAnswererExtraSocketsFieldEvent | SyncPlanWindowFieldEvent | SyncPlanRandomPortsFieldEvent | SyncPlanRaceLanFieldEvent> {
    return streamMessage(buf, Sync.codec(), opts)
  }
}

export interface Abort {
  sessionId: Uint8Array<ArrayBuffer>
  reason: Abort.Reason
  message: string
}

export namespace Abort {
  export enum Reason {
    REASON_UNSPECIFIED = 'REASON_UNSPECIFIED',
    CANCELLED = 'CANCELLED',
    TIMEOUT = 'TIMEOUT',
    UNSUPPORTED_VERSION = 'UNSUPPORTED_VERSION',
    INVALID_MESSAGE = 'INVALID_MESSAGE',
    NO_STRATEGY = 'NO_STRATEGY',
    PLAN_REJECTED = 'PLAN_REJECTED',
    RESOURCE_LIMIT = 'RESOURCE_LIMIT',
    SHUTTING_DOWN = 'SHUTTING_DOWN',
    ALREADY_CONNECTED = 'ALREADY_CONNECTED',
    INTERNAL_ERROR = 'INTERNAL_ERROR'
  }

  enum __ReasonValues {
    REASON_UNSPECIFIED = 0,
    CANCELLED = 1,
    TIMEOUT = 2,
    UNSUPPORTED_VERSION = 3,
    INVALID_MESSAGE = 4,
    NO_STRATEGY = 5,
    PLAN_REJECTED = 6,
    RESOURCE_LIMIT = 7,
    SHUTTING_DOWN = 8,
    ALREADY_CONNECTED = 9,
    INTERNAL_ERROR = 10
  }

  export namespace Reason {
    export const codec = (): Codec<Reason> => {
      return enumeration<Reason>(__ReasonValues)
    }
  }

  let _codec: Codec<Abort>

  export const codec = (): Codec<Abort> => {
    if (_codec == null) {
      _codec = message<Abort>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.sessionId != null && obj.sessionId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.sessionId)
        }

        if (obj.reason != null && __ReasonValues[obj.reason] !== 0) {
          w.uint32(16)
          Abort.Reason.codec().encode(obj.reason, w)
        }

        if ((obj.message != null && obj.message !== '')) {
          w.uint32(26)
          w.string(obj.message)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          sessionId: uint8ArrayAlloc(0),
          reason: Reason.REASON_UNSPECIFIED,
          message: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.sessionId = reader.bytes()
              break
            }
            case 2: {
              obj.reason = Abort.Reason.codec().decode(reader)
              break
            }
            case 3: {
              obj.message = reader.string()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.sessionId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.reason`,
                value: Abort.Reason.codec().decode(reader)
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.message`,
                value: reader.string()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface AbortSessionIdFieldEvent {
    field: '$.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface AbortReasonFieldEvent {
    field: '$.reason'
    value: Abort.Reason
  }

  export interface AbortMessageFieldEvent {
    field: '$.message'
    value: string
  }

  export function encode (obj: Partial<Abort>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Abort.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Abort>): Abort {
    return decodeMessage(buf, Abort.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Abort>): Generator<AbortSessionIdFieldEvent | AbortReasonFieldEvent | AbortMessageFieldEvent> {
    return streamMessage(buf, Abort.codec(), opts)
  }
}

export interface Result {
  sessionId: Uint8Array<ArrayBuffer>
  outcome: Result.Outcome
  elapsedMs: number
  retryAfterMs: number
  nextOfferer: Result.NextOfferer
}

export namespace Result {
  export enum Outcome {
    OUTCOME_UNSPECIFIED = 'OUTCOME_UNSPECIFIED',
    SUCCESS = 'SUCCESS',
    FAILED = 'FAILED'
  }

  enum __OutcomeValues {
    OUTCOME_UNSPECIFIED = 0,
    SUCCESS = 1,
    FAILED = 2
  }

  export namespace Outcome {
    export const codec = (): Codec<Outcome> => {
      return enumeration<Outcome>(__OutcomeValues)
    }
  }

  export enum NextOfferer {
    NEXT_OFFERER_UNSPECIFIED = 'NEXT_OFFERER_UNSPECIFIED',
    NEXT_OFFERER_NONE = 'NEXT_OFFERER_NONE',
    NEXT_OFFERER_SAME = 'NEXT_OFFERER_SAME',
    NEXT_OFFERER_SWAPPED = 'NEXT_OFFERER_SWAPPED'
  }

  enum __NextOffererValues {
    NEXT_OFFERER_UNSPECIFIED = 0,
    NEXT_OFFERER_NONE = 1,
    NEXT_OFFERER_SAME = 2,
    NEXT_OFFERER_SWAPPED = 3
  }

  export namespace NextOfferer {
    export const codec = (): Codec<NextOfferer> => {
      return enumeration<NextOfferer>(__NextOffererValues)
    }
  }

  let _codec: Codec<Result>

  export const codec = (): Codec<Result> => {
    if (_codec == null) {
      _codec = message<Result>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.sessionId != null && obj.sessionId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.sessionId)
        }

        if (obj.outcome != null && __OutcomeValues[obj.outcome] !== 0) {
          w.uint32(16)
          Result.Outcome.codec().encode(obj.outcome, w)
        }

        if ((obj.elapsedMs != null && obj.elapsedMs !== 0)) {
          w.uint32(24)
          w.uint32(obj.elapsedMs)
        }

        if ((obj.retryAfterMs != null && obj.retryAfterMs !== 0)) {
          w.uint32(32)
          w.uint32(obj.retryAfterMs)
        }

        if (obj.nextOfferer != null && __NextOffererValues[obj.nextOfferer] !== 0) {
          w.uint32(40)
          Result.NextOfferer.codec().encode(obj.nextOfferer, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          sessionId: uint8ArrayAlloc(0),
          outcome: Outcome.OUTCOME_UNSPECIFIED,
          elapsedMs: 0,
          retryAfterMs: 0,
          nextOfferer: NextOfferer.NEXT_OFFERER_UNSPECIFIED
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.sessionId = reader.bytes()
              break
            }
            case 2: {
              obj.outcome = Result.Outcome.codec().decode(reader)
              break
            }
            case 3: {
              obj.elapsedMs = reader.uint32()
              break
            }
            case 4: {
              obj.retryAfterMs = reader.uint32()
              break
            }
            case 5: {
              obj.nextOfferer = Result.NextOfferer.codec().decode(reader)
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.sessionId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.outcome`,
                value: Result.Outcome.codec().decode(reader)
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.elapsedMs`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.retryAfterMs`,
                value: reader.uint32()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.nextOfferer`,
                value: Result.NextOfferer.codec().decode(reader)
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ResultSessionIdFieldEvent {
    field: '$.sessionId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResultOutcomeFieldEvent {
    field: '$.outcome'
    value: Result.Outcome
  }

  export interface ResultElapsedMsFieldEvent {
    field: '$.elapsedMs'
    value: number
  }

  export interface ResultRetryAfterMsFieldEvent {
    field: '$.retryAfterMs'
    value: number
  }

  export interface ResultNextOffererFieldEvent {
    field: '$.nextOfferer'
    value: Result.NextOfferer
  }

  export function encode (obj: Partial<Result>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Result.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Result>): Result {
    return decodeMessage(buf, Result.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Result>): Generator<ResultSessionIdFieldEvent | ResultOutcomeFieldEvent | ResultElapsedMsFieldEvent | ResultRetryAfterMsFieldEvent | ResultNextOffererFieldEvent> {
    return streamMessage(buf, Result.codec(), opts)
  }
}
