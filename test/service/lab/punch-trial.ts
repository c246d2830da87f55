/**
 * One measured punch in the NAT lab: peer X calls
 * `holePunch.connect(<Y's circuit address>, { fallbackToRelay: true })`,
 * and the test judges the result three ways:
 *
 * - the API: connect() resolved with an unlimited udx connection (direct),
 * or with the relayed one (fallback), or rejected;
 * - the network: for a direct result, a NAT router of the pair tracks a
 * replied UDP flow to the other site's public address (conntrack);
 * - the user: a fresh echo stream to Y over that connection carries 16 KiB
 * both ways.
 *
 * Then X hangs up and the trial waits until neither side holds a
 * connection to the other or a punch, so trials do not leak into each
 * other. Each node in these labs talks only to the relay (over TCP) and to
 * the peer under test, so "quiet" means: no udx connection, no relayed
 * connection, no active punch.
 */
import { hasDirectFlow } from '../../../demo/lab-driver.ts'
import type { Expectation } from './expectations.ts'
import type { LabNode } from '../../../demo/lab-driver.ts'
import type { Lab, LabSite } from '../../../src/lab/index.ts'

export interface PunchTrial {
  /**
   * direct: API, conntrack and a stream all agree; relayed: connect()
   * resolved with the relayed connection and a stream over it works;
   * failed: anything else (rejected, a broken connection, or the API
   * claiming a direct connection the network does not show)
   */
  outcome: 'direct' | 'relayed' | 'failed'
  /** connect() resolved with an unlimited udx connection */
  apiDirect: boolean
  /** connect() resolved with the relayed connection */
  apiRelayed: boolean
  /** for an API-direct result: the NAT router tracks the direct flow */
  conntrack?: boolean
  /** a fresh echo stream over the returned kind of connection worked */
  stream?: 'ok' | string
  durationMs: number
  /** the remote address of the connection connect() resolved with */
  remoteAddr?: string
  /** the strategy of X's own plan, or of the punch events of either side */
  strategy?: string
  fallbackReason?: string
  error?: string
  /** both X and Y started a session as initiator during the trial */
  glare: boolean
  /** punch:start/success/failure of both sides, in order per side */
  events: string[]
  /** what was still open after the hang-up, when the trial could not wait it out */
  leftover?: string
  /** X's connect() progress events: `{ at (ms since the call), step, detail }` */
  timeline: Array<{ at: number, step: string, detail?: any }>
}

let streamCounter = 0

function linesSince (node: LabNode, index: number): any[] {
  return node.proc.output('stdout').slice(index)
    .map(line => { try { return JSON.parse(line) } catch { return undefined } })
    .filter(e => e != null)
}

async function safeRequest (node: LabNode, command: Record<string, unknown>, timeoutMs: number): Promise<any> {
  try {
    return await node.request(command, timeoutMs)
  } catch (err: any) {
    return { ok: false, error: `driver: ${String(err.message).split('\n')[0]}` }
  }
}

/**
 * Open an echo stream from X to Y (over the relayed connection, or where
 * libp2p's dial puts it), send 16 KiB, check the echo, close it
 */
async function streamWorks (x: LabNode, y: LabNode, via: 'relayed' | 'dial', wantLimited: boolean): Promise<'ok' | string> {
  const name = `trial-${++streamCounter}`
  const opened = await safeRequest(x, { cmd: 'open-stream', name, peer: y.ready.peerId, via }, 20_000)
  if (opened.ok !== true) {
    return `open-stream (${via}) failed: ${opened.error}`
  }
  try {
    if (opened.connection.limited !== wantLimited) {
      return `the stream went over a ${opened.connection.limited === true ? 'relayed' : 'direct'} connection (${opened.connection.remoteAddr})${await directCount(x)}`
    }
    const check = await safeRequest(x, { cmd: 'stream-check', name, bytes: 16 * 1024 }, 20_000)
    if (check.ok !== true || check.echoed !== true) {
      return `stream-check failed: ${check.error ?? JSON.stringify(check)}${await directCount(x)}`
    }
    return 'ok'
  } finally {
    await safeRequest(x, { cmd: 'stream-close', name }, 15_000)
  }
}

/** ", X holds N open direct connection(s)": whether the connection connect() returned is gone */
async function directCount (x: LabNode): Promise<string> {
  const c = await safeRequest(x, { cmd: 'connections' }, 10_000)
  if (c.ok !== true) {
    return ''
  }
  return `; X now holds ${(c.connections as any[]).filter(conn => String(conn.remoteAddr).includes('/udx')).length} direct connection(s)`
}

function isNatted (site: LabSite): boolean {
  return site.nat.nat !== 'none'
}

/**
 * Judge "direct" from the network: the NAT router of one of the two sites
 * (preferring a single NAT) tracks a replied flow to the other site's
 * public address; between two sites without NAT, the remote address is
 * the other host's own
 */
