/* eslint-disable no-console */
/**
 * Summarise V8 .cpuprofile files (from `node --cpu-prof`): self time by
 * layer (udx-native JS, streamx, Noise, yamux, libp2p, this package, native
 * code, GC, ...) and the top functions by self time.
 *
 * node benchmarks/throughput/profile-summary.ts <file.cpuprofile>...
 *
 * Self time of a sample is the interval until the next sample. Time spent in
 * C/C++ called from JS (N-API calls into udx-native, node:crypto, syscalls
 * made from those) is charged to the native frame or, when V8 does not see a
 * frame, to the calling JS function; work done by libuv/libudx outside any JS
 * call (receiving and acking packets in C) shows up as "(program)".
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface FunctionTime {
  name: string
  location: string
  category: string
  selfMs: number
  selfPct: number
}

export interface ProfileSummary {
  file: string
  totalMs: number
  /** total minus (idle) */
  busyMs: number
  categories: Array<{ category: string, selfMs: number, pctOfBusy: number }>
  top: FunctionTime[]
}

export function categorize (frame: CallFrame): string {
  const url = frame.url
  const fn = frame.functionName

  if (url === '') {
    if (fn === '(idle)') { return 'idle' }
    if (fn === '(garbage collector)') { return 'GC' }
    if (fn === '(program)') { return 'native, outside JS (libuv/libudx/kernel)' }
    if (fn === '(root)') { return 'root' }
    return 'native/builtin called from JS'
  }
  if (url.startsWith('wasm://')) { return 'wasm (Noise as-chacha20poly1305, <1200 B)' }
  if (url.includes('/udx-native/')) { return 'udx-native JS' }
  if (url.includes('/streamx/') || url.includes('/fast-fifo/') || url.includes('/text-decoder/') || url.includes('/b4a/')) { return 'streamx' }
  if (url.includes('/libp2p-noise/') || url.includes('/as-chacha20poly1305/') || url.includes('/as-sha256/') || url.includes('/@noble/')) { return 'Noise (framing + crypto)' }
  if (url.includes('/libp2p-yamux/')) { return 'yamux' }
  if (url.includes('/uint8arraylist/') || url.includes('/uint8arrays/')) { return 'uint8arraylist' }
  if (url.includes('/@libp2p/utils/')) { return '@libp2p/utils (message streams)' }
  if (url.includes('/node_modules/libp2p/') || url.includes('/node_modules/@libp2p/')) { return 'libp2p (other)' }
  if (url.includes('/node_modules/')) { return 'other deps' }
  if (url.includes('/benchmarks/')) { return 'benchmark harness' }
  if (url.includes('/src/')) { return 'libp2p-udp-holepunch (src/)' }
  if (url.startsWith('node:internal/crypto')) { return 'node:crypto' }
  if (url.startsWith('node:internal/streams') || url.startsWith('node:net') || url.startsWith('node:internal/stream_base')) { return 'node streams/net' }
  if (url.startsWith('node:')) { return 'node core (other)' }
  return 'other'
}

function shortUrl (url: string): string {
  const i = url.lastIndexOf('/node_modules/')
  if (i !== -1) {
    return url.slice(i + '/node_modules/'.length)
  }
  const j = url.indexOf('/work/main/')
  if (j !== -1) {
    return url.slice(j + '/work/main/'.length)
  }
  return url.replace(/^file:\/\//, '')
}

export function summarizeProfile (file: string, topN = 25): ProfileSummary {
  const profile: CpuProfile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map<number, ProfileNode>()
  for (const node of profile.nodes) {
    byId.set(node.id, node)
  }

  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parentOf.set(child, node.id)
    }
  }

  /**
   * A native frame (C++ builtin, N-API or node binding; V8's names for N-API
   * callbacks are unreliable) is charged to the layer of the nearest JS
   * caller: native time called from udx-native is its N-API calls (packet
   * send/receive in libudx, including the syscalls), native time called from
   * node:internal/crypto is the cipher itself, and so on
   */
  const categoryOf = (id: number): { category: string, native: boolean } => {
    const frame = byId.get(id)!.callFrame
    const own = categorize(frame)
    if (own !== 'native/builtin called from JS') {
      return { category: own, native: false }
    }
    let parent = parentOf.get(id)
    while (parent != null) {
      const pf = byId.get(parent)!.callFrame
      if (pf.url !== '') {
        const c = categorize(pf)
        return { category: c === 'udx-native JS' ? 'udx-native N-API calls (native, incl. syscalls)' : c, native: true }
      }
      parent = parentOf.get(parent)
    }
    return { category: own, native: true }
  }

  const selfMicros = new Map<number, number>()
  const { samples, timeDeltas } = profile
  for (let i = 0; i < samples.length; i++) {
    // the interval until the next sample belongs to this sample
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0
    selfMicros.set(samples[i], (selfMicros.get(samples[i]) ?? 0) + Math.max(0, dt))
  }

  const functions = new Map<string, { name: string, location: string, category: string, micros: number }>()
  const categories = new Map<string, number>()
  let total = 0
  let idle = 0

  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame
    const { category, native } = categoryOf(id)
    total += micros
    if (category === 'idle') {
      idle += micros
      continue
    }
    categories.set(category, (categories.get(category) ?? 0) + micros)
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
    const location = frame.url === '' ? (native ? '(native)' : '') : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    // N-API callback names are unreliable: group them by the layer instead
    const key = native && category.startsWith('udx-native N-API') ? 'udx-native N-API' : `${name}@${location}@${category}`
    const entry = functions.get(key) ?? { name: key === 'udx-native N-API' ? '(udx-native N-API calls)' : name, location, category, micros: 0 }
    entry.micros += micros
    functions.set(key, entry)
  }

  const busy = total - idle
  const pct = (micros: number): number => busy > 0 ? Math.round(micros / busy * 1000) / 10 : 0

  return {
    file: basename(file),
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    categories: [...categories.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([category, micros]) => ({ category, selfMs: Math.round(micros / 1000), pctOfBusy: pct(micros) })),
    top: [...functions.values()]
      .sort((a, b) => b.micros - a.micros)
      .slice(0, topN)
      .map(f => ({ name: f.name, location: f.location, category: f.category, selfMs: Math.round(f.micros / 1000), selfPct: pct(f.micros) }))
  }
}

export function formatSummary (summary: ProfileSummary, label = summary.file, topN = 15): string {
  const lines: string[] = []
  lines.push(`${label}: ${summary.busyMs} ms busy of ${summary.totalMs} ms sampled`)
  lines.push('  self time by layer:')
  for (const c of summary.categories) {
    if (c.pctOfBusy < 0.5) { continue }
    lines.push(`    ${c.pctOfBusy.toFixed(1).padStart(5)}%  ${c.category}`)
  }
  lines.push('  top functions by self time:')
  for (const f of summary.top.slice(0, topN)) {
    lines.push(`    ${f.selfPct.toFixed(1).padStart(5)}%  ${f.name}  ${f.location}  [${f.category}]`)
  }
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2)
  if (files.length === 0) {
    console.error('usage: node benchmarks/throughput/profile-summary.ts <file.cpuprofile>...')
    process.exit(1)
  }
  for (const file of files) {
    console.log(formatSummary(summarizeProfile(file), file, 25))
    console.log()
  }
}
