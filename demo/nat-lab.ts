/* eslint-disable no-console */
/**
 * The NAT-lab demo: a relay on the internet and two peers behind NATs of the
 * chosen types. Alice reaches Bob through the relay, then the hole-punch
 * service upgrades the relayed connection to a direct udx connection. Every
 * step is printed with its time.
 */
import { Lab, NAT_TYPES } from '../src/lab/index.ts'
import { hasDirectFlow, startPeerNode, startRelayNode } from './lab-driver.ts'
import type { LabNode } from './lab-driver.ts'
import type { NatType } from '../src/lab/index.ts'

const flags = Object.fromEntries(process.argv.slice(2).filter(a => a.startsWith('--')).map(a => a.slice(2).split('=')))
const natA = (flags['nat-a'] ?? 'port-restricted') as NatType
const natB = (flags['nat-b'] ?? 'symmetric-random') as NatType
const delayMs = Number(flags.delay ?? 20)

for (const nat of [natA, natB]) {
  if (!NAT_TYPES.includes(nat)) {
    console.error(`Unknown NAT type ${nat}: use one of ${NAT_TYPES.join(', ')}`)
    process.exit(1)
  }
}

const t0 = performance.now()
const step = (message: string): void => {
  console.log(`[${(performance.now() - t0).toFixed(0).padStart(6)} ms] ${message}`)
}

const lab = await Lab.create({
  sites: [{ name: 'alice', nat: natA, delayMs }, { name: 'bob', nat: natB, delayMs }],
  publicHosts: ['relay']
})
const nodes: LabNode[] = []

try {
  step(`lab up in ${lab.setupMs.toFixed(0)} ms: alice behind ${natA} (${lab.site('alice').publicIp}), bob behind ${natB} (${lab.site('bob').publicIp}), relay at ${lab.host('relay').ip}, ${delayMs} ms one-way delay per site`)
  const relay = await startRelayNode(lab.host('relay'))
  nodes.push(relay)
  step(`relay ${String(relay.ready.peerId).slice(-8)} runs circuit-relay-v2 and answers STUN on its udx sockets`)

  const [alice, bob] = await Promise.all([
    startPeerNode(lab.host('alice1'), relay, lab.host('relay')),
    startPeerNode(lab.host('bob1'), relay, lab.host('relay'))
  ])
  nodes.push(alice, bob)
  for (const [name, node] of [['alice', alice], ['bob', bob]] as const) {
    const nat = node.ready.nat
    step(`${name} reserved a relay slot; NAT seen by STUN: mapping ${nat.mapping}, filtering ${nat.filtering}, allocation ${nat.allocation.kind}, public ${nat.publicAddresses.map((a: any) => `${a.host}:${a.port}`).join(' ')}`)
  }

  step('alice dials bob through the relay and asks the hole-punch service for a direct connection')
  const res = await alice.request({ cmd: 'connect', target: bob.ready.circuit, timeoutMs: 40_000, fallback: true })
  for (const s of res.timeline ?? []) {
    const detail = s.detail != null ? ` ${JSON.stringify(s.detail)}` : ''
    console.log(`           +${String(s.at).padStart(5)} ms  ${s.step}${detail}`)
  }

  if (res.ok === true && res.connection.limited === false) {
    const tracked = await hasDirectFlow(lab, 'alice', natB === 'none' ? lab.host('bob1').ip : lab.site('bob').publicIp)
    step(`DIRECT: ${res.connection.remoteAddr} (${res.connection.encryption}, ${res.connection.multiplexer}) in ${res.durationMs} ms; alice's NAT router tracks the flow: ${tracked ? 'yes' : 'no'}`)
  } else if (res.ok === true) {
    step(`no direct path for ${natA} ~ ${natB}: the relayed connection stays in use (${res.connection.remoteAddr})`)
  } else {
    step(`connect failed: ${res.error}`)
  }

  const ping = await alice.request({ cmd: 'ping', peer: bob.ready.peerId })
  step(`ping alice -> bob: ${ping.rtt} ms`)
  const transfer = await alice.request({ cmd: 'transfer', peer: bob.ready.peerId, bytes: 10 * 1024 * 1024 }, 120_000)
  if (transfer.ok === true) {
    step(`10 MiB alice -> bob in ${(transfer.seconds * 1000).toFixed(0)} ms, SHA-256 ${transfer.sha256 === transfer.remote.sha256 ? 'matches' : 'DOES NOT MATCH'}, over ${transfer.over?.remoteAddr ?? 'the relay'}`)
  } else {
    step(`transfer failed: ${transfer.error}`)
  }
} finally {
  await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  await lab.destroy()
  step('lab torn down')
}