export async function directFlowSeen (lab: Lab, xHost: string, yHost: string, remoteAddr: string): Promise<boolean> {
  if (remoteAddr.startsWith('/ip6/')) {
    // IPv6 is not translated in the lab: X's router (a stateful firewall or
    // an open router, both tracked) sees the flow to Y's own address
    const y6 = lab.host(yHost).ip6
    return y6 != null && remoteAddr.startsWith(`/ip6/${y6}/`) && hasDirectFlow(lab, lab.host(xHost).site as string, y6)
  }

  const sides = [xHost, yHost].map(host => ({ host, site: lab.site(lab.host(host).site as string) }))
  const publicOf = (side: { host: string, site: LabSite }): string => isNatted(side.site) || side.site.carrier != null ? side.site.publicIp : lab.host(side.host).ip
  const judge = [...sides]
    .filter(s => isNatted(s.site))
    .sort((a, b) => Number(a.site.carrier != null) - Number(b.site.carrier != null))[0]

  if (judge == null) {
    return remoteAddr.includes(`/ip4/${lab.host(yHost).ip}/`)
  }

  const other = judge.host === xHost ? sides[1] : sides[0]
  return hasDirectFlow(lab, judge.site.name, publicOf(other))
}

async function leftovers (node: LabNode): Promise<string | undefined> {
  const [c, p] = await Promise.all([safeRequest(node, { cmd: 'connections' }, 10_000), safeRequest(node, { cmd: 'punches' }, 10_000)])
  if (c.ok !== true || p.ok !== true) {
    return `cannot ask ${node.proc.host}: ${c.error ?? p.error}`
  }
  const open = (c.connections as any[]).filter(conn => conn.limited === true || String(conn.remoteAddr).includes('/udx'))
  if (open.length === 0 && p.punches.length === 0) {
    return undefined
  }
  return `${node.proc.host}: ${open.map(conn => `${conn.remoteAddr as string}${conn.limited === true ? ' (relayed)' : ''}`).join(', ') || 'no connection'}, ${p.punches.length} punch(es)`
}

