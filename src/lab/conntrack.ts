/**
 * Parses the UDP conntrack entries that `conntrack -L -p udp` prints (IPv4,
 * or IPv6 with `-f ipv6`: the same format). Pure.
 */

import type { ConntrackEntry, FlowTuple } from './types.ts'

const FIELD = /(\w+)=(\S+)/g

/**
 * Parse the output of `conntrack -L -p udp` (the default format). Lines that
 * are not UDP entries are skipped.
 *
 * @example
 * ```
 * udp      17 28 src=10.1.0.10 dst=203.0.113.10 sport=4000 dport=3478 src=203.0.113.10 dst=203.0.113.100 sport=3478 dport=4000 [ASSURED] mark=0 use=1
 * ```
 */
export function parseConntrack (text: string): ConntrackEntry[] {
  const entries: ConntrackEntry[] = []

  for (const line of text.split('\n')) {
    const head = line.match(/^udp\s+17\s+(\d+)\s/)
    if (head == null) {
      continue
    }
    const tuples: Array<Partial<Record<'src' | 'dst' | 'sport' | 'dport', string>>> = [{}, {}]
    let current = 0
    for (const [, key, value] of line.matchAll(FIELD)) {
      if (key !== 'src' && key !== 'dst' && key !== 'sport' && key !== 'dport') {
        continue
      }
      // the reply tuple starts with its own src=
      if (key === 'src' && tuples[current].src != null) {
        current++
      }
      if (current > 1) {
        break
      }
      tuples[current][key] = value
    }
    const [original, reply] = tuples.map(toTuple)
    if (original == null || reply == null) {
      continue
    }
    entries.push({
      original,
      reply,
      timeoutSeconds: Number(head[1]),
      unreplied: line.includes('[UNREPLIED]'),
      assured: line.includes('[ASSURED]')
    })
  }

  return entries
}

function toTuple (fields: Partial<Record<'src' | 'dst' | 'sport' | 'dport', string>>): FlowTuple | undefined {
  if (fields.src == null || fields.dst == null || fields.sport == null || fields.dport == null) {
    return undefined
  }
  return { src: fields.src, dst: fields.dst, sport: Number(fields.sport), dport: Number(fields.dport) }
}