/** wait until neither node holds a connection to the other or a punch; what is left, if anything */
export async function waitQuiet (x: LabNode, y: LabNode, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs
  let left: string | undefined
  do {
    const both = await Promise.all([leftovers(x), leftovers(y)])
    left = both.filter(l => l != null).join('; ') || undefined
    if (left == null) {
      return undefined
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  } while (Date.now() < deadline)
  return left
}

/**
 * X hangs up; wait until neither side holds a connection to the other or a
 * punch (if X's hang-up is not enough, Y hangs up too). What was left
 * after the first wait, if anything.
 */
async function hangUpAndWait (x: LabNode, y: LabNode): Promise<string | undefined> {
  await safeRequest(x, { cmd: 'hangup', peer: y.ready.peerId }, 15_000)
  let left = await waitQuiet(x, y, 10_000)
  if (left != null) {
    await safeRequest(y, { cmd: 'hangup', peer: x.ready.peerId }, 15_000)
    await safeRequest(x, { cmd: 'hangup', peer: y.ready.peerId }, 15_000)
    const still = await waitQuiet(x, y, 10_000)
    left = `${left}${still != null ? ` (still after both hung up: ${still})` : ''}`
  }
  // a circuit dial racing the relay's close of the previous circuit gets reset
  await new Promise(resolve => setTimeout(resolve, 200))
  return left
}

/** the punch events of X about Y and of Y about X since the given output lines */
function punchEvents (x: LabNode, xFrom: number, y: LabNode, yFrom: number): { glare: boolean, lines: string[], strategy?: string } {
  const xEvents = linesSince(x, xFrom).filter(e => String(e.event).startsWith('punch:') && e.peer === y.ready.peerId)
  const yEvents = linesSince(y, yFrom).filter(e => String(e.event).startsWith('punch:') && e.peer === x.ready.peerId)
  const initiated = (events: any[]): boolean => events.some(e => e.event === 'punch:start' && e.side === 'initiator')
  const describe = (who: string, e: any): string => `${who} ${String(e.event).slice(6)} ${e.side}${e.strategy != null ? ` ${e.strategy as string}` : ''}${e.reason != null ? ` (${String(e.reason).slice(0, 160)})` : ''}`

  return {
    glare: initiated(xEvents) && initiated(yEvents),
    lines: [...xEvents.map(e => describe('X', e)), ...yEvents.map(e => describe('Y', e))],
    strategy: [...xEvents, ...yEvents].find(e => e.strategy != null)?.strategy
  }
}

/** conntrack and a fresh stream: set the trial's outcome */
async function judge (t: PunchTrial, lab: Lab, x: LabNode, xHost: string, y: LabNode, yHost: string, remoteAddr: string): Promise<void> {
  if (t.apiDirect) {
    t.conntrack = await directFlowSeen(lab, xHost, yHost, remoteAddr)
    t.stream = await streamWorks(x, y, 'dial', false)
    t.outcome = t.conntrack && t.stream === 'ok' ? 'direct' : 'failed'
  } else if (t.apiRelayed) {
    t.stream = await streamWorks(x, y, 'relayed', true)
    t.outcome = t.stream === 'ok' ? 'relayed' : 'failed'
  } else {
    // rejected: is the relayed connection at least still there and usable? (for the listing)
    t.stream = await streamWorks(x, y, 'relayed', true)
  }
}

export interface TrialOptions {
  timeoutMs?: number
  /**
   * let X's connect() race the direct address of the previous trial (the
   * package default); off by default, so that every trial punches
   */
  reuseKnownPath?: boolean
}

export async function punchTrial (lab: Lab, x: LabNode, xHost: string, y: LabNode, yHost: string, options: TrialOptions = {}): Promise<PunchTrial> {
  const timeoutMs = options.timeoutMs ?? 40_000
  const xFrom = x.proc.output('stdout').length
  const yFrom = y.proc.output('stdout').length

  // every trial punches unless asked: no race to the direct address of the trial before
  const res = await safeRequest(x, { cmd: 'connect', target: y.ready.circuit, timeoutMs, fallback: true, reuseKnownPath: options.reuseKnownPath === true }, timeoutMs + 20_000)
  const timeline: any[] = res.timeline ?? []
  const plan = timeline.find(s => s.step === 'hole-punch:plan')
  const fallback = timeline.find(s => s.step === 'hole-punch:fallback')
  const apiDirect = res.ok === true && res.connection?.limited === false && String(res.connection?.remoteAddr).includes('/udx')
  const apiRelayed = res.ok === true && res.connection?.limited === true

  const t: PunchTrial = {
    outcome: 'failed',
    apiDirect,
    apiRelayed,
    durationMs: res.durationMs ?? 0,
    remoteAddr: res.connection?.remoteAddr,
    strategy: plan?.detail?.strategy,
    fallbackReason: fallback?.detail?.reason,
    error: res.ok === true ? undefined : res.error,
    glare: false,
    events: [],
    timeline
  }

  await judge(t, lab, x, xHost, y, yHost, res.connection?.remoteAddr)

  t.leftover = await hangUpAndWait(x, y)
  const events = punchEvents(x, xFrom, y, yFrom)
  t.glare = events.glare
  t.events = events.lines
  t.strategy ??= events.strategy

  return t
}

/** the pair strategy a side strategy belongs to */
export function pairStrategyOf (strategy: string | undefined): string | undefined {
  return strategy?.startsWith('birthday') === true ? 'birthday' : strategy
}

function apiOutcome (t: PunchTrial): string {
  if (t.apiDirect) {
    return 'direct'
  }
  return t.apiRelayed ? 'relayed' : 'rejected'
}

export function formatTrial (t: PunchTrial, k: number): string {
  const parts = [`#${k + 1} ${t.outcome.toUpperCase()} ${t.durationMs} ms`]
  parts.push(`api ${apiOutcome(t)}${t.apiDirect && t.remoteAddr != null ? ` ${t.remoteAddr.split('/').slice(1, 5).join('/')}` : ''}`)
  if (t.conntrack != null) {
    parts.push(`conntrack ${t.conntrack ? 'yes' : 'NO'}`)
  }
  if (t.stream != null) {
    parts.push(`stream ${t.stream}`)
  }
  parts.push(`strategy ${t.strategy ?? '-'}`)
  if (t.glare) {
    parts.push('GLARE (both sides initiated)')
  }
  if (t.fallbackReason != null) {
    parts.push(`fallback: ${t.fallbackReason}`)
  }
  if (t.error != null) {
    parts.push(`error: ${t.error}`)
  }
  if (t.leftover != null) {
    parts.push(`left after hang-up: ${t.leftover}`)
  }
  return `${parts.join(', ')}\n          events: ${t.events.join(' | ') || 'none'}`
}

/**
 * Assert the trials of one pair against its expectation; a failure message
 * lists every trial of the pair
 */
export function checkTrials (label: string, expectation: Expectation, trials: PunchTrial[], extra: string = ''): void {
  const direct = trials.filter(t => t.outcome === 'direct').length
  const listing = `${label}, ${expectation.why}${extra}\n` + trials.map((t, k) => `        ${formatTrial(t, k)}`).join('\n')
  const fail = (what: string): never => {
    throw new Error(`${label}: ${what} (${direct} direct of ${trials.length})\n${listing}`)
  }

  if (expectation.kind === 'direct-every-trial') {
    if (direct !== trials.length) {
      fail(`${expectation.strategy} must be direct in every trial`)
    }
  } else if (expectation.kind === 'birthday-minimum') {
    if (trials.some(t => t.outcome === 'failed')) {
      fail('a trial ended neither direct nor on a usable relayed connection')
    }
    if (direct < expectation.minDirect) {
      fail(`fewer direct trials than the stated minimum of ${expectation.minDirect}`)
    }
  } else if (expectation.kind === 'usable') {
    if (trials.some(t => t.outcome === 'failed')) {
      fail('a trial ended neither direct nor on a usable relayed connection')
    }
  } else {
    if (trials.some(t => t.outcome !== 'relayed')) {
      fail('every trial must end on a usable relayed connection')
    }
    // decided from the exchanged profiles, no probe sent
    if (trials.some(t => pairStrategyOf(t.strategy) !== 'none-fallback')) {
      fail('a punch was attempted where the planner decides none-fallback')
    }
  }
}
